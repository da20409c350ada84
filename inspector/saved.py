"""What the inspector keeps between runs: breakpoints and filters of each session, prompt history.

One small JSON file in the user's state directory,
``$XDG_STATE_HOME/pipebus/inspector.json`` (``~/.local/state/pipebus/inspector.json``
by default), with the stops of each session keyed by its log and its id, and the
history of the prompts. Not beside the log: the inspector opens a log read-only and
never writes to it; a PostgreSQL log has no directory to write beside; a SQLite
log's directory may belong to someone else (a team's shared log, a CI artifact).
A log is named by its URL (password hidden); a SQLite file by its absolute path,
so the same log opened from another directory finds its stops.

Every save reads the file again and changes only this session's entry and adds to
the history, so two inspectors open at once keep each other's work. A file that
cannot be read is reported and left as it is (never overwritten).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from inspector.data import SessionData
from inspector.stops import History, Stops
from pipebus.eventlog.store import EventLog

VERSION = 1
SESSIONS_KEPT = 500
"""Sessions whose stops the file keeps (the least recently saved forgotten first)."""


class SavedStateError(ValueError):
    """The state file cannot be read (not JSON, or not the inspector's)."""


def state_file() -> Path:
    """Where the inspector keeps its state: ``$XDG_STATE_HOME/pipebus/inspector.json``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pipebus" / "inspector.json"


def log_key(log: EventLog) -> str:
    """The log as the state file names it: its URL, a SQLite file by its absolute path."""
    url = log.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return f"sqlite:///{Path(url.database).resolve()}"
    return log.url


class SavedState:
    """One session's stops and the prompts' history, as the state file holds them.

    Args:
        log: The session's log.
        session_id: The session's whole id.
        path: The state file (default: :func:`state_file`).
    """

    def __init__(self, log: EventLog, session_id: str, path: Path | None = None) -> None:
        self.path = path or state_file()
        self.key = f"{log_key(log)} {session_id}"
        self.history = History()
        self.broken: str | None = None
        """Why the file could not be read (then it is never written), if it could not."""

    @classmethod
    def of(cls, data: SessionData) -> SavedState:
        """The saved state of an open session."""
        return cls(data.replay.log, data.info.id)

    def load(self) -> Stops:
        """This session's stops (none saved: none); the history is read too.

        Raises:
            SavedStateError: If the file cannot be read (it is then never written).
            QueryError: If a saved stop no longer parses.
        """
        document = self._read()
        self.history = _history(document)
        entry = document["sessions"].get(self.key)
        return Stops.load(entry.get("stops", [])) if isinstance(entry, dict) else Stops()

    def save(self, stops: Stops) -> None:
        """Keep ``stops`` as this session's, and the history (merged with the file's).

        Raises:
            SavedStateError: If the file could not be read before (it is left alone).
            OSError: If it cannot be written.
        """
        if self.broken is not None:
            raise SavedStateError(self.broken)
        document = self._read()
        sessions: dict[str, Any] = document["sessions"]
        sessions.pop(self.key, None)  # re-inserted last: the most recently saved
        if len(stops):
            sessions[self.key] = {"saved_ns": time.time_ns(), "stops": stops.dump()}
        for key in list(sessions)[: max(0, len(sessions) - SESSIONS_KEPT)]:
            del sessions[key]
        self.history = self.history.merged(_history(document))
        document["history"] = self.history.entries
        self._write(document)

    def remember(self, kind: str, text: str, stops: Stops) -> None:
        """``text`` was typed in the ``kind`` prompt: add it to the history and save."""
        self.history.add(kind, text)
        self.save(stops)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": VERSION, "sessions": {}, "history": {}}
        except OSError as exc:
            self.broken = f"cannot read {self.path}: {exc.strerror or exc}"
            raise SavedStateError(self.broken) from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            self.broken = f"{self.path} is not JSON ({exc}): fix or remove it"
            raise SavedStateError(self.broken) from None
        if (
            not isinstance(document, dict)
            or document.get("version") != VERSION
            or not isinstance(document.get("sessions"), dict)
        ):
            self.broken = f"{self.path} is not the inspector's state (version {VERSION})"
            raise SavedStateError(self.broken)
        return document

    def _write(self, document: dict[str, Any]) -> None:
        """Write the whole file at once (a new file renamed over the old one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".inspector-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file, indent=1, ensure_ascii=False)
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


def _history(document: dict[str, Any]) -> History:
    found = document.get("history")
    if not isinstance(found, dict):
        return History()
    return History(
        {
            kind: [text for text in entries if isinstance(text, str)]
            for kind, entries in found.items()
            if isinstance(kind, str) and isinstance(entries, list)
        }
    )
