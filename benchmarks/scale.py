"""Each Ray stage against the local engine, in one process: throughput at 1 and 2 Ray workers, overhead, efficiency.

A synthetic corpus (``--posts`` posts of 8-30 words in several languages; ``--images`` of them with a 96x96 PNG) is
written once as one JSONL file. Each configuration then runs every stage on a store of its own, one configuration
after the other, in this process:

- ``ingest``: the JSONL file, split in byte ranges of ``--chunk-kb`` KiB, parsed and validated (locally: in this
  process; on Ray: in Ray tasks), rows written by the driver;
- ``ingest-files``: the same posts as ``--files`` small files, JSONL and CSV in turn, in one folder (locally: one
  after the other in this process; on Ray: the chunks of many files in Ray tasks at once, rows written by the
  driver in file order);
- ``featurize`` with ``text/multilingual``, ``text/minilm-int8`` and ``image/efficientnet`` (locally: one
  intra-op thread per encoder, what one Ray worker gets; on Ray: a pool of actors of 1 CPU);
- ``engagement scoring``: a fitted ``EngagementModel`` (gradient boosting) scoring ``--examples`` synthetic
  examples (locally: ``predict_proba``; on Ray: ``predict_proba_on_ray``, blocks on a pool of actors).

Configurations: local; ray x1, ray x2: the Ray engine on a local Ray runtime with ``--cpus`` CPUs, 1 and 2 workers.

Overhead at one worker = (ray x1 seconds) / (local seconds) for the same items (1.00: none); scaling efficiency
from 1 to 2 workers = (ray x2 throughput) / (2 x ray x1 throughput). Targets (issue #15): overhead <= 1.15,
efficiency >= 0.8 where the stage is compute-bound and the machine has 2 free CPUs; on a shared machine the load
(printed) decides what the figures mean.

    python benchmarks/scale.py                                      # the issue's size: 200,000 posts, 20,000 images
    nice python benchmarks/scale.py --posts 4000 --images 400       # a quick run
    nice python benchmarks/scale.py --stages ingest,ingest-files --posts 40000 --images 0 --files 200
    python benchmarks/scale.py --stages ingest,engagement           # only some stages
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

ENCODERS = ("text/multilingual", "text/minilm-int8", "image/efficientnet")
STAGES = ("ingest", "ingest-files", *ENCODERS, "engagement")
CONFIGURATIONS = (("local", "local", None), ("ray x1", "ray", 1), ("ray x2", "ray", 2))
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


def write_files(corpus: Path, files: int) -> Path:
    """The posts of ``corpus`` as ``files`` files in a folder next to it, JSONL and CSV in turn (media paths still
    pointing at the corpus's images)."""
    folder = corpus.parent / "files"
    folder.mkdir()
    posts = [json.loads(line) for line in corpus.read_text().splitlines()]
    for part in range(files):
        rows = posts[part::files]
        for post in rows:
            for item in post.get("media", []):
                item["uri"] = f"../{item['uri']}"
        if part % 2 == 0:
            (folder / f"part{part:05d}.jsonl").write_text("".join(json.dumps(post) + "\n" for post in rows))
            continue
        with open(folder / f"part{part:05d}.csv", "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["post_id", "author_id", "text", "media"])
            for post in rows:
                media = json.dumps(post.get("media", []))
                writer.writerow([post["post_id"], post["author_id"], post["text"], media])
    return folder


def _timed(label: str, stage: str, work) -> tuple[int, float]:
    """``(items, seconds)`` of ``work()``, which returns the items it handled; printed as it ends."""
    started = time.perf_counter()
    items = work()
    seconds = time.perf_counter() - started
    print(f"# {label} {stage}: {items:,} items in {seconds:.1f} s", flush=True)
    return items, seconds


def engagement_examples(rows: int, seed: int = 0):
    """A synthetic table of ``rows`` engagement examples (random features, labels that depend on two of them)."""
    import numpy as np
    import pyarrow as pa

    from socialfusion.tasks.engagement import ENGAGEMENT_FEATURES

    rng = np.random.default_rng(seed)
    features = {name: rng.normal(size=rows) for name in ENGAGEMENT_FEATURES}
    signal = features[ENGAGEMENT_FEATURES[0]] + 0.5 * features[ENGAGEMENT_FEATURES[1]]
    at = pa.array(np.arange(rows, dtype=np.int64) * 1_000_000, pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "user_id": pa.array([f"u{index % 5000}" for index in range(rows)]),
            "post_id": pa.array([f"p{index}" for index in range(rows)]),
            "at": at,
            "label_at": at,
            "label": pa.array((signal + rng.normal(size=rows) > 1.0).astype(np.int8)),
            **features,
        }
    )


def _featurized(store, encoder: str, engine: str, options) -> int:
    """Items ``encoder`` encodes in ``store`` (one intra-op thread locally: what one Ray worker gets)."""
    from socialfusion.featurize import featurize

    encoder_options = {encoder: {"num_threads": 1}} if engine == "local" else {}
    return (
        featurize(store, [encoder], encoder_options=encoder_options, engine=engine, ray_options=options).runs[0].encoded
    )


def _import_socialfusion() -> None:
    import socialfusion.ingestion  # noqa: F401


def warm_up(workers: int) -> None:
    """Start the Ray runtime's worker processes (and their imports of socialfusion) before anything is timed: a long
    job pays that once, a modest benchmark would otherwise charge it to whichever stage comes first."""
    from socialfusion.backends import RayOptions
    from socialfusion.backends.ray_engine import RayExecutor

    started = time.perf_counter()
    executor = RayExecutor(RayOptions(workers=workers))
    for future in [executor.submit(_import_socialfusion) for _ in range(2 * workers)]:
        future.result()
    print(f"# ray warm-up (worker processes started): {time.perf_counter() - started:.1f} s", flush=True)


def run(folder: Path, corpus: Path, label: str, engine: str, workers: int | None, stages, examples, model, files):
    """Every stage of ``stages`` on a store of its own: ``{stage: (items, seconds)}``."""
    from socialfusion.backends import RayOptions
    from socialfusion.backends.ray_engine import predict_proba_on_ray
    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    options = RayOptions(workers=workers) if engine == "ray" else None
    store = connect(folder / label.replace(" ", "_"))
    results = {}
    ingest_options = {"workers": 1} if engine == "local" else {"engine": "ray", "ray_options": options}
    results["ingest"] = _timed(
        label, "ingest", lambda: ingest(corpus, store, detect_language=False, **ingest_options).ingested
    )
    if "ingest-files" in stages:  # a store of its own: the same posts again would all be duplicates
        other = connect(folder / f"{label.replace(' ', '_')}_files")
        ingest_files = partial(ingest, files, other, media_root=corpus.parent, detect_language=False, **ingest_options)
        results["ingest-files"] = _timed(label, "ingest-files", lambda: ingest_files().ingested)
    for stage in (stage for stage in stages if stage in ENCODERS):
        results[stage] = _timed(label, stage, lambda stage=stage: _featurized(store, stage, engine, options))
    if "engagement" in stages:
        score = model.predict_proba if engine == "local" else lambda table: predict_proba_on_ray(model, table, options)
        results["engagement"] = _timed(label, "engagement", lambda: len(score(examples)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--examples", type=int, default=200_000, help="engagement examples to score")
    parser.add_argument("--files", type=int, default=200, help="files of the ingest-files stage")
    parser.add_argument("--chunk-kb", type=int, default=1024, help="byte range of an ingest task, KiB")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, among {','.join(STAGES)}")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray runtime")
    parser.add_argument("--object-store-mb", type=int, default=1024)
    arguments = parser.parse_args()
    stages = [stage.strip() for stage in arguments.stages.split(",") if stage.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; choose among {STAGES}")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from socialfusion import ingestion
    from socialfusion.tasks.engagement import EngagementModel

    ingestion._CHUNK_BYTES = arguments.chunk_kb * 1024  # byte ranges small enough for a modest file to have many
    folder = Path(tempfile.mkdtemp(prefix="socialfusion-scale-"))
    # Ray first: lancedb warns when a process forks after its runtime started
    ray.init(
        num_cpus=arguments.cpus,
        object_store_memory=arguments.object_store_mb * 1024**2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
    )
    load_before = os.getloadavg()
    try:
        corpus = write_corpus(folder / "corpus", arguments.posts, arguments.images)
        files = write_files(corpus, arguments.files) if "ingest-files" in stages else None
        warm_up(arguments.cpus)
        examples = engagement_examples(arguments.examples)
        cut = examples.num_rows // 2
        model = EngagementModel(kind="like").fit(examples.slice(0, cut)) if "engagement" in stages else None
        table = {
            label: run(folder, corpus, label, engine, workers, stages, examples.slice(cut), model, files)
            for label, engine, workers in CONFIGURATIONS
        }
        for label in table:
            size = sum(path.stat().st_size for path in (folder / label.replace(" ", "_")).rglob("*") if path.is_file())
            print(f"# {label}: store {size / 1e6:.1f} MB", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()
    print(
        f"\nposts {arguments.posts:,}, images {arguments.images:,}, engagement examples scored "
        f"{examples.num_rows - cut:,}; "
        f"load average (1, 5, 15 min) {', '.join(f'{value:.2f}' for value in load_before)} before, "
        f"{', '.join(f'{value:.2f}' for value in load_after)} after\n"
    )
    print(f"{'stage':22} {'engine':8} {'items':>8} {'seconds':>8} {'items/s':>9}")
    for label, results in table.items():
        for stage, (items, seconds) in results.items():
            print(f"{stage:22} {label:8} {items:>8,} {seconds:>8.1f} {items / seconds:>9.1f}")
    print(f"\n{'stage':22} {'overhead ray x1/local':>21} {'efficiency 1->2':>16}")
    for stage in table["local"]:
        rate = {label: table[label][stage][0] / table[label][stage][1] for label in table}
        print(f"{stage:22} {rate['local'] / rate['ray x1']:>21.2f} {rate['ray x2'] / (2 * rate['ray x1']):>16.2f}")


if __name__ == "__main__":
    main()
