"""The inspector in a browser: ``pipebus inspect --web`` serves the app with textual-serve.

Each browser that opens the page gets an inspector of its own: textual-serve runs
``pipebus inspect`` (the terminal app, on the same log and session) in a child process
and streams its screen to the page over a websocket. So a team can open a session of
a shared PostgreSQL log without a terminal. It listens on loopback unless told which
address to use: the inspector reads the whole log, so exposing it is a choice.
"""

from __future__ import annotations

import shlex
import socket
import sys
from collections.abc import Sequence

from pipebus.core.errors import PipebusError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ANY_ADDRESS = ("0.0.0.0", "::", "")


class WebUnavailableError(PipebusError):
    """``--web`` without the ``web`` extra installed."""


def app_command(arguments: Sequence[str]) -> str:
    """The shell command textual-serve runs for each page: ``pipebus inspect ARGUMENTS``."""
    return shlex.join([sys.executable, "-m", "pipebus.cli", "inspect", *arguments])


def page_url(host: str, port: int) -> str:
    """The address people open (on every address: this machine's name)."""
    shown = socket.getfqdn() if host in ANY_ADDRESS else host
    if ":" in shown:
        shown = f"[{shown}]"  # an IPv6 address
    return f"http://{shown}:{port}"


def serve(
    arguments: Sequence[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve ``pipebus inspect ARGUMENTS`` over HTTP until interrupted (Ctrl+C, SIGTERM).

    Raises:
        WebUnavailableError: If textual-serve is not installed.
    """
    try:
        from textual_serve.server import Server
    except ModuleNotFoundError as exc:
        raise WebUnavailableError(
            "pipebus inspect --web needs textual-serve: pip install 'pipebus[web]'"
        ) from exc
    server = Server(
        app_command(arguments),
        host=host,
        port=port,
        title="pipebus inspector",
        public_url=page_url(host, port),
    )
    server.serve()
