"""The whole pipeline at scale: seconds, posts/s and peak RSS of each stage, per corpus size, and how they grow.

For each size (original posts; users, replies, reshares and interactions scale with them) a synthetic store is
generated and ingested once, cached under ``benchmarks/.cache/scale-<posts>``. Each stage then runs in a fresh
process on a fresh copy of that store (stages that write to the store, such as featurize and the demo's sentiment
and topic models, find nothing cached), in the order the demo runs them, so that the report stages find the
sentiment predictions and topics the earlier stages wrote. Peak RSS is the summed RSS of the stage's process tree.

Stages: featurize (the demo's sentiment encoders), sentiment train+predict, topics fit+assign, then one report
card at a time (trends, opinion, network = influence + communities + cascade trees + what-ifs, knowledge graph,
patterns, profiles + segments, engagement, recommendation), reshare cascades alone, and ``analyze`` as a whole
(which also gives the report's size; the report is kept as ``benchmarks/.cache/report-scale-<posts>.html``).

The ``incremental`` stage holds out a seeded random 1% of the posts (late posts of every date, as a crawl's
stragglers), runs the writing stages and a first ``analyze(incremental=True)`` without them, adds them back, and
then times, each in a fresh process on its own copy of that store: a full ``analyze``, ``analyze(incremental=True)``
(trends and opinion from the stored counts, the other cards recomputed) and ``analyze(incremental=True,
reuse_cards=True)``; it prints their ratios. ``python benchmarks/scale_pipeline.py --sizes 10000,30000 --stages
incremental``.

    python benchmarks/scale_pipeline.py --sizes 3000,10000
    python benchmarks/scale_pipeline.py --sizes 10000,100000,1000000 --stages analyze,knowledge
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import TreePeakRss  # the benchmarks folder is on sys.path when a script runs

CACHE = Path(__file__).resolve().parent / ".cache"
USERS_PER_POST = 0.15  # the demo's ratio: 300 users for 2,000 original posts

# stage name -> report section run by analyze (None: a stage of its own below)
STAGES = {
    "featurize": None,
    "sentiment": None,
    "topics": None,
    "trends": "trends",
    "opinion": "opinion",
    "network": "network",
    "cascades": None,
    "knowledge": "knowledge",
    "patterns": "patterns",
    "profiles": "profiles",
    "engagement": "engagement",
    "recommend": "recommend",
    "analyze": None,
    "incremental": None,
}
INCREMENTAL_SHARE = 0.01  # the share of posts the incremental stage adds after the first run
INCREMENTAL_RUNS = ("full", "incremental", "reuse")  # the analyses it times after adding them
WRITES_STORE = ("featurize", "sentiment", "topics")
READS_WRITES = {"trends", "opinion", "profiles", "engagement", "analyze"}  # read predictions or topics


def cached_store(n_posts: int) -> Path:
    """The generated and ingested store of ``n_posts`` original posts (made once, then read from the cache)."""
    folder = CACHE / f"scale-{n_posts}"
    if (folder / "done").exists():
        return folder
    from socialfusion.datasets.synthetic import generate
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.store import connect

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    network = generate(n_users=max(50, round(n_posts * USERS_PER_POST)), n_posts=n_posts, seed=0,
                       media_dir=folder / "media")
    ingest_corpus(network.corpus, connect(folder / "store"))
    counts = network.corpus.counts()
    (folder / "counts.json").write_text(json.dumps(counts))
    (folder / "done").write_text(f"{time.perf_counter() - started:.1f}")
    return folder


def run_stage(stage: str, store_path: str, out: str) -> dict:
    """Run one stage on the store at ``store_path``; seconds of the stage itself (imports and reading excluded
    where the stage allows)."""
    from socialfusion.store import connect

    store = connect(store_path, create=False)
    result: dict = {}
    started = time.perf_counter()
    if stage == "featurize":
        from socialfusion.featurize import featurize
        from socialfusion.pipeline import DEMO_SENTIMENT_ENCODERS

        featurize(store, list(DEMO_SENTIMENT_ENCODERS.values()))
    elif stage == "sentiment":
        from socialfusion.pipeline import demo_sentiment

        demo_sentiment(store)
    elif stage == "topics":
        from socialfusion.pipeline import demo_topics

        demo_topics(store)
    elif stage == "cascades":
        from socialfusion.corpus import Corpus
        from socialfusion.tasks.propagation import cascade_statistics, reshare_cascades

        corpus = Corpus.from_store(store)
        started = time.perf_counter()
        cascade_statistics(reshare_cascades(corpus))
    elif stage in ("prime", *INCREMENTAL_RUNS):  # the incremental stage's analyses
        from socialfusion.app._incremental import last_update
        from socialfusion.pipeline import analyze

        analyze(store, out, incremental=stage != "full", reuse_cards=stage == "reuse")
        update = last_update(store) if stage != "full" else None
        if update is not None:
            result["update"] = f"update {update.seconds:.1f} s: {update.describe()}"
    else:
        from _memory import PhasePeakRss

        from socialfusion.pipeline import analyze

        marks: list[tuple[str, float]] = []  # (stage of analyze, when it started): where the time goes, per card

        starts: list[tuple[str, float]] = []  # (stage, wall-clock start): where the tree's peak (parent's) fell

        def started_card(name: str, done: int, total: int) -> None:
            marks.append((name, time.perf_counter()))
            starts.append((name, time.time()))
            phases.enter(name)

        with PhasePeakRss() as phases:
            path = analyze(store, out, sections=None if stage == "analyze" else STAGES[stage], progress=started_card)
        result["report_mb"] = path.stat().st_size / 1024**2
        result["cards"] = {name: end - start for (name, start), (_, end) in zip(marks, marks[1:])}
        result["card_peaks_mb"] = phases.peaks_mb
        result["card_starts"] = starts
    result["seconds"] = time.perf_counter() - started
    return result


def measure(stage: str, store_path: Path, work: Path) -> dict:
    """Run a stage in a fresh process; its seconds, report size and the peak RSS of its process tree."""
    out = work / f"{stage}.json"
    name = store_path.parent.name.rsplit("-", 1)[0]  # scale-<posts>
    report = CACHE / f"report-{name}.html" if stage == "analyze" else work / f"{stage}.html"
    command = [sys.executable, __file__, "--stage", stage, "--store", str(store_path),
               "--out", str(report), "--result", str(out)]
    process = subprocess.Popen(command)
    with TreePeakRss(process.pid) as tree:
        code = process.wait()
    if code != 0:
        return {"seconds": math.nan, "peak_mb": tree.peak_mb, "failed": code}
    result = {**json.loads(out.read_text()), "peak_mb": tree.peak_mb}
    starts = result.pop("card_starts", None)
    if starts:  # the stage of analyze during which the whole tree peaked (sampled every 0.05 s from outside)
        result["peak_during"] = next((name for name, at in reversed(starts) if at <= tree.peak_at), "(before any)")
    return result


def held_out_posts(store_path: Path, share: float = INCREMENTAL_SHARE, seed: int = 0):
    """A seeded random ``share`` of the store's posts (as a posts table that ingests again), deleted from it."""
    import numpy as np
    import pyarrow as pa

    from socialfusion.schema import arrow_schema
    from socialfusion.store import connect, sql_string

    store = connect(store_path, create=False)
    posts = store.read("posts")
    chosen = np.sort(np.random.default_rng(seed).choice(posts.num_rows, max(1, round(posts.num_rows * share)),
                                                        replace=False))
    held = posts.take(pa.array(chosen))
    ids = held.column("post_id").to_pylist()
    for start in range(0, len(ids), 500):
        store.delete("posts", f"post_id IN ({', '.join(sql_string(post_id) for post_id in ids[start:start + 500])})")
    return held.select(arrow_schema("posts").names)


def incremental_stage(store_path: Path, work: Path) -> dict:
    """Full analyze vs incremental analyze after adding ``INCREMENTAL_SHARE`` of the posts (see the docstring)."""
    from socialfusion.corpus import Corpus
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.store import connect

    base = work / "incremental-base"
    shutil.copytree(store_path, base)
    held = held_out_posts(base)
    for stage in WRITES_STORE:
        measure(stage, base, work)
    prime = measure("prime", base, work)
    print(f"  {'first run':<12}{prime['seconds']:>9.1f} s{prime['peak_mb']:>9,.0f} MB  ({prime['update']})", flush=True)
    added = ingest_corpus(Corpus(posts=held), connect(base, create=False))
    print(f"  added back {held.num_rows:,} posts ({added.ingested:,} ingested)", flush=True)
    result = {"added": held.num_rows, "first run": prime}
    for run in INCREMENTAL_RUNS:
        copy = work / f"incremental-{run}"
        shutil.copytree(base, copy)
        result[run] = measure(run, copy, work)
        update = f"  ({result[run]['update']})" if result[run].get("update") else ""
        print(f"  {run:<12}{result[run]['seconds']:>9.1f} s{result[run]['peak_mb']:>9,.0f} MB{update}", flush=True)
        shutil.rmtree(copy)
    full = result["full"]["seconds"]
    print(f"  full / incremental: {full / result['incremental']['seconds']:.2f}x; full / incremental with reused "
          f"cards: {full / result['reuse']['seconds']:.2f}x", flush=True)
    result["seconds"] = result["reuse"]["seconds"]
    result["peak_mb"] = result["reuse"]["peak_mb"]
    return result


def main(sizes: list[int], stages: list[str]) -> None:
    results: dict[int, dict[str, dict]] = {}
    for size in sizes:
        folder = cached_store(size)
        counts = json.loads((folder / "counts.json").read_text())
        print(f"\n{size:,} original posts: {counts}", flush=True)
        with tempfile.TemporaryDirectory(dir=CACHE, prefix=f"scale-{size}-") as scratch:
            work = Path(scratch)
            store_path = work / "store"
            shutil.copytree(folder / "store", store_path)
            results[size] = {}
            # the writing stages run first, so the report stages see predictions and topics
            # the writing stages run when asked for, or when a card that reads what they write is
            needs_writes = bool(set(stages) & READS_WRITES)
            for stage in [s for s in STAGES if s in stages or (needs_writes and s in WRITES_STORE)]:
                if stage == "incremental":  # on a store of its own, with 1% of the posts held out
                    results[size][stage] = {**incremental_stage(folder / "store", work), "posts": counts["posts"]}
                    continue
                result = measure(stage, store_path, work)
                result["posts"] = counts["posts"]
                if stage in stages:
                    results[size][stage] = result
                report = f", report {result['report_mb']:.2f} MB" if "report_mb" in result else ""
                report += f", peak during {result['peak_during']}" if "peak_during" in result else ""
                print(f"  {stage:<12}{result['seconds']:>9.1f} s{result['peak_mb']:>9,.0f} MB{report}", flush=True)
                if stage == "analyze" and result.get("cards"):
                    peaks = result.get("card_peaks_mb", {})
                    print("    " + "; ".join(f"{name} {seconds:.1f} s, {peaks.get(name, math.nan):,.0f} MB"
                                             for name, seconds in result["cards"].items()), flush=True)
    print_table(results, sizes, stages)


def print_table(results: dict[int, dict[str, dict]], sizes: list[int], stages: list[str]) -> None:
    posts = {size: next(iter(results[size].values()))["posts"] for size in sizes if results[size]}
    print("\nStage x size (original posts; all posts incl. replies and reshares in brackets): seconds, posts/s, "
          "peak RSS (MB)\n")
    header = f"{'stage':<12}" + "".join(f"{f'{size:,} ({posts[size]:,})':>30}" for size in sizes)
    if len(sizes) > 1:
        header += f"{'time exp.':>11}{'RSS exp.':>10}"
    print(header)
    for stage in stages:
        line = f"{stage:<12}"
        for size in sizes:
            r = results[size].get(stage)
            line += f"{r['seconds']:>10.1f}{posts[size] / r['seconds']:>10,.0f}{r['peak_mb']:>10,.0f}" if r else \
                f"{'-':>30}"
        if len(sizes) > 1:
            a, b = results[sizes[-2]].get(stage), results[sizes[-1]].get(stage)
            ratio = math.log(posts[sizes[-1]] / posts[sizes[-2]])
            if a and b:
                line += f"{math.log(b['seconds'] / a['seconds']) / ratio:>11.2f}"
                line += f"{math.log(b['peak_mb'] / a['peak_mb']) / ratio:>10.2f}"
        print(line)
    sized = [size for size in sizes if "analyze" in results[size] and "report_mb" in results[size]["analyze"]]
    if sized:
        print("\nreport size (analyze): " + ", ".join(
            f"{size:,} posts: {results[size]['analyze']['report_mb']:.2f} MB" for size in sized))
    carded = [size for size in sizes if results[size].get("analyze", {}).get("cards")]
    if carded:
        print("\nanalyze, seconds per stage (from its progress callback; cards built beside the main process, such as "
              "the knowledge graph's entity recognition, count only the wait for them)\n")
        names = list(dict.fromkeys(name for size in carded for name in results[size]["analyze"]["cards"]))
        print(f"{'stage':<34}" + "".join(f"{size:>12,}" for size in carded)
              + (f"{'time exp.':>11}" if len(carded) > 1 else "") + f"{'peak MB':>10}")
        largest = results[carded[-1]]["analyze"].get("card_peaks_mb", {})
        for name in names:
            times = [results[size]["analyze"]["cards"].get(name) for size in carded]
            line = f"{name[:33]:<34}" + "".join(f"{t:>12.1f}" if t is not None else f"{'-':>12}" for t in times)
            if len(carded) > 1:
                ratio = math.log(posts[carded[-1]] / posts[carded[-2]])
                line += (f"{math.log(times[-1] / times[-2]) / ratio:>11.2f}"
                         if None not in times[-2:] and min(times[-2:]) > 0 else f"{'-':>11}")
            line += f"{largest[name]:>10,.0f}" if name in largest else f"{'-':>10}"
            print(line)
        print(f"(peak MB: the summed RSS of the process tree while the stage ran, at {carded[-1]:,} posts)")
    print("\nexponents: log(time ratio) / log(posts ratio) between the two largest sizes (1.0: linear)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000,10000", help="original posts per store, comma-separated")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"some of {','.join(STAGES)}")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.stage:
        Path(arguments.result).write_text(json.dumps(run_stage(arguments.stage, arguments.store, arguments.out)))
    else:
        wanted = [stage.strip() for stage in arguments.stages.split(",") if stage.strip()]
        unknown = set(wanted) - set(STAGES)
        if unknown:
            parser.error(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGES)}")
        main([int(size) for size in arguments.sizes.split(",")], [s for s in STAGES if s in wanted])
