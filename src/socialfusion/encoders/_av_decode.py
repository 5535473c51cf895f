"""Decoding with PyAV for the audio and video encoders: audio tracks as 16 kHz mono, video as keyframes plus motion.

Decoding streams: audio stops at a duration cap, video at a frame cap, and of the video frames only the chosen
keyframes and one small grey thumbnail (for the frame difference) are held at a time. Content decides the format,
never the file extension. Every problem with an item is a ``MediaError`` whose message is the reason its row is
missing. Audio must decode in full: a damaged packet, a file cut short of what its header declares, or a clip
shorter than ``MIN_AUDIO_SECONDS`` is such a problem, not a shorter sound.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from socialfusion.encoders._media import open_media
from socialfusion.exceptions import MediaError, attempt_import

__all__ = ["AUDIO_SAMPLE_RATE", "KEYFRAME_MAX_SIDE", "MIN_AUDIO_SECONDS", "MOTION_THUMBNAIL_SIDE", "VideoSample",
           "decode_audio", "sample_video"]

AUDIO_SAMPLE_RATE = 16_000
MIN_AUDIO_SECONDS = 0.1  # a shorter clip holds no sound worth a vector: a stub or a file cut short
# Audio that decodes this much shorter than its stream declares was cut short or damaged. Generous, because
# FFmpeg estimates some durations (MP3 without a Xing header) from the bitrate.
TRUNCATION_TOLERANCE_SECONDS = 0.25
TRUNCATION_TOLERANCE_FRACTION = 0.1
_UNKNOWN_RIFF_SIZES = 0x7FFF0000  # streaming writers put 0, 0x7FFFF000 or 0xFFFFFFFF where the size is unknown
KEYFRAME_MAX_SIDE = 512
MOTION_THUMBNAIL_SIDE = 32


class VideoSample(NamedTuple):
    """The keyframes and the motion of the analysed part of a video (its first ``max_frames`` frames).

    Attributes:
        keyframes: RGB ``PIL.Image`` keyframes in time order, longest side at most ``KEYFRAME_MAX_SIDE``.
        timestamps: ``(len(keyframes),)`` float64 presentation time of each keyframe in seconds.
        differences: ``(frame_count - 1,)`` float32 mean absolute difference in [0, 1] between consecutive frames,
            measured on ``MOTION_THUMBNAIL_SIDE`` square grey thumbnails.
        frame_count: frames analysed.
        fps: the stream's average frame rate as the container states it (FFmpeg's guess for a raw stream; 0.0 when
            there is none).
        duration: seconds analysed, ``frame_count / fps`` (0.0 when the frame rate is unknown).
    """

    keyframes: list[Any]
    timestamps: np.ndarray
    differences: np.ndarray
    frame_count: int
    fps: float
    duration: float


@contextmanager
def _media_container(item: Any, extra: str, check: Callable[[BinaryIO], None] | None = None) -> Iterator[Any]:
    """An open PyAV input container over a media item; FFmpeg errors inside the block become a ``MediaError``.

    Args:
        check: called with the open file before FFmpeg reads it; raises ``MediaError`` to refuse the item.
    """
    av = attempt_import("av", extra)
    with open_media(item) as handle:
        if check is not None:
            check(handle)
        try:
            with av.open(handle, metadata_errors="ignore") as container:
                yield container
        except av.FFmpegError as error:
            raise MediaError(f"cannot decode media: {error.strerror or error}") from None


def _decoded_frames(container: Any, stream: Any, *, skip_damaged: bool = True) -> Iterator[Any]:
    """The decoded frames of one stream.

    Args:
        skip_damaged: skip a packet the decoder rejects (a damaged stretch of a video, not a lost file); when
            False, such a packet is a ``MediaError``.
    """
    import av  # already imported by _media_container, which names the extra when it is missing

    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.InvalidDataError as error:
            if skip_damaged:
                continue
            timed = packet.pts is not None and packet.time_base
            at = f" at {float(packet.pts * packet.time_base):.2f} s" if timed else ""
            raise MediaError(f"damaged audio: a packet{at} cannot be decoded ({error.strerror or error})") from None


def _check_riff_complete(handle: BinaryIO) -> None:
    """Refuse a RIFF/WAVE file that holds fewer bytes than its header declares (a WAV cut short).

    FFmpeg decodes what is there without a word, so a 100-byte stub of a long WAV would pass as a short sound.
    """
    if not handle.seekable():
        return
    start = handle.tell()
    head = handle.read(12)
    size = handle.seek(0, io.SEEK_END)
    handle.seek(start)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    declared = int.from_bytes(head[4:8], "little") + 8
    if 8 < declared < _UNKNOWN_RIFF_SIZES and size + 1 < declared:  # one byte of slack: a missing pad byte
        raise MediaError(f"truncated WAV: the file holds {size} bytes of the {declared} its header declares")


def decode_audio(item: Any, *, max_seconds: float) -> np.ndarray:
    """The first audio track of any media (WAV, MP3, an MP4's soundtrack, ...) as 16 kHz mono samples.

    Args:
        item: a post media mapping, a path or bytes (see ``media_source``).
        max_seconds: decoding stops after this many seconds of audio.

    Returns:
        ``(samples,)`` float32 in [-1, 1] at ``AUDIO_SAMPLE_RATE``, at most ``max_seconds`` long and at least
        ``MIN_AUDIO_SECONDS``.

    Raises:
        MediaError: no media, a missing or empty file, not decodable, no audio track, a track without samples,
            a damaged packet, a file cut short (it decodes to less than its header or stream declares), or a
            clip shorter than ``MIN_AUDIO_SECONDS``.
    """
    av = attempt_import("av", "audio")
    limit = int(max_seconds * AUDIO_SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    collected = 0
    with _media_container(item, "audio", check=_check_riff_complete) as container:
        stream = container.streams.best("audio")
        if stream is None:
            raise MediaError("no audio track")
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_SAMPLE_RATE)
        frames = _decoded_frames(container, stream, skip_damaged=False)
        for frame in chain(frames, [None]):  # None flushes the resampler
            if frame is not None:
                frame.pts = None  # the resampler re-times frames itself; source gaps must not stop it
            for resampled in resampler.resample(frame):
                chunk = resampled.to_ndarray().reshape(-1)[: limit - collected]
                chunks.append(chunk)
                collected += len(chunk)
            if collected >= limit:
                break
    if collected == 0:
        raise MediaError("the audio track holds no samples")
    decoded = collected / AUDIO_SAMPLE_RATE
    if collected < limit and declared is not None:
        tolerance = max(TRUNCATION_TOLERANCE_SECONDS, TRUNCATION_TOLERANCE_FRACTION * declared)
        if declared - decoded > tolerance:
            raise MediaError(f"truncated audio: {decoded:.2f} s decoded of the {declared:.2f} s the stream declares")
    if decoded < MIN_AUDIO_SECONDS:
        raise MediaError(f"audio too short: {decoded:.3f} s (at least {MIN_AUDIO_SECONDS} s is needed)")
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _video_stream(container: Any) -> Any:
    """The container's main video stream, decoded with FFmpeg's threads."""
    stream = container.streams.best("video")
    if stream is None:
        raise MediaError("no video stream")
    stream.thread_type = "AUTO"
    return stream


def _count_video_frames(item: Any, max_frames: int) -> int:
    """Frames in the video stream, up to ``max_frames``, counted from packets alone (no decoding)."""
    with _media_container(item, "media") as container:
        packets = (packet for packet in container.demux(_video_stream(container)) if packet.size)
        return sum(1 for _ in islice(packets, max_frames))


def _uniform_frame_indices(frame_count: int, keyframes: int) -> set[int]:
    """The centres of ``keyframes`` equal stretches of ``frame_count`` frames (fewer when the video is shorter)."""
    return set(((np.arange(keyframes) + 0.5) * frame_count / keyframes).astype(int).tolist())


def _keyframe_picture(frame: Any) -> Any:
    """A decoded frame as an RGB PIL image, scaled down so that its longest side is at most ``KEYFRAME_MAX_SIDE``."""
    scale = min(1.0, KEYFRAME_MAX_SIDE / max(frame.width, frame.height))
    return frame.to_image(width=max(1, round(frame.width * scale)), height=max(1, round(frame.height * scale)),
                          interpolation="AREA")


def sample_video(item: Any, *, keyframes: int, sampling: str, scene_threshold: float, max_frames: int) -> VideoSample:
    """Keyframes and frame differences from one streaming pass over the first ``max_frames`` frames of a video.

    ``"uniform"`` sampling takes the frames at the centres of ``keyframes`` equal stretches (a packet-only pass
    counts the frames first, so it works where the container states no duration). ``"scene"`` sampling takes the
    first frame (the opening scene) and the frames whose difference to the previous one exceeds
    ``scene_threshold``, keeping the ``keyframes`` largest changes.

    Args:
        item: a post media mapping, a path or bytes (see ``media_source``).
        keyframes: the most keyframes to return.
        sampling: ``"uniform"`` or ``"scene"``.
        scene_threshold: the mean absolute grey difference in [0, 1] that counts as a scene change.
        max_frames: frames after this many are not decoded.

    Returns:
        The ``VideoSample``; it holds at least one keyframe.

    Raises:
        MediaError: no media, a missing or empty file, not decodable, no video stream, no decodable frame.
    """
    uniform = sampling == "uniform"
    targets = _uniform_frame_indices(_count_video_frames(item, max_frames), keyframes) if uniform else set()
    best: list[tuple[float, int, float, Any]] = []  # min-heap of (score, index, time, picture)
    differences: list[float] = []
    frame_count = 0
    with _media_container(item, "media") as container:
        stream = _video_stream(container)
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        previous = None
        for index, frame in enumerate(islice(_decoded_frames(container, stream), max_frames)):
            frame_count = index + 1
            thumbnail = frame.to_ndarray(width=MOTION_THUMBNAIL_SIDE, height=MOTION_THUMBNAIL_SIDE, format="gray",
                                         interpolation="AREA").astype(np.float32)
            if previous is not None:
                differences.append(float(np.mean(np.abs(thumbnail - previous))) / 255.0)
            previous = thumbnail
            if uniform:
                score = np.inf if index in targets else -np.inf
            else:
                change = differences[-1] if index else np.inf
                score = change if change > scene_threshold else -np.inf
            if score == -np.inf or (len(best) == keyframes and score <= best[0][0]):
                continue
            time = frame.time if frame.time is not None else (index / fps if fps else 0.0)
            entry = (score, index, float(time), _keyframe_picture(frame))
            if len(best) < keyframes:
                heapq.heappush(best, entry)
            else:
                heapq.heapreplace(best, entry)
    if not frame_count:
        raise MediaError("the video stream holds no decodable frame")
    chosen = sorted(best, key=lambda entry: entry[1])
    return VideoSample(
        keyframes=[picture for *_, picture in chosen],
        timestamps=np.array([time for _, _, time, _ in chosen], np.float64),
        differences=np.asarray(differences, np.float32),
        frame_count=frame_count,
        fps=fps,
        duration=frame_count / fps if fps else 0.0,
    )
