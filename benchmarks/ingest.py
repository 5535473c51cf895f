"""Ingest throughput and peak memory: socialfusion ingest vs pandas.read_json(lines=True) + LanceDB write.

Writes N text-only JSONL posts, then runs each method in its own child process (so peak RSS is each method's
own) and prints one table with posts/s, the ratio to the baseline, the peak RSS of the ingesting process, of
its largest worker process (socialfusion parses big files in one worker per CPU), and of the whole process
tree at once (sampled: the figure to compare with the machine's memory).

    python benchmarks/ingest.py            # 1,000,000 posts
    python benchmarks/ingest.py --n 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

from _memory import TreePeakRss, peak_rss_mb  # the benchmarks folder is on sys.path when a script runs

WORDS = ("the quick brown fox jumps over lazy dogs while analysts watch trends in social media posts about "
         "music sport climate food travel politics science art and games every single day").split()


def write_posts(path: Path, n: int) -> None:
    """Write ``n`` canonical text-only posts as JSON Lines (deterministic)."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12 + i % 8))
            record = {
                "post_id": f"p{i}",
                "author_id": f"u{i % 50_000}",
                "created_at": (start + dt.timedelta(seconds=37 * i)).isoformat(),
                "text": f"{words} #{WORDS[i % len(WORDS)]} @u{(i * 13) % 50_000}",
                "lang": "en",
                "platform": "bench",
            }
            handle.write(json.dumps(record) + "\n")


def run_pandas(source: str, store_dir: str) -> None:
    import lancedb
    import pandas as pd

    frame = pd.read_json(source, lines=True)
    lancedb.connect(store_dir).create_table("posts", frame, mode="overwrite")


def run_socialfusion(source: str, store_dir: str) -> None:
    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    summary = ingest([source], connect(store_dir))
    assert summary.rejected == 0, summary.to_dict()


def _child(method: str, source: str, store_dir: str, queue) -> None:
    started = time.perf_counter()
    {"pandas": run_pandas, "socialfusion": run_socialfusion}[method](source, store_dir)
    seconds = time.perf_counter() - started
    own = peak_rss_mb()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest worker process, if any
    queue.put((seconds, own, workers))


def measure(method: str, source: Path, store_dir: Path) -> tuple[float, float, float, float]:
    """Run ``method`` in a fresh process; return (seconds, its peak RSS, its largest child's peak RSS, the whole
    tree's peak RSS) in MB."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(method, str(source), str(store_dir), queue))
    process.start()
    with TreePeakRss(process.pid) as tree:
        result = queue.get()
        process.join()
    if process.exitcode:
        raise RuntimeError(f"{method} failed with exit code {process.exitcode}")
    return (*result, tree.peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="posts to ingest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "posts.jsonl"
        write_posts(source, args.n)
        size_mb = source.stat().st_size / 1e6
        rows = []
        for method in ("pandas", "socialfusion"):
            seconds, peak_mb, worker_mb, tree_mb = measure(method, source, Path(folder) / f"store-{method}")
            rows.append((method, seconds, args.n / seconds, peak_mb, worker_mb, tree_mb))
    baseline = rows[0][2]
    print(f"\nIngest of {args.n:,} text-only JSONL posts ({size_mb:,.0f} MB) on {os.cpu_count()} CPUs\n")
    print(f"{'method':<34}{'seconds':>9}{'posts/s':>10}{'vs baseline':>13}{'peak RSS MB':>13}{'per worker':>12}"
          f"{'whole tree':>12}")
    names = {"pandas": "pandas.read_json + LanceDB write", "socialfusion": "socialfusion ingest (validated)"}
    for method, seconds, rate, peak_mb, worker_mb, tree_mb in rows:
        workers = f"{worker_mb:,.0f}" if worker_mb else "-"
        ratio = rate / baseline
        print(f"{names[method]:<34}{seconds:>9.1f}{rate:>10,.0f}{ratio:>12.2f}x{peak_mb:>13,.0f}{workers:>12}"
              f"{tree_mb:>12,.0f}")


if __name__ == "__main__":
    main()
