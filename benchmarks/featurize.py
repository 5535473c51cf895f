"""Featurization speed and memory, each figure against a baseline measured in the same run.

Prints four tables:
1. text: MiniLM as int8 ONNX (``text/minilm-int8``) vs sentence-transformers ``encode`` of the same model in
   full precision (``text/minilm``): texts/s and the mean cosine between the two;
2. images: the batched EfficientNet pipeline (parallel decode, batch 32) vs a naive loop that decodes,
   transforms and runs one image at a time;
3. the feature cache: a second ``featurize`` over an unchanged store vs the first;
4. memory: peak RSS of ``featurize`` (text/lexicon) over 10,000 / 50,000 / 100,000 posts (each in a fresh process).

    python benchmarks/featurize.py            # full sizes
    python benchmarks/featurize.py --quick    # small sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mb  # the benchmarks folder is on sys.path when a script runs

SENTENCES = (
    "just landed in tokyo and the food is amazing",
    "worst customer service ever, still waiting for a refund",
    "new phone battery lasts two days, impressed",
    "the match last night was a total disaster for us",
    "reading a report about sea level rise, worrying",
    "coffee with friends before the concert tonight",
    "traffic again... this city needs better trains",
    "our team shipped the release today, proud of everyone",
)


def tweets(n: int) -> list[str]:
    """``n`` tweet-like texts (distinct, deterministic)."""
    return [f"{SENTENCES[i % len(SENTENCES)]} #{i % 97} @user{i % 31} take {i}" for i in range(n)]


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def text_table(n: int) -> None:
    from socialfusion.encoders import get_encoder

    texts = tweets(n)
    full, int8 = get_encoder("text/minilm"), get_encoder("text/minilm-int8")
    full.encode(texts[:64]), int8.encode(texts[:64])  # load and warm up both
    full_seconds, full_out = timed(full.encode, texts, batch_size=64)
    int8_seconds, int8_out = timed(int8.encode, texts, batch_size=64)
    a, b = full_out.vectors, int8_out.vectors
    cosine = float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    print(f"\n1. Text: {n:,} tweet-like texts, batch 64\n")
    print(f"{'method':<52}{'seconds':>9}{'texts/s':>10}{'vs baseline':>13}")
    print(f"{'sentence-transformers encode, MiniLM fp32 (baseline)':<52}{full_seconds:>9.2f}"
          f"{n / full_seconds:>10,.0f}{1:>12.2f}x")
    print(f"{'text/minilm-int8 (onnxruntime, int8)':<52}{int8_seconds:>9.2f}"
          f"{n / int8_seconds:>10,.0f}{full_seconds / int8_seconds:>12.2f}x")
    print(f"mean cosine between the two: {cosine:.4f}")


def write_jpegs(folder: Path, n: int) -> list[str]:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (320, 240), tuple(int(c) for c in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.integers(0, 300, 2)
            draw.ellipse([x, y, x + 40, y + 30], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        path = folder / f"image{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(str(path))
    return paths


def image_table(n: int) -> None:
    from socialfusion.encoders import get_encoder

    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(Path(folder), n)
        encoder = get_encoder("image/efficientnet")
        encoder.encode(paths[:4])  # load and warm up
        naive_seconds, _ = timed(lambda: [encoder.encode([path], batch_size=1) for path in paths])
        batched_seconds, _ = timed(encoder.encode, paths, batch_size=32)
    print(f"\n2. Images: {n} JPEGs of 320x240, EfficientNet-Lite0 features\n")
    print(f"{'method':<52}{'seconds':>9}{'images/s':>10}{'vs baseline':>13}")
    print(f"{'one image at a time: decode, transform, forward (baseline)':<52}{naive_seconds:>9.2f}"
          f"{n / naive_seconds:>10,.1f}{1:>12.2f}x")
    print(f"{'batched pipeline (batch 32, parallel decode)':<52}{batched_seconds:>9.2f}"
          f"{n / batched_seconds:>10,.1f}{naive_seconds / batched_seconds:>12.2f}x")


def synthetic_store(folder: Path, n_posts: int, *, media: bool):
    from socialfusion.datasets.synthetic import generate
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.store import connect

    network = generate(n_users=max(50, n_posts // 20), n_posts=n_posts, seed=0,
                       media_dir=folder / "media" if media else None,
                       image_fraction=0.4 if media else 0.0, n_videos=4 if media else 0, n_audio=4 if media else 0)
    store = connect(folder / "store")
    ingest_corpus(network.corpus, store, scrub_pii=False)
    return store


def cache_table(n_posts: int) -> None:
    from socialfusion.featurize import featurize

    encoders = ["text/minilm-int8", "text/lexicon", "image/efficientnet", "tabular/post-metadata"]
    with tempfile.TemporaryDirectory() as folder:
        store = synthetic_store(Path(folder), n_posts, media=True)
        first_seconds, first = timed(featurize, store, encoders)
        second_seconds, second = timed(featurize, store, encoders)
    items = sum(run.items for run in first.runs)
    assert sum(run.encoded for run in second.runs) == 0, "the second run should encode nothing"
    print(f"\n3. Feature cache: {n_posts:,} synthetic posts ({items:,} items over {len(encoders)} encoders)\n")
    print(f"{'run':<52}{'seconds':>9}{'vs first':>13}")
    print(f"{'first featurize (baseline)':<52}{first_seconds:>9.2f}{1:>12.2f}x")
    print(f"{'second featurize, store unchanged':<52}{second_seconds:>9.2f}{first_seconds / second_seconds:>12.1f}x")


def _memory_child(store_dir: str, queue) -> None:
    from socialfusion.featurize import featurize
    from socialfusion.store import connect

    seconds, _ = timed(featurize, connect(store_dir), ["text/lexicon"])
    queue.put((seconds, peak_rss_mb()))


def memory_table(sizes: list[int]) -> None:
    context = multiprocessing.get_context("spawn")
    print("\n4. Memory: featurize text/lexicon over text posts; the store is built first, then featurized")
    print("   in a fresh process whose peak RSS is reported\n")
    print(f"{'posts':>10}{'seconds':>10}{'posts/s':>10}{'peak RSS MB':>14}")
    for n_posts in sizes:
        with tempfile.TemporaryDirectory() as folder:
            synthetic_store(Path(folder), n_posts, media=False)
            queue = context.Queue()
            process = context.Process(target=_memory_child, args=(str(Path(folder) / "store"), queue))
            process.start()
            seconds, peak = queue.get()
            process.join()
        print(f"{n_posts:>10,}{seconds:>10.1f}{n_posts / seconds:>10,.0f}{peak:>14,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    text_table(200 if args.quick else 2000)
    image_table(32 if args.quick else 200)
    cache_table(300 if args.quick else 3000)
    memory_table([1000, 3000] if args.quick else [10_000, 50_000, 100_000])


if __name__ == "__main__":
    main()
