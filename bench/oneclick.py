"""The load clients of bench/unsubscribe.py. Each POSTs RFC 8058 one-click
unsubscribes (``List-Unsubscribe=One-Click`` to ``/u/<token>``) on loopback
for a while over several connections, a token per request, cycling through
the tokens only if they run out, and keeps every answer's status by token.
wrk GETs bench/redirects.py's counted links the same way.

wrk (C, bench/unsubscribe.lua) is the one to measure with; the asyncio
client is there for a machine without it, and takes up to three times
wrk's CPU per request. Both count latency as wrk does: from the request's first byte
to the answer's last (a new connection's set-up is not in it).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BODY = b"List-Unsubscribe=One-Click"
LUA = Path(__file__).resolve().with_name("unsubscribe.lua")


@dataclass(frozen=True)
class Load:
    """What a load client saw."""

    seconds: float
    answered: int  # answers read
    other: int  # answers other than 200
    socket_errors: int  # connect, read and write errors and timeouts
    latency_ms: dict[str, float]  # p50, p90, p99, max
    outcomes: dict[int, int]  # token index -> status; 0: sent, no answer read
    cpu: float  # the client's user + system seconds

    @property
    def rate(self) -> float:
        """Unsubscribes per second: answers 200."""
        return (self.answered - self.other) / self.seconds


def run_wrk(
    port: int, tokens: list[str], seconds: float, connections: int, *, get: bool = False
) -> Load:
    """wrk with bench/unsubscribe.lua: one thread and connection per
    ``connections``; ``get``: the tokens are paths to GET, answered 302 (counted
    links), rather than unsubscribe tokens to POST."""
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as listing:
        listing.write("\n".join(tokens) + "\n")
        listing.flush()
        command = [
            "wrk",
            "--threads",
            str(connections),
            "--connections",
            str(connections),
            "--duration",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--script",
            str(LUA),
            f"http://127.0.0.1:{port}",
            "--",
            listing.name,
            str(connections),
            *(["get"] if get else []),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        output = process.stdout.read()
        # Reaped by wait4 rather than Popen.wait: its rusage is wrk's own CPU time.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(status)
    if code:
        sys.exit(f"wrk failed with {code}:\n{output[-4000:]}")
    return _parse_wrk(output, usage.ru_utime + usage.ru_stime)


def _parse_wrk(output: str, cpu: float) -> Load:
    latency: dict[str, float] = {}
    outcomes: dict[int, int] = {}
    other = 0
    duration_us = answered = socket_errors = 0
    for line in output.splitlines():
        if not line.startswith("bench: "):
            continue
        kind, *values = line.split()[1:]
        if kind == "summary":
            duration_us, answered, socket_errors = (int(v) for v in values)
        elif kind == "latency":
            latency[values[0]] = int(values[1]) / 1000
        elif kind == "other":
            other += int(values[0])
        elif kind == "outcome":
            outcomes[int(values[0])] = int(values[1])
    if not duration_us:
        sys.exit(f"wrk printed no summary:\n{output[-4000:]}")
    return Load(duration_us / 1e6, answered, other, socket_errors, latency, outcomes, cpu)


def run_python(port: int, tokens: list[str], seconds: float, connections: int) -> Load:
    """The asyncio client: ``connections`` connections, each sending its next
    POST when the last is answered, reconnecting when the server closes."""
    posts = [
        (
            f"POST /u/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        + BODY
        for token in tokens
    ]
    turns = itertools.cycle(enumerate(posts))
    outcomes: dict[int, int] = {}
    latencies: list[float] = []
    counts = {"other": 0, "errors": 0}

    def record(index: int, status: int) -> None:
        if outcomes.get(index) != 200:
            outcomes[index] = status

    async def connection(deadline: float) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < deadline:
            index, post = next(turns)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                began = time.perf_counter()
                writer.write(post)
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, keep = _head(head)
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                record(index, 0)
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - began)
            if status != 200:
                counts["other"] += 1
            record(index, status)
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def drive() -> float:
        began = time.perf_counter()
        deadline = began + seconds
        await asyncio.gather(*(connection(deadline) for _ in range(connections)))
        return time.perf_counter() - began

    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = asyncio.run(drive())
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latencies.sort()
    latency = {f"p{p}": _percentile(latencies, p) * 1000 for p in (50, 90, 99)}
    latency["max"] = latencies[-1] * 1000 if latencies else 0.0
    return Load(wall, len(latencies), counts["other"], counts["errors"], latency, outcomes, cpu)


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


def _head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the connection stays open."""
    found = _STATUS.match(head)
    if not found:
        raise ValueError(f"not an HTTP answer: {head[:40]!r}")
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep = value.strip().lower() != b"close"
    return int(found.group(1)), length, keep


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]
