"""Small, real audio files made in the test: WAV with the `wave` module, MP3 as silent
MPEG-1 Layer III frames, Ogg as an Opus stream (its pages written by mutagen, CRC and
all). Each is `seconds` long as a player would measure it."""

from __future__ import annotations

import io
import math
import struct
import wave

from mutagen.ogg import OggPage

RATE = 8000  # telephone audio


def wav(seconds: float, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = round(seconds * rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(frames)
            )
        )
    return out.getvalue()


# MPEG-1 Layer III, 32 kbit/s, 32 kHz, mono, no CRC: 144 * 32000 / 32000 = 144 bytes and
# 1152 samples (36 ms) a frame. All-zero side information is a silent frame.
MP3_FRAME = bytes([0xFF, 0xFB, 0x18, 0xC0]) + bytes(140)
MP3_FRAME_S = 1152 / 32000


def mp3(seconds: float, id3: bool = False) -> bytes:
    frames = max(1, round(seconds / MP3_FRAME_S))
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) if id3 else b""
    return tag + MP3_FRAME * frames


def _ogg_pages(packets: list[tuple[bytes, int]], serial: int = 7) -> bytes:
    """One packet a page; each with its granule position; the last page ends the stream."""
    out = b""
    for sequence, (packet, granule) in enumerate(packets):
        page = OggPage()
        page.serial = serial
        page.sequence = sequence
        page.position = granule
        page.packets = [packet]
        page.first = sequence == 0
        page.last = sequence == len(packets) - 1
        out += page.write()
    return out


def ogg(seconds: float) -> bytes:
    """Ogg Opus: the two header packets, then 20 ms packets (a TOC byte for a 20 ms CELT
    frame, silent), the granule counting 48 kHz samples after a pre-skip of 312."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 8000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"gateway" + struct.pack("<I", 0)
    packets: list[tuple[bytes, int]] = [(head, 0), (tags, 0)]
    count = max(1, round(seconds / 0.02))
    for n in range(1, count + 1):
        packets.append((b"\xf8\xff\xfe", pre_skip + n * 960))
    return _ogg_pages(packets)
