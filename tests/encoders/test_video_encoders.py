"""Video encoders on clips written here with PyAV: moving squares, a planted cut, soundtracks, broken files."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from socialfusion.encoders import available_encoders, encoder_info, get_encoder
from socialfusion.encoders.video import MOTION_STATISTICS, AudioTrackEncoder, KeyframeEncoder
from socialfusion.exceptions import ConfigurationError

av = pytest.importorskip("av")

FPS = 12
SIDE = 64
SAMPLE_RATE = 16_000
DARK_BLUE, YELLOW = (20, 20, 90), (240, 220, 40)
INVALID_DATA = "cannot decode media: Invalid data found when processing input"
AUDIO_CODECS = {"mp4": "aac", "wav": "pcm_s16le"}


def square_frames(count: int, *, speed: int = 2, cut_to: tuple[int, int, int] | None = None) -> list[np.ndarray]:
    """``(SIDE, SIDE, 3)`` uint8 frames: a white square moving ``speed`` px right per frame on dark blue; from the
    middle frame on, the background is ``cut_to`` when given (a planted scene cut)."""
    frames = []
    for index in range(count):
        background = cut_to if cut_to is not None and index >= count // 2 else DARK_BLUE
        frame = np.empty((SIDE, SIDE, 3), np.uint8)
        frame[:] = background
        left = (index * speed) % (SIDE - 16)
        frame[24:40, left : left + 16] = 255
        frames.append(frame)
    return frames


def tone(frequency: float, seconds: float) -> np.ndarray:
    """``(samples,)`` float32 sine at 16 kHz."""
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def write_clip(
    *, frames: list[np.ndarray] | None = None, audio: np.ndarray | None = None, container: str = "mp4"
) -> bytes:
    """A clip written with PyAV: H.264 video of ``frames`` at ``FPS`` and/or mono ``audio`` (AAC in MP4, PCM in WAV)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        if frames is not None:
            video = output.add_stream("libx264", rate=FPS)
            video.width = video.height = SIDE
            video.pix_fmt = "yuv420p"
            video.options = {"preset": "ultrafast"}
        if audio is not None:
            sound = output.add_stream(AUDIO_CODECS.get(container, "aac"), rate=SAMPLE_RATE, layout="mono")
        for frame in frames or []:
            output.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if frames is not None:
            output.mux(video.encode())
        for start in range(0, 0 if audio is None else len(audio), 1024):
            chunk = av.AudioFrame.from_ndarray(audio[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
            output.mux(sound.encode(chunk))
        if audio is not None:
            output.mux(sound.encode())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def histogram_keyframes():
    """Keyframes through the colour histogram (no model): 4 uniform keyframes."""
    return KeyframeEncoder(image_encoder="image/colour-histogram", keyframes=4)


def test_video_encoders_are_registered():
    assert {"video/keyframes", "video/audio-track"} <= set(available_encoders("video"))
    assert encoder_info("video/keyframes")["extra"] == "media"


@pytest.mark.parametrize("container", ["mp4", "matroska"])  # a Matroska video stream states no duration
def test_uniform_keyframes_sit_at_the_centres_of_equal_stretches(container, histogram_keyframes):
    sample = histogram_keyframes.sample(write_clip(frames=square_frames(48), container=container))
    np.testing.assert_allclose(sample.timestamps, [0.5, 1.5, 2.5, 3.5])
    assert [picture.size for picture in sample.keyframes] == [(SIDE, SIDE)] * 4
    assert (sample.frame_count, sample.fps, sample.duration) == (48, FPS, 4.0)
    assert sample.differences.shape == (47,) and sample.differences.dtype == np.float32


def test_a_video_shorter_than_the_keyframe_count_gives_every_frame(histogram_keyframes):
    sample = histogram_keyframes.sample(write_clip(frames=square_frames(3)))
    np.testing.assert_allclose(sample.timestamps, [0.0, 1 / FPS, 2 / FPS])


def test_scene_sampling_finds_the_planted_cut_and_not_the_motion():
    encoder = KeyframeEncoder(image_encoder="image/colour-histogram", keyframes=4, sampling="scene")
    sample = encoder.sample(write_clip(frames=square_frames(48, speed=1, cut_to=YELLOW)))
    np.testing.assert_allclose(sample.timestamps, [0.0, 24 / FPS])
    first, after_cut = (np.asarray(picture)[2, 2] for picture in sample.keyframes)
    assert first[2] > first[0] and after_cut[0] > after_cut[2]  # blue before the cut, yellow after
    assert not encoder.sample(write_clip(frames=square_frames(48, speed=1))).timestamps.any()  # opening frame only


def test_a_moving_square_has_larger_motion_statistics_than_a_still_one(histogram_keyframes):
    moving, still = histogram_keyframes.encode(
        [write_clip(frames=square_frames(24, speed=3)), write_clip(frames=square_frames(24, speed=0))]
    ).vectors
    motion = dict(zip(MOTION_STATISTICS, zip(moving[-6:], still[-6:])))
    for statistic in ("mean difference", "std difference", "max difference"):
        assert motion[statistic][0] > motion[statistic][1] + 0.005, statistic
    assert motion["mean difference"][1] < 1e-3
    for statistic in ("log1p duration s", "log1p fps", "log1p frame count"):
        assert motion[statistic][0] == motion[statistic][1] > 0


def test_only_the_first_max_frames_are_analysed():
    encoder = KeyframeEncoder(image_encoder="image/colour-histogram", keyframes=3, max_frames=12)
    sample = encoder.sample(write_clip(frames=square_frames(48)))
    assert (sample.frame_count, sample.duration) == (12, 1.0)
    np.testing.assert_allclose(sample.timestamps, [2 / FPS, 6 / FPS, 10 / FPS])


def test_bad_videos_become_missing_rows_with_their_reason_and_the_rest_encodes(tmp_path, histogram_keyframes):
    clip = write_clip(frames=square_frames(24), audio=tone(440, 2.0))
    (tmp_path / "clip.wav").write_bytes(clip)  # a video under an audio name: decoded by content
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 30)
    cases = [
        (clip, None),
        ({"kind": "video", "uri": str(tmp_path / "clip.wav")}, None),
        (write_clip(frames=square_frames(24), container="h264"), None),
        (write_clip(frames=square_frames(600)), None),  # over-long: analysed up to max_frames
        (clip[: len(clip) // 2], INVALID_DATA),
        (np.random.default_rng(0).bytes(4096), INVALID_DATA),
        (str(tmp_path / "notes.mp4"), INVALID_DATA),
        (str(tmp_path / "absent.mp4"), f"media file not found: {tmp_path / 'absent.mp4'}"),
        (str(tmp_path / "empty.mp4"), f"empty media file (0 bytes): {tmp_path / 'empty.mp4'}"),
        (write_clip(audio=tone(440, 1.0), container="wav"), "no video stream"),
        ({"kind": "video", "uri": "https://example.org/v.mp4"}, "remote media is referenced, not fetched: "
                                                                  "https://example.org/v.mp4"),
        (None, "no media"),
    ]
    encoder = KeyframeEncoder(image_encoder=histogram_keyframes.image_encoder, keyframes=4, max_frames=120)
    encoded = encoder.encode([item for item, _ in cases], batch_size=5)
    assert encoder.dim == 2 * 128 + len(MOTION_STATISTICS)
    assert encoded.vectors.shape == (len(cases), encoder.dim) and encoded.vectors.dtype == np.float32
    assert encoded.reasons == [reason for _, reason in cases]
    assert not encoded.vectors[encoded.missing].any()
    np.testing.assert_allclose(encoded.vectors[~encoded.missing, :128].sum(axis=1), 1.0, atol=1e-5)  # mean histogram
    assert encoded.vectors[3, -1] == pytest.approx(np.log1p(120))  # frame count capped
    np.testing.assert_array_equal(encoded.vectors[0], encoded.vectors[1])


def test_the_image_encoder_is_given_by_name_or_instance_and_its_version_is_part_of_ours(histogram_keyframes):
    by_instance = KeyframeEncoder(image_encoder=get_encoder("image/colour-histogram"), keyframes=4)
    assert by_instance.version == histogram_keyframes.version
    clip = write_clip(frames=square_frames(24))
    np.testing.assert_array_equal(by_instance.encode([clip]).vectors, histogram_keyframes.encode([clip]).vectors)
    coarser = KeyframeEncoder(image_encoder=get_encoder("image/colour-histogram", bins=(4, 2, 2)), keyframes=4)
    assert coarser.version != histogram_keyframes.version and coarser.dim == 2 * 16 + len(MOTION_STATISTICS)


def test_wrong_settings_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="expected an image encoder"):
        KeyframeEncoder(image_encoder="audio/log-mel")
    with pytest.raises(ConfigurationError, match="unknown keyframe sampling"):
        KeyframeEncoder(image_encoder="image/colour-histogram", sampling="random")
    with pytest.raises(ConfigurationError, match="expected an audio encoder"):
        AudioTrackEncoder(audio_encoder="image/colour-histogram")


def test_the_audio_track_encodes_like_the_same_sound_alone():
    sound = tone(440, 2.0)
    encoder = get_encoder("video/audio-track")
    assert encoder.dim == get_encoder("audio/log-mel").dim
    with_sound, silent_film, alone = encoder.encode(
        [write_clip(frames=square_frames(24), audio=sound), write_clip(frames=square_frames(24)),
         write_clip(audio=sound, container="wav")]
    ).vectors
    mean_levels = slice(0, 64)
    peak = alone[mean_levels].max()
    sounding = alone[mean_levels] > peak - 40  # dB; below that lie the quantisation noise floors of PCM and AAC
    assert 2 <= sounding.sum() <= 6
    np.testing.assert_allclose(with_sound[mean_levels][sounding], alone[mean_levels][sounding], atol=2.0)
    assert with_sound[mean_levels][~sounding].max() < peak - 40
    assert not silent_film.any()
    assert encoder.encode([write_clip(frames=square_frames(24))]).reasons == ["no audio track"]


@pytest.mark.slow
def test_the_audio_track_through_whisper_matches_the_sound_alone():
    sound = tone(440, 2.0)
    encoder = AudioTrackEncoder(audio_encoder="audio/whisper")
    assert encoder.dim == 384
    with_sound, alone = encoder.encode([write_clip(frames=square_frames(24), audio=sound),
                                        write_clip(audio=sound, container="wav")]).vectors
    assert with_sound @ alone / np.linalg.norm(with_sound) / np.linalg.norm(alone) > 0.98


@pytest.mark.slow
def test_keyframes_through_efficientnet():
    encoder = get_encoder("video/keyframes", keyframes=3)
    assert encoder.dim == 2 * 1280 + len(MOTION_STATISTICS)
    encoded = encoder.encode([write_clip(frames=square_frames(24)), write_clip(frames=square_frames(24, cut_to=YELLOW)),
                              b"broken"])
    assert encoded.missing.tolist() == [False, False, True]
    assert np.isfinite(encoded.vectors).all()
    assert not np.allclose(encoded.vectors[0], encoded.vectors[1])


def test_importing_the_video_encoders_loads_no_heavy_dependency():
    heavy = ("av", "faster_whisper", "ctranslate2", "torch")
    script = f"import sys, socialfusion.encoders.video; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.stdout.strip() == "[]"
