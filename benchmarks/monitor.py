"""The monitor's cycle: seconds per step for ``--new`` new posts arriving in a store of ``--posts`` posts.

The store is the synthetic network's first ``--posts`` posts (by time); its last ``--new`` posts arrive through a
collector, as a platform source would bring them. A first cycle catches up (sentiment of every stored post by
the lexicons: the cost without the content-hash cache and the pending list, the baseline); the timed cycle
then processes only the new posts and evaluates five rules (opinion, burst, keyword, reshares, volume) with a
JSONL delivery. Figures are ratios against that baseline measured in the same run.

    python benchmarks/monitor.py [--posts 100000] [--new 1000] [--store DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.compute as pc

import socialfusion as sf
from socialfusion.monitor import parse_config, run_cycle

RULES = """
[[sources]]
name = "arrivals"
platform = "mastodon"
query = "#bench"

[[rules]]
kind = "opinion"
name = "anger"
by = "hashtag"
freq = "D"
window = 1
baseline = 14

[[rules]]
kind = "burst"
name = "bursting"
by = "hashtag"
freq = "D"

[[rules]]
kind = "keyword"
name = "words"
terms = ["delay", "outage", "#climate"]

[[rules]]
kind = "reshares"
name = "viral"
threshold = 50

[[rules]]
kind = "volume"
name = "busy"
threshold = 100000
freq = "D"

[[deliveries]]
kind = "jsonl"
name = "log"
path = "alerts.jsonl"
"""


def _stores(posts: int, new: int, folder: Path):
    """The store of the first ``posts`` posts, and the ``new`` later ones as a table."""
    started = time.perf_counter()
    network = sf.generate(
        n_users=max(50, (posts + new) // 20), n_posts=posts + new, seed=0, n_videos=0, n_audio=0, image_fraction=0.0
    )
    corpus = network.corpus
    order = pc.sort_indices(corpus.posts, [("created_at", "ascending"), ("post_id", "ascending")])
    ordered = corpus.posts.take(order)
    old, arriving = ordered.slice(0, posts), ordered.slice(posts, new)
    store = sf.connect(folder / "store")
    sf.ingest_corpus(sf.Corpus(posts=old, users=corpus.users, edges=corpus.edges), store, scrub_pii=False)
    print(f"store of {store.count('posts'):,} posts built in {time.perf_counter() - started:.1f} s")
    return store, arriving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the store before the cycle")
    parser.add_argument("--new", type=int, default=1_000, help="posts the timed cycle collects")
    parser.add_argument("--store", type=Path, default=None, help="working folder (default: a temporary one)")
    arguments = parser.parse_args()
    folder = arguments.store or Path(tempfile.mkdtemp(prefix="sf-monitor-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    store, arriving = _stores(arguments.posts, arguments.new, folder)
    config = parse_config(RULES, folder=folder)
    batches = [[], [arriving]]

    def collect(target, source):
        batch = batches.pop(0) if batches else []
        if not batch:
            return SimpleNamespace(new_post_ids=[])
        sf.ingest_corpus(sf.Corpus(posts=batch[0]), target, scrub_pii=False)
        return SimpleNamespace(new_post_ids=batch[0].column("post_id").to_pylist())

    catch_up = run_cycle(store, config, collect=collect, catch_up=True)
    cycle = run_cycle(store, config, collect=collect)
    print(f"\nload: {os.getloadavg()[0]:.1f} (1-minute average) on {os.cpu_count()} CPUs")
    print(
        f"\n| step | catch-up cycle: all {arguments.posts:,} posts (s) | cycle of {arguments.new:,} new posts (s) "
        "| ratio |"
    )
    print("|---|---:|---:|---:|")
    for step in ("collect", "featurize", "sentiment", "topics", "rules", "alerts", "deliver", "total"):
        before, after = catch_up.seconds.get(step, 0.0), cycle.seconds.get(step, 0.0)
        ratio = f"{after / before:.3f}" if before > 0.001 else "-"
        print(f"| {step} | {before:.2f} | {after:.2f} | {ratio} |")
    print(
        f"\nnew posts {cycle.new_posts:,} · encoded {cycle.featurized} · predicted {cycle.predicted:,} · "
        f"rules {cycle.rules} · alerts fired {len(cycle.fired)} · errors {cycle.errors}"
    )
    print(f"catch-up: predicted {catch_up.predicted:,}, encoded {catch_up.featurized}, errors {catch_up.errors}")


if __name__ == "__main__":
    main()
