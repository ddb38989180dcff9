"""A workshop room on one server: JupyterHub serving the bundle (``make hub``).

Participants need only a browser. ``nest-workshop hub`` (run as root: each participant
gets a system user) starts JupyterHub with

- **who gets in:** a participant signs in with a name, a password they choose at their
  first sign-in, and the workshop's access code (the *one-time password* field of the
  sign-in page). The code is what lets a new name in; the password keeps the name theirs
  (anyone in the room knows the code). The instructor signs in as the admin name with a
  separate secret. The code and the secret come from ``$NEST_WORKSHOP_HUB_CODE`` and
  ``$NEST_WORKSHOP_HUB_ADMIN_SECRET`` or are generated, and are printed once at start;
  nothing is written into the repository;
- **each participant separate:** a system user of their own in the group
  ``nest-workshop-room``, with a home folder only they can read (mode 0700, umask 077),
  their own copy of the materials (``~/nest-workshop/workspace``, made as
  ``nest-workshop start`` makes it, never overwriting their work), their own kernels. A
  name that belongs to a system account outside that group (``root``, ``daemon``) is
  refused;
- **shared, read-only, built once:** the NESTML modules and NEAT's caches are built by
  the organiser at start into ``build/hub-cache`` (``$NEST_WORKSHOP_SHARED_CACHE`` in
  each participant's environment); a participant's own edited model builds into their
  own ``~/.cache``;
- **fair share:** each participant's NEST threads are the server's cores divided by
  the expected participants (NEST's threads busy-wait: oversubscribing is the danger),
  their memory a share of the server's, enforced by a memory cgroup where the server
  lets one be made (said at start if not); idle servers are culled
  (``jupyterhub-idle-culler``);
- **the network:** JupyterHub listens on 127.0.0.1 unless told otherwise; on any other
  address it serves HTTPS only, with the organiser's certificate or a self-signed one
  generated with a warning, never plain HTTP.

The instructor's view is JupyterHub's admin page (``/hub/admin``): who is signed in,
whose server runs, and buttons to stop or start a participant's server. Deleting a user
there also forgets their password (they choose a new one at their next sign-in; their
files stay).

This module is imported by JupyterHub (the authenticator, the spawner and
:func:`configure`, through the configuration file the launcher writes) and run as the participant's
server command (``python -m nest_workshop.tools.hub participant``); it does not import
NEST.
"""

from __future__ import annotations

import argparse
import dataclasses
import grp
import hashlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from ..core import build_cache, notebook_code
from . import workspace

ROOM_GROUP = "nest-workshop-room"
# A participant's name is their system user's name: short, lower case, no surprises.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
CODE_ENV = "NEST_WORKSHOP_HUB_CODE"
ADMIN_SECRET_ENV = "NEST_WORKSHOP_HUB_ADMIN_SECRET"
SETTINGS_ENV = "NEST_WORKSHOP_HUB_SETTINGS"
MIN_CODE_LENGTH = 8
MIN_ADMIN_SECRET_LENGTH = 32  # JupyterHub's rule for shared admin passwords
MIN_PASSWORD_LENGTH = 8
PARTICIPANT_FOLDER = "nest-workshop"  # in each participant's home
ROOM_VENV = ".venv-room"  # the participants' Python environment, when .venv is root's alone
# what the hub keeps for itself of the server's memory (hub, proxy, system)
RESERVED_MEMORY_FRACTION = 0.1
# the largest notebook's peak (astrocytes 02): a smaller share is warned about
LARGEST_NOTEBOOK_BYTES = int(1.2e9)
PROXY_PACKAGE = Path(__file__).parent / "data" / "hub-proxy"
# JupyterHub's configuration file, written into the hub's state folder at start: every
# setting is made by configure() from the room the launcher set up (room.json).
CONFIG_TEXT = """\
# Written by `nest-workshop hub`: the room's settings are made by nest_workshop.tools.hub.configure.
from nest_workshop.tools.hub import configure

configure(get_config())  # noqa: F821 - JupyterHub defines get_config
"""
CGROUP_ROOT = Path("/sys/fs/cgroup")


class HubError(Exception):
    """The room cannot be set up as asked; the message says why and what to do."""


# ---------------------------------------------------------------------------
# Settings and fair share


@dataclasses.dataclass
class RoomSettings:
    """What the launcher decided, handed to JupyterHub's configuration (no secrets)."""

    bundle: str
    state_dir: str
    shared_cache: str | None
    ip: str
    port: int
    hub_port: int
    proxy_api_port: int
    participants: int
    threads_per_participant: int
    memory_per_participant: int  # bytes
    idle_timeout_s: int
    admin: str
    home_base: str
    proxy: str
    python: str
    ssl_cert: str | None = None
    ssl_key: str | None = None

    def save(self, path: Path) -> None:
        _write_private(path, json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> RoomSettings:
        return cls(**json.loads(Path(path).read_text()))


def fair_share(cores: int, memory_bytes: int, participants: int) -> tuple[int, int]:
    """NEST threads and memory (bytes) per participant when ``participants`` share a
    server of ``cores`` and ``memory_bytes``: the cores divided (at least 1 thread), the
    memory less the hub's reserve divided."""
    if participants < 1:
        raise HubError(f"the expected number of participants must be at least 1, got {participants}")
    threads = max(1, cores // participants)
    memory = int(memory_bytes * (1 - RESERVED_MEMORY_FRACTION)) // participants
    return threads, memory


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, in one rename."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


# ---------------------------------------------------------------------------
# Participants: names, passwords, system users


def check_name(name: str) -> str:
    """A participant's name, or :class:`HubError` saying what names are accepted."""
    if not NAME_PATTERN.match(name or ""):
        raise HubError(
            f"the name {name!r} is not accepted: use 2-32 lower-case letters, digits, '-' or '_', starting with a letter"
        )
    return name


def system_user_state(name: str) -> str:
    """``"free"`` (no such account), ``"participant"`` (an account of the room) or
    ``"taken"`` (a system account that is not the room's: refused)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return "free"
    try:
        room = grp.getgrnam(ROOM_GROUP)
    except KeyError:
        return "taken"
    in_room = name in room.gr_mem or account.pw_gid == room.gr_gid
    return "participant" if in_room else "taken"


def ensure_room_group() -> None:
    try:
        grp.getgrnam(ROOM_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", ROOM_GROUP], check=True, capture_output=True, text=True)


def ensure_participant_user(name: str, home_base: str | os.PathLike) -> pwd.struct_passwd:
    """The participant's system user, created on first use (home folder mode 0700)."""
    check_name(name)
    state = system_user_state(name)
    if state == "taken":
        raise HubError(f"the name {name!r} belongs to a system account of this server: choose another name")
    if state == "free":
        home = Path(home_base) / name
        done = subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home), "--gid", ROOM_GROUP, "--shell", "/bin/bash",
             "--comment", "nest-workshop participant", name],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise HubError(f"could not create the system user {name!r}: {done.stderr.strip()}")
    account = pwd.getpwnam(name)
    os.chmod(account.pw_dir, 0o700)  # nobody else reads a participant's work
    return account


class PasswordBook:
    """The participants' own passwords (scrypt hashes), in a file only the hub reads.
    A name's first sign-in sets its password; :meth:`forget` lets it be chosen anew."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    @staticmethod
    def _hash(password: str, salt: bytes) -> str:
        return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1).hex()

    def check_or_claim(self, name: str, password: str) -> bool:
        """True if ``password`` is ``name``'s, or if ``name`` is new (its password is now
        ``password``)."""
        book = self._read()
        if name in book:
            entry = book[name]
            return secrets.compare_digest(entry["hash"], self._hash(password, bytes.fromhex(entry["salt"])))
        salt = secrets.token_bytes(16)
        book[name] = {"salt": salt.hex(), "hash": self._hash(password, salt)}
        _write_private(self.path, json.dumps(book))
        return True

    def forget(self, name: str) -> None:
        book = self._read()
        if book.pop(name, None) is not None:
            _write_private(self.path, json.dumps(book))


# ---------------------------------------------------------------------------
# JupyterHub's side: the authenticator and the spawner (imported by the hub process)

try:  # JupyterHub is a dependency; the participant's server imports this module too
    from jupyterhub.auth import Authenticator
    from jupyterhub.spawner import LocalProcessSpawner
except ImportError:  # pragma: no cover - only without JupyterHub installed
    Authenticator = LocalProcessSpawner = object


class WorkshopAuthenticator(Authenticator):
    """Name + own password + the workshop's access code (JupyterHub's one-time-password
    field); the admin name + the admin secret for the instructor."""

    request_otp = True
    otp_prompt = "Workshop access code:"

    def _settings(self) -> RoomSettings:
        return RoomSettings.load(os.environ[SETTINGS_ENV])

    def _book(self) -> PasswordBook:
        return PasswordBook(Path(self._settings().state_dir) / "participants.json")

    async def authenticate(self, handler, data):
        name = (data.get("username") or "").strip().lower()
        password = data.get("password") or ""
        settings = self._settings()
        if name == settings.admin:
            secret = os.environ.get(ADMIN_SECRET_ENV, "")
            if secret and secrets.compare_digest(password.encode(), secret.encode()):
                return {"name": name, "admin": True}
            self.log.warning("refused the admin sign-in: wrong secret")
            return None
        code = os.environ.get(CODE_ENV, "")
        if not code or not secrets.compare_digest((data.get("otp") or "").strip().encode(), code.encode()):
            self.log.warning("refused %r: wrong access code", name)
            return None
        try:
            check_name(name)
        except HubError as exc:
            self.log.warning("refused: %s", exc)
            return None
        if system_user_state(name) == "taken":
            self.log.warning("refused %r: a system account of this server", name)
            return None
        if len(password) < MIN_PASSWORD_LENGTH:
            self.log.warning("refused %r: password shorter than %d characters", name, MIN_PASSWORD_LENGTH)
            return None
        if not self._book().check_or_claim(name, password):
            self.log.warning("refused %r: not the password this name chose", name)
            return None
        return {"name": name, "admin": False}

    def delete_user(self, user):
        self._book().forget(user.name)


def memory_cgroup(name: str, limit_bytes: int) -> Path | None:
    """A memory cgroup of ``limit_bytes`` for a participant's server (cgroup v2 or v1),
    or None when this server does not let one be made. Returns its ``cgroup.procs``."""
    v2 = CGROUP_ROOT / "cgroup.controllers"
    try:
        if v2.exists() and "memory" in v2.read_text().split():
            parent = CGROUP_ROOT / "nest-workshop"
            parent.mkdir(exist_ok=True)
            (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory")
            (parent / "cgroup.subtree_control").write_text("+memory")
            group = parent / name
            group.mkdir(exist_ok=True)
            (group / "memory.max").write_text(str(limit_bytes))
            return group / "cgroup.procs"
        if (CGROUP_ROOT / "memory").is_dir():
            group = CGROUP_ROOT / "memory" / "nest-workshop" / name
            group.mkdir(parents=True, exist_ok=True)
            (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
            return group / "cgroup.procs"
    except OSError:
        return None
    return None


def memory_cgroups_available() -> bool:
    """Whether :func:`memory_cgroup` can make a participant's group here (probed)."""
    procs = memory_cgroup(f"probe-{os.getpid()}", 1 << 30)
    if procs is None:
        return False
    procs.parent.rmdir()
    return True


class WorkshopSpawner(LocalProcessSpawner):
    """JupyterHub's local-process spawner, with the room's rules: the system user made
    on first start, private files (umask 077), the fair share of threads and memory, the
    shared caches, and the participant's copy of the materials made before the server
    starts."""

    async def start(self):
        settings = RoomSettings.load(os.environ[SETTINGS_ENV])
        ensure_participant_user(self.user.name, settings.home_base)
        self._cgroup_procs = memory_cgroup(self.user.name, settings.memory_per_participant)
        return await super().start()

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        procs = getattr(self, "_cgroup_procs", None)

        def preexec():
            if procs is not None:
                procs.write_text(str(os.getpid()))  # as root, before dropping to the user
            os.umask(0o077)
            become_user()

        return preexec


def configure(c) -> None:
    """JupyterHub's configuration for the room (the configuration file the launcher writes calls it)."""
    settings = RoomSettings.load(os.environ[SETTINGS_ENV])
    state = Path(settings.state_dir)
    scheme = "https" if settings.ssl_cert else "http"
    c.JupyterHub.bind_url = f"{scheme}://{_url_host(settings.ip)}:{settings.port}/"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_port}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [settings.proxy]
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    if settings.ssl_cert:
        c.JupyterHub.ssl_cert = settings.ssl_cert
        c.JupyterHub.ssl_key = settings.ssl_key
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True  # the participants' servers stop with the hub
    c.JupyterHub.authenticator_class = WorkshopAuthenticator
    c.Authenticator.admin_users = {settings.admin}
    c.Authenticator.allow_all = True  # anyone with the access code (the authenticator checks it)
    c.JupyterHub.template_vars = {
        "announcement_login": (
            "NEST workshop. <b>Username</b>: a short name of your own (lower-case letters and digits). "
            f"<b>Password</b>: choose one at your first sign-in (at least {MIN_PASSWORD_LENGTH} characters) "
            "and keep it for the day. <b>Access code</b>: from your instructor."
        )
    }
    c.JupyterHub.spawner_class = WorkshopSpawner
    c.Spawner.cmd = [settings.python, "-m", "nest_workshop.tools.hub", "participant"]
    c.Spawner.notebook_dir = f"~/{PARTICIPANT_FOLDER}"
    c.Spawner.default_url = "/lab"
    c.Spawner.mem_limit = settings.memory_per_participant  # shown to the server as MEM_LIMIT
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.environment = {
        "NEST_WORKSHOP_THREADS": str(settings.threads_per_participant),
        "OMP_NUM_THREADS": str(settings.threads_per_participant),
        notebook_code.BUNDLE_ENV: settings.bundle,
        **({build_cache.SHARED_ENV: settings.shared_cache} if settings.shared_cache else {}),
    }
    c.JupyterHub.services = [
        {
            "name": "idle-culler",
            "command": [settings.python, "-m", "jupyterhub_idle_culler", f"--timeout={settings.idle_timeout_s}"],
        }
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        }
    ]


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


# ---------------------------------------------------------------------------
# The participant's server: their copy of the materials, then JupyterHub's single-user server


def prepare_participant_folder(bundle: Path, home: Path) -> Path:
    """``~/nest-workshop``: ``workspace/PART`` for every part (copied as ``nest-workshop
    start`` copies, never overwriting), beside read-only links to the bundle's
    ``materials`` (the solutions), ``presentations`` and ``benchmarks``, so that the
    layout, and a notebook's relative paths, are the repository's."""
    folder = home / PARTICIPANT_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    materials = bundle / "materials"
    for part in workspace.parts(materials):
        workspace.start(part, materials, folder / workspace.WORKSPACE_DIR)
    for name in ("materials", "presentations", "benchmarks"):
        link = folder / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(bundle / name)
    return folder


def participant_main(argv: list[str]) -> int:
    """The participant's server command: prepare their folder, then become
    ``jupyterhub-singleuser`` with the arguments JupyterHub gave."""
    prepare_participant_folder(notebook_code.bundle_root(), Path.home())
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    os.execv(singleuser, [str(singleuser), *argv])
    return 1  # pragma: no cover - execv does not return


# ---------------------------------------------------------------------------
# The organiser's side: nest-workshop hub


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError as exc:
        raise HubError(f"--ip must be an IP address (127.0.0.1, 0.0.0.0, ...), got {ip!r}") from exc


def check_readable_by_participants(path: Path) -> None:
    """Participants' servers run as other users: every folder above ``path`` (the
    bundle, the homes, the shared cache) must let others through (x)."""
    for folder in [*reversed(path.parents), path]:
        mode = os.stat(folder).st_mode
        if not mode & 0o001:
            raise HubError(
                f"{folder} does not let other users through (mode {oct(mode & 0o777)}), so participants cannot reach "
                f"{path}. Keep the bundle, the participants' homes and the shared cache where every user may read "
                "them (for example, clone the bundle to /srv/nest-workshop and run `make hub` there)."
            )


def usable_by_others(path: Path) -> bool:
    """Whether another user may run ``path`` (followed through symlinks): every folder
    above it lets others through and the file lets others execute it."""
    real = Path(os.path.realpath(path))
    return all(os.stat(folder).st_mode & 0o001 for folder in [*real.parents, real])


def participant_python(bundle: Path, system_python: str = "/usr/bin/python3") -> str:
    """The Python the participants' servers and kernels run: the bundle's ``.venv`` when
    other users may run it, else ``.venv-room``, made once from ``system_python`` with
    the same pins (a ``.venv`` made from a Python under ``/root``, pyenv's say, is root's
    alone). Remade when ``pyproject.toml`` or the constraints change."""
    own = bundle / ".venv" / "bin" / "python"
    if own.exists() and usable_by_others(own):
        return str(own)
    room = bundle / ROOM_VENV
    recipe = hashlib.sha256(
        (bundle / "pyproject.toml").read_bytes() + (bundle / "requirements" / "constraints.txt").read_bytes()
    ).hexdigest()
    stamp = room / ".nest-workshop-room"
    python = room / "bin" / "python"
    if stamp.exists() and stamp.read_text() == recipe and python.exists():
        return str(python)
    if not usable_by_others(Path(system_python)):
        raise HubError(
            f"the bundle's .venv is missing or runs a Python other users cannot run, and {system_python} "
            "is missing: install Debian's python3 and python3-venv, or make .venv from a Python every user can run"
        )
    print(
        f"The bundle's .venv is missing or runs a Python other users cannot run ({os.path.realpath(own)}): making the participants' "
        f"environment {room} from {system_python}, with the same pins (once; a minute or two).",
        flush=True,
    )
    steps = [
        [system_python, "-m", "venv", "--clear", str(room)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(bundle / "requirements" / "constraints.txt"),
            "-e",
            str(bundle),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise HubError(f"making {room} failed at `{' '.join(step)}`:\n{(done.stdout + done.stderr)[-3000:]}")
    # JupyterLab's settings for this environment, as make setup writes them for .venv
    settings = room / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bundle / "scripts" / "jupyterlab-overrides.json", settings / "overrides.json")
    stamp.write_text(recipe)
    return str(python)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_proxy() -> Path:
    """JupyterHub's proxy (configurable-http-proxy, from the npm registry), installed with
    ``npm ci`` from the committed lock file, which pins every package of its tree with
    its integrity hash (npm refuses a tarball that differs). Kept in
    ``~/.cache/nest-workshop/npm``, one folder per lock file, published whole or not at all."""
    npm = shutil.which("npm")
    if npm is None:
        raise HubError(
            "the hub's proxy comes from the npm registry: install Node.js and npm (sudo apt-get install -y nodejs npm)"
        )
    lock = (PROXY_PACKAGE / "package-lock.json").read_bytes()
    key = hashlib.sha256(lock + (PROXY_PACKAGE / "package.json").read_bytes()).hexdigest()[:16]
    root = build_cache.cache_root("npm")
    entry = root / f"hub-proxy-{key}"
    binary = entry / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.exists():
        return binary
    with build_cache.entry_lock(root, entry.name):
        if binary.exists():
            return binary
        build_cache.remove_stale_temporaries(root)
        with build_cache.staging(root, entry.name) as staged:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(PROXY_PACKAGE / name, staged / name)
            done = subprocess.run(
                [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--silent"], cwd=staged, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise HubError(f"`npm ci` of the hub's proxy failed:\n{(done.stdout + done.stderr)[-2000:]}")
            build_cache.publish(staged, entry)
    return binary


def self_signed_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (valid 30 days), for a room without one."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName(socket.gethostname())]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "self-signed.key", folder / "self-signed.crt"
    _write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _secret(env: str, generate, minimum: int, what: str) -> tuple[str, bool]:
    given = os.environ.get(env)
    if given:
        if len(given) < minimum:
            raise HubError(f"${env} ({what}) must have at least {minimum} characters, it has {len(given)}")
        return given, False
    return generate(), True


def _readable_code() -> str:
    """An access code to read out or write on a board: 3 groups of 4 letters and digits
    without look-alikes (0/O, 1/l/I)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def build_shared_cache(bundle: Path, shared: Path, python: str) -> None:
    """``nest-workshop build`` into the shared cache (NESTML modules, NEAT's tree modes),
    then made readable by everyone."""
    shared.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NEST_WORKSHOP_CACHE=str(shared / "nestml"), NEST_WORKSHOP_NEAT_CACHE=str(shared / "neat"))
    env.pop(build_cache.SHARED_ENV, None)
    print(f"Building the shipped NESTML models and NEAT's caches once, for everyone, into {shared} ...", flush=True)
    done = subprocess.run([python, "-m", "nest_workshop.tools.cli", "build", str(bundle / "materials")], env=env)
    if done.returncode != 0:
        raise HubError("`nest-workshop build` failed (see above): the room would compile models on the day")
    for folder, dirs, files in os.walk(shared):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
    shared.chmod(0o755)


def launch(args) -> int:
    """``nest-workshop hub``: set the room up and become JupyterHub."""
    # what was asked is checked first, before anything slow or lasting is done
    if not _is_loopback(args.ip) and not (args.ssl_cert or args.self_signed):
        raise HubError(
            f"serving on {args.ip} (not loopback) needs HTTPS: give --ssl-cert and --ssl-key, or --self-signed "
            "(participants' browsers will warn). Plain HTTP is served on 127.0.0.1 only."
        )
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise HubError("give both --ssl-cert and --ssl-key")
    check_name(args.admin)
    code, code_new = _secret(CODE_ENV, _readable_code, MIN_CODE_LENGTH, "the participants' access code")
    admin_secret, admin_new = _secret(
        ADMIN_SECRET_ENV, lambda: secrets.token_urlsafe(32), MIN_ADMIN_SECRET_LENGTH, "the instructor's secret"
    )
    if code == admin_secret:
        raise HubError(f"${CODE_ENV} and ${ADMIN_SECRET_ENV} must differ")
    threads, memory = fair_share(_cores(), _memory_bytes(), args.participants)
    if os.geteuid() != 0:
        raise HubError("the hub gives each participant a system user, so it runs as root: sudo make hub")
    if shutil.which("useradd") is None:
        raise HubError("useradd is missing (Debian/Ubuntu package passwd)")
    bundle = Path(args.bundle).resolve()
    if not (bundle / "materials").is_dir():
        raise HubError(f"no materials/ in {bundle}: --bundle names the bundle's folder (this repository)")
    check_readable_by_participants(bundle / "materials")
    python = participant_python(bundle)

    home_base = Path(args.home_base).resolve()
    home_base.mkdir(parents=True, exist_ok=True)
    check_readable_by_participants(home_base)  # each participant must reach their home
    state = Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    ensure_room_group()

    shared = Path(args.shared_cache).resolve()
    if not args.no_build:
        build_shared_cache(bundle, shared, python)
    if shared.exists():
        check_readable_by_participants(shared)
    cert, key = args.ssl_cert, args.ssl_key
    if args.self_signed and not cert:
        cert, key = map(str, self_signed_certificate(state, args.ip))
        print("WARNING: a self-signed certificate: participants' browsers will warn before they connect.")

    if args.memory_gb:
        memory = int(args.memory_gb * 1e9)
    settings = RoomSettings(
        bundle=str(bundle),
        state_dir=str(state),
        shared_cache=str(shared) if (shared / "nestml").is_dir() or (shared / "neat").is_dir() else None,
        ip=args.ip,
        port=args.port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
        participants=args.participants,
        threads_per_participant=args.threads or threads,
        memory_per_participant=memory,
        idle_timeout_s=int(args.idle_minutes * 60),
        admin=args.admin,
        home_base=str(home_base),
        proxy=str(install_proxy()),
        python=python,
        ssl_cert=cert,
        ssl_key=key,
    )
    settings_path = state / "room.json"
    settings.save(settings_path)

    scheme = "https" if cert else "http"
    url = f"{scheme}://{_url_host(args.ip if not args.ip.startswith('0.') else socket.gethostname())}:{args.port}/"
    enforced = memory_cgroups_available()
    print(
        f"\nThe workshop room: {url}\n"
        f"  participants sign in with a name, a password they choose, and the access code: {code}"
        + (" (generated)" if code_new else f" (from ${CODE_ENV})")
        + f"\n  the instructor signs in as '{args.admin}' with the secret: "
        + (admin_secret if admin_new else f"(from ${ADMIN_SECRET_ENV})")
        + f"\n  admin page (who is signed in, whose server runs, stop/start a server): {url}hub/admin\n"
        f"  per participant: {settings.threads_per_participant} NEST thread(s), "
        f"{memory / 1e9:.1f} GB memory ({'enforced by a cgroup' if enforced else 'NOT enforced: no writable memory cgroup here'}), "
        f"servers idle for {args.idle_minutes:g} min are stopped\n"
        f"  shared caches: {settings.shared_cache or 'none (--no-build): participants build what they use'}\n"
        "These secrets are printed once and stored nowhere. Stop the room with Ctrl-C.\n",
        flush=True,
    )
    if memory < LARGEST_NOTEBOOK_BYTES:
        print(f"WARNING: {memory / 1e9:.2f} GB per participant is less than astrocytes 02's peak (1.2 GB).", flush=True)
    env = dict(os.environ, **{SETTINGS_ENV: str(settings_path), CODE_ENV: code, ADMIN_SECRET_ENV: admin_secret})
    env.pop(build_cache.SHARED_ENV, None)
    hub = str(Path(sys.executable).parent / "jupyterhub")  # the hub itself runs as root, from .venv
    os.chdir(state)
    os.umask(0o077)  # the database (hashed tokens), pid files, logs: the hub's alone
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_TEXT)
    os.execve(hub, [hub, "-f", str(config)], env)
    return 1  # pragma: no cover


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need HTTPS)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--participants", type=int, default=30, help="expected participants: sets each one's share")
    parser.add_argument("--threads", type=int, help="NEST threads per participant (default: cores / participants)")
    parser.add_argument("--memory-gb", type=float, help="memory per participant (default: 90%% of memory / participants)")
    parser.add_argument("--idle-minutes", type=float, default=60, help="stop servers idle this long (default 60)")
    parser.add_argument("--admin", default="instructor", help="the instructor's (admin) name")
    parser.add_argument("--home-base", default="/home", help="where participants' home folders are made")
    parser.add_argument("--ssl-cert", help="TLS certificate (PEM) for serving beyond loopback")
    parser.add_argument("--ssl-key", help="its private key")
    parser.add_argument("--self-signed", action="store_true", help="generate a self-signed certificate (browsers warn)")
    parser.add_argument("--no-build", action="store_true", help="skip building the shared caches (participants build)")
    parser.add_argument("--state-dir", default="build/hub", help="the hub's private state (database, cookie secret)")
    parser.add_argument("--shared-cache", default="build/hub-cache", help="the caches built once for everyone")
    parser.add_argument("--bundle", default=".", help="the bundle's folder (this repository)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["participant"]:
        sys.exit(participant_main(sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} participant [jupyterhub-singleuser arguments]")
