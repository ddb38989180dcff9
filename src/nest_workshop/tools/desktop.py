"""NEST Desktop, the web GUI for NEST, with a local NEST Server (``make desktop``).

NEST Desktop builds a network in the browser, writes it as a PyNEST script and sends the
script to NEST Server, which runs it with NEST and returns the recorders' events. NEST
Server executes code it is sent, so it is started here with only what NEST Desktop needs:

- it listens on 127.0.0.1 only;
- every request must carry an access token (header ``NESTServerAuth``), generated at start
  or taken from ``NEST_SERVER_ACCESS_TOKEN``; NEST Desktop gets it in the URL printed at
  start (as JupyterLab does);
- the ``/exec`` route is on, because NEST Desktop simulates by sending its script there;
  scripts run under RestrictedPython (no ``import``, no ``open``, no attributes starting
  with ``_``) and in this bundle's sandbox (:mod:`nest_workshop.tools.server_sandbox`):
  ``nest`` and ``np`` are the calls NEST Desktop's scripts use, without file I/O, and
  NEST records to memory only;
- the server works in a private folder of its own, removed when it stops, and it stops
  when its launcher ends, however that ends (Ctrl-C, SIGTERM, SIGKILL, a failed test);
- cross-origin requests are accepted only from the NEST Desktop page served here.

NEST Desktop's web app comes from the ``nest-desktop`` package and is served by this
module's own small web server, which hands the app its backend's address and keeps the
app's requests on this machine: Google's web fonts are not loaded (the app falls back to
local fonts), and the import dialog's lists from GitHub come back empty (importing a
project from a file works as usual).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..core import build_cache
from . import server_sandbox as sandbox

HOST = "127.0.0.1"
SERVER_PORT = 52425  # NEST Server's usual port
DESKTOP_PORT = 54286  # NEST Desktop's usual port
TOKEN_ENV = "NEST_SERVER_ACCESS_TOKEN"
AUTH_HEADER = "NESTServerAuth"
# NEST Server's app, in this bundle's sandbox (scripts get nest and np without file I/O)
SERVER_APP = "nest_workshop.tools.server_sandbox:create_app()"
START_TIMEOUT_S = 60.0
# the app's request to the internet: Google's web fonts (it falls back to local fonts)
EXTERNAL_FONT_HOSTS = ("https://fonts.googleapis.com", "https://fonts.gstatic.com")
GOOGLE_FONTS_CSS = "https://fonts.googleapis.com/css"
NO_FONTS_CSS = "/nest-workshop/no-web-fonts.css"
GITHUB_PREFIXES = ("https://raw.githubusercontent.com/", "https://api.github.com/")
OFFLINE_PREFIX = "/nest-workshop/offline/"  # nothing is served there: such a request gets 404


class DesktopError(RuntimeError):
    """NEST Desktop or NEST Server could not be started; the message says why."""


def new_token() -> str:
    return secrets.token_hex(24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def check_port(port: int, what: str, bind: str = HOST) -> int:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise DesktopError(f"{what} port must be a number from 1 to 65535, got {port!r}")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: a port just freed is free
        try:
            sock.bind((bind, port))
        except OSError:
            raise DesktopError(f"port {port} on {bind} is in use: choose another {what} port") from None
    return port


def app_dir() -> Path:
    """NEST Desktop's built web app, from the installed ``nest-desktop`` package."""
    try:
        import nest_desktop
    except ImportError as error:
        raise DesktopError("NEST Desktop is not installed: run `make setup` (it installs nest-desktop)") from error
    folder = Path(nest_desktop.__file__).parent / "app"
    if not (folder / "index.html").is_file():
        raise DesktopError(f"the nest-desktop package has no web app in {folder}")
    return folder


def server_environment(token: str, desktop_origin: str) -> dict:
    """NEST Server's settings (environment variables read by ``nest.server``)."""
    if not token:
        raise DesktopError("NEST Server needs an access token; refusing to start without one")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEST_SERVER_")}
    env.update(
        NEST_SERVER_ACCESS_TOKEN=token,
        NEST_SERVER_ENABLE_EXEC_CALL="true",  # NEST Desktop simulates through /exec
        NEST_SERVER_DISABLE_RESTRICTION="false",  # ... under RestrictedPython
        NEST_SERVER_DISABLE_AUTH="false",
        NEST_SERVER_CORS_ORIGINS=desktop_origin,
        NEST_SERVER_MODULES="import nest",  # unused: the sandbox hands scripts its own nest and np
    )
    return env


def request(url: str, *, token: str | None = None, data: dict | None = None, timeout: float = 30.0):
    """GET (or POST ``data`` as JSON) ``url``; returns ``(status, body)``, body parsed as
    JSON where it is JSON. The token goes in NEST Server's header."""
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="GET" if data is None else "POST")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header(AUTH_HEADER, token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclasses.dataclass
class NestServer:
    """A NEST Server process (gunicorn, one worker: one NEST kernel) on 127.0.0.1."""

    process: subprocess.Popen
    port: int
    token: str
    log: Path
    folder: Path  # the server's private working folder

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn stops its worker and exits
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(port: int, token: str, *, desktop_origin: str, log: Path, bind: str = HOST) -> NestServer:
    """Start NEST Server on ``bind``:``port`` (127.0.0.1 unless in a container) and wait
    until it answers (with the token)."""
    check_port(port, "NEST Server", bind)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "gunicorn", SERVER_APP, "--bind", f"{bind}:{port}"]
    command += ["--workers", "1", "--timeout", "300"]  # one worker: one NEST kernel; long simulations
    command += ["--graceful-timeout", "5"]  # a stop does not wait for a long simulation to end
    command += ["--config", f"python:{sandbox.__name__}"]  # its on_exit hook removes the private folder
    folder = Path(tempfile.mkdtemp(prefix="nest-server-"))  # this user only (mode 0700)
    env = server_environment(token, desktop_origin)
    env.update({sandbox.SERVER_DIR_ENV: str(folder), sandbox.LAUNCHER_PID_ENV: str(os.getpid())})
    # NEST Server prints its access token into this log: readable by this user only
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as sink:
        os.chmod(log, 0o600)  # also when the file was there before
        process = subprocess.Popen(
            command, env=env, cwd=folder, stdout=sink, stderr=sink, preexec_fn=_stop_with_parent, close_fds=True
        )
    server = NestServer(process, port, token, log, folder)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()  # removes its folder
            raise DesktopError(f"NEST Server exited at start (code {process.returncode}); its log:\n{_tail(log)}")
        with contextlib.suppress(OSError):
            status, body = request(server.url + "/", token=token, timeout=2.0)
            if status == 200 and isinstance(body, dict) and "nest" in body:
                return server
        time.sleep(0.3)
    server.stop()
    raise DesktopError(f"NEST Server did not answer within {START_TIMEOUT_S:.0f} s; its log:\n{_tail(log)}")


def _stop_with_parent() -> None:
    """In the server's process before it starts: Linux sends it SIGTERM when the launcher
    dies, even by SIGKILL (elsewhere the sandbox's watchdog thread does the same)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


class _AppHandler(http.server.SimpleHTTPRequestHandler):
    """NEST Desktop's files, a few of them replaced (:func:`app_overrides`): the page, the
    web-font loader and the app's script (nothing fetched from the internet), and the
    workspaces' backend lists (this NEST Server; the other backends off)."""

    overrides: dict[str, bytes] = {}

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in self.overrides:
            body = self.overrides[path]
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(path) if "." in path.rsplit("/", 1)[-1] else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # quiet: the terminal shows the URL and errors only


def _seed_backends(server_url: str) -> str:
    """A script for the page's head. NEST Desktop 4.2 checks its backends when it starts,
    before it has read their settings (backends.json), so on a browser's first visit the
    check is skipped and the NEST indicator stays red; on later visits it reads the
    settings it saved. This script saves them before the app starts, as the app would."""
    saved = {
        f"{name}-backend-store": {"state": {"enabled": name == "nest", "loadedFromAssets": True, "url": url}}
        for name, url in (("nest", server_url), ("nestml", ""), ("insite", ""))
    }
    lines = [f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(value))});" for key, value in saved.items()]
    return "<script>/* nest-workshop: NEST Desktop's backend settings */ " + " ".join(lines) + "</script>\n"


def app_overrides(folder: Path, server_url: str) -> dict[str, bytes]:
    page = (folder / "index.html").read_text()
    lines = [line for line in page.splitlines(keepends=True) if not any(host in line for host in EXTERNAL_FONT_HOSTS)]
    page = "".join(lines).replace("<head>\n", "<head>\n" + _seed_backends(server_url), 1)
    overrides = {"/": page.encode(), "/index.html": page.encode()}
    # the web-font loader asks Google for the Roboto font: point it at an empty style sheet here
    for script in sorted((folder / "assets" / "js" / "vendors").glob("webfontloader-*.js")):
        text = script.read_text()
        overrides["/" + script.relative_to(folder).as_posix()] = text.replace(
            f'"{GOOGLE_FONTS_CSS}"', f'"{NO_FONTS_CSS}"'
        ).encode()
    overrides[NO_FONTS_CSS] = b"/* web fonts are not loaded: nothing leaves this machine */\n"
    # the import dialog lists projects and models from GitHub as soon as it opens: point it
    # here, where there are none (importing from a file works; from GitHub does not)
    for script in sorted((folder / "assets" / "js").glob("index-*.js")):
        text = script.read_text()
        for prefix in GITHUB_PREFIXES:
            text = text.replace(prefix, OFFLINE_PREFIX)
        overrides["/" + script.relative_to(folder).as_posix()] = text.encode()
    # every backend NEST Desktop's workspaces know, off but this NEST Server
    for workspace in sorted((folder / "assets" / "workspaces").glob("*/config/backends.json")):
        backends = json.loads(workspace.read_text())
        if workspace.parts[-3] == "nest":
            backends.setdefault("nestml", {})  # NEST Desktop 4.2 reads it, but its file lacks it
        for name, backend in backends.items():
            backend["enabled"] = name == "nest"
            if name == "nest":
                backend.pop("port", None)
                backend["url"] = server_url
        overrides["/" + workspace.relative_to(folder).as_posix()] = json.dumps(backends, indent=2).encode()
    return overrides


def start_desktop(port: int, server_url: str, bind: str = HOST) -> http.server.ThreadingHTTPServer:
    """Serve NEST Desktop on ``bind``:``port`` in a background thread."""
    check_port(port, "NEST Desktop", bind)
    folder = app_dir()
    handler = type("AppHandler", (_AppHandler,), {"overrides": app_overrides(folder, server_url)})
    httpd = http.server.ThreadingHTTPServer((bind, port), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, name="nest-desktop", daemon=True).start()
    return httpd


def desktop_url(desktop_port: int, server_url: str, token: str) -> str:
    """The address to open: NEST Desktop reads its NEST Server and token from it."""
    query = urllib.parse.urlencode({"nest_server_url": server_url, "nest_server_access_token": token})
    return f"http://{HOST}:{desktop_port}/#/nest?{query}"


@dataclasses.dataclass
class Desktop:
    server: NestServer
    httpd: http.server.ThreadingHTTPServer
    url: str

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.server.stop()


def start(
    desktop_port: int = DESKTOP_PORT,
    server_port: int = SERVER_PORT,
    token: str | None = None,
    log: Path | None = None,
    bind: str = HOST,
) -> Desktop:
    """Start NEST Server and NEST Desktop; returns a :class:`Desktop` (``.url``, ``.stop()``).
    Both listen on ``bind``: 127.0.0.1, or all addresses inside a container whose ports are
    published on the host's 127.0.0.1 (the browser uses 127.0.0.1 either way)."""
    if bind not in (HOST, "0.0.0.0"):
        raise DesktopError(f"listen on {HOST} (or 0.0.0.0 inside a container only), not {bind!r}")
    token = token or os.environ.get(TOKEN_ENV) or new_token()
    check_port(desktop_port, "NEST Desktop", bind)
    origin = f"http://{HOST}:{desktop_port}"
    log = log or build_cache.user_cache("nest-server.log")  # ~/.cache/nest-workshop/nest-server.log
    server = start_server(server_port, token, desktop_origin=origin, log=log, bind=bind)
    try:
        httpd = start_desktop(desktop_port, server.url, bind)
    except BaseException:
        server.stop()
        raise
    return Desktop(server, httpd, desktop_url(desktop_port, server.url, token))


def run(desktop_port: int = DESKTOP_PORT, server_port: int = SERVER_PORT, bind: str = HOST) -> int:
    """``make desktop``: start both, print the URL, stop both on Ctrl-C (or SIGTERM).

    Ctrl-C and SIGTERM (``docker stop``) set a flag that the main loop waits on; they do
    not raise ``KeyboardInterrupt`` into whatever runs at that moment. An interrupt inside
    ``Popen.poll`` can leave the process's wait lock taken, and the stop's ``wait`` then
    hangs for good (seen on a loaded machine: the launcher did not end within 120 s)."""
    stop_requested = threading.Event()

    def request_stop(signum, frame):
        stop_requested.set()

    # kept to the end of the process: a late Ctrl-C must not kill it mid-stop either
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    try:
        desktop = start(desktop_port, server_port, bind=bind)
    except DesktopError as error:
        print(f"✘ {error}", file=sys.stderr)
        return 1
    if stop_requested.is_set():  # interrupted while starting
        desktop.stop()
        return 0
    print(
        f"NEST Server: {desktop.server.url} (listening on {bind} only, access token required, log {desktop.server.log})\n"
        f"NEST Desktop: open this URL in your browser (it carries the token):\n\n    {desktop.url}\n\n"
        "Press Ctrl-C to stop both.",
        flush=True,
    )
    try:
        while not stop_requested.wait(0.5):
            if desktop.server.process.poll() is not None:
                print(f"✘ NEST Server stopped; its log:\n{_tail(desktop.server.log)}", file=sys.stderr)
                return 1
        print("\nStopping NEST Desktop and NEST Server ...", flush=True)
        return 0
    finally:
        desktop.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # stopped: the process only exits now
            signal.signal(sig, signal.SIG_IGN)
