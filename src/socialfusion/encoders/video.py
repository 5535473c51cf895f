"""Video encoders: keyframes through an image encoder plus motion statistics; the soundtrack through an audio encoder.

A video is decoded once, streaming, up to ``max_frames`` frames (1,800 by default: a minute at 30 fps); longer
videos are analysed over that opening stretch. Keyframes are taken uniformly over it or at scene changes.

Examples:
    >>> encoded = AudioTrackEncoder().encode([b"just some text, not a video"])
    >>> encoded.missing.tolist(), encoded.reasons
    ([True], ['cannot decode media: Invalid data found when processing input'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from socialfusion.encoders._av_decode import KEYFRAME_MAX_SIDE, MOTION_THUMBNAIL_SIDE, VideoSample, sample_video
from socialfusion.encoders._base import Encoded, Encoder, RowCollector, get_encoder, register_encoder, settings_version
from socialfusion.exceptions import ConfigurationError, MediaError

__all__ = ["MOTION_STATISTICS", "AudioTrackEncoder", "KeyframeEncoder", "motion_statistics"]

MOTION_STATISTICS = ("mean difference", "std difference", "max difference", "log1p duration s", "log1p fps",
                     "log1p frame count")
SAMPLINGS = ("uniform", "scene")


def _resolve_encoder(encoder: str | Encoder, modality: str) -> Encoder:
    """An encoder instance from an instance or a registry name, checked to encode ``modality``."""
    if isinstance(encoder, str):
        encoder = get_encoder(encoder)
    if encoder.modality != modality:
        raise ConfigurationError(
            f"expected an {modality} encoder, got {encoder.name!r} of modality {encoder.modality!r}"
        )
    return encoder


def motion_statistics(sample: VideoSample) -> np.ndarray:
    """How much and how long a video moves.

    Args:
        sample: what ``sample_video`` returned.

    Returns:
        ``(6,)`` float32 in the order of ``MOTION_STATISTICS``: mean, standard deviation and maximum of the
        frame-to-frame differences (0 for a single frame), then ``log1p`` of the analysed duration in seconds, of
        the frame rate and of the frame count (logs keep long videos from dwarfing the other features).
    """
    differences = sample.differences if len(sample.differences) else np.zeros(1, np.float32)
    return np.array([differences.mean(), differences.std(), differences.max(), np.log1p(sample.duration),
                     np.log1p(sample.fps), np.log1p(sample.frame_count)], np.float32)


@register_encoder("video/keyframes", modality="video", extra="media")
class KeyframeEncoder:
    """Keyframes through an image encoder, pooled over time, plus motion statistics.

    The vector is ``[mean over keyframes (image dim), max over keyframes (image dim), motion (6)]``, so
    ``dim = 2 * image_encoder.dim + 6``. Keyframes the image encoder cannot use are left out of the pooling.

    Args:
        image_encoder: an image encoder or its registry name.
        keyframes: the most keyframes per video.
        sampling: ``"uniform"`` (centres of equal stretches) or ``"scene"`` (the first frame and the largest
            changes above ``scene_threshold``).
        scene_threshold: the mean absolute difference in [0, 1] of consecutive downscaled grey frames that counts
            as a scene change.
        max_frames: frames after this many are not decoded.

    Raises:
        ConfigurationError: an unknown sampling, a non-positive count, or ``image_encoder`` is not an image encoder.
    """

    name = "video/keyframes"
    modality = "video"

    def __init__(
        self,
        image_encoder: str | Encoder = "image/efficientnet",
        keyframes: int = 8,
        sampling: str = "uniform",
        scene_threshold: float = 0.1,
        max_frames: int = 1800,
    ):
        if sampling not in SAMPLINGS:
            raise ConfigurationError(f"unknown keyframe sampling {sampling!r}; expected one of {SAMPLINGS}")
        if keyframes < 1 or max_frames < 1:
            raise ConfigurationError(f"keyframes and max_frames must be positive, got {keyframes} and {max_frames}")
        self.image_encoder = _resolve_encoder(image_encoder, "image")
        self.keyframes = keyframes
        self.sampling = sampling
        self.scene_threshold = scene_threshold
        self.max_frames = max_frames
        self.dim = 2 * self.image_encoder.dim + len(MOTION_STATISTICS)
        self.version = settings_version(
            self.name, self.image_encoder.name, self.image_encoder.version, keyframes, sampling, scene_threshold,
            max_frames, KEYFRAME_MAX_SIDE, MOTION_THUMBNAIL_SIDE,
        )

    def sample(self, item: Any) -> VideoSample:
        """The keyframes and frame differences of one video with this encoder's settings.

        Raises:
            MediaError: the item is missing, empty, not a decodable video, or holds no decodable frame.
        """
        return sample_video(item, keyframes=self.keyframes, sampling=self.sampling,
                            scene_threshold=self.scene_threshold, max_frames=self.max_frames)

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode videos; keyframes go to the image encoder about ``batch_size`` at a time.

        Args:
            items: post media mappings, paths or bytes of videos.
            batch_size: keyframes per image-encoder call (videos are never split across calls).

        Returns:
            ``Encoded`` with ``(len(items), dim)`` vectors; undecodable items are missing rows with the reason.
        """
        rows = RowCollector(len(items), self.dim)
        pending: list[tuple[int, VideoSample]] = []
        for index, item in enumerate(items):
            try:
                pending.append((index, self.sample(item)))
            except MediaError as error:
                rows.skip(index, str(error))
            if sum(len(sample.keyframes) for _, sample in pending) >= batch_size:
                self._encode_keyframes(pending, rows, batch_size)
                pending = []
        self._encode_keyframes(pending, rows, batch_size)
        return rows.result()

    def _encode_keyframes(self, pending: list[tuple[int, VideoSample]], rows: RowCollector, batch_size: int) -> None:
        """Run the image encoder on the keyframes of ``pending`` videos and put their pooled rows."""
        if not pending:
            return
        encoded = self.image_encoder.encode([picture for _, sample in pending for picture in sample.keyframes],
                                            batch_size=batch_size)
        start = 0
        for index, sample in pending:
            stop = start + len(sample.keyframes)
            usable = encoded.vectors[start:stop][~encoded.missing[start:stop]]
            if len(usable):
                rows.put(index, np.concatenate([usable.mean(axis=0), usable.max(axis=0), motion_statistics(sample)]))
            else:
                rows.skip(index, f"no keyframe could be encoded: {encoded.reasons[start]}")
            start = stop


@register_encoder("video/audio-track", modality="video", extra="media")
class AudioTrackEncoder:
    """The soundtrack of a video through an audio encoder; a video without one is a missing row "no audio track".

    Args:
        audio_encoder: an audio encoder or its registry name (``"audio/log-mel"``, ``"audio/whisper"``).

    Raises:
        ConfigurationError: ``audio_encoder`` is not an audio encoder.
    """

    name = "video/audio-track"
    modality = "video"

    def __init__(self, audio_encoder: str | Encoder = "audio/log-mel"):
        self.audio_encoder = _resolve_encoder(audio_encoder, "audio")
        self.dim = self.audio_encoder.dim
        self.version = settings_version(self.name, self.audio_encoder.name, self.audio_encoder.version)

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode the first audio track of each video (audio decoding finds the track by content).

        Args:
            items: post media mappings, paths or bytes of videos.
            batch_size: passed to the audio encoder.

        Returns:
            ``Encoded`` with ``(len(items), dim)`` vectors; videos without sound or undecodable are missing rows.
        """
        return self.audio_encoder.encode(items, batch_size=batch_size)
