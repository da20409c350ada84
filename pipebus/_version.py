"""The version of pipebus (one place, read by the package and the event log)."""

__version__ = "0.1.0"
