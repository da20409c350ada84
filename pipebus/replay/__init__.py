"""Replay: recorded sessions read back step by step, and re-run through new worker code."""

from pipebus.replay.session import SessionReplay

__all__ = ["SessionReplay"]
