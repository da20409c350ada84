"""The writer process of an SQLite log: receives batches over a socket, commits, answers.

Runs as a script of its own (``python sqlite_writer_process.py --fd N --db PATH ...``,
started by :class:`~pipebus.eventlog.sqlite.SqliteWriter`), importing only the standard
library, so it starts quickly and never runs application code. Its database work never
competes with the recording process's event loop for the GIL. The events table's
columns and the types that count as errors come on its command line, from the
package's one definition of them.

Frames are an 8-byte length then a ``marshal`` dump, both ways (the child runs the
same interpreter as its parent, and rows hold only strings, numbers, None and bytes,
which marshal writes faster than pickle). A request is
``(ticket, rows, deliveries, snapshots)`` or ``(ticket, "lost", lost, first_seq)``;
requests already waiting are committed together in one transaction, and each gets
``(ticket, last_position, error_text_or_None, notes)``. One value SQLite cannot take
(a string with a lone surrogate, which UTF-8 cannot hold; an integer over 64 bits)
costs only its own event or delivery record: the group is committed again row by row,
that row stored with the value written out (as a backslash escape) or, for the payload, a note
``{"$unencodable": why, "source": ..., "target": ...}`` in its place, and each such row
named in ``notes`` for the recording process to log. End of input (the parent closed the
socket, or died) ends the process once what arrived whole is committed.

The recording process imports this module too, for what both sides share: the frame
header, and the pragmas every connection to an SQLite log sets.
"""

from __future__ import annotations

import argparse
import json
import marshal
import socket
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

HEADER = struct.Struct("!Q")
"""The length of the frame that follows."""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32000",
    "PRAGMA wal_autocheckpoint=10000",
)
"""Set on every connection to an SQLite log (WAL: readers never block the writer)."""

WRITER_CACHE_KB = 8000
"""The writer's page cache, smaller than a reader's: appends touch only the right edges
of the table and its indexes, and the process stays small."""

CHECKPOINT_ROWS = 50_000
"""Rows committed between two checkpoints (a few tens of MB of WAL). The writer's own
connection never checkpoints: a thread of the writer process does, on a connection of
its own, while the next batches are inserted (SQLite runs it without the GIL)."""

ROWS_PER_STATEMENT = 50
"""Events per INSERT statement (17 parameters each: 850, under SQLite's limit)."""

GROUP_ROWS = 20_000
"""Most rows of the requests committed together in one transaction."""

_UPDATE_SESSION = (
    "UPDATE sessions SET heartbeat_ns = ?, last_seq = max(last_seq, ?), errors = errors + ? "
    "WHERE id = ?"
)
_MARK_LOST = "UPDATE sessions SET lost_events = ?, first_lost_seq = ? WHERE id = ?"
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (session_id, message_id, subscriber, span_id, start_ns, end_ns, "
    "error_type, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SNAPSHOT = "INSERT INTO snapshots (session_id, seq, created_ns, state) VALUES (?, ?, ?, ?)"


class Channel:
    """Length-prefixed marshal dumps over a blocking socket, with a buffer of its own."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._closed = False

    def _fill(self, *, block: bool) -> bool:
        if self._closed:
            return False
        self._sock.setblocking(block)
        try:
            chunk = self._sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return True
        finally:
            self._sock.setblocking(True)
        if not chunk:
            self._closed = True
            return False
        self._buffer += chunk
        return True

    def _frame_ready(self) -> bool:
        if len(self._buffer) < HEADER.size:
            return False
        size: int = HEADER.unpack_from(self._buffer)[0]
        return len(self._buffer) >= HEADER.size + size

    def read(self) -> Any | None:
        """The next frame (waiting for it), or None at end of input."""
        while not self._frame_ready():
            if not self._fill(block=True):
                return None
        size: int = HEADER.unpack_from(self._buffer)[0]
        end = HEADER.size + size
        with memoryview(self._buffer) as view:
            value = marshal.loads(view[HEADER.size : end])
        del self._buffer[:end]
        return value

    def waiting(self) -> bool:
        """Whether a whole frame can be read without waiting."""
        if not self._frame_ready():
            self._fill(block=False)
        return self._frame_ready()

    def write(self, value: Any) -> None:
        """Send one frame."""
        body = marshal.dumps(value)
        self._sock.sendall(HEADER.pack(len(body)) + body)


class FileWriter:
    """The one connection writing the SQLite file, and how a group of requests is committed.

    Args:
        path: The SQLite file.
        session_id: The session the rows belong to.
        synchronous: ``"NORMAL"`` or ``"FULL"`` (sync every commit to disk).
        columns: The events table's columns, in the order a row holds them.
        error_types: The event types that count as errors of the session.
        checkpoint_rows: Rows committed between two checkpoints.
    """

    def __init__(
        self,
        path: str,
        session_id: str,
        synchronous: str,
        *,
        columns: Sequence[str],
        error_types: frozenset[str],
        checkpoint_rows: int = CHECKPOINT_ROWS,
    ) -> None:
        self._path = path
        self._checkpoint_rows = checkpoint_rows
        self._session_id = session_id
        self._synchronous = synchronous
        self._columns = list(columns)
        self._seq = self._columns.index("seq")
        self._type = self._columns.index("type")
        self._payload = self._columns.index("payload")
        self.notes: list[str] = []
        self._error_types = error_types
        self._one_row = "(" + ", ".join("?" * len(columns)) + ")"
        self._insert_into = f"INSERT INTO events ({', '.join(columns)}) VALUES "
        self._insert_many = self._insert_into + ", ".join([self._one_row] * ROWS_PER_STATEMENT)
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._uncheckpointed = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            for pragma in SQLITE_PRAGMAS:
                connection.execute(pragma)
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            connection.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KB}")
            connection.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work
            self._connection = connection
            self._checkpointer = Checkpointer(self._path)
        return self._connection

    def drop(self) -> None:
        """Close the connection (a failed one, or at the end)."""
        connection, self._connection = self._connection, None
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        if connection is not None:
            try:
                connection.close()  # the last connection to close checkpoints the rest
            except sqlite3.Error:
                pass  # already broken: nothing to save

    def commit(self, requests: list[tuple[Any, ...]]) -> int:
        """Apply every request in one transaction; returns the last position written.

        A value SQLite cannot bind fails the whole statement: the group is then
        committed again one row at a time, each row that holds such a value repaired
        (see the module's docstring) and named in :attr:`notes`.
        """
        self.notes = []
        try:
            return self._commit(requests, careful=False)
        except _UNBINDABLE:
            return self._commit(requests, careful=True)

    def _commit(self, requests: list[tuple[Any, ...]], *, careful: bool) -> int:
        connection = self._connect()
        last = 0
        kind, error_types = self._type, self._error_types
        connection.execute("BEGIN IMMEDIATE")
        try:
            for request in requests:
                if request[1] == "lost":
                    connection.execute(_MARK_LOST, (request[2], request[3], self._session_id))
                    continue
                _, rows, deliveries, snapshots = request
                if careful:
                    self._insert_each(connection, rows)
                else:
                    self._insert(connection, rows)
                if rows:
                    last = max(last, rows[-1][self._seq])
                errors = sum(1 for row in rows if row[kind] in error_types)
                connection.execute(
                    _UPDATE_SESSION, (time.time_ns(), last, errors, self._session_id)
                )
                if deliveries and careful:
                    for delivery in deliveries:
                        try:
                            connection.execute(_INSERT_DELIVERY, delivery)
                        except _UNBINDABLE as exc:
                            fixed, _ = _written_out(delivery)
                            connection.execute(_INSERT_DELIVERY, fixed)
                            self.notes.append(
                                f"the delivery of message {delivery[1]} to {fixed[2]!r} was "
                                f"stored with values written out ({exc})"
                            )
                elif deliveries:
                    connection.executemany(_INSERT_DELIVERY, deliveries)
                for seq, state in snapshots:
                    connection.execute(
                        _INSERT_SNAPSHOT, (self._session_id, seq, time.time_ns(), state)
                    )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self._uncheckpointed += sum(len(r[1]) for r in requests if r[1] != "lost")
        if self._uncheckpointed >= self._checkpoint_rows and self._checkpointer is not None:
            self._uncheckpointed = 0
            self._checkpointer.request()
        return last

    def _insert(self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        # Many rows per statement: fewer calls, each doing more work in C.
        whole = len(rows) - len(rows) % ROWS_PER_STATEMENT
        if whole:
            width = ROWS_PER_STATEMENT
            connection.executemany(
                self._insert_many,
                [tuple(chain.from_iterable(rows[i : i + width])) for i in range(0, whole, width)],
            )
        if whole < len(rows):
            rest = rows[whole:]
            statement = self._insert_into + ", ".join([self._one_row] * len(rest))
            connection.execute(statement, tuple(chain.from_iterable(rest)))

    def _insert_each(self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        statement = self._insert_into + self._one_row
        for row in rows:
            try:
                connection.execute(statement, row)
            except _UNBINDABLE as exc:
                connection.execute(statement, self._repaired(row, exc))

    def _repaired(self, row: tuple[Any, ...], error: Exception) -> tuple[Any, ...]:
        """``row`` with what SQLite cannot take written out, and a note naming it."""
        fixed, bad = _written_out(row)
        columns = self._columns
        names = [columns[index] for index in bad]
        why = f"column {', '.join(names)}: {type(error).__name__}: {error}"
        payload = self._payload
        if payload in bad:
            source, target = columns.index("source"), columns.index("target")
            fixed[payload] = json.dumps(
                {"$unencodable": why, "source": fixed[source], "target": fixed[target]}
            )
        message_id = fixed[columns.index("message_id")]
        self.notes.append(
            f"event {row[self._seq]} ({row[self._type]}, message {message_id}) "
            f"was stored with {why}"
            + ("; its fields are replaced by that note" if payload in bad else ", written out")
        )
        return tuple(fixed)


_UNBINDABLE = (ValueError, OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError)
"""What binding one bad value raises (UnicodeEncodeError is a ValueError)."""


def _written_out(values: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """The values with what SQLite cannot bind written out as text, and where those were."""
    fixed, bad = list(values), []
    for index, value in enumerate(values):
        if type(value) is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                fixed[index] = value.encode("utf-8", "backslashreplace").decode("utf-8")
                bad.append(index)
        elif type(value) is int and not -(2**63) <= value < 2**63:
            fixed[index] = str(value)
            bad.append(index)
    return fixed, bad


class Checkpointer:
    """A thread that copies the WAL back into the database file when asked.

    Passive checkpoints: they never block the writer, and readers keep their snapshots;
    whatever a reader still needs is copied by a later one. A checkpoint that fails is
    not a lost event (the WAL still holds every frame), so its error only ends this
    thread's work; the connection's close at the end checkpoints what is left.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint (one at a time: asking again while one runs is one ask)."""
        self._wanted.set()

    def stop(self) -> None:
        """Finish the checkpoint under way, if any, and end the thread."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA busy_timeout=10000")
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            print(f"pipebus log writer: checkpoints stopped: {exc}", file=sys.stderr)
        finally:
            connection.close()


def _groups(channel: Channel, limit: int) -> Iterator[list[tuple[Any, ...]]]:
    """Requests in groups: each one that arrives, plus those already waiting behind it."""
    while (request := channel.read()) is not None:
        group = [request]
        rows = len(request[1]) if request[1] != "lost" else 0
        while rows < limit and channel.waiting():
            following = channel.read()
            if following is None:
                break
            group.append(following)
            rows += len(following[1]) if following[1] != "lost" else 0
        yield group


def serve(sock: socket.socket, writer: FileWriter) -> None:
    """Commit what arrives until the socket closes."""
    channel = Channel(sock)
    try:
        for group in _groups(channel, limit=GROUP_ROWS):
            try:
                last, error = writer.commit(group), None
            except Exception as exc:  # counted as lost by the parent, which logs it once
                writer.drop()
                last, error = -1, f"{type(exc).__name__}: {exc}"
            notes, writer.notes = writer.notes, []
            for request in group:
                channel.write((request[0], last, error, notes))
                notes = []  # told once, with the first request of the group
    except (BrokenPipeError, ConnectionResetError):
        pass  # the recording process is gone
    finally:
        writer.drop()
        sock.close()


def bind_fast() -> None:
    """Give sqlite3 adapters for None and bools, for this whole process.

    Rows hold both; without an adapter of its own, sqlite3 binds each of them through
    its slow path, a large part of an insert's cost. Bools are stored as 0 and 1, None
    as NULL, as without adapters.
    """
    sqlite3.register_adapter(bool, int)
    sqlite3.register_adapter(type(None), _none)


def _none(value: None) -> None:
    return None


def main() -> None:
    """Entry point of the writer process."""
    parser = argparse.ArgumentParser(
        description="pipebus's SQLite log writer (started by the recorder)"
    )
    parser.add_argument("--fd", type=int, required=True, help="the socket to read batches from")
    parser.add_argument("--db", required=True, help="the SQLite file")
    parser.add_argument("--session", required=True)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL")
    parser.add_argument(
        "--columns", required=True, help="the events table's columns, comma-separated"
    )
    parser.add_argument(
        "--error-types", required=True, help="the event types counted as errors, comma-separated"
    )
    args = parser.parse_args()
    bind_fast()
    writer = FileWriter(
        args.db,
        args.session,
        args.synchronous,
        columns=args.columns.split(","),
        error_types=frozenset(args.error_types.split(",")),
    )
    serve(socket.socket(fileno=args.fd), writer)


if __name__ == "__main__":
    main()
