"""The pre-call check's latency as the loopback interface sees it, from a tcpdump capture
of the gateway's port: each request's first packet to its answer's first packet.

wrk times a request from its own write to its own read of the answer, so its figures also
hold wrk's wait for a core. The capture tells the two apart: when it agrees with wrk, the
tail is on the gateway's side (the check, Redis, the decision's commit, the gateway
waiting for a core); when it is lower, part of the tail is wrk's own.

It also finds the bursts: moments when many requests were held up together, as every
connection is when a commit stalls (each wrk connection has one request in flight).

Needs tcpdump (Debian's package) and the right to capture (root, or CAP_NET_RAW).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

SNAP_BYTES = 128  # the IP and TCP headers are all that is read
BURST_HELD_MS = 20.0  # a request held this long counts towards a burst
BURST_GAP_SECONDS = 0.2  # held requests this close together are one burst
BURST_MIN_REQUESTS = 20


@dataclass
class Burst:
    at: float  # Unix time of its first held request
    requests: int


@dataclass
class LoopbackLatency:
    latencies_ms: list[float]  # sorted
    bursts: list[Burst] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        n = len(self.latencies_ms)
        return self.latencies_ms[min(n - 1, int(q * n))] if n else 0.0

    def describe(self) -> str:
        n = len(self.latencies_ms)
        if not n:
            return "no request and answer pairs captured"
        over = sum(1 for x in self.latencies_ms if x > 10) / n
        held = sum(b.requests for b in self.bursts)
        bursts = ", ".join(
            time.strftime("%H:%M:%S", time.gmtime(b.at)) + f" ({b.requests})" for b in self.bursts
        )
        return (
            f"{n:,} requests: p50 {self.quantile(0.5):.2f} ms, p99 {self.quantile(0.99):.2f} ms, "
            f"p99.9 {self.quantile(0.999):.2f} ms, {100 * over:.2f}% over 10 ms; "
            f"{len(self.bursts)} burst{'' if len(self.bursts) == 1 else 's'} of "
            f"{BURST_MIN_REQUESTS} or more requests held over "
            f"{BURST_HELD_MS:.0f} ms together, {held} requests in all ({100 * held / n:.2f}%)"
            + (f": {bursts}" if bursts else "")
        )


class Capture:
    """tcpdump of one TCP port on the loopback interface, for the length of a `with`."""

    def __init__(self, port: int, path: Path) -> None:
        self.port = port
        self.path = path
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("tcpdump") is not None

    def __enter__(self) -> Capture:
        # Packets that carry data (PSH) only: requests and answers, not the bare ACKs. As
        # root, tcpdump would write the file as its own user, into a directory it may not
        # write to: -Z root keeps it root.
        keep_user = ["-Z", "root"] if os.geteuid() == 0 else []
        self._proc = subprocess.Popen(
            [
                "tcpdump",
                *keep_user,
                "-i",
                "lo",
                "-s",
                str(SNAP_BYTES),
                "-B",
                "65536",
                "-w",
                str(self.path),
                f"tcp port {self.port} and (tcp[tcpflags] & tcp-push != 0)",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stderr is not None
        line = self._proc.stderr.readline()  # "listening on lo, ..." once it captures
        if b"listening" not in line:
            self._proc.kill()
            raise RuntimeError(f"tcpdump did not start: {line.decode(errors='replace')}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def latency(self) -> LoopbackLatency:
        return loopback_latency(self.path.read_bytes(), self.port)


def _packets(pcap: bytes) -> list[tuple[float, int, int, int]]:
    """(time, source port, destination port, payload bytes) of each IPv4 TCP packet of a
    classic pcap file captured on an Ethernet-framed interface (Linux's loopback is)."""
    magic = struct.unpack("<I", pcap[:4])[0]
    if magic == 0xA1B2C3D4:
        order, scale = "<", 1e-6
    elif magic == 0xD4C3B2A1:
        order, scale = ">", 1e-6
    elif magic == 0xA1B23C4D:
        order, scale = "<", 1e-9
    else:
        raise ValueError("not a pcap file")
    found: list[tuple[float, int, int, int]] = []
    at = 24
    while at + 16 <= len(pcap):
        seconds, fraction, kept, _ = struct.unpack(order + "IIII", pcap[at : at + 16])
        frame = pcap[at + 16 : at + 16 + kept]
        at += 16 + kept
        if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
            continue  # not IPv4
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[header:]
        if ip[9] != 6 or len(tcp) < 20:
            continue  # not TCP
        source, destination = struct.unpack(">HH", tcp[:4])
        payload = total - header - (tcp[12] >> 4) * 4
        found.append((seconds + fraction * scale, source, destination, payload))
    return found


def loopback_latency(pcap: bytes, port: int) -> LoopbackLatency:
    """Pairs each request with the next answer on its connection: HTTP/1.1 without
    pipelining, as wrk sends, has one request in flight per connection."""
    waiting: dict[int, deque[float]] = defaultdict(deque)
    pairs: list[tuple[float, float]] = []  # (sent, ms)
    for at, source, destination, payload in _packets(pcap):
        if payload <= 0:
            continue
        if destination == port:
            waiting[source].append(at)
        elif source == port and waiting[destination]:
            sent = waiting[destination].popleft()
            pairs.append((sent, (at - sent) * 1000))
    held = sorted(sent for sent, ms in pairs if ms > BURST_HELD_MS)
    groups: list[list[float]] = []
    for sent in held:
        if groups and sent - groups[-1][-1] < BURST_GAP_SECONDS:
            groups[-1].append(sent)
        else:
            groups.append([sent])
    return LoopbackLatency(
        sorted(ms for _, ms in pairs),
        [Burst(g[0], len(g)) for g in groups if len(g) >= BURST_MIN_REQUESTS],
    )
