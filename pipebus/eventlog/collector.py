"""The garbage collector while an event log is open: young collections made rarer.

Events come and go in bulk: a recorder holds every envelope from its send to its
commit (up to ``log_buffer`` of them), a replay or the inspector holds the events it
read and their decoded messages. They outlive the young collections, which Python
runs every 700 allocations by default, and every older collection walks them again:
the collector took about a third of a busy recording process's CPU, and more than
half of decoding a session read back (``python -m benchmarks.eventlog``: through the
bus with Python's default thresholds and with this module's). While at least one log
is open (:meth:`EventLog.open <pipebus.eventlog.store.EventLog.open>` to ``close()``),
the youngest generation's threshold is therefore raised to 50,000 allocations, and
put back when the last one closes. Nothing else changes: the older generations keep
their thresholds, and cycles are still collected.

An application that set thresholds of its own (anything but Python's default 700) is
left alone, and ``$PIPEBUS_GC_THRESHOLD`` chooses: a number of allocations, or ``off``
to leave the collector as it is.
"""

from __future__ import annotations

import gc
import os

ENV_VAR = "PIPEBUS_GC_THRESHOLD"
PYTHON_DEFAULT = 700
RAISED = 50_000

_holders = 0
_saved: tuple[int, int, int] | None = None  # the thresholds before the first hold
_set_to = 0  # the young threshold the first hold set


def raised_threshold() -> int | None:
    """The young threshold recording sets (None: leave the collector as it is).

    Raises:
        ValueError: If ``$PIPEBUS_GC_THRESHOLD`` is neither a positive number nor ``off``.
    """
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if not setting:
        return RAISED
    if setting == "off":
        return None
    try:
        value = int(setting)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${ENV_VAR}={setting!r}: give a number of allocations >= 1, or off")
    return value


def hold() -> None:
    """A log opens: raise the young threshold, if it is Python's default."""
    global _holders, _saved, _set_to
    young = raised_threshold()  # a bad setting raises before anything is counted
    _holders += 1
    if _holders > 1:
        return
    current = gc.get_threshold()
    if young is not None and current[0] == PYTHON_DEFAULT:
        _saved, _set_to = current, young
        gc.set_threshold(young, *current[1:])


def release() -> None:
    """A log closes: the last one puts the threshold back (unless changed since)."""
    global _holders, _saved
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0 and _saved is not None:
        saved, _saved = _saved, None
        if gc.get_threshold()[0] == _set_to:  # else the application set its own meanwhile
            gc.set_threshold(*saved)
