"""Peak memory and seconds of reading a large store: the corpus (with and without the store's bookkeeping columns)
and one encoder's features (``load_features``, every post asked for in reverse store order).

Each read runs in a fresh process, so each peak (VmHWM) is that read's alone. The stores of ``scale_pipeline.py``
are the natural input (``benchmarks/.cache/scale-<posts>/store``; features exist only in a store that was
featurized, e.g. a copy kept from a scale run).

    python benchmarks/read_memory.py --store .cache/scale-1000000/store
    python benchmarks/read_memory.py --store /path/to/featurized/store --encoder text/multilingual --skip-corpus
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _memory import peak_rss_mb  # the benchmarks folder is on sys.path when a script runs


def run_read(kind: str, store_path: str, encoder: str | None) -> dict:
    """One read, in this process; its seconds, peak RSS and the size of what it returned."""
    from socialfusion.store import connect

    store = connect(store_path, create=False)
    started = time.perf_counter()
    if kind in ("corpus", "corpus-lean"):
        from socialfusion.corpus import Corpus

        corpus = Corpus.from_store(store, bookkeeping=kind == "corpus")
        size = sum(corpus.table(name).nbytes for name in corpus.table_names())
    else:
        from socialfusion.featurize import load_features

        ids = store.read("posts", columns=["post_id"]).column("post_id").to_pylist()[::-1]
        started = time.perf_counter()
        size = load_features(store, encoder, ids).vectors.nbytes
    return {"seconds": time.perf_counter() - started, "peak_mb": peak_rss_mb(), "result_mb": size / 1024**2}


def measure(kind: str, store_path: str, encoder: str | None) -> dict:
    command = [sys.executable, __file__, "--store", store_path, "--read", kind]
    if encoder:
        command += ["--encoder", encoder]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(store_path: str, encoder: str | None, skip_corpus: bool) -> None:
    kinds = ([] if skip_corpus else ["corpus", "corpus-lean"]) + (["features"] if encoder else [])
    print(f"{'read':<42}{'seconds':>9}{'peak MB':>10}{'result MB':>11}")
    labels = {"corpus": "Corpus.from_store (every column)",
              "corpus-lean": "Corpus.from_store(bookkeeping=False)",
              "features": f"load_features({encoder}), reversed ids"}
    for kind in kinds:
        result = measure(kind, store_path, encoder)
        print(f"{labels[kind]:<42}{result['seconds']:>9.1f}{result['peak_mb']:>10,.0f}{result['result_mb']:>11,.0f}",
              flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the store's folder")
    parser.add_argument("--encoder", help="also time load_features of this encoder (the store must hold its features)")
    parser.add_argument("--skip-corpus", action="store_true", help="only the features")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.read:
        print(json.dumps(run_read(arguments.read, arguments.store, arguments.encoder)))
    else:
        main(arguments.store, arguments.encoder, arguments.skip_corpus)
