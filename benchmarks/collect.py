"""Collection throughput: posts/s collected and ingested from the fake Mastodon server, pages of 40.

The fake server runs in its own process (so it does not share the collector's interpreter lock) and serves N
statuses of a hashtag timeline. Three figures, measured in the same run against the same server:

- ``fetch only``: paging through the timeline with httpx, decoding the JSON and nothing else (the ceiling the
  network side sets);
- ``file ingest``: the same statuses saved as one Mastodon JSON file and ingested by ``socialfusion.ingest``
  (the ceiling the ingestion side sets, with no per-page writes);
- ``collect``: ``socialfusion.collect`` end to end (HTTP, parsing by the Mastodon reader, validation, one store
  write per page and the cursor saved after each page).

    python benchmarks/collect.py              # 100,000 posts
    python benchmarks/collect.py --n 5000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path


def serve(n: int, page_size: int, ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from socialfusion.collect.testing import FakeMastodon

    fake = FakeMastodon(n, page_size=page_size)
    with fake as base_url:
        ready.put(base_url)
        stop.wait()


def fetch_only(base_url: str, page_size: int) -> int:
    import httpx
    import orjson

    received, params = 0, {"limit": page_size}
    with httpx.Client(timeout=30) as client:
        while True:
            response = client.get(f"{base_url}/api/v1/timelines/tag/python", params=params)
            statuses = orjson.loads(response.content)
            if not statuses:
                return received
            received += len(statuses)
            params = {"limit": page_size, "max_id": statuses[-1]["id"]}


def file_ingest(base_url: str, page_size: int, folder: Path) -> int:
    import httpx

    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    statuses, params = [], {"limit": page_size}
    with httpx.Client(timeout=30) as client:  # the statuses, fetched before the clock starts
        while page := client.get(f"{base_url}/api/v1/timelines/tag/python", params=params).json():
            statuses.extend(page)
            params = {"limit": page_size, "max_id": page[-1]["id"]}
    path = folder / "statuses.json"
    path.write_text(json.dumps(statuses))
    started = time.perf_counter()
    summary = ingest([path], connect(folder / "file-store"), format="mastodon", detect_language=False)
    seconds = time.perf_counter() - started
    assert summary.rejected == 0 and summary.per_table["posts"]["ingested"] == len(statuses), summary.to_dict()
    return len(statuses), seconds


def collect_all(base_url: str, page_size: int, folder: Path) -> tuple[int, int]:
    from socialfusion.collect import Source, collect
    from socialfusion.store import connect

    store = connect(folder / "collect-store")
    result = collect(store, Source("mastodon", "#python", base_url), page_size=page_size, detect_language=False)
    assert result.stopped_reason is None and result.rejects == 0, result.to_dict()
    return result.ingested, store.count("posts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="statuses the fake server holds")
    parser.add_argument("--page-size", type=int, default=40)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(target=serve, args=(args.n, args.page_size, ready, stop), daemon=True)
    server.start()
    base_url = ready.get(timeout=600)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            fetched = fetch_only(base_url, args.page_size)
            rows.append(("fetch only (httpx + JSON)", fetched, time.perf_counter() - started))
            ingested, seconds = file_ingest(base_url, args.page_size, Path(folder))
            rows.append(("file ingest (one JSON file)", ingested, seconds))
            started = time.perf_counter()
            collected, stored = collect_all(base_url, args.page_size, Path(folder))
            rows.append(("collect (end to end)", collected, time.perf_counter() - started))
            assert collected == stored == args.n, (collected, stored)
    finally:
        stop.set()
        server.join(timeout=10)
    load = os.getloadavg()
    print(f"{args.n:,} statuses, pages of {args.page_size}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'method':<30} {'posts':>9} {'seconds':>9} {'posts/s':>9}  ratio to collect")
    collect_rate = rows[-1][1] / rows[-1][2]
    for name, count, seconds in rows:
        rate = count / seconds
        print(f"{name:<30} {count:>9,} {seconds:>9.1f} {rate:>9,.0f}  {rate / collect_rate:.2f}")


if __name__ == "__main__":
    main()
