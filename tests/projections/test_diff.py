"""The state diff: every leaf of the registry and jobs a step changed, before and after."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map

from pipebus import (
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerReadyMessage,
    BusWorkerStoppedMessage,
    JobStatus,
)
from pipebus.observability import Envelope
from pipebus.projections import EMPTY, SessionState, apply, fold
from pipebus.projections.diff import MISSING, FieldChange, diff, leaves

_seq = itertools.count(1)


def env(message: BusMessage) -> Envelope:
    n = next(_seq)
    return Envelope(message, f"m{n}", "s", n, n * 1000, "r", 1, n)


def ready(name: str, parent: str | None = None) -> BusMessage:
    return BusWorkerReadyMessage(source=name, runner="r", parent=parent, active=True)


def request(job_id: str = "j1") -> BusMessage:
    return BusJobRequestMessage(
        source="boss", target="echo", job_id=job_id, job_name="echo", payload={"x": 1}
    )


def test_a_worker_stopping_changes_its_status_active_and_reason_and_the_stopped_list() -> None:
    before = fold([env(ready("boss")), env(ready("echo", "boss"))])
    after = apply(
        before,
        env(BusWorkerStoppedMessage(source="echo", runner="r", status="failed", reason="boom")),
    )
    found = {change.path: (change.before, change.after) for change in diff(before, after)}
    assert found == {
        ("registry", "workers", "echo", "status"): ("ready", "failed"),
        ("registry", "workers", "echo", "active"): (True, False),
        ("registry", "workers", "echo", "stop_reason"): (None, "boom"),
        ("registry", "stopped"): ((), ("echo",)),
    }
    assert all(change.kind == "changed" for change in diff(before, after))


def test_a_new_job_is_listed_leaf_by_leaf_as_added() -> None:
    before = fold([env(ready("boss")), env(ready("echo"))])
    after = apply(before, env(request()))
    found = diff(before, after)
    emptied, *rest = found  # the empty map of jobs gives way to its first job
    assert emptied == FieldChange(("jobs", "jobs"), Map(), MISSING)
    assert {change.kind for change in rest} == {"added"}
    assert all(change.before is MISSING for change in rest)
    paths = {change.path: change.after for change in rest}
    assert paths[("jobs", "jobs", "j1", "name")] == "echo"
    assert paths[("jobs", "jobs", "j1", "payload")] == {"x": 1}  # a message's value: whole
    assert paths[("jobs", "jobs", "j1", "workers", "echo", "status")] == "requested"
    assert paths[("jobs", "jobs", "j1", "status")] == "running"
    assert not any(path[0] == "registry" for path in paths)


def test_an_update_changes_the_worker_part_and_its_last_update_inside_the_job() -> None:
    before = fold([env(ready("echo")), env(request())])
    update = BusJobUpdateMessage(source="echo", target="boss", job_id="j1", update={"done": 30})
    after = apply(before, env(update))
    found = [(change.path, change.before, change.after) for change in diff(before, after)]
    part = ("jobs", "jobs", "j1", "workers", "echo")
    assert found == [
        ((*part, "status"), "requested", "working"),
        ((*part, "updates"), 0, 1),
        ((*part, "last_update"), None, {"done": 30}),
    ]


def test_a_forgotten_job_is_listed_as_removed() -> None:
    before = SessionState()
    after = fold([env(request("j9"))], before)
    *removed, filled = diff(after, before)
    assert filled == FieldChange(("jobs", "jobs"), MISSING, Map())
    assert removed and {change.kind for change in removed} == {"removed"}
    assert all(
        change.after is MISSING and change.path[:3] == ("jobs", "jobs", "j9") for change in removed
    )


def test_a_step_outside_the_projections_changes_nothing_and_same_states_differ_in_nothing() -> None:
    state = fold([env(ready("echo")), env(request())])
    assert diff(state, state) == []
    assert diff(state, state._replace(events=state.events + 1)) == []  # a count, not state
    assert diff(EMPTY, EMPTY) == []


def test_leaves_of_an_empty_map_and_a_plain_value_are_themselves() -> None:
    assert list(leaves(("a",), {})) == [(("a",), {})]
    assert list(leaves(("a",), 3)) == [(("a",), 3)]
    assert FieldChange(("a",), MISSING, 1).kind == "added"
    assert FieldChange(("a",), 1, MISSING).kind == "removed"


MESSAGES = st.lists(
    st.sampled_from(
        [
            ready("boss"),
            ready("echo", "boss"),
            request("j1"),
            request("j2"),
            BusJobUpdateMessage(source="echo", target="boss", job_id="j1", update={"p": 1}),
            BusJobResponseMessage(
                source="echo", target="boss", job_id="j1", status=JobStatus.COMPLETED, response={}
            ),
            BusJobGroupFinishedMessage(source="boss", job_id="j2", status="failed", reason="x"),
            BusWorkerStoppedMessage(source="echo", runner="r", status="ended"),
        ]
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(MESSAGES, MESSAGES)
def test_applying_the_diff_to_the_state_before_gives_the_state_after(
    first: list[BusMessage], then: list[BusMessage]
) -> None:
    """The diff is whole: its ``after`` values over the leaves before give the state after."""
    before = fold(env(m) for m in first)
    after = fold((env(m) for m in then), before)
    rebuilt = {
        path: value
        for name in ("registry", "jobs")
        for path, value in leaves((name,), getattr(before, name))
    }
    for change in diff(before, after):
        if change.after is MISSING:
            rebuilt.pop(change.path)
        else:
            rebuilt[change.path] = change.after
    expected = {
        path: value
        for name in ("registry", "jobs")
        for path, value in leaves((name,), getattr(after, name))
    }
    assert rebuilt == expected
