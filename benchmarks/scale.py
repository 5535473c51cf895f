"""Featurize on Ray vs the local engine: throughput per stage at 1 and 2 Ray workers, overhead, scaling efficiency.

A synthetic corpus (``--posts`` posts of 8-30 words in several languages; ``--images`` of them with a 96x96 PNG) is
ingested once; each configuration then featurizes a fresh copy of that store with ``text/multilingual``,
``text/minilm-int8`` and ``image/efficientnet``, in one process, one after the other:

- local: the local engine with one intra-op thread per encoder (what one Ray worker gets);
- ray x1, ray x2: the Ray engine on a local Ray runtime with ``--cpus`` CPUs, pools of 1 and 2 actors of 1 CPU.

Overhead at one worker = 1 - (ray x1 throughput / local throughput); scaling efficiency from 1 to 2 workers =
(ray x2 throughput) / (2 x ray x1 throughput). Targets (issue #15): overhead within 15%, efficiency >= 0.8 where the
stage is compute-bound and the machine has 2 free CPUs.

    python benchmarks/scale.py                             # the issue's size: 200,000 posts, 20,000 images
    python benchmarks/scale.py --posts 4000 --images 400   # a quick run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

STAGES = ("text/multilingual", "text/minilm-int8", "image/efficientnet")
WORDS = {
    "en": "the city team game music film rain sun night great happy love awful sad news today new old".split(),
    "fr": "la ville équipe match musique film pluie soleil nuit super heureux triste nouvelles aujourd'hui".split(),
    "es": "la ciudad equipo partido música película lluvia sol noche feliz triste noticias hoy nuevo".split(),
    "de": "die Stadt Mannschaft Spiel Musik Film Regen Sonne Nacht glücklich traurig Nachrichten heute".split(),
}


def write_corpus(folder: Path, posts: int, images: int, seed: int = 0) -> Path:
    """A JSONL file of ``posts`` posts, the first ``images`` of them with a PNG of their own."""
    from PIL import Image

    rng = random.Random(seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    path = folder / "posts.jsonl"
    with open(path, "w") as out:
        for index in range(posts):
            words = WORDS[rng.choice(list(WORDS))]
            post = {
                "post_id": f"p{index}",
                "author_id": f"u{index % 5000}",
                "text": " ".join(rng.choices(words, k=rng.randint(8, 30))),
            }
            if index < images:
                buffer = io.BytesIO()
                pixels = bytes(rng.getrandbits(8) for _ in range(3 * 24 * 24))
                Image.frombytes("RGB", (24, 24), pixels).resize((96, 96)).save(buffer, format="PNG")
                (folder / "img" / f"{index}.png").write_bytes(buffer.getvalue())
                post["media"] = [{"kind": "image", "uri": f"img/{index}.png"}]
            out.write(json.dumps(post) + "\n")
    return path


def run(store_path: Path, engine: str, workers: int | None) -> dict[str, tuple[int, float]]:
    """Featurize the store at ``store_path`` with each stage's encoder: ``{stage: (items encoded, seconds)}``."""
    from socialfusion.backends import RayOptions
    from socialfusion.featurize import featurize
    from socialfusion.store import connect

    store = connect(store_path, create=False)
    results = {}
    for stage in STAGES:
        options = {stage: {"num_threads": 1}} if engine == "local" else {}
        started = time.perf_counter()
        summary = featurize(
            store,
            [stage],
            encoder_options=options,
            engine=engine,
            ray_options=RayOptions(workers=workers) if engine == "ray" else None,
        )
        results[stage] = (summary.runs[0].encoded, time.perf_counter() - started)
        print(
            f"# {engine} x{workers or 1} {stage}: {results[stage][0]:,} items in {results[stage][1]:.1f} s", flush=True
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray runtime")
    parser.add_argument("--object-store-mb", type=int, default=1024)
    arguments = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    folder = Path(tempfile.mkdtemp(prefix="socialfusion-scale-"))
    # Ray first: lancedb warns when a process forks after its runtime started
    ray.init(
        num_cpus=arguments.cpus,
        object_store_memory=arguments.object_store_mb * 1024**2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
    )
    try:
        corpus = write_corpus(folder / "corpus", arguments.posts, arguments.images)
        started = time.perf_counter()
        ingest(corpus, connect(folder / "base"), detect_language=False, workers=1)
        print(f"# ingest, one process: {arguments.posts:,} posts in {time.perf_counter() - started:.1f} s", flush=True)
        size = sum(path.stat().st_size for path in (folder / "base").rglob("*") if path.is_file())
        table = {}
        for label, engine, workers in (("local", "local", None), ("ray x1", "ray", 1), ("ray x2", "ray", 2)):
            copy = folder / label.replace(" ", "_")
            shutil.copytree(folder / "base", copy)
            table[label] = run(copy, engine, workers)
            features = sum(path.stat().st_size for path in copy.rglob("*") if path.is_file()) - size
            print(f"# {label}: store {size / 1e6:.1f} MB of posts + {features / 1e6:.1f} MB of features", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nposts {arguments.posts:,}, images {arguments.images:,}, load {os.getloadavg()[0]:.2f} at the end\n")
    print(f"{'stage':22} {'engine':8} {'items':>8} {'seconds':>8} {'items/s':>9}")
    for label, results in table.items():
        for stage, (items, seconds) in results.items():
            print(f"{stage:22} {label:8} {items:>8,} {seconds:>8.1f} {items / seconds:>9.1f}")
    print(f"\n{'stage':22} {'overhead at 1 worker':>21} {'efficiency 1->2':>16}")
    for stage in STAGES:
        rate = {label: table[label][stage][0] / table[label][stage][1] for label in table}
        overhead = 1 - rate["ray x1"] / rate["local"]
        efficiency = rate["ray x2"] / (2 * rate["ray x1"])
        print(f"{stage:22} {overhead:>20.1%} {efficiency:>16.2f}")


if __name__ == "__main__":
    main()
