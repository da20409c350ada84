"""The requester side of jobs: send requests to workers, time them out, cancel them.

A job to one worker is a group of one. The timeout covers waiting for the workers to
be ready and the work together, counted once from the call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipebus.core.errors import JobGroupError, WorkerError
from pipebus.core.messages import (
    BusJobCancelMessage,
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobUpdateRequestMessage,
)
from pipebus.core.types import JobGroupParams, JobParams
from pipebus.workers.core import WorkerCore
from pipebus.workers.job_group import JobContext, JobGroup, JobGroupContext
from pipebus.workers.job_params import new_job_id, resolve_params

_EVENTS = (
    "on_job_response",
    "on_job_update",
    "on_job_completed",
    "on_job_error",
    "on_job_stream_start",
    "on_job_stream_data",
    "on_job_stream_end",
)


class JobRequestsMixin(WorkerCore):
    """Send jobs and job groups to other workers and follow them to their end."""

    def _init_job_requests(self) -> None:
        self._job_groups: dict[str, JobGroup] = {}
        for event in _EVENTS:
            self._register_event_handler(event)

    @property
    def job_groups(self) -> dict[str, JobGroup]:
        """The job groups this worker launched that have not ended, by job id."""
        return self._job_groups

    # --- starting jobs -----------------------------------------------------------------

    async def create_job_group_and_request_job(
        self,
        worker_names: list[str],
        *,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> JobGroup:
        """Wait for the workers to be ready, create the group and send the requests.

        Returns without waiting for answers: use ``group.wait()`` or :meth:`job_group`.

        Raises:
            JobGroupError: If a worker is not ready within the timeout, or has stopped.
            ValueError: If no worker, or the same worker twice, is named.
        """
        group_params = resolve_params(
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        names = list(worker_names)
        if not names:
            raise ValueError("a job needs at least one worker name")
        if len(set(names)) != len(names):
            raise ValueError(f"a job group names the same worker twice: {names}")
        loop = asyncio.get_running_loop()
        deadline = None if group_params.timeout is None else loop.time() + group_params.timeout
        try:
            await self.registry.wait_ready(names, group_params.timeout)
        except TimeoutError:
            missing = [n for n in names if n not in self.registry]
            raise JobGroupError(
                f"workers not ready within {group_params.timeout}s: {', '.join(missing)}",
                worker_name=missing[0] if missing else None,
            ) from None
        except WorkerError as error:
            raise JobGroupError(str(error)) from error
        group = JobGroup(
            job_id=new_job_id(),
            worker_names=names,
            cancel_on_error=group_params.cancel_on_error,
            label=group_params.label,
            cancellable=group_params.cancellable,
            _jobs=self._live_jobs,
        )
        self._job_groups[group.job_id] = group
        if deadline is not None:
            group._timer = loop.call_at(deadline, self._job_group_timed_out, group.job_id)
        for worker in names:
            await self.send_bus_message(
                BusJobRequestMessage(
                    source=self.name,
                    target=worker,
                    job_id=group.job_id,
                    job_name=group_params.name,
                    payload=group_params.payload,
                )
            )
        return group

    async def request_job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> str:
        """Send a job to one worker without waiting for its answer; returns the job id."""
        job_params = resolve_params(params, JobParams, name=name, payload=payload, timeout=timeout)
        group = await self.create_job_group_and_request_job(
            [worker_name], params=JobGroupParams.from_job_params(job_params)
        )
        return group.job_id

    async def request_job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> str:
        """Send a job to several workers without waiting for answers; returns the job id."""
        group = await self.create_job_group_and_request_job(
            list(worker_names),
            params=params,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return group.job_id

    def job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> JobContext:
        """``async with self.job("w", payload=...) as t``: one job, its events, its answer."""
        job_params = resolve_params(params, JobParams, name=name, payload=payload, timeout=timeout)
        return JobContext(self, worker_name, job_params)

    def job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> JobGroupContext:
        """``async with self.job_group("a", "b") as tg``: a group, its events, its answers."""
        group_params = resolve_params(
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return JobGroupContext(self, list(worker_names), group_params)

    async def request_job_update(self, job_id: str, worker_name: str) -> None:
        """Ask a worker for progress on a job."""
        await self.send_bus_message(
            BusJobUpdateRequestMessage(source=self.name, target=worker_name, job_id=job_id)
        )

    # --- ending jobs -----------------------------------------------------------------------

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel a running group: its workers get a cancel, its waiters a ``JobGroupError``."""
        group = self._job_groups.get(job_id)
        if group is not None:
            await self._end_group(group, "cancelled", reason or "cancelled by the requester")

    async def request_cancel_job_group(self, job_id: str, *, reason: str | None = None) -> bool:
        """Cancel on behalf of an outside requester, if the group allows it.

        Returns:
            Whether the group was cancelled (False: unknown or not cancellable).
        """
        group = self._job_groups.get(job_id)
        if group is None or not group.cancellable:
            return False
        await self.cancel_job_group(job_id, reason=reason)
        return True

    def _job_group_timed_out(self, job_id: str) -> None:
        group = self._job_groups.get(job_id)
        if group is not None:
            self.create_task(self._end_group(group, "timeout", "timeout"), f"timeout:{job_id[:8]}")

    async def _end_group(
        self, group: JobGroup, status: str, reason: str, worker: str | None = None
    ) -> None:
        """Fail a group: cancel the workers still on it, release waiters, record the verdict."""
        if self._job_groups.pop(group.job_id, None) is None:
            return
        for name in group.worker_names:
            if name not in group.terminated:
                await self.send_bus_message(
                    BusJobCancelMessage(
                        source=self.name, target=name, job_id=group.job_id, reason=reason
                    )
                )
        group.fail(reason, status=status, worker=worker)
        self._record_verdict(group, status, reason)

    def _record_verdict(self, group: JobGroup, status: str, reason: str | None) -> None:
        if self._bus is not None:
            self._bus.record(
                BusJobGroupFinishedMessage(
                    source=self.name, job_id=group.job_id, status=status, reason=reason
                )
            )

    async def _cancel_own_job_groups(self, reason: str) -> None:
        """On stop: cancel every group this worker is still waiting on."""
        for group in list(self._job_groups.values()):
            await self._end_group(group, "cancelled", reason)
