"""A participant of a workshop room, simulated over HTTP: for the hub's tests and its load
test (``benchmarks/hub_load.py``).

It does what a browser does: signs in through the proxy (the sign-in form with its
XSRF token), starts the participant's server, opens a kernel the way JupyterLab opens a
notebook (a session on a path of the participant's workspace, so the kernel works in
that folder), and executes code cells through the kernel's websocket, one after the
other, as *Run All* does.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests
import websocket

from . import hub


class RoomClientError(Exception):
    """The room refused or failed a step; the message says which."""


@dataclass
class CellResult:
    index: int
    seconds: float
    error: str | None = None
    output: str = ""


@dataclass
class Participant:
    base_url: str  # the proxy's, e.g. http://127.0.0.1:8000/
    name: str
    password: str
    code: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str | None = None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    # -- the hub

    def sign_in(self, timeout: float = 30) -> requests.Response:
        """The sign-in form, as a browser submits it. Returns the hub's answer; signed
        in when the session then holds the hub's login cookie."""
        form = self.session.get(self.url("hub/login"), timeout=timeout)
        form.raise_for_status()
        xsrf = self.session.cookies.get("_xsrf")
        return self.session.post(
            self.url("hub/login"),
            data={"username": self.name, "password": self.password, "otp": self.code, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=timeout,
        )

    @property
    def signed_in(self) -> bool:
        return any(c.name.startswith("jupyterhub-session-id") or c.name == "jupyterhub-hub-login" for c in self.session.cookies)

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        else:
            headers["X-XSRFToken"] = self.session.cookies.get("_xsrf") or ""
        return self.session.request(method, self.url("hub/api/" + path.lstrip("/")), headers=headers, timeout=60, **kwargs)

    def create_token(self) -> str:
        """An API token of this participant (made with the sign-in cookie)."""
        answer = self.hub_api("POST", f"users/{self.name}/tokens", json={"note": "hub_client", "expires_in": 3600})
        if answer.status_code != 201:
            raise RoomClientError(f"{self.name}: no API token ({answer.status_code}: {answer.text[:300]})")
        self.token = answer.json()["token"]
        return self.token

    def start_server(self, timeout: float = 180) -> float:
        """Start the participant's server and wait until it answers; returns seconds."""
        started = time.perf_counter()
        answer = self.hub_api("POST", f"users/{self.name}/server")
        if answer.status_code not in (201, 202, 400):  # 400: already running
            raise RoomClientError(f"{self.name}: server not started ({answer.status_code}: {answer.text[:300]})")
        while time.perf_counter() - started < timeout:
            user = self.hub_api("GET", f"users/{self.name}").json()
            server = user.get("servers", {}).get("", {})
            if server.get("ready"):
                return time.perf_counter() - started
            if not server.get("pending") and not server and time.perf_counter() - started > 10:
                raise RoomClientError(f"{self.name}: the server stopped while starting (see the hub's log)")
            time.sleep(0.5)
        raise RoomClientError(f"{self.name}: server not ready after {timeout:.0f} s")

    def stop_server(self) -> None:
        self.hub_api("DELETE", f"users/{self.name}/server")

    # -- the participant's own server

    def server_api(self, method: str, path: str, user: str | None = None, **kwargs) -> requests.Response:
        """A request to a user's Jupyter server (one's own unless ``user`` is given)."""
        headers = {"Authorization": f"token {self.token}"}
        return self.session.request(
            method, self.url(f"user/{user or self.name}/api/{path.lstrip('/')}"), headers=headers, timeout=60, **kwargs
        )

    def open_kernel(self, notebook_path: str) -> Kernel:
        answer = self.server_api(
            "POST", "sessions", json={"path": notebook_path, "type": "notebook", "kernel": {"name": "python3"}}
        )
        if answer.status_code != 201:
            raise RoomClientError(f"{self.name}: no kernel for {notebook_path} ({answer.status_code}: {answer.text[:300]})")
        kernel_id = answer.json()["kernel"]["id"]
        parsed = urlparse(self.base_url)
        scheme = "wss" if parsed.scheme == "https" else "ws"
        ws_url = f"{scheme}://{parsed.netloc}/user/{self.name}/api/kernels/{kernel_id}/channels"
        return Kernel(self, kernel_id, websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"]))


@dataclass
class Kernel:
    participant: Participant
    kernel_id: str
    ws: websocket.WebSocket

    def execute(self, code: str, timeout: float = 600) -> tuple[str | None, str]:
        """Run ``code``; returns (the error's name and value, or None; the text printed)."""
        msg_id = uuid.uuid4().hex
        message = {
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.participant.name,
                       "session": self.kernel_id, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }  # fmt: skip
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        error, printed, replied, idle = None, [], False, False
        while not (replied and idle):
            self.ws.settimeout(max(1.0, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise RoomClientError(f"{self.participant.name}: a cell did not finish within {timeout:.0f} s")
            reply = json.loads(self.ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = reply["msg_type"], reply["content"]
            if kind == "stream":
                printed.append(content.get("text", ""))
            elif kind == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "execute_reply":
                replied = True
                if content.get("status") == "error" and error is None:
                    error = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        return error, "".join(printed)

    def run_cells(self, cells: list[str], timeout: float = 600) -> list[CellResult]:
        """Run the cells in order; stops at the first error, as Run All does."""
        results = []
        for index, code in enumerate(cells):
            started = time.perf_counter()
            error, printed = self.execute(code, timeout)
            results.append(CellResult(index, time.perf_counter() - started, error, printed))
            if error:
                break
        return results

    def close(self) -> None:
        """Close the connection and shut the kernel down (its server may be gone already)."""
        self.ws.close()
        try:
            self.participant.server_api("DELETE", f"kernels/{self.kernel_id}")
        except requests.RequestException:
            pass


def code_cells(notebook_path) -> list[str]:
    """The code cells of a notebook file, as text (cell magics and all)."""
    with open(notebook_path) as handle:
        notebook = json.load(handle)
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in notebook["cells"]
        if c["cell_type"] == "code"
    ]


# ---------------------------------------------------------------------------
# A room for tests and benchmarks


@dataclass
class Room:
    url: str
    code: str
    admin_secret: str
    admin: str
    base: Path  # homes/, state/, hub.log (and the shared cache, unless given)
    shared_cache: Path
    process: subprocess.Popen

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def log(self) -> Path:
        return self.base / "hub.log"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text()[-chars:] if self.log.exists() else ""

    def instructor(self) -> Participant:
        return Participant(self.url, self.admin, self.admin_secret, "")


def remove_participant(name: str) -> None:
    """Stop every process of ``name``, remove the system user and home, and its cgroup."""
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    time.sleep(0.2)
    subprocess.run(["userdel", "--remove", name], capture_output=True)
    for cgroup in [hub.CGROUP_ROOT / "memory" / "nest-workshop" / name, hub.CGROUP_ROOT / "nest-workshop" / name]:
        with contextlib.suppress(OSError):
            cgroup.rmdir()


@contextlib.contextmanager
def running_room(bundle: Path, participants: int, *, shared_cache: Path | None = None, build: bool = False,
                 start_timeout: float = 1800, extra_args: tuple[str, ...] = ()):  # fmt: skip
    """``nest-workshop hub`` on a free port of 127.0.0.1 (as root), with a generated access
    code and instructor's secret, homes in a temporary folder every user can reach (and a
    clone of the bundle there, when ``bundle`` itself is out of their reach). On
    exit the hub is stopped (it stops the participants' servers and its proxy), any
    leftover proxy killed, the participants it made removed, the folder deleted: also
    when the body failed."""
    base = Path(tempfile.mkdtemp(prefix="nest-workshop-room-"))
    base.chmod(0o755)  # participants reach their homes (and the shared cache) through it
    (base / "homes").mkdir(mode=0o755)
    if not all(os.stat(f).st_mode & 0o001 for f in [*bundle.resolve().parents, bundle.resolve()]):
        # a clone under /root, say: participants could not reach it. Serve a clone of its
        # committed state from the room's folder instead (its .venv-room is made there).
        subprocess.run(["git", "clone", "--quiet", str(bundle), str(base / "bundle")], check=True)
        bundle = base / "bundle"
    shared = shared_cache or base / "shared"
    code, admin_secret = secrets.token_urlsafe(12), secrets.token_urlsafe(32)
    port = hub.free_port()
    env = dict(os.environ, **{hub.CODE_ENV: code, hub.ADMIN_SECRET_ENV: admin_secret})
    command = [
        sys.executable, "-m", "nest_workshop.tools.cli", "hub", "--port", str(port), "--participants", str(participants),
        "--home-base", str(base / "homes"), "--state-dir", str(base / "state"), "--shared-cache", str(shared),
        "--admin", "teacher", "--bundle", str(bundle), *([] if build else ["--no-build"]), *extra_args,
    ]  # fmt: skip
    with open(base / "hub.log", "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=bundle)
    room = Room(f"http://127.0.0.1:{port}/", code, admin_secret, "teacher", base, shared, process)
    try:
        deadline = time.monotonic() + start_timeout  # a first start makes .venv-room, a build the shared cache
        while True:
            if process.poll() is not None:
                raise RoomClientError(f"the hub ended at start:\n{room.log_tail()}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(room.url + "hub/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RoomClientError(f"the hub did not answer within {start_timeout:.0f} s:\n{room.log_tail()}")
            time.sleep(1)
        yield room
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((room.state / "proxy.pid").read_text()), signal.SIGKILL)
        for home in (base / "homes").iterdir():
            remove_participant(home.name)
        shutil.rmtree(base, ignore_errors=True)
