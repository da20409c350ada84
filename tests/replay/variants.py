"""Sessions that differ from the inspector's fixed session as a rerun would: for comparisons."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipebus.core.messages import BusJobUpdateMessage, BusMessage, BusTTSSpeakMessage
from tests.inspector.sessions import scenario, write_session

RERUN = "b0b0b0b0" + "0" * 24
"""The id of the rerun written beside the fixed session."""

Messages = list[tuple[BusMessage, int | None]]


def renamed_jobs(messages: Messages) -> Messages:
    """The same messages, every job id different (as a new run's would be)."""
    return [
        (dataclasses.replace(m, job_id=f"{m.job_id}-2") if getattr(m, "job_id", None) else m, c)  # type: ignore[attr-defined]
        for m, c in messages
    ]


def diverging(messages: Messages | None = None) -> Messages:
    """A rerun that reports other progress at step 18 and says "Wait!" before "Goodbye!"."""
    found = renamed_jobs(messages or scenario())
    update = next(i for i, (m, _) in enumerate(found) if isinstance(m, BusJobUpdateMessage))
    message, cause = found[update]
    found[update] = (dataclasses.replace(message, update={"archived": 5}), cause)
    goodbye = next(
        i
        for i, (m, _) in enumerate(found)
        if isinstance(m, BusTTSSpeakMessage) and m.text == "Goodbye!"
    )
    found.insert(goodbye, (BusTTSSpeakMessage(source="closer", text="Wait!"), None))
    return found


async def write_rerun(path: str | Path, messages: Messages, *, name: str = "rerun") -> str:
    """Write ``messages`` as the session :data:`RERUN` into the log at ``path``."""
    return await write_session(path, name=name, session=RERUN, messages=messages)
