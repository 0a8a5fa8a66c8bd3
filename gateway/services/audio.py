"""Is an uploaded recording really audio of the kind its content type names, and how long
is it. Two looks: the first bytes while the body streams in (a file of another kind is
refused before it is all received), then the whole file on disk before it becomes the
call's recording, where mutagen reads the container and its length. Neither reads the
file into memory: mutagen seeks, and an Ogg stream is walked a page at a time.

Stricter than a player, because a recording is evidence: an MP3 must start with its
first frame (after any ID3 tag) and have four frames in a row (or a VBR header); a WAV's
data chunk must be all there; every Ogg page must be whole, the last one marked as the
end of the stream. Anything else, and a length of zero, is `InvalidRecording`."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from mutagen import MutagenError
from mutagen.mp3 import MP3, skip_id3
from mutagen.ogg import OggPage
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import (
    WAVE,
    _WaveFile,  # the RIFF chunks, to see the data chunk is all there
)

from gateway.core.errors import InvalidRecording

# How many bytes the first look needs: "RIFF" <size> "WAVE" is the longest signature.
HEAD = 12

WAV, MP3_, OGG = "WAV", "MP3", "Ogg"
CONTAINERS = {
    "audio/wav": WAV,
    "audio/x-wav": WAV,
    "audio/wave": WAV,
    "audio/mpeg": MP3_,
    "audio/ogg": OGG,
}


def _is_mpeg_sync(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def head_matches(container: str, head: bytes) -> bool:
    """Whether the first bytes of a body can start a file of this container."""
    if container == WAV:
        return len(head) >= HEAD and head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if container == MP3_:
        return head[:3] == b"ID3" or _is_mpeg_sync(head)
    return head[:4] == b"OggS"


def _refuse(container: str, why: str) -> InvalidRecording:
    return InvalidRecording(
        f"recording: the body is not {container} audio ({why})",
        message_zh=f"录音文件无效：不是 {container} 音频（{why}）",
    )


async def checked_head(content_type: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body unchanged, once its first bytes are those of its container; raises
    `InvalidRecording` as soon as they are not (or when the body ends first)."""
    container = CONTAINERS[content_type]
    held: list[bytes] = []
    seen = 0
    async for chunk in body:
        if seen >= HEAD:
            yield chunk
            continue
        held.append(chunk)
        seen += len(chunk)
        if seen >= HEAD:
            head = b"".join(held)
            if not head_matches(container, head):
                raise _refuse(container, "its first bytes are another kind of file")
            yield head
            held.clear()
    if seen == 0:
        raise _refuse(container, "the body is empty")
    if seen < HEAD:
        raise _refuse(container, f"only {seen} bytes")


def _wav_length(f: BinaryIO, size: int) -> float:
    info = WAVE(f).info
    f.seek(0)
    # mutagen reads the data chunk's declared size; the bytes must be there too.
    data = _WaveFile(f)["data"]
    if data.data_offset + data.data_size > size:
        raise _refuse(
            WAV,
            f"cut off: its data chunk declares {data.data_size} bytes, "
            f"{size - data.data_offset} are there",
        )
    return float(info.length)


def _mp3_length(f: BinaryIO, size: int) -> float:
    skip_id3(f)
    first = f.tell()
    f.seek(0)
    info = MP3(f).info
    if info.sketchy or getattr(info, "frame_offset", None) != first:
        raise _refuse(MP3_, "no run of MPEG audio frames at its start")
    return float(info.length)


_OGG_KINDS = (OggVorbis, OggOpus, OggFLAC, OggSpeex)


def _ogg_length(f: BinaryIO, size: int) -> float:
    page = None
    while f.tell() < size:
        page = OggPage(f)  # raises on a page that is cut off or not a page
    if page is None or not page.last:
        # Cut off between two pages: only the end-of-stream page says the stream is whole.
        raise _refuse(OGG, "cut off: its last page does not end the stream")
    f.seek(0)
    for kind in _OGG_KINDS:
        try:
            return float(kind(f).info.length)
        except MutagenError:
            f.seek(0)
    raise _refuse(OGG, "no Vorbis, Opus, FLAC or Speex stream")


_LENGTH: dict[str, Callable[[BinaryIO, int], float]] = {
    WAV: _wav_length,
    MP3_: _mp3_length,
    OGG: _ogg_length,
}


def measure(content_type: str, path: Path) -> float:
    """The recording's length in seconds (three decimals), or `InvalidRecording` when the
    file is not whole, readable audio of the content type's container."""
    container = CONTAINERS[content_type]
    size = path.stat().st_size
    if size == 0:
        raise _refuse(container, "the body is empty")
    with path.open("rb") as f:
        try:
            length = _LENGTH[container](f, size)
        except InvalidRecording:
            raise
        except MutagenError as e:
            raise _refuse(container, str(e) or type(e).__name__) from e
        except OSError:
            raise  # the disk's fault, not the upload's
        except (EOFError, ValueError, OverflowError, LookupError, struct.error) as e:
            raise _refuse(container, str(e) or type(e).__name__) from e
    if not length > 0:
        raise _refuse(container, "it holds no audio: its length is zero")
    return round(length, 3)
