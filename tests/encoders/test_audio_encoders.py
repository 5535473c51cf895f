"""Audio encoders and transcription on clips made here: stdlib WAV tones, PyAV MP3/M4A, espeak-ng speech, bad bytes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from socialfusion.encoders import available_encoders, encoder_info, get_encoder
from socialfusion.encoders._av_decode import decode_audio
from socialfusion.encoders.audio import mel_filterbank, transcribe

SAMPLE_RATE = 16_000
SPEECH = "good morning everyone, welcome to the meeting"
INVALID_DATA = "cannot decode media: Invalid data found when processing input"


def tone(frequency: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """``(samples,)`` float32 sine at 16 kHz."""
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def wav_bytes(samples: np.ndarray) -> bytes:
    """A mono 16-bit 16 kHz WAV written with the standard library."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def compressed_audio(samples: np.ndarray, container: str, codec: str) -> bytes:
    """``samples`` encoded with PyAV, e.g. ``("mp3", "libmp3lame")`` or ``("mp4", "aac")`` (an M4A)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """``SPEECH`` spoken by espeak-ng (installed by ``make test``)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: `make test` installs it (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPEECH], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[list, list[str | None]]:
    """One batch with every kind of good and bad audio input, and the reason expected for each row (None: valid)."""
    folder = tmp_path_factory.mktemp("audio")
    m4a = compressed_audio(tone(440, 1.0), "mp4", "aac")
    wav_named_mp3 = folder / "actually-a-wav.mp3"
    wav_named_mp3.write_bytes(wav_bytes(tone(440, 1.0)))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("these are words, not sound\n" * 20)
    picture = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(picture, "PNG")
    cases = [
        (wav_bytes(tone(440, 1.0)), None),
        (compressed_audio(tone(440, 1.0), "mp3", "libmp3lame"), None),
        ({"kind": "audio", "data": m4a}, None),
        ({"kind": "audio", "uri": str(wav_named_mp3)}, None),
        (wav_bytes(np.zeros(SAMPLE_RATE, np.float32)), None),
        (wav_bytes(tone(440, 4.0)), None),  # longer than max_seconds: cut, still valid
        (str(folder / "empty.wav"), f"empty media file (0 bytes): {folder / 'empty.wav'}"),
        (b"", "empty media (0 bytes)"),
        (m4a[: len(m4a) // 2], INVALID_DATA),
        (np.random.default_rng(0).bytes(4096), INVALID_DATA),
        (str(folder / "notes.wav"), INVALID_DATA),
        (str(folder / "absent.wav"), f"media file not found: {folder / 'absent.wav'}"),
        (picture.getvalue(), "no audio track"),
        ({"kind": "audio", "uri": "x.wav", "error": "media file too large"}, "media file too large"),
        (None, "no media"),
    ]
    return [item for item, _ in cases], [reason for _, reason in cases]


def test_audio_encoders_are_registered_with_the_audio_extra():
    assert {"audio/log-mel", "audio/whisper"} <= set(available_encoders("audio"))
    assert encoder_info("audio/whisper") == {"name": "audio/whisper", "modality": "audio", "extra": "audio"}


@pytest.mark.parametrize("name", ["audio/log-mel", pytest.param("audio/whisper", marks=pytest.mark.slow)])
def test_bad_items_become_missing_rows_with_their_reason_and_the_rest_encodes(name, batch):
    items, expected_reasons = batch
    encoder = get_encoder(name, max_seconds=2.0)
    encoded = encoder.encode(items, batch_size=3)
    assert encoded.vectors.shape == (len(items), encoder.dim) and encoded.vectors.dtype == np.float32
    assert encoded.reasons == expected_reasons
    assert encoded.missing.tolist() == [reason is not None for reason in expected_reasons]
    assert not encoded.vectors[encoded.missing].any()
    assert np.isfinite(encoded.vectors).all() and np.abs(encoded.vectors[~encoded.missing]).sum(axis=1).all()


def test_audio_that_cannot_be_decoded_in_full_is_a_missing_row_not_a_shorter_sound():
    wav = wav_bytes(tone(440, 1.0))
    mp3 = compressed_audio(tone(440, 2.0), "mp3", "libmp3lame")
    damaged_mp3 = bytearray(mp3)
    damaged_mp3[len(mp3) // 2 : len(mp3) // 2 + 200] = np.random.default_rng(1).bytes(200)
    items = [wav[:100], wav[: len(wav) // 2], mp3[: len(mp3) // 2], bytes(damaged_mp3),
             wav_bytes(tone(440, 0.05)), wav]

    encoded = get_encoder("audio/log-mel").encode(items)

    reasons = encoded.reasons
    assert reasons[0] == f"truncated WAV: the file holds 100 bytes of the {len(wav)} its header declares"
    assert reasons[1].startswith("truncated WAV: the file holds")
    assert reasons[2].startswith("truncated audio:") and "of the 2.00 s the stream declares" in reasons[2]
    assert reasons[3].startswith("damaged audio: a packet at") and "cannot be decoded" in reasons[3]
    assert reasons[4] == "audio too short: 0.050 s (at least 0.1 s is needed)"
    assert reasons[5] is None
    assert encoded.missing.tolist() == [True] * 5 + [False]


def test_a_wav_whose_header_does_not_know_its_size_is_read_as_a_stream():
    wav = bytearray(wav_bytes(tone(440, 1.0)))
    wav[4:8] = (0xFFFFFFFF).to_bytes(4, "little")  # what a writer to a pipe puts there

    assert len(decode_audio(bytes(wav), max_seconds=10.0)) == SAMPLE_RATE


def test_log_mel_layout_and_tones_peak_in_their_own_mel_band():
    encoder = get_encoder("audio/log-mel")
    assert encoder.dim == 6 * 64
    low, high = encoder.encode([wav_bytes(tone(440, 1.0)), wav_bytes(tone(2000, 1.0))]).vectors
    mean_level_low, mean_level_high = low[:64], high[:64]
    filters = mel_filterbank(64)
    hz_per_bin = SAMPLE_RATE / 2 / (filters.shape[1] - 1)
    band_440, band_2000 = (int(np.argmax(filters[:, round(hz / hz_per_bin)])) for hz in (440, 2000))
    assert abs(int(np.argmax(mean_level_low)) - band_440) <= 1
    assert abs(int(np.argmax(mean_level_high)) - band_2000) <= 1
    assert mean_level_low[band_440] > mean_level_high[band_440] + 30  # dB
    assert mean_level_high[band_2000] > mean_level_low[band_2000] + 30


def test_log_mel_deltas_are_larger_for_a_pulsing_tone_than_a_steady_one():
    steady = tone(440, 1.0)
    pulsing = steady * (np.arange(len(steady)) // (SAMPLE_RATE // 10) % 2)  # on and off every 100 ms
    steady_row, pulsing_row = get_encoder("audio/log-mel").encode([wav_bytes(steady), wav_bytes(pulsing)]).vectors
    band = int(np.argmax(steady_row[:64]))
    mean_absolute_delta = slice(4 * 64, 5 * 64)
    assert pulsing_row[mean_absolute_delta][band] > 5 * steady_row[mean_absolute_delta][band]


def test_log_mel_is_the_same_by_content_whatever_the_container_or_name(tmp_path):
    samples = tone(440, 1.0)
    wav = wav_bytes(samples)
    misnamed = tmp_path / "clip.mp4"
    misnamed.write_bytes(wav)
    encoder = get_encoder("audio/log-mel")
    encoded = encoder.encode([wav, misnamed, compressed_audio(samples, "mp3", "libmp3lame")])
    from_bytes, from_path, from_mp3 = encoded.vectors
    np.testing.assert_array_equal(from_bytes, from_path)
    tone_band = int(np.argmax(from_bytes[:64]))
    assert abs(from_mp3[tone_band] - from_bytes[tone_band]) < 1.5  # lossy, slightly shifted: the same tone level


def test_log_mel_ignores_audio_past_max_seconds():
    encoder = get_encoder("audio/log-mel", max_seconds=2.0)
    first_two_seconds = tone(440, 2.0)
    longer = np.concatenate([first_two_seconds, tone(2000, 2.0)])
    capped, alone = encoder.encode([wav_bytes(longer), wav_bytes(first_two_seconds)]).vectors
    np.testing.assert_allclose(capped, alone, atol=1e-4)
    assert encoder.version != get_encoder("audio/log-mel").version


def test_silence_encodes_to_a_valid_row_at_the_floor_level():
    encoded = get_encoder("audio/log-mel").encode([wav_bytes(np.zeros(SAMPLE_RATE, np.float32))])
    assert not encoded.missing[0]
    np.testing.assert_allclose(encoded.vectors[0, :64], -100.0)


@pytest.mark.slow
def test_whisper_embeddings_are_deterministic_and_tell_speech_from_silence(speech_wav):
    encoder = get_encoder("audio/whisper")
    assert encoder.dim == 384
    silence = wav_bytes(np.zeros(2 * SAMPLE_RATE, np.float32))
    speech, quiet, speech_again = encoder.encode([speech_wav, silence, speech_wav]).vectors
    np.testing.assert_array_equal(speech, speech_again)
    np.testing.assert_array_equal(speech, encoder.encode([speech_wav]).vectors[0])
    cosine = speech @ quiet / np.linalg.norm(speech) / np.linalg.norm(quiet)
    assert cosine < 0.9


@pytest.mark.slow
def test_whisper_pools_over_every_30_second_window_that_holds_audio(speech_wav):
    encoder = get_encoder("audio/whisper")
    spoken = decode_audio(speech_wav, max_seconds=60.0)
    late_speech = np.concatenate([np.zeros(32 * SAMPLE_RATE, np.float32), spoken])
    long_clip, silence = encoder.encode([wav_bytes(late_speech), wav_bytes(np.zeros(32 * SAMPLE_RATE))]).vectors
    assert np.abs(long_clip - silence).max() > 0.1  # the speech after 30 s counts


@pytest.mark.slow
def test_transcribe_reads_espeak_speech_silence_is_empty_and_bad_items_are_none(speech_wav, caplog):
    silence = wav_bytes(np.zeros(2 * SAMPLE_RATE, np.float32))
    transcripts = transcribe([speech_wav, {"kind": "audio", "data": silence}, b"", b"\x00not audio\xff" * 50])
    spoken = transcripts[0].lower()
    assert "morning" in spoken and "meeting" in spoken, spoken
    assert transcripts[1:] == ["", None, None]
    assert "no transcript for audio item 2: empty media (0 bytes)" in caplog.text


def test_importing_the_audio_encoders_loads_no_heavy_dependency():
    heavy = ("av", "faster_whisper", "ctranslate2", "torch", "scipy")
    script = f"import sys, socialfusion.encoders.audio; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.stdout.strip() == "[]"
