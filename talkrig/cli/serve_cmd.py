"""`talkrig serve`: the HTTP API, the live WebSocket stream and the web page (``serve`` extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer

from talkrig.errors import InputError


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    token: Optional[str] = typer.Option(None, "--token", envvar="TALKRIG_TOKEN",
                                        help="Require 'Authorization: Bearer TOKEN' on /api/* "
                                             "(also read from $TALKRIG_TOKEN)."),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Render jobs run at once."),
    max_queue: int = typer.Option(32, "--max-queue", min=1, help="Jobs waiting before 503."),
    max_live: int = typer.Option(4, "--max-live", min=0, help="Live sessions at once."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.1, help="Largest upload."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir",
                                            help="Faces and job outputs (default: <cache>/serve)."),
) -> None:
    """Serve talkrig over HTTP: POST /api/faces, POST /api/render + /api/jobs/{id}, the live
    stream WS /api/live, a web page at / and the OpenAPI docs at /docs."""
    missing = [m for m in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError("talkrig serve needs the serve extra: pip install 'talkrig[serve]' "
                         f"(missing: {', '.join(missing)})")
    _check_can_listen(host, port)
    from talkrig.server.app import serve
    from talkrig.server.services import Settings

    settings = Settings(token=token or None, data_dir=data_dir, workers=workers, max_queue=max_queue,
                        max_live=max_live, max_upload_mb=max_upload_mb)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        typer.echo(f"warning: serving on {host} without --token: anyone who can reach it may use it",
                   err=True)
    serve(settings, host, port)


def _check_can_listen(host: str, port: int) -> None:
    """A one-line error now, instead of uvicorn's log lines after start-up, when the address
    cannot be bound (in use, not this machine's, no permission)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror.lower()}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
