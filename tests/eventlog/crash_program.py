"""A recording process for the crash test: it sends ticks until it is killed."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from pipebus import BaseWorker, BusDataMessage, WorkerRunner

SESSION = "c0ffee" * 5 + "ab"


@dataclass
class Tick(BusDataMessage):
    n: int = 0


async def tick_forever(path: str) -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=path, session_id=SESSION)
    ticker = BaseWorker("ticker")
    await runner.add_workers(ticker)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    print("started", flush=True)
    n = 0
    while not task.done():
        n += 1
        await ticker.send_bus_message(Tick(source="ticker", n=n))
        if n % 50 == 0:
            await asyncio.sleep(0.001)


if __name__ == "__main__":
    asyncio.run(tick_forever(sys.argv[1]))
