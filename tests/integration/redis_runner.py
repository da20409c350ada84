"""A runner process on a Redis bus for the integration tests, driven by its arguments.

It hosts the workers it is told to (``--workers echo,streamer,slow,counter``), prints
one JSON line per event (``ready``, ``job``, ...) and ends gracefully when its stdin
closes (or at once on SIGTERM). Each runner records where ``--event-log`` says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from pipebus import BaseWorker, BusDataMessage, BusJobRequestMessage, RedisBus, WorkerRunner
from pipebus.transports import RedisStreamBus


@dataclass
class Ping(BusDataMessage, wire_name="itest.Ping"):
    n: int = 0


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Echo(BaseWorker):
    """Answers a job with who answered, from which runner, and what it was asked."""

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(
            message.job_id,
            {"from": self.name, "runner": self.registry.runner_name, "payload": message.payload},
        )


class Streamer(BaseWorker):
    """Streams its answer: a start, three chunks, an end."""

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_stream_start(message.job_id, {"of": 3})
        for i in range(3):
            await self.send_job_stream_data(message.job_id, {"chunk": i})
        await self.send_job_stream_end(message.job_id, {"from": self.name})


class Slow(BaseWorker):
    """Takes a job and never answers (the test kills its process)."""

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        say("job", worker=self.name, job_id=message.job_id)
        await asyncio.Event().wait()


class Counter(BaseWorker):
    """Counts the pings it receives; a job asks for the count."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.pings: list[int] = []

    async def on_bus_message(self, message: Any) -> None:
        await super().on_bus_message(message)
        if isinstance(message, Ping):
            self.pings.append(message.n)

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(message.job_id, {"pings": self.pings})


KINDS = {"echo": Echo, "streamer": Streamer, "slow": Slow, "counter": Counter}


async def main(args: argparse.Namespace) -> None:
    redis = Redis.from_url(args.redis)
    options = {"heartbeat_interval": args.heartbeat[0], "heartbeat_timeout": args.heartbeat[1]}
    bus_type = RedisStreamBus if args.bus == "stream" else RedisBus
    bus = bus_type(redis=redis, channel=args.channel, **options)
    event_log = None if args.event_log == "none" else args.event_log
    runner = WorkerRunner(
        name=args.name,
        bus=bus,
        handle_sigint=False,
        event_log=event_log,
        session_id=args.session,
        shutdown_timeout=3.0,
    )
    for spec in filter(None, args.workers.split(",")):
        kind, _, name = spec.partition(":")
        await runner.add_workers(KINDS[kind](name or kind))
    loop = asyncio.get_running_loop()
    task = loop.create_task(runner.run(auto_end=False))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    await runner.wait_started()
    say("ready", runner=args.name, session=runner.session_id)
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        stdin_closed = loop.create_task(reader.read())
        await asyncio.wait([task, stdin_closed], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await runner.end(reason="stdin closed")
        try:
            await task
        except asyncio.CancelledError:
            pass
        stdin_closed.cancel()
    finally:
        transport.close()
        await redis.aclose()
    say("ended", stats=str(bus.transport_stats))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--bus", choices=["pubsub", "stream"], default="pubsub")
    parser.add_argument("--workers", default="")
    parser.add_argument("--event-log", default="none")
    parser.add_argument("--session")
    parser.add_argument("--heartbeat", type=float, nargs=2, default=(0.2, 1.5))
    asyncio.run(main(parser.parse_args()))
