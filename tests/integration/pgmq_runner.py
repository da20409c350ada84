"""A runner process on a PgmqBus for the integration tests, driven by its arguments.

Like :mod:`tests.integration.redis_runner` (same workers, same JSON lines), over PGMQ
in the database ``--database`` names.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from pipebus import PgmqBus, WorkerRunner
from tests.integration.redis_runner import KINDS, say
from tests.transports.pgmq_database import close_client, pgmq_client


async def main(args: argparse.Namespace) -> None:
    client = await pgmq_client(args.database)
    bus = PgmqBus(
        pgmq=client,
        channel=args.channel,
        heartbeat_interval=args.heartbeat[0],
        heartbeat_timeout=args.heartbeat[1],
    )
    runner = WorkerRunner(
        name=args.name, bus=bus, handle_sigint=False, event_log=None, shutdown_timeout=3.0
    )
    for spec in filter(None, args.workers.split(",")):
        kind, _, name = spec.partition(":")
        await runner.add_workers(KINDS[kind](name or kind))
    loop = asyncio.get_running_loop()
    task = loop.create_task(runner.run(auto_end=False))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    await runner.wait_started()
    say("ready", runner=args.name, queue=bus.queue_name)
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
        await close_client(client)
    say("ended", stats=str(bus.transport_stats))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--workers", default="")
    parser.add_argument("--heartbeat", type=float, nargs=2, default=(0.2, 1.5))
    asyncio.run(main(parser.parse_args()))
