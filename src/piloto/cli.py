"""The ``piloto`` command: serve, toolbox, policy check, tokens, audit."""

from __future__ import annotations

import ipaddress
import sys

import typer

from piloto.settings import Settings

app = typer.Typer(help="Piloto, a self-hosted operations copilot.", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """Piloto, a self-hosted operations copilot."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1, or PILOTO_HOST)."),
    port: int = typer.Option(None, help="Port (default 8000, or PILOTO_PORT)."),
) -> None:
    """Start the Piloto server (API, UI, runner)."""
    import uvicorn

    from piloto.app import create_app
    from piloto.logs import configure_logging

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    if not _is_loopback(settings.host):
        typer.secho(
            f"warning: binding {settings.host}: Piloto is reachable from other machines. "
            "Put it behind TLS and keep tokens secret.",
            fg="yellow",
            err=True,
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


def main() -> None:
    """Entry point of the ``piloto`` script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
