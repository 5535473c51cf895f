"""The HTTP API under load: latency per route, throughput, errors and the server's peak memory.

Builds (once, then reused) a synthetic store with MiniLM int8 text features, starts ``socialfusion serve`` on
127.0.0.1 in its own process, and runs 32 concurrent clients for a bounded time (and at most a bounded number of
requests) with a mixed load: 40% search (semantic, keyword and hybrid in turn), 30% post queries (filtered pages
and single posts), 10% statistics and 20% sentiment predictions of new texts. Prints p50/p95/p99 per route,
requests per second, errors, and the peak RSS of the server's process tree.

Traffic goes to 127.0.0.1 only.

    python benchmarks/serve.py                    # 20,000 posts, 30 s
    python benchmarks/serve.py --posts 100000 --seconds 60                  # the issue's figure
    python benchmarks/serve.py --posts 100000 --seconds 60 --ingest 20000   # while an ingest job runs
    python benchmarks/serve.py --posts 100000 --seconds 60 --workers 2      # two server processes
    python benchmarks/serve.py --posts 100000 --replicate benchmarks/.cache/serve-12000   # build by copies
    python benchmarks/serve.py --posts 5000 --seconds 20 --store /tmp/bench-5k

The store is cached under ``benchmarks/.cache/serve-<posts>``. Featurizing 100,000 posts takes hours on two busy
CPUs; ``--replicate`` builds it in minutes from copies of a smaller featurized store (``build_replicated``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import TreePeakRss  # the benchmarks folder is on sys.path when a script runs

API = "/api/v1"
WORDS = (
    "climate summit heatwave flood football league marathon music concert album recipe dinner travel beach "
    "museum election policy vote science space rocket movie review game launch phone"
).split()
TEXTS = [
    "I love this so much, best day ever!",
    "This is awful and I am angry.",
    "The train leaves at nine.",
    "What a fantastic concert last night #music",
    "Terrible service, never again.",
    "今天真开心，太棒了！",
    "Not sure how I feel about the new policy.",
    "Great goal in the last minute!",
]


CACHE = Path(__file__).resolve().parent / ".cache"
BUILT_MARK = ".serve-benchmark-built"
POSTS_PER_ORIGINAL = 1.84
"""Posts (originals, replies and reshares) per original post of the synthetic generator at these settings."""


def build_store(path: Path, n_posts: int, seed: int) -> None:
    """A synthetic network of about ``n_posts`` posts (replies and reshares included; few images, no video or
    audio) with MiniLM int8 text features, searchable at once (vector and full-text indexes built)."""
    import socialfusion as sf
    from socialfusion.featurize import featurize
    from socialfusion.search import ensure_text_index, ensure_vector_index

    started = time.perf_counter()
    originals = max(100, round(n_posts / POSTS_PER_ORIGINAL))
    network = sf.generate(
        n_users=max(50, originals // 8), n_posts=originals, seed=seed, image_fraction=0.05, n_videos=0, n_audio=0
    )
    store = sf.connect(path)
    sf.ingest_corpus(network.corpus, store)
    featurize(store, ["text/minilm-int8"], batch_size=64)
    ensure_vector_index(store, "text/minilm-int8")
    ensure_text_index(store)
    print(f"built {path}: {store.count('posts'):,} posts in {time.perf_counter() - started:.0f} s", flush=True)


def build_replicated(source: Path, path: Path, copies: int, seed: int) -> None:
    """A store ``copies`` times as large as ``source`` in minutes rather than hours (featurizing 100,000 posts on
    two busy CPUs takes hours): its posts and text features again under new ids (``<id>~<copy>``, links between
    posts kept within each copy), each copy's vectors moved by a little noise (then unit length again) so that no
    two are equal; users, edges and interactions stay as in ``source``. Indexes are built as by ``build_store``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    import socialfusion as sf
    from socialfusion.featurize import feature_table
    from socialfusion.search import ensure_text_index, ensure_vector_index

    encoder = "text/minilm-int8"
    shutil.copytree(source, path)
    store = sf.connect(path)
    posts, features = store.read("posts"), store.read(feature_table(encoder))
    rng = np.random.default_rng(seed)
    vectors = features.column("vector").combine_chunks().values.to_numpy().reshape(features.num_rows, -1)
    missing = features.column("missing").to_numpy(zero_copy_only=False)

    def renamed(table: pa.Table, columns: list[str], copy: int) -> pa.Table:
        for name in columns:
            column = table.column(name)
            table = table.set_column(
                table.schema.get_field_index(name),
                name,
                pc.if_else(pc.is_null(column), column, pc.binary_join_element_wise(column, pa.scalar(f"~{copy}"), "")),
            )
        return table

    for copy in range(1, copies):
        store.write(
            "posts",
            renamed(posts, ["post_id", "record_key", "reply_to", "reshare_of", "quote_of"], copy),
            mode="append",
        )
        moved = vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32)
        moved /= np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-9)
        moved[missing] = vectors[missing]
        flat = pa.FixedSizeListArray.from_arrays(pa.array(moved.ravel(), pa.float32()), vectors.shape[1])
        copied = renamed(features, ["item_id", "record_key"], copy)
        copied = copied.set_column(copied.schema.get_field_index("vector"), copied.schema.field("vector"), flat)
        store.write(feature_table(encoder), copied, mode="append")
    ensure_vector_index(store, encoder)
    ensure_text_index(store)
    print(f"built {path}: {store.count('posts'):,} posts ({copies} copies of {source})", flush=True)


def ingest_file(path: Path, n_posts: int, seed: int) -> Path:
    """A JSONL upload of about ``n_posts`` new posts (ids the store does not hold) for an ingest job."""
    import orjson

    import socialfusion as sf

    originals = max(10, round(n_posts / POSTS_PER_ORIGINAL))
    posts = sf.generate(
        n_users=max(50, originals // 8), n_posts=originals, seed=seed + 1, image_fraction=0, n_videos=0, n_audio=0
    ).corpus.posts
    with path.open("wb") as out:
        for row in posts.select(["post_id", "author_id", "created_at", "text", "lang"]).to_pylist():
            row["post_id"] = f"ingested-{row['post_id']}"
            out.write(orjson.dumps(row, default=str) + b"\n")
    return path


def start_ingest(base: str, token: str, upload: Path) -> str:
    """Upload the file and start an ingest job of it; the job's id."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with upload.open("rb") as content:
        sent = httpx.post(
            f"{base}{API}/uploads",
            files={"file": (upload.name, content)},
            headers=headers,
            timeout=600,
            trust_env=False,
        )
    sent.raise_for_status()
    job = httpx.post(
        f"{base}{API}/jobs",
        json={"kind": "ingest", "params": {"upload_id": sent.json()["upload_id"]}},
        headers=headers,
        timeout=60,
        trust_env=False,
    )
    job.raise_for_status()
    return job.json()["job_id"]


def job_state(base: str, token: str, job_id: str) -> dict:
    import httpx

    return httpx.get(
        f"{base}{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=60, trust_env=False
    ).json()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Load:
    """The mixed load: each call picks a route by the shares and sends one request."""

    def __init__(self, client, post_ids: list[str], authors: list[str], seed: int):
        self.client = client
        self.post_ids = post_ids
        self.authors = authors
        self.random = random.Random(seed)
        self.search_modes = ["semantic", "keyword", "hybrid"]

    async def one(self) -> tuple[str, float, bool]:
        draw = self.random.random()
        rng = self.random
        if draw < 0.40:
            mode = self.search_modes[rng.randrange(3)]
            route = f"POST /search ({mode})"
            query = " ".join(rng.sample(WORDS, 2))
            call = self.client.post(f"{API}/search", json={"query": query, "mode": mode, "k": 10})
        elif draw < 0.70:
            kind = rng.random()
            if kind < 0.4:
                route, call = "GET /posts/{id}", self.client.get(f"{API}/posts/{rng.choice(self.post_ids)}")
            elif kind < 0.7:
                route = "GET /posts?author_id"
                call = self.client.get(f"{API}/posts", params={"author_id": rng.choice(self.authors), "limit": 20})
            else:
                route = "GET /posts?hashtag"
                call = self.client.get(f"{API}/posts", params={"hashtag": rng.choice(WORDS), "limit": 20})
        elif draw < 0.80:
            route, call = "GET /stats", self.client.get(f"{API}/stats")
        else:
            route = "POST /sentiment"
            call = self.client.post(f"{API}/sentiment", json={"text": rng.choice(TEXTS)})
        started = time.perf_counter()
        try:
            response = await call
            ok = response.status_code == 200
        except Exception:
            ok = False
        return route, time.perf_counter() - started, ok


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants (job workers): a measure of the work
    each request costs that does not depend on how busy the machine is."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def run_clients(
    base: str,
    token: str,
    post_ids: list[str],
    authors: list[str],
    clients: int,
    seconds: float,
    max_requests: int,
    seed: int,
    server_pid: int,
) -> tuple[dict[str, list[float]], dict[str, int], float, float]:
    """The measured load: latencies per route, errors per route, its wall time and the server's CPU seconds."""
    import httpx

    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60, trust_env=False
    ) as client:
        warm = Load(client, post_ids, authors, seed)
        for _ in range(30):  # load the encoders and fill the caches before measuring
            await warm.one()
        for text in TEXTS:  # every lexicon (snownlp loads its models on the first Chinese text)
            await client.post(f"{API}/sentiment", json={"text": text})
        deadline = time.perf_counter() + seconds
        sent = 0
        started = time.perf_counter()
        cpu_started = cpu_seconds(server_pid)

        async def worker(index: int) -> None:
            nonlocal sent
            load = Load(client, post_ids, authors, seed * 1000 + index)
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                route, elapsed, ok = await load.one()
                latencies.setdefault(route, []).append(elapsed)
                if not ok:
                    errors[route] = errors.get(route, 0) + 1

        await asyncio.gather(*(worker(index) for index in range(clients)))
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server_pid) - cpu_started
    return latencies, errors, wall, cpu


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts of the synthetic store (about)")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="store folder (built there when absent, reused after); default: benchmarks/.cache/serve-POSTS",
    )
    parser.add_argument(
        "--replicate",
        type=Path,
        default=None,
        metavar="SOURCE",
        help="build the store from copies of this featurized store (build_replicated) instead of "
        "generating and featurizing --posts posts",
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="server processes (socialfusion serve --workers)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the measured load")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ingest",
        type=int,
        default=0,
        metavar="POSTS",
        help="run an ingest job of about this many new posts during the load (on a copy of the "
        "store, which stays as it was)",
    )
    args = parser.parse_args()

    import socialfusion as sf
    from socialfusion import app

    store_path = args.store or CACHE / f"serve-{args.posts}"
    if not (store_path / BUILT_MARK).exists():  # absent, or a build that stopped half-way: (re)build
        shutil.rmtree(store_path, ignore_errors=True)
        if args.replicate is not None:
            source = sf.connect(args.replicate)
            build_replicated(args.replicate, store_path, max(1, -(-args.posts // source.count("posts"))), args.seed)
        else:
            build_store(store_path, args.posts, args.seed)
        (store_path / BUILT_MARK).write_text("built\n")
    scratch = None
    if args.ingest:
        scratch = Path(tempfile.mkdtemp(prefix="socialfusion-serve-bench-"))
        shutil.copytree(store_path, scratch / "store")
        store_path = scratch / "store"
        upload = ingest_file(scratch / "ingest.jsonl", args.ingest, args.seed)
    store = sf.connect(store_path)
    token = app.create_token(store, app.TokenParams(name="benchmark", scopes=["write"])).token
    posts = store.read("posts", columns=["post_id", "author_id"])
    post_ids = posts.column("post_id").to_pylist()
    authors = sorted({author for author in posts.column("author_id").to_pylist() if author})

    port = _free_port()
    environment = {
        **os.environ,
        "SOCIALFUSION_RATE_LIMIT_PER_SECOND": "1000000",
        "SOCIALFUSION_RATE_LIMIT_BURST": "1000000",
    }
    command = [
        sys.executable,
        "-c",
        "from socialfusion.cli import main; main()",
        "serve",
        "--store",
        str(store_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    log = tempfile.NamedTemporaryFile(prefix="socialfusion-serve-bench-", suffix=".log")
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # every server process has started (each logs it once it accepts requests)
            if Path(log.name).read_text(errors="replace").count("Application startup complete") >= args.workers:
                break
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {Path(log.name).read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        with TreePeakRss(server.pid) as tree:
            job_id = start_ingest(base, token, upload) if args.ingest else None
            latencies, errors, wall, cpu = asyncio.run(
                run_clients(
                    base, token, post_ids, authors, args.clients, args.seconds, args.max_requests, args.seed, server.pid
                )
            )
            job = job_state(base, token, job_id) if job_id else None
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    total = sum(len(values) for values in latencies.values())
    print(
        f"\n{len(post_ids):,} posts, {args.clients} clients, {args.workers} server processes, {wall:.1f} s, "
        f"127.0.0.1; server peak RSS "
        f"{tree.peak_mb:,.0f} MB (its job workers included); load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"server CPU {cpu:.1f} s over the load: {cpu / max(total, 1) * 1000:.1f} ms per request (all its threads "
        f"and job workers; independent of how busy the machine is)"
    )
    if job is not None:
        print(
            f"ingest job of {args.ingest:,} posts during the load: {job['state']} when the load ended (progress "
            f"{job['progress'] or 0:.0%}, {job['message'] or ''})"
        )
    print()
    print("| route | requests | share | errors | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for route in sorted(latencies):
        values = latencies[route]
        print(
            f"| {route} | {len(values):,} | {len(values) / total:.0%} | {errors.get(route, 0)} | "
            f"{_percentile(values, 50):.0f} | {_percentile(values, 95):.0f} | {_percentile(values, 99):.0f} | "
            f"{len(values) / wall:.1f} |"
        )
    every = [value for values in latencies.values() for value in values]
    print(
        f"| all | {total:,} | 100% | {sum(errors.values())} | {_percentile(every, 50):.0f} | "
        f"{_percentile(every, 95):.0f} | {_percentile(every, 99):.0f} | {total / wall:.1f} |"
    )


if __name__ == "__main__":
    main()
