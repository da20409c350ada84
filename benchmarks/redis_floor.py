"""The floor under any Redis bus: a bare redis-py pub/sub round trip between two processes.

One process publishes a few bytes on a request channel; a second one, subscribed,
publishes them back on a reply channel; the first waits for the reply before it sends
the next. No bus, no envelope, no worker: what a sequential job round trip across two
processes costs at the very least with redis-py on this machine. Prints one JSON object.

    python -m benchmarks.redis_floor [--trips 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time

from redis.asyncio import Redis

from benchmarks.redis_scenarios import REDIS_URL


async def echo(channel: str) -> None:
    """Publish every request back on the reply channel until ``stop``."""
    reader, writer = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    pubsub = reader.pubsub()
    await pubsub.subscribe(f"{channel}:req")
    await writer.publish(f"{channel}:ready", b"1")
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        if message["data"] == b"stop":
            break
        await writer.publish(f"{channel}:resp", message["data"])
    await pubsub.aclose()
    await reader.aclose()
    await writer.aclose()


async def measure(trips: int) -> float:
    """Round trips per second, the echo in a second process."""
    channel = f"pipebus-bench:floor:{secrets.token_hex(4)}"
    reader, writer = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    pubsub = reader.pubsub()
    await pubsub.subscribe(f"{channel}:resp", f"{channel}:ready")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.redis_floor", "--echo", channel
    )
    try:
        while True:  # wait for the echo's subscription
            message = await pubsub.get_message(timeout=10)
            if message is None:
                raise RuntimeError("the echo process did not start")
            if message["type"] == "message" and message["channel"].endswith(b":ready"):
                break
        start = time.perf_counter()
        for i in range(trips):
            await writer.publish(f"{channel}:req", b"%d" % i)
            while True:
                message = await pubsub.get_message(timeout=10)
                if message is None:
                    raise RuntimeError("the echo stopped answering")
                if message["type"] == "message":
                    break
        rate = trips / (time.perf_counter() - start)
    finally:
        await writer.publish(f"{channel}:req", b"stop")
        await asyncio.wait_for(process.wait(), 10)
        await pubsub.aclose()
        await reader.aclose()
        await writer.aclose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        asyncio.run(echo(args.echo))
        return
    rate = asyncio.run(measure(args.trips))
    json.dump({"round_trips_per_s": rate, "us_per_round_trip": 1e6 / rate}, sys.stdout)


if __name__ == "__main__":
    main()
