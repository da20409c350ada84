"""A runner process that joins a shared PostgreSQL session as the README shows, then sends.

It says ``ready`` once imported and waits for a line on stdin, so that several start
at once: only then does it build ``WorkerRunner(..., event_log=URL, session_id=SESSION)``
and run it (opening the log, creating its schema, joining the session all happen
together in every process). Its worker broadcasts ``--messages`` pings on a Redis bus
shared with the other runners, so each runner also records what the others send. At
the end it writes the message ids it sent to ``--sent`` (one a line), prints one
JSON line with its recorder's figures, and exits. Errors are logged to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from pipebus import BaseWorker, BusDataMessage, RedisBus, WorkerRunner
from pipebus.testing import EnvelopeCapture


@dataclass
class SharedPing(BusDataMessage, wire_name="itest.SharedPing"):
    n: int = 0


async def main(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """Run the runner when told to; the ids it sent, and its recorder's figures."""
    print(json.dumps({"event": "ready"}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the word to start, given to all at once
    redis = Redis.from_url(args.redis)
    bus = RedisBus(redis=redis, channel=args.channel)
    runner = WorkerRunner(
        name=args.name,
        bus=bus,
        handle_sigint=False,
        event_log=args.event_log,
        session_id=args.session,
        shutdown_timeout=5.0,
    )
    sender = BaseWorker(f"sender-{args.name}")
    await runner.add_workers(sender)
    seen = EnvelopeCapture(bus)
    task = asyncio.get_running_loop().create_task(runner.run(auto_end=False))
    try:
        await runner.wait_started()
        recorder = runner.recorder
        for n in range(args.messages):
            await sender.send_bus_message(SharedPing(source=sender.name, n=n))
        await runner.flush()
        await runner.end(reason="sent everything")
        await task
    finally:
        if not task.done():
            task.cancel()
        await redis.aclose()
    sent = [
        e.message_id
        for e in seen.envelopes
        if isinstance(e.message, SharedPing) and e.message.source == sender.name
    ]
    figures = {
        "written": recorder.written if recorder is not None else None,
        "lost": recorder.lost if recorder is not None else None,
        "failure": repr(recorder.failure) if recorder and recorder.failure else None,
    }
    return sent, figures


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)  # stderr: errors only
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--event-log", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--sent", required=True, help="file to write the sent message ids to")
    arguments = parser.parse_args()
    sent, figures = asyncio.run(main(arguments))
    Path(arguments.sent).write_text("".join(f"{message_id}\n" for message_id in sent))
    print(json.dumps({"event": "ended", "sent": len(sent), **figures}), flush=True)
