"""``pipebus replay``: re-run a recorded worker's inputs through worker code, compare."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Callable

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import opened_log
from pipebus.cli_commands.output import say
from pipebus.cli_commands.progress import ProgressBar
from pipebus.replay.rerun import RerunResult, rerun
from pipebus.replay.session import SessionReplay
from pipebus.replay.transcript import Transcript, transcript_of
from pipebus.workers.base import BaseWorker


def worker_factory(spec: str, name: str | None) -> Callable[[], BaseWorker]:
    """What ``module:Class`` (or ``module:function``) names, as a no-argument factory.

    A ``BaseWorker`` subclass is built as ``Class(name)``; a function as ``function()``,
    or ``function(name)`` when a name is given. The module is looked up from the
    current directory too, as the user named it on the command line.

    Raises:
        CommandError: If the spec is malformed, the module or attribute is missing, or
            it is neither a worker class nor a function.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--worker wants module:Class, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except ModuleNotFoundError as exc:
        raise CommandError(f"cannot import module {module_name!r}: {exc}") from None
    except AttributeError:
        raise CommandError(f"module {module_name!r} has no {attribute!r}") from None
    if inspect.isclass(target):
        if not issubclass(target, BaseWorker):
            raise CommandError(f"{spec} is a class but not a BaseWorker")
        if name is None:
            raise CommandError(
                "give the recorded worker's name with --name to build a worker class"
            )
        worker_class = target
        return lambda: worker_class(name)
    if inspect.isbuiltin(target):
        # A function of C code makes no worker, and calling it may act (os:system).
        raise CommandError(f"{spec} is a built-in function, not a worker class or factory")
    if callable(target):
        function = target
        arguments = (name,) if name is not None else ()
        return lambda: _made_by(spec, function, arguments)
    raise CommandError(f"{spec} is neither a worker class nor a function")


def _made_by(spec: str, function: Callable[..., object], arguments: tuple[str, ...]) -> BaseWorker:
    """What the factory ``spec`` returns, checked to be a worker.

    Raises:
        CommandError: If calling it fails or it returns something else than a worker
            (the factory's exception stays as ``__cause__``, shown with ``-v``).
    """
    called = f"{spec}({', '.join(map(repr, arguments))})"
    try:
        made = function(*arguments)
    except Exception as exc:  # the user's code: its failure is the command's one-line error
        raise CommandError(f"{called} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(made, BaseWorker):
        raise CommandError(f"{called} returned {type(made).__name__}, not a BaseWorker")
    return made


async def _transcript(args: argparse.Namespace, worker: str | None) -> Transcript:
    if args.transcript:
        return Transcript.load(args.transcript)
    if worker is None:
        raise CommandError("say which worker to replay: --name NAME")
    async with opened_log(args) as log:
        replay = await SessionReplay.open(log, args.session)
        try:
            return await transcript_of(replay, worker)
        except ValueError as exc:
            raise CommandError(str(exc)) from None


async def _check_all(args: argparse.Namespace) -> int:
    """``--all``: the worker code against every session the worker took part in."""
    if args.transcript or args.save_transcript:
        raise CommandError("--all replays sessions: it takes no --transcript or --save-transcript")
    if not args.worker or not args.name:
        raise CommandError("--all needs the worker code (--worker) and its recorded name (--name)")
    factory = worker_factory(args.worker, args.name)
    matched, diverged, absent = 0, 0, 0
    bar = ProgressBar("replay", "sessions")
    async with opened_log(args) as log:
        sessions = await log.sessions()
        for done, info in enumerate(sessions, 1):
            async with await SessionReplay.open(log, info.id) as replay:
                try:
                    transcript = await transcript_of(replay, args.name)
                except ValueError:
                    absent += 1
                    bar.update(done, len(sessions))
                    continue
            result = await _rerun(transcript, factory, args.timeout)
            bar.update(done, len(sessions))
            if result.ok:
                matched += 1
            else:
                diverged += 1
                bar.close()
                say(f"session {info.id[:8]}: {result.report()}")
    bar.close()
    say(
        f"{len(sessions)} session(s): {matched} match the recording, {diverged} diverge, "
        f"{absent} without a worker named {args.name!r}"
    )
    if matched + diverged == 0:
        raise CommandError(f"no session of the log has a worker named {args.name!r}")
    return 1 if diverged else 0


async def _run(args: argparse.Namespace) -> int:
    if args.all:
        return await _check_all(args)
    factory = worker_factory(args.worker, args.name) if args.worker else None
    name = args.name or (factory().name if factory is not None else None)
    transcript = await _transcript(args, name)
    if args.save_transcript:
        transcript.save(args.save_transcript)
        steps = len(transcript.steps)
        where = args.save_transcript
        say(f"saved the transcript of {transcript.worker} ({steps} steps) to {where}")
    if factory is None:
        return 0
    result = await _rerun(transcript, factory, args.timeout)
    say(result.report())
    return 0 if result.ok else 1


async def _rerun(
    transcript: Transcript, factory: Callable[[], BaseWorker], timeout: float
) -> RerunResult:
    """Rerun the transcript; a worker not named as recorded is the command's error."""
    try:
        return await rerun(transcript, factory, timeout=timeout)
    except ValueError as exc:  # rerun's one refusal: the worker's name is not the recorded one
        raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus replay``; 1 when the worker diverges from the recording."""
    return asyncio.run(_run(args))
