"""The SQLite event log: its connections' pragmas, its fast reads, and its writer process.

SQLite has one writer per file; pipebus gives it a process. A writer thread would
compete with the event loop for the GIL and slow the bus it records. The child
(:mod:`pipebus.eventlog.sqlite_writer_process`) holds the one writing connection; the
recording process (:class:`SqliteWriter`) sends it batches of ready rows over a
socket pair and goes on encoding the next batch while the child commits, so the two
work side by side. Readers use connections of their own: in WAL mode they read while
the writer commits.

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
import logging
import marshal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pipebus.core.errors import EventLogError
from pipebus.eventlog import payload_search, sqlite_writer_process
from pipebus.eventlog.rows import ERROR_TYPES
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.sqlite_writer_process import HEADER, SQLITE_PRAGMAS
from pipebus.eventlog.urls import to_url
from pipebus.eventlog.writer import Batch
from pipebus.projections.snapshot import dump

logger = logging.getLogger("pipebus.eventlog")

WRITER_SCRIPT = Path(sqlite_writer_process.__file__)


READ_ONLY_PRAGMAS = (
    "PRAGMA query_only=1",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32000",
)
"""A reader's pragmas: ``query_only`` makes SQLite refuse any change to the file, and
nothing here changes the file either (no ``journal_mode``, which writes its header)."""


def create_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for an SQLite log's URL, its pragmas set on every connection.

    With ``read_only`` the file must exist (it is not created) and is never changed.
    """
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", payload_search.register)
    if read_only:
        event.listen(engine.sync_engine, "do_connect", _existing_file_only)
        event.listen(engine.sync_engine, "connect", _set_read_only_pragmas)
    else:
        event.listen(engine.sync_engine, "connect", set_pragmas)
    return engine


def _existing_file_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
    """Open the file through an SQLite URI with ``mode=rw``: one that is missing is an error.

    Not ``mode=ro``: a read-only connection cannot remove the ``-wal`` and ``-shm``
    files it makes beside a WAL log, so every read would leave them behind; with
    ``query_only`` a read-write connection writes nothing and tidies up on closing.
    """
    filename = str(cargs[0])
    if cparams.get("uri") or filename == ":memory:":
        return  # a URI of the caller's own, or a database that is no file
    cargs[0] = f"file:{quote(filename)}?mode=rw"
    cparams["uri"] = True


def _set_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in READ_ONLY_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """NORMAL sync, patience for locks, a larger cache.

    Not WAL mode (readers never block the writer): it is the file's own, and setting it
    rewrites the file's header, so it is set when the log's schema is created (see
    ``migrations/env.py``) and by the writer process, never on a database that may not
    be a log.
    """
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        if not pragma.startswith("PRAGMA journal_mode"):
            cursor.execute(pragma)
    cursor.close()


def database_file(location: str | Path) -> Path | None:
    """The file an SQLite log's location names (None for other logs, in-memory or URI ones).

    A URL that does not parse names no file either: opening the log says what is wrong.
    """
    url = to_url(location)
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


async def fetch_tuples(connection: AsyncConnection, query: Select[Any]) -> list[Sequence[Any]]:
    """The rows of a query, read by the driver itself as plain tuples.

    SQLAlchemy's rows and thread hops cost more than SQLite's own reading, and a
    replay reads many rows, and often.

    Raises:
        sqlite3.Error: If SQLite refuses.
    """
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    parameters = [compiled.params[name] for name in compiled.positiontup or ()]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    try:
        return list(await driver.execute_fetchall(str(compiled), parameters))
    except asyncio.CancelledError:
        # The query goes on in the driver's thread: stop it there (between two rows),
        # or the connection stays busy, and a core too, until it ends.
        await driver.interrupt()
        raise


class SqliteWriter:
    """Appends one session's batches to an SQLite file through a writer process.

    Args:
        url: The log's URL (the child opens it with Python's ``sqlite3``).
        session_id: The session to append to.
        durability: ``"full"`` syncs every commit to disk (``synchronous=FULL``).
    """

    in_flight = 2
    """The next batch is marshalled and sent while the writer process commits one (its
    requests are committed in the order they arrive), so neither side waits for the
    other."""

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
            str(WRITER_SCRIPT),
            "--fd",
            str(theirs.fileno()),
            "--db",
            self._path,
            "--session",
            self._session_id,
            "--synchronous",
            self._synchronous,
            "--columns",
            ",".join(EVENT_COLUMNS),
            "--error-types",
            ",".join(sorted(ERROR_TYPES)),
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
                ticket, last, error, notes = marshal.loads(await reader.readexactly(size))
                for note in notes:  # one bad value cost only its own row: say which
                    logger.warning("event log %s: %s", self._path, note)
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
