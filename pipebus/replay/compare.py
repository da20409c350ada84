"""Two recorded sessions aligned message by message, and where they first diverge.

A session is compared with another (a rerun, a replay through new worker code,
yesterday's run) in two passes:

1. **Alignment.** Each message is reduced to its *shape*: ``(type, sender, target)``.
   The two sequences of shapes are aligned like lines of two files (Myers' diff,
   after the common head and tail are set aside): a message of one session either
   faces a message of the same shape in the other, or faces a gap (only in A, only
   in B). An inserted or a missing message shifts nothing after it. Ids and times
   are no part of a shape, so they never misalign two runs.
2. **Fields.** Each aligned pair is then compared field by field, with ids and times
   normalised as :mod:`~pipebus.replay.rerun` does: a job id of B stands for the job
   id of A it first faced (the same job of A facing another job of B later is a
   difference), message ids (a handler error's ``message_id``), frame ids and names,
   ``started_at`` and tracebacks are not compared. A pair whose fields differ is
   *changed*.

The first row that is not *same* is the first divergence. When the sessions differ
by more than :data:`MAX_EDITS` inserted or missing messages between their common
head and tail, the rest is paired by position (said by :attr:`Comparison.aligned`).

Pure Python over rows the caller reads (:func:`compare_sessions` reads them from
two :class:`~pipebus.replay.session.SessionReplay`), so the CLI (``pipebus diff``)
and the inspector's side-by-side screen show the same comparison.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pipebus.core.codec import field_values, loads_tagged
from pipebus.core.describe import compact
from pipebus.core.errors import DecodeError
from pipebus.core.frames import Frame
from pipebus.replay.rerun import message_diff
from pipebus.replay.session import SessionReplay

SAME: Final = 0
CHANGED: Final = 1
ONLY_A: Final = 2
ONLY_B: Final = 3
KIND_NAMES: Final = ("same", "changed", "only in A", "only in B")
"""What each row kind is called in the CLI's output, the JSON and the inspector."""

MAX_EDITS = 2_000
"""Inserted plus missing messages the alignment looks for before pairing by position."""

IGNORED_FIELDS = frozenset({"started_at", "message_id", "traceback"})
"""Fields holding times and ids (or a traceback's file lines): never compared."""

FRAME_IDS = frozenset({"id", "name"})
"""A frame's fields that number it (``id``, ``name`` as ``TextFrame#3``): never compared."""

SHAPE_COLUMNS = ("seq", "type", "source", "target")
FIELD_COLUMNS = ("seq", "type", "source", "target", "job_id", "payload")
_CHUNK = 256
_PAGE = 20_000


# --- alignment ------------------------------------------------------------------------------


def _common_head(a: array[int], b: array[int], start_a: int, start_b: int, limit: int) -> int:
    """How many items of ``a`` from ``start_a`` equal those of ``b`` from ``start_b``.

    Compared a chunk at a time (array slices compare in C), then item by item.
    """
    done = 0
    while done + _CHUNK <= limit:
        x, y = start_a + done, start_b + done
        if a[x : x + _CHUNK] != b[y : y + _CHUNK]:
            break
        done += _CHUNK
    while done < limit and a[start_a + done] == b[start_b + done]:
        done += 1
    return done


def _common_tail(a: array[int], b: array[int], end_a: int, end_b: int, limit: int) -> int:
    """How many items ending at ``end_a`` (excluded) equal those ending at ``end_b``."""
    done = 0
    while done + _CHUNK <= limit:
        x, y = end_a - done, end_b - done
        if a[x - _CHUNK : x] != b[y - _CHUNK : y]:
            break
        done += _CHUNK
    while done < limit and a[end_a - done - 1] == b[end_b - done - 1]:
        done += 1
    return done


def _myers(
    a: array[int], b: array[int], lo_a: int, hi_a: int, lo_b: int, hi_b: int, max_edits: int
) -> list[tuple[int, int]] | None:
    """The pairs (index in a, index in b) of a shortest edit script of two slices.

    Myers' O((N+M)D) greedy algorithm, keeping each round's furthest points to walk
    the path back. None when more than ``max_edits`` edits would be needed.
    """
    n, m = hi_a - lo_a, hi_b - lo_b
    offset = max_edits + 1
    furthest = [0] * (2 * offset + 1)
    rounds: list[list[int]] = []
    for edits in range(max_edits + 1):
        rounds.append(furthest[offset - edits : offset + edits + 1])
        for diagonal in range(-edits, edits + 1, 2):
            k = offset + diagonal
            if diagonal == -edits or (diagonal != edits and furthest[k - 1] < furthest[k + 1]):
                x = furthest[k + 1]
            else:
                x = furthest[k - 1] + 1
            y = x - diagonal
            room = min(n - x, m - y)
            if room > 0:
                x += _common_head(a, b, lo_a + x, lo_b + y, room)
            furthest[k] = x
            if x >= n and x - diagonal >= m:
                return _walk_back(rounds, edits, n, m, lo_a, lo_b)
    return None


def _walk_back(
    rounds: list[list[int]], edits: int, n: int, m: int, lo_a: int, lo_b: int
) -> list[tuple[int, int]]:
    """The matched pairs of the path Myers' rounds found, in order."""
    pairs: list[tuple[int, int]] = []
    x, y = n, m
    for d in range(edits, 0, -1):
        before = rounds[d]  # the furthest x of each diagonal k (at k + d) before round d
        diagonal = x - y
        if diagonal == -d or (
            diagonal != d and before[diagonal - 1 + d] < before[diagonal + 1 + d]
        ):
            previous = diagonal + 1  # a step down: one message only in b
            start_x = before[previous + d]
            start_y = start_x - previous
            edit_x, edit_y = start_x, start_y + 1
        else:
            previous = diagonal - 1  # a step right: one message only in a
            start_x = before[previous + d]
            start_y = start_x - previous
            edit_x, edit_y = start_x + 1, start_y
        while x > edit_x and y > edit_y:
            x, y = x - 1, y - 1
            pairs.append((lo_a + x, lo_b + y))
        x, y = start_x, start_y
    while x > 0 and y > 0:
        x, y = x - 1, y - 1
        pairs.append((lo_a + x, lo_b + y))
    pairs.reverse()
    return pairs


def align(
    a: Sequence[int], b: Sequence[int], *, max_edits: int = MAX_EDITS
) -> tuple[array[int], array[int], bool]:
    """Align two sequences of shapes (small integers), like the lines of two files.

    Returns the rows as two arrays of 1-based positions, ``left[row]`` in ``a`` and
    ``right[row]`` in ``b`` (0: a gap on that side), and whether the middle was
    aligned (False: more than ``max_edits`` edits; paired by position instead).
    """
    xs, ys = array("q", a), array("q", b)
    head = _common_head(xs, ys, 0, 0, min(len(xs), len(ys)))
    room = min(len(xs), len(ys)) - head
    tail = _common_tail(xs, ys, len(xs), len(ys), room)
    hi_a, hi_b = len(xs) - tail, len(ys) - tail
    pairs = _myers(xs, ys, head, hi_a, head, hi_b, max_edits)
    aligned = pairs is not None
    if pairs is None:
        pairs = list(zip(range(head, hi_a), range(head, hi_b), strict=False))
    left, right = array("q", range(1, head + 1)), array("q", range(1, head + 1))
    x, y = head, head
    for pa, pb in [*pairs, (hi_a, hi_b)]:
        while x < pa:  # only in a
            left.append(x + 1)
            right.append(0)
            x += 1
        while y < pb:  # only in b
            left.append(0)
            right.append(y + 1)
            y += 1
        if pa < hi_a:
            left.append(pa + 1)
            right.append(pb + 1)
            x, y = pa + 1, pb + 1
    left.extend(range(hi_a + 1, len(xs) + 1))
    right.extend(range(hi_b + 1, len(ys) + 1))
    return left, right, aligned


# --- fields ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One message as compared: its step, shape, job and payload (the log's JSON).

    Attributes:
        seq: Its step in its session.
        type: Its type's wire name.
        source: Its sender.
        target: Its target (None: a broadcast).
        job_id: Its job, if any.
        payload: Its fields as the log stores them (the codec's JSON).
    """

    seq: int
    type: str
    source: str
    target: str | None
    job_id: str | None
    payload: str

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> Recorded:
        """From a row of :data:`FIELD_COLUMNS`."""
        return cls(int(row[0]), row[1], row[2], row[3], row[4], row[5])

    def fields(self) -> Any:
        """The payload decoded, its values as they were sent (a datetime, a dataclass).

        A payload naming a type this process has not registered is read as plain JSON,
        and one that is not JSON is the text itself.
        """
        try:
            return loads_tagged(self.payload, "fields")
        except DecodeError:
            try:
                return json.loads(self.payload)
            except ValueError:
                return self.payload


def _comparable(value: Any, jobs: Callable[[str], str], frame: bool = False) -> Any:
    """``value`` without ids and times, job ids through ``jobs``.

    A dataclass (a frame, a registry entry) becomes a dict of its fields, so that a
    difference has a path; ``frame``: ``value`` holds the fields of a still-tagged
    dataclass, whose ``id`` and ``name`` would number a frame.
    """
    if isinstance(value, dict):
        # A dataclass this process could not decode is still tagged: its fields are "f".
        tagged = value.get("$pb") == "dc"
        found = {}
        for key, item in value.items():
            if key in IGNORED_FIELDS or (frame and key in FRAME_IDS):
                continue
            if key == "job_id" and isinstance(item, str):
                found[key] = jobs(item)
            else:
                found[key] = _comparable(item, jobs, frame=tagged and key == "f")
        return found
    if isinstance(value, list):
        return [_comparable(item, jobs) for item in value]
    if isinstance(value, tuple):
        return tuple(_comparable(item, jobs) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        numbering = FRAME_IDS if isinstance(value, Frame) else frozenset()
        return {
            name: _comparable(item, jobs)
            for name, item in field_values(value).items()
            if name not in IGNORED_FIELDS and name not in numbering
        }
    return value


class JobIds:
    """Which job of B stands for which job of A: learned from the pairs, in order."""

    def __init__(self) -> None:
        self.a_to_b: dict[str, str] = {}
        self._taken: set[str] = set()

    def learn(self, a: Recorded, b: Recorded) -> None:
        """A pair faces two jobs: the first time A's job is seen, B's stands for it."""
        if a.job_id is not None and b.job_id is not None and a.job_id not in self.a_to_b:
            if b.job_id not in self._taken:
                self.a_to_b[a.job_id] = b.job_id
                self._taken.add(b.job_id)

    def as_b(self, job_id: str) -> str:
        """A's job id as B calls it (itself if never paired)."""
        return self.a_to_b.get(job_id, job_id)


def comparable(message: Recorded, jobs: Callable[[str], str] = str) -> dict[str, Any]:
    """A message as compared: shape, job (through ``jobs``) and fields without ids or times."""
    fields = _comparable(message.fields(), jobs)
    found: dict[str, Any] = {"type": message.type, "source": message.source}
    found["target"] = message.target
    if isinstance(fields, dict):
        found.update((k, v) for k, v in fields.items() if k not in ("source", "target"))
    else:
        found["payload"] = fields
    return found


def same_fields(a: Recorded, b: Recorded, jobs: JobIds) -> bool:
    """Whether two aligned messages hold the same fields (ids and times aside).

    The payloads' texts are compared first (with A's job id written as B's): two runs
    of the same code mostly differ only there, and a text comparison is cheap.
    """
    jobs.learn(a, b)
    if a.payload == b.payload:
        return a.job_id is None or jobs.as_b(a.job_id) == b.job_id
    if a.job_id is not None and b.job_id is not None and jobs.as_b(a.job_id) == b.job_id:
        if a.payload.replace(f'"{a.job_id}"', f'"{b.job_id}"') == b.payload:
            return True
    return comparable(a, jobs.as_b) == comparable(b)


def glance(message: Recorded, limit: int = 60) -> str:
    """One line: type, sender → target, the fields (cut to ``limit`` characters)."""
    fields = comparable(message)
    rest = {k: v for k, v in fields.items() if k not in ("type", "source", "target")}
    shown = f"{message.type} {message.source} → {message.target or '*'}"
    return f"{shown} {compact(rest, limit)}" if rest else shown


def pair_diff(a: Recorded | None, b: Recorded | None, jobs: JobIds | None = None) -> list[str]:
    """What differs between the two messages of a row, in pytest's assertion style.

    A row with one side only lists that message's fields (``-`` only in A, ``+``
    only in B).
    """
    as_b = jobs.as_b if jobs is not None else str
    if a is not None and b is not None:
        left, right = comparable(a, as_b), comparable(b)
        if left == right:
            return ["the same message (ids and times aside)"]
        return list(message_diff(left, right))
    if a is None and b is None:
        return []
    sign, only = ("-", a) if a is not None else ("+", b)
    assert only is not None
    fields = comparable(only, as_b if a is not None else str)
    side = "A" if a is not None else "B"
    lines = [f"only in {side} (step {only.seq}):"]
    lines += (f"  {sign} {key}: {value!r}" for key, value in fields.items())
    return lines


# --- the comparison ---------------------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """Two sessions aligned row by row, each row's kind, and the divergences.

    Attributes:
        a: Session A's id.
        b: Session B's id.
        left: Each row's step in A (0: a gap).
        right: Each row's step in B (0: a gap).
        kinds: Each row's kind (:data:`SAME`, :data:`CHANGED`, :data:`ONLY_A`, :data:`ONLY_B`).
        aligned: False when the sessions were too different to align (paired by position).
        jobs: Which job of B stands for which job of A.
        divergences: The rows that are not the same, in order.
    """

    a: str
    b: str
    left: array[int]
    right: array[int]
    kinds: bytearray
    aligned: bool = True
    jobs: JobIds = field(default_factory=JobIds)
    divergences: array[int] = field(default_factory=lambda: array("q"))

    def __post_init__(self) -> None:
        if not self.divergences:
            self.divergences = array("q", (i for i, k in enumerate(self.kinds) if k != SAME))

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def equal(self) -> bool:
        """Whether every message faces the same message."""
        return not self.divergences

    @property
    def first_divergence(self) -> int | None:
        """The first row that is not the same (None: the sessions are equal)."""
        return self.divergences[0] if self.divergences else None

    def counts(self) -> dict[str, int]:
        """How many rows of each kind."""
        found = dict.fromkeys(KIND_NAMES, 0)
        for kind in (SAME, CHANGED, ONLY_A, ONLY_B):
            found[KIND_NAMES[kind]] = self.kinds.count(kind)
        return found

    def kind_name(self, row: int) -> str:
        """``same``, ``changed``, ``only in A`` or ``only in B``."""
        return KIND_NAMES[self.kinds[row]]

    def next_divergence(self, row: int, *, back: bool = False) -> int | None:
        """The divergence after ``row`` (before it, ``back``), or None."""
        found = self.divergences
        if back:
            at = bisect.bisect_left(found, row) - 1
            return found[at] if at >= 0 else None
        at = bisect.bisect_right(found, row)
        return found[at] if at < len(found) else None


def compare(
    a: Sequence[Recorded], b: Sequence[Recorded], *, max_edits: int = MAX_EDITS
) -> Comparison:
    """Compare two sessions' messages held in memory (tests, small sessions)."""
    shapes: dict[tuple[str, str, str | None], int] = {}
    left, right, aligned = align(
        [shapes.setdefault((m.type, m.source, m.target), len(shapes)) for m in a],
        [shapes.setdefault((m.type, m.source, m.target), len(shapes)) for m in b],
        max_edits=max_edits,
    )
    jobs = JobIds()
    kinds = bytearray(len(left))
    for row, (x, y) in enumerate(zip(left, right, strict=True)):
        kinds[row] = _kind(a[x - 1] if x else None, b[y - 1] if y else None, jobs)
    _prefer_same(
        left,
        right,
        kinds,
        range(len(kinds)),
        lambda x: a[x - 1] if x else None,
        lambda y: b[y - 1] if y else None,
        jobs,
    )
    return Comparison("", "", left, right, kinds, aligned, jobs)


def _prefer_same(
    left: array[int],
    right: array[int],
    kinds: bytearray,
    rows: range,
    of_a: Callable[[int], Recorded | None],
    of_b: Callable[[int], Recorded | None],
    jobs: JobIds,
) -> None:
    """Face a message with its equal when a gap beside a changed row allows it.

    Shapes alone cannot tell which of two messages of one shape was inserted (a new
    ``speak`` before the old one): the alignment may pair the old one with the new
    and leave the old one's twin facing a gap. A changed row next to a gap of the
    same shape is swapped when the swap makes a pair the same.
    """
    for row in rows[:-1]:
        pair = (kinds[row], kinds[row + 1])
        if pair == (CHANGED, ONLY_B):  # (x, y), (-, y2): x may be y2's twin
            a, b = of_a(left[row]), of_b(right[row + 1])
            if a is not None and b is not None and _same_shape(a, b) and same_fields(a, b, jobs):
                left[row], left[row + 1] = 0, left[row]
                kinds[row], kinds[row + 1] = ONLY_B, SAME
        elif pair == (CHANGED, ONLY_A):  # (x, y), (x2, -): y may be x2's twin
            a, b = of_a(left[row + 1]), of_b(right[row])
            if a is not None and b is not None and _same_shape(a, b) and same_fields(a, b, jobs):
                right[row], right[row + 1] = 0, right[row]
                kinds[row], kinds[row + 1] = ONLY_A, SAME
        elif pair == (ONLY_B, CHANGED):  # (-, y1), (x, y2): x may be y1's twin
            a, b = of_a(left[row + 1]), of_b(right[row])
            if a is not None and b is not None and _same_shape(a, b) and same_fields(a, b, jobs):
                left[row], left[row + 1] = left[row + 1], 0
                kinds[row], kinds[row + 1] = SAME, ONLY_B
        elif pair == (ONLY_A, CHANGED):  # (x1, -), (x, y): y may be x1's twin
            a, b = of_a(left[row]), of_b(right[row + 1])
            if a is not None and b is not None and _same_shape(a, b) and same_fields(a, b, jobs):
                right[row], right[row + 1] = right[row + 1], 0
                kinds[row], kinds[row + 1] = SAME, ONLY_A


def _same_shape(a: Recorded, b: Recorded) -> bool:
    return (a.type, a.source, a.target) == (b.type, b.source, b.target)


def _kind(a: Recorded | None, b: Recorded | None, jobs: JobIds) -> int:
    if a is None:
        return ONLY_B
    if b is None:
        return ONLY_A
    return SAME if same_fields(a, b, jobs) else CHANGED


async def _shapes(replay: SessionReplay, ids: dict[tuple[str, str, str | None], int]) -> array[int]:
    """Every step's shape number; a step the log lacks gets a shape of its own."""
    found = array("q")
    position, session, length = 1, replay.session_id, len(replay)
    while position <= length:
        rows = await replay.log.event_rows(session, position, columns=SHAPE_COLUMNS, limit=_PAGE)
        for row in rows:
            while position < row[0]:  # a missing step faces nothing of the same shape
                found.append(-position)
                position += 1
            found.append(ids.setdefault((row[1], row[2], row[3]), len(ids)))
            position += 1
        if len(rows) < _PAGE:
            break
    return found


async def _recorded(replay: SessionReplay, steps: Iterable[int]) -> dict[int, Recorded]:
    """The messages of ``steps`` (rising) of a session, read a range at a time."""
    wanted = [step for step in steps if step]
    if not wanted:
        return {}
    rows = await replay.log.event_rows(
        replay.session_id, wanted[0], wanted[-1] + 1, columns=FIELD_COLUMNS
    )
    return {int(row[0]): Recorded.of_row(row) for row in rows}


async def compare_sessions(
    a: SessionReplay,
    b: SessionReplay,
    *,
    max_edits: int = MAX_EDITS,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Align two recorded sessions and compare each pair's fields.

    Reads each session twice, a page at a time: the shapes, then the fields; holds
    only the steps of each row (16 bytes a row) and a byte for its kind.
    ``progress(rows done, rows)`` is called after each page of the second pass.

    Raises:
        EventLogError: If a log cannot be read.
    """
    ids: dict[tuple[str, str, str | None], int] = {}
    left, right, aligned = align(await _shapes(a, ids), await _shapes(b, ids), max_edits=max_edits)
    jobs = JobIds()
    kinds = bytearray(len(left))
    for start in range(0, len(left), _PAGE):
        stop = min(len(left), start + _PAGE)
        from_a = await _recorded(a, left[start:stop])
        from_b = await _recorded(b, right[start:stop])
        for row in range(start, stop):
            x, y = left[row], right[row]
            one, other = from_a.get(x), from_b.get(y)
            if (x and one is None) or (y and other is None):
                kinds[row] = CHANGED  # a step the log lacks: nothing to compare it with
                continue
            kinds[row] = _kind(one, other, jobs)
        _prefer_same(left, right, kinds, range(start, stop), from_a.get, from_b.get, jobs)
        if progress is not None:
            progress(stop, len(left))
    return Comparison(a.session_id, b.session_id, left, right, kinds, aligned, jobs)


async def pair_at(
    comparison: Comparison, a: SessionReplay, b: SessionReplay, row: int
) -> tuple[Recorded | None, Recorded | None]:
    """The two messages of ``row`` (None on a gap's side)."""
    x, y = comparison.left[row], comparison.right[row]
    one = (await _recorded(a, [x])).get(x) if x else None
    other = (await _recorded(b, [y])).get(y) if y else None
    return one, other
