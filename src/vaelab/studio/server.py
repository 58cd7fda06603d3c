"""Start the studio: bind the port, print the URL, open the browser when there is one, serve under uvicorn."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from pathlib import Path

from vaelab.errors import VaelabError
from vaelab.studio.app import create_app
from vaelab.studio.catalog import find_models

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 takes a free one. A port in use is a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it Nagle holds
    # back the body uvicorn writes after the headers until the client's delayed ACK, 40 ms later
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise VaelabError(f"port {port} on {host} is in use; give another with --port (or --port 0 for any)") from e
        hint = "; ports below 1024 need root: give another with --port" if 0 < port < 1024 else ""
        raise VaelabError(f"cannot listen on {host}:{port}: {e.strerror or e}{hint}") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _can_open_browser() -> bool:
    """A graphical browser can open: on macOS and Windows always, elsewhere only with a display (without one,
    Python's webbrowser would start a text browser in this terminal)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(
    models=(),
    runs: str | Path | None = "runs",
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    log=print,
) -> None:
    """Serve the studio until Ctrl-C: the shipped models, each of ``models`` and the runs under ``runs``."""
    import uvicorn

    entries = find_models(models, Path(runs) if runs else None)
    if not any(not e.problem for e in entries):
        raise VaelabError("no model to serve: the shipped models are missing and no --model was given")
    for e in entries:
        if e.problem:
            log(f"vaelab: note: not serving {e.id}: {e.problem}", file=sys.stderr)
    loopback = is_loopback(host)
    sock = bind(host, port)
    everywhere = host in ("0.0.0.0", "::")  # every interface: this machine browses to it as 127.0.0.1
    shown_host = "127.0.0.1" if everywhere else f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    if not loopback:
        log(
            f"vaelab: warning: --host {host} lets every machine that can reach this one use the studio (and its "
            "CPU); it has no log-in. Use it on a network you trust, or behind a proxy (docs/deploy.md)",
            file=sys.stderr,
        )
    served = [e.id for e in entries if not e.problem]
    where = f" (listening on every interface: other machines use this one's address, port {url.rsplit(':', 1)[1][:-1]})"
    log(
        f"vaelab studio: {url}  ({len(served)} model{'s' * (len(served) != 1)}: {', '.join(served)}; Ctrl-C stops it)"
        + (where if everywhere else "")
    )
    sys.stdout.flush()
    app = create_app(entries, allowed_hosts=LOOPBACK_NAMES if loopback else None)
    if open_browser and _can_open_browser():
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how a studio is meant to stop: not an error
        pass
    finally:
        sock.close()
    log("vaelab studio: stopped")
