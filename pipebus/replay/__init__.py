"""Replay: recorded sessions read back step by step, and re-run through new worker code.

May import: pipebus.workers, pipebus.transports, pipebus.tracing, pipebus.eventlog,
pipebus.live, pipebus.projections, pipebus.bus, pipebus.core.
"""

from pipebus.replay.session import SessionReplay

__all__ = ["SessionReplay"]
