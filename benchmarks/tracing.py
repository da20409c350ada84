"""What tracing costs: fanout1 and jobs with tracing off, stripped out, and fully on.

Four sides, taking turns, each turn a fresh process (``benchmarks.scenarios``),
recording off:

- Pipecat 1.14 without tracing (its own environment);
- pipebus ``stripped``: no tracer provider and the ids it still makes patched out
  (:mod:`benchmarks.tracing_modes`), the "tracing code paths removed" reference;
- pipebus ``off``: no tracer provider, as it ships;
- pipebus ``on``: every message sampled, every send and delivery a span, a batch
  span processor and an exporter that discards. Its rate includes building every
  span: the clock stops once the live tracer has handed the last one over.

Goals (issue "Tracing"): ``on`` at least 0.6x Pipecat; ``off`` at most 5% slower than
``stripped``. Also printed: what tracing costs per message (fanout1) and per job,
from the difference of the times per item.

Then a burst (issue #16): 20,000 broadcasts to 6 subscribers, traced at 100% into a
real OTLP/HTTP receiver on loopback (it decodes each request with opentelemetry-proto
and counts the spans), with the default export queue, which the burst overflows: the
goal is every span exported. Printed: spans received of spans made, and how often the
tracer waited for room. Saves ``benchmarks/results/tracing.{json,md}``.

    python -m benchmarks.tracing --pipecat-python .venv-pipecat/bin/python [--repeat 5]
    python -m benchmarks.tracing --burst-only
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.common import markdown, save, verdict
from benchmarks.run import run_interleaved

SCENARIOS = ["fanout1", "jobs"]
ON_GOAL = 0.6
"""Tracing on, over Pipecat without tracing."""
OFF_GOAL = 0.95
"""No tracer provider, over pipebus with the tracing code paths removed."""
PER = {"fanout1": "message", "jobs": "job"}
BURST = 20_000
"""Broadcasts in the burst."""
BURST_SUBSCRIBERS = 6


def median(side: dict[str, Any], name: str) -> float:
    return float(statistics.median(side[name]["rates"]))


def rows(sides: dict[str, dict[str, Any]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    table, records = [], []
    for name in SCENARIOS:
        pipecat, stripped, off, on = (median(sides[s], name) for s in sides)
        off_ratio, on_ratio = off / stripped, on / pipecat
        on_cost_us = (1 / on - 1 / off) * 1e6
        off_cost_us = (1 / off - 1 / stripped) * 1e6
        records.append(
            {
                "scenario": name,
                "unit": sides["pipebus-off"][name]["unit"],
                "pipecat": pipecat,
                "stripped": stripped,
                "off": off,
                "on": on,
                "off_over_stripped": off_ratio,
                "on_over_pipecat": on_ratio,
                "on_cost_us": on_cost_us,
                "off_cost_us": off_cost_us,
            }
        )
        table.append(
            [
                name,
                sides["pipebus-off"][name]["unit"],
                f"{pipecat:,.0f}",
                f"{stripped:,.0f}",
                f"{off:,.0f} ({off_ratio:.3f}x; {verdict(off_ratio, OFF_GOAL)})",
                f"{on:,.0f} ({on_ratio:.2f}x Pipecat; {verdict(on_ratio, ON_GOAL)})",
                f"{off_cost_us:+.2f} us / {on_cost_us:.1f} us per {PER[name]}",
            ]
        )
    return table, records


class _Counter:
    """Spans an OTLP/HTTP receiver has taken."""

    def __init__(self) -> None:
        self.spans = 0
        self.lock = threading.Lock()


@contextmanager
def _otlp_counter() -> Iterator[tuple[str, _Counter]]:
    """An OTLP/HTTP trace receiver on loopback that counts spans (decoded with the protobufs)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    counter = _Counter()
    answer = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            with counter.lock:
                counter.spans += spans
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def _burst() -> dict[str, Any]:
    """Trace the burst into a counting receiver; what was made, received, dropped."""
    from pipebus import BaseWorker, BusTTSSpeakMessage, WorkerRunner
    from pipebus.testing import running
    from pipebus.tracing import configure

    with _otlp_counter() as (url, counter):
        settings = configure(exporter="otlp", endpoint=url, make_default=False)
        runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=settings)
        await runner.add_workers(*(BaseWorker(f"listener-{i}") for i in range(BURST_SUBSCRIBERS)))
        started = time.perf_counter()
        async with running(runner, timeout=600):
            tracer = runner.tracer
            assert tracer is not None
            for i in range(BURST):
                await runner.bus.send(BusTTSSpeakMessage(source="burst", text=str(i)))
            await runner.bus.drain()
        await asyncio.to_thread(settings.provider.shutdown)
        seconds = time.perf_counter() - started
        stats = tracer.stats
        return {
            "broadcasts": BURST,
            "subscribers": BURST_SUBSCRIBERS,
            "made": stats.exported,
            "received": counter.spans,
            "dropped": stats.dropped,
            "failed": stats.failed,
            "waits": stats.waits,
            "seconds": seconds,
        }


def burst_line(result: dict[str, Any]) -> str:
    """The burst's result in one line."""
    whole = result["received"] == result["made"] and not result["dropped"] + result["failed"]
    return (
        f"burst: {result['broadcasts']:,} broadcasts to {result['subscribers']} subscribers: "
        f"{result['received']:,} spans exported of {result['made']:,} made "
        f"({result['dropped']:,} dropped, {result['failed']:,} failed; the tracer waited "
        f"{result['waits']:,} times; {result['seconds']:.1f} s) "
        f"[{'met' if whole else 'MISSED'}: every span exported]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipecat-python", help="python of the Pipecat environment")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--burst-only", action="store_true", help="run only the burst")
    args = parser.parse_args()
    if args.burst_only:
        print(burst_line(asyncio.run(_burst())))
        return
    if args.pipecat_python is None:
        parser.error("--pipecat-python is required (or --burst-only)")
    print(f"tracing: {args.repeat} repetitions of {', '.join(SCENARIOS)} per side ...", flush=True)
    sides = run_interleaved(
        {
            "pipecat": (args.pipecat_python, "pipecat", False, "off"),
            "pipebus-stripped": (sys.executable, "pipebus", False, "stripped"),
            "pipebus-off": (sys.executable, "pipebus", False, "off"),
            "pipebus-on": (sys.executable, "pipebus", False, "on"),
        },
        args.repeat,
        SCENARIOS,
    )
    table, records = rows(sides)
    header = [
        "scenario",
        "unit",
        "Pipecat 1.14, no tracing",
        "pipebus, tracing stripped",
        "pipebus, no provider (goal >= 0.95x stripped)",
        "pipebus, tracing on (goal >= 0.6x Pipecat)",
        "cost: no provider / tracing on",
    ]
    text = f"### Tracing: median of {args.repeat} runs, recording off\n\n" + markdown(header, table)
    print(
        f"tracing: burst of {BURST:,} broadcasts to {BURST_SUBSCRIBERS} subscribers ...", flush=True
    )
    burst = asyncio.run(_burst())
    text += "\n" + burst_line(burst) + "\n"
    print()
    print(text)
    save("tracing", {"repeat": args.repeat, "rows": records, "sides": sides, "burst": burst}, text)


if __name__ == "__main__":
    main()
