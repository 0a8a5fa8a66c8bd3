"""What passes as a recording: real audio of the named container, whole, with a length.
Random bytes never do, whatever signature they start with, and no file cut short does."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.errors import InvalidRecording
from gateway.services.audio import CONTAINERS, checked_head, measure
from tests.support.audio import mp3, ogg, wav

TYPES = sorted(CONTAINERS)
SIGNATURES = [b"", b"RIFF\x10\x00\x00\x00WAVE", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"OggS",
              b"OggS\x00\x02", b"ID3", b"ID3\x04\x00\x00\x00\x00\x00\x0a", b"\xff\xfb",
              b"\xff\xfb\x18\xc0"]  # fmt: skip


def measured(content_type: str, data: bytes) -> float:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "upload"
        path.write_bytes(data)
        return measure(content_type, path)


async def streamed(content_type: str, data: bytes, chunk: int = 5) -> bytes:
    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return b"".join([c async for c in checked_head(content_type, body())])


@pytest.mark.parametrize(
    ("content_type", "audio", "seconds"),
    [
        ("audio/wav", wav(3), 3.0),
        ("audio/x-wav", wav(0.5, rate=16000), 0.5),
        ("audio/wave", wav(1), 1.0),
        ("audio/mpeg", mp3(3), 2.988),
        ("audio/mpeg", mp3(3, id3=True), 2.988),
        ("audio/ogg", ogg(3), 3.0),
    ],
)
async def test_real_audio_is_measured(content_type: str, audio: bytes, seconds: float) -> None:
    assert measured(content_type, audio) == seconds
    assert await streamed(content_type, audio) == audio  # the first look passes it on whole


@pytest.mark.parametrize(
    ("content_type", "data", "why"),
    [
        ("audio/wav", b"", "empty"),
        ("audio/wav", wav(3)[:-100], "cut off: its data chunk declares 48000 bytes"),
        ("audio/wav", wav(0), "length is zero"),
        ("audio/wav", ogg(3), "must be a RIFF chunk"),
        ("audio/mpeg", wav(3), "can't sync"),
        ("audio/mpeg", mp3(0.05), "can't sync"),  # one frame is no stream
        (
            "audio/mpeg",
            b"x" * 500 + mp3(3),
            "no run of MPEG audio frames at its start",
        ),  # frames, but not at the start
        ("audio/ogg", ogg(3)[:-3], "unable to read full data"),
        ("audio/ogg", ogg(3)[:-31], "does not end the stream"),  # the last page gone
        ("audio/ogg", ogg(0)[:100], ""),
        ("audio/ogg", wav(1), "expected b'OggS'"),
        ("audio/ogg", b"OggS" + bytes(200), ""),
    ],
)
def test_what_is_not_whole_audio_is_refused(content_type: str, data: bytes, why: str) -> None:
    with pytest.raises(InvalidRecording) as refused:
        measured(content_type, data)
    assert refused.value.message.startswith("recording: the body is not ")
    assert why in refused.value.message
    assert refused.value.message_zh and refused.value.message_zh.startswith("录音文件无效")


@pytest.mark.parametrize(
    ("content_type", "data", "why"),
    [
        ("audio/wav", b"", "the body is empty"),
        ("audio/wav", b"RIFF", "only 4 bytes"),
        ("audio/wav", b"<html><body>not found</body></html>", "another kind of file"),
        ("audio/mpeg", wav(1), "another kind of file"),
        ("audio/ogg", mp3(1), "another kind of file"),
    ],
)
async def test_the_first_bytes_refuse_another_kind_of_file(
    content_type: str, data: bytes, why: str
) -> None:
    with pytest.raises(InvalidRecording, match=why):
        await streamed(content_type, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content_type=st.sampled_from(TYPES),
    signature=st.sampled_from(SIGNATURES),
    rest=st.binary(max_size=3000),
)
def test_random_bytes_are_never_a_recording(
    content_type: str, signature: bytes, rest: bytes
) -> None:
    with pytest.raises(InvalidRecording):
        measured(content_type, signature + rest)


def test_random_bytes_of_any_length_are_never_a_recording() -> None:
    for size in (1, 12, 144, 4096, 100_000):
        for content_type in TYPES:
            with pytest.raises(InvalidRecording):
                measured(content_type, os.urandom(size))


@settings(max_examples=150, deadline=None)
@given(
    made=st.sampled_from([("audio/wav", wav(1)), ("audio/ogg", ogg(1))]),
    cut=st.integers(min_value=1),
)
def test_a_wav_or_ogg_cut_short_anywhere_is_refused(made: tuple[str, bytes], cut: int) -> None:
    content_type, audio = made
    with pytest.raises(InvalidRecording):
        measured(content_type, audio[: -(1 + cut % len(audio))])
