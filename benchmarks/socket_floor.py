"""The floor under any Python Redis client: a pub/sub round trip over bare sockets.

:mod:`benchmarks.redis_floor` measures redis-py's round trip. This one takes the client
library away: two asyncio protocols on raw TCP sockets (``TCP_NODELAY``) write RESP
commands themselves and parse Redis's answers with hiredis's C reader, one connection
subscribed and one publishing in each process. One process publishes 200 bytes on a
request channel; a second one publishes them back on a reply channel; the first waits
for the reply before it sends the next. Nothing is left but the event loop, the
kernel and Redis: no bus, no envelope, no client library.

Also measured: the CPU time of both processes and of the Redis server (its ``INFO
cpu``) per round trip, which shows what each wake-up costs on this machine.

    python -m benchmarks.socket_floor [--trips 5000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import hiredis

from benchmarks.common import tree_cpu_s
from benchmarks.redis_scenarios import REDIS_URL

BODY = b"x" * 200


def command(*parts: bytes | str) -> bytes:
    """One RESP command."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Connection(asyncio.Protocol):
    """A raw Redis connection: writes commands, hands every pushed message to a callback."""

    def __init__(self, on_message: Callable[[bytes], None] | None = None) -> None:
        self._reader = hiredis.Reader()
        self._on_message = on_message
        self.replies: asyncio.Queue[object] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if isinstance(reply, list) and reply[0] == b"message" and self._on_message:
                self._on_message(reply[2])
            elif self._on_message is None:
                self.replies.put_nowait(reply)

    def send(self, *parts: bytes | str) -> None:
        assert self.transport is not None
        self.transport.write(command(*parts))


async def connect(on_message: Callable[[bytes], None] | None = None) -> Connection:
    url = urlsplit(REDIS_URL)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: Connection(on_message), url.hostname or "127.0.0.1", url.port or 6379
    )
    return protocol


async def echo(channel: str) -> None:
    """Publish every request back on the reply channel until ``stop``."""
    publisher = await connect()
    stopped = asyncio.Event()

    def answer(data: bytes) -> None:
        if data == b"stop":
            stopped.set()
        else:
            publisher.send("PUBLISH", f"{channel}:resp", data)

    subscriber = await connect(answer)
    subscriber.send("SUBSCRIBE", f"{channel}:req")
    await asyncio.sleep(0.1)  # the subscription is in place once Redis has read it
    publisher.send("PUBLISH", f"{channel}:ready", b"1")
    await stopped.wait()


async def redis_cpu_s(connection: Connection) -> float:
    connection.send("INFO", "cpu")
    info = await connection.replies.get()
    assert isinstance(info, bytes)
    fields = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


async def measure(trips: int) -> dict[str, float]:
    channel = f"pipebus-bench:socket-floor:{secrets.token_hex(4)}"
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[bytes]] = [loop.create_future()]

    def arrived(data: bytes) -> None:
        if not waiting[0].done():
            waiting[0].set_result(data)

    subscriber = await connect(arrived)
    subscriber.send("SUBSCRIBE", f"{channel}:resp", f"{channel}:ready")
    await asyncio.sleep(0.1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.socket_floor", "--echo", channel
    )
    publisher, admin = await connect(), await connect()
    try:
        await asyncio.wait_for(waiting[0], 10)  # the echo is subscribed
        for count in (trips // 10, trips):  # a warm-up, then the measure
            cpu = tree_cpu_s() + await redis_cpu_s(admin)
            start = time.perf_counter()
            async with asyncio.timeout(60):  # one guard for all: no timer per trip
                for _ in range(count):
                    waiting[0] = loop.create_future()
                    publisher.send("PUBLISH", f"{channel}:req", BODY)
                    await waiting[0]
            seconds = time.perf_counter() - start
            used = tree_cpu_s() + await redis_cpu_s(admin) - cpu
    finally:
        publisher.send("PUBLISH", f"{channel}:req", b"stop")
        await asyncio.wait_for(process.wait(), 10)
    return {
        "round_trips_per_s": trips / seconds,
        "us_per_round_trip": seconds / trips * 1e6,
        "cpu_us_per_round_trip": used / trips * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trips", type=int, default=5000)
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        asyncio.run(echo(args.echo))
        return
    json.dump(asyncio.run(measure(args.trips)), sys.stdout)


if __name__ == "__main__":
    main()
