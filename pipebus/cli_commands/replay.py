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
from pipebus.replay.rerun import rerun
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
    if callable(target):
        function = target
        return (lambda: function(name)) if name is not None else function
    raise CommandError(f"{spec} is neither a worker class nor a function")


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
            result = await rerun(transcript, factory, timeout=args.timeout)
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
    result = await rerun(transcript, factory, timeout=args.timeout)
    say(result.report())
    return 0 if result.ok else 1


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus replay``; 1 when the worker diverges from the recording."""
    return asyncio.run(_run(args))
