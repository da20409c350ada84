"""``ProcessSqliteWriter``: an SQLite log written by a process of its own.

SQLite has one writer per file; pipebus gives it a process. A writer thread would
compete with the event loop for the GIL: a thread that only wakes every 10 ms was
measured to slow a busy loop by 13%, and recording jobs ran at half their speed. The
child (:mod:`pipebus.eventlog.writer_child`) holds the one writing connection; the
recording process sends it batches of ready rows over a socket pair and goes on
encoding the next batch while the child commits, so the two work side by side.

The child is a standard-library script started with ``subprocess`` (no
multiprocessing: that would re-import the application's main module in the child),
and inherits its end of a socket pair. It exits when the socket closes, also when the
recording process is killed; a child that died is started again for the next batch,
and the batches it had not answered count as lost. POSIX only (the socket is passed
as an inherited file descriptor).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import marshal
import socket
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from pipebus.core.errors import EventLogError
from pipebus.eventlog import writer_child
from pipebus.eventlog.writer import Batch
from pipebus.eventlog.writer_child import HEADER
from pipebus.projections.snapshot import dump

CHILD_SCRIPT = Path(writer_child.__file__)


class ProcessSqliteWriter:
    """Appends one session's batches to an SQLite file through a writer process.

    Args:
        url: The log's URL (the child opens it with Python's ``sqlite3``).
        session_id: The session to append to.
        durability: ``"full"`` syncs every commit to disk (``synchronous=FULL``).
    """

    in_flight = 2
    """The next batch is marshalled and sent while the writer process commits one (its
    requests are committed in the order they arrive): measured, the log alone appends
    a quarter faster than with one batch at a time."""

    def __init__(self, url: str, session_id: str, *, durability: str) -> None:
        database = make_url(url).database
        if not database or database == ":memory:" or sys.platform == "win32":
            raise EventLogError(
                f"recording into {url} needs an SQLite file on a POSIX system (or a PostgreSQL log)"
            )
        self._path = str(Path(database).resolve())
        self._session_id = session_id
        self._synchronous = "FULL" if durability == "full" else "NORMAL"
        self._process: Any = None
        self._stream: asyncio.StreamWriter | None = None
        self._answers: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[tuple[int, str | None]]] = {}
        self._tickets = itertools.count(1)
        self._starting = asyncio.Lock()

    async def append(self, batch: Batch) -> int:
        """Commit a batch in the writer process; returns its last position (-1: no events).

        Raises:
            EventLogError: If the batch was not committed (the recorder counts it lost).
        """
        deliveries = [
            (
                self._session_id,
                d.message_id,
                d.subscriber,
                f"{d.span_id:016x}",
                d.start_ns,
                d.end_ns,
                d.error_type,
                d.error,
            )
            for d in batch.deliveries
        ]
        snapshots = [(seq, dump(state)) for seq, state in batch.snapshots]
        last = await self._request(lambda ticket: (ticket, batch.rows, deliveries, snapshots))
        return last if batch.rows else -1

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Record on the session how many events were lost and where the loss began."""
        await self._request(lambda ticket: (ticket, "lost", lost, first_lost_seq))

    async def discard_connection(self) -> None:
        """Nothing to do: the writer process drops a connection that failed by itself."""

    async def close(self) -> None:
        """Let the writer process commit what it has, then stop it."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
            with contextlib.suppress(ConnectionError):
                await stream.wait_closed()
        if self._answers is not None:
            await asyncio.wait([self._answers], timeout=30)
        process, self._process = self._process, None
        if process is not None:
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()

    # --- the channel ------------------------------------------------------------------

    async def _request(self, build: Any) -> int:
        stream = await self._connected()
        ticket = next(self._tickets)
        answer: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        self._waiting[ticket] = answer
        try:
            body = marshal.dumps(build(ticket))
        except ValueError as exc:  # a row value marshal cannot write: a bug of the row's maker
            self._waiting.pop(ticket, None)
            raise EventLogError(f"a batch could not be sent to the log writer: {exc}") from exc
        try:
            stream.write(HEADER.pack(len(body)))
            stream.write(body)
            await stream.drain()
        except ConnectionError as exc:
            self._waiting.pop(ticket, None)
            raise EventLogError(f"the log writer process is gone: {exc}") from exc
        last, error = await answer
        if error is not None:
            raise EventLogError(error)
        return last

    async def _connected(self) -> asyncio.StreamWriter:
        if self._stream is not None and not self._stream.is_closing():
            return self._stream
        async with self._starting:  # two batches in flight must not start two processes
            if self._stream is not None and not self._stream.is_closing():
                return self._stream
            return await self._start()

    async def _start(self) -> asyncio.StreamWriter:
        ours, theirs = socket.socketpair()
        command = [
            sys.executable,
            str(CHILD_SCRIPT),
            "--fd",
            str(theirs.fileno()),
            "--db",
            self._path,
            "--session",
            self._session_id,
            "--synchronous",
            self._synchronous,
        ]
        try:
            process = await asyncio.create_subprocess_exec(
                *command, pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL
            )
        except OSError as exc:
            ours.close()
            raise EventLogError(f"cannot start the log writer process: {exc}") from exc
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        self._process, self._stream = process, writer
        self._answers = asyncio.get_running_loop().create_task(
            self._read_answers(reader), name="pipebus:log-writer-answers"
        )
        return writer

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                header = await reader.readexactly(HEADER.size)
                (size,) = HEADER.unpack(header)
                ticket, last, error = marshal.loads(await reader.readexactly(size))
                answer = self._waiting.pop(ticket, None)
                if answer is not None and not answer.done():
                    answer.set_result((last, error))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the writer process ended
        finally:
            waiting, self._waiting = self._waiting, {}
            for answer in waiting.values():
                if not answer.done():
                    answer.set_result((-1, "the log writer process ended before answering"))
            if self._stream is not None:
                self._stream.close()
                self._stream = None
