"""NEST Server for ``make desktop``, in a sandbox: NEST and numpy without files.

NEST Server (``nest.server``) runs the scripts NEST Desktop sends under RestrictedPython,
which refuses ``import``, ``open`` and names starting with ``_``. It hands each script the
modules named in ``NEST_SERVER_MODULES`` whole, though, and a module reaches far: numpy
reads and writes files (``np.save``, ``np.genfromtxt``, ``ndarray.tofile``, ...), numpy's
and NEST's submodules hold ``os`` (``np.lib.npyio.os``, ``nest.server.hl_api_server.os``),
and NEST writes recorder files wherever ``data_path`` points. NEST 3.10's server offers a
module list, the ``/exec`` switch and RestrictedPython on or off, nothing finer.

This module is the WSGI app ``make desktop`` runs in gunicorn instead of
``nest.server:app``: the same server, with

- scripts given ``nest`` and ``np`` as *namespaces* of the calls NEST Desktop's scripts
  use (its code editor's list: creating, connecting, simulating, reading status, NEST's
  random and spatial parameters; numpy's array functions), not the modules: no file
  I/O, no submodules, no module reachable from an attribute;
- the settings that put files on disk refused wherever they are given: the kernel's
  ``data_path``, ``data_prefix`` and ``overwrite_files``, and a recorder's ``record_to``
  other than ``"memory"`` or ``"screen"``;
- ``/api/<call>`` (NEST calls made directly, outside a script) limited to the three NEST
  Desktop makes, ``GetKernelStatus``, ``GetDefaults`` and ``ResetKernel``;
- a private working folder (``NEST_WORKSHOP_SERVER_DIR``, made by the launcher, this
  user only), which is also where NEST would write;
- a watchdog: when the launcher (``NEST_WORKSHOP_LAUNCHER_PID``) is gone, however it
  ended, the server stops and removes its folder.

A refusal is a ``ValueError`` naming what was refused and what is allowed; NEST Server
returns it with the script's line (status 400). No file can be read, so no error can echo one.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import types
from pathlib import Path

import numpy as np

SERVER_DIR_ENV = "NEST_WORKSHOP_SERVER_DIR"
LAUNCHER_PID_ENV = "NEST_WORKSHOP_LAUNCHER_PID"

# PyNEST calls a script may make: NEST Desktop's code editor offers these (Create, Connect,
# CopyModel, GetConnections, GetDefaults, GetKernelStatus, GetNodes, GetPosition,
# GetStatus, Models, Prepare, ResetKernel, SetDefaults, SetKernelStatus, SetStatus,
# Simulate, get, set, random, spatial, spatial_distributions, kernel attributes, userdict),
# plus the rest of the simulation loop and the spatial queries. Not here: Install (loads a
# library), DumpLayerNodes/DumpLayerConnections (write files), SonataNetwork (reads them),
# the plotting helpers and the submodules (ll_api, server, raster_plot, ...).
NEST_CALLS = (
    "Cleanup", "Connect", "CopyModel", "Create", "CreateMask", "CreateParameter", "DisableStructuralPlasticity",
    "Disconnect", "Displacement", "Distance", "EnableStructuralPlasticity", "FindCenterElement",
    "FindNearestElement", "GetConnections", "GetDefaults", "GetKernelStatus", "GetLocalNodeCollection", "GetNodes",
    "GetPosition", "GetSourceNodes", "GetSourcePositions", "GetStatus", "GetTargetNodes", "GetTargetPositions",
    "Models", "NodeCollection", "NumProcesses", "Prepare", "PrintNodes", "Rank", "ResetKernel", "Run", "RunManager",
    "SelectNodesByMask", "SetDefaults", "SetKernelStatus", "SetStatus", "Simulate", "TripartiteConnect", "get", "set",
)  # fmt: skip
NEST_NAMESPACES = {
    "random": ("exponential", "lognormal", "normal", "uniform", "uniform_int"),
    "spatial": ("free", "grid", "pos", "source_pos", "target_pos", "distance"),
    "spatial_distributions": ("exponential", "gabor", "gamma", "gaussian", "gaussian2D"),
    "math": ("cos", "exp", "max", "min", "redraw", "sin"),
    "logic": ("conditional",),
}
# numpy: its functions, types and constants, without these (files, libraries, introspection)
NUMPY_REFUSED = frozenset(
    "DataSource fromfile fromregex genfromtxt get_include info load loadtxt lookfor memmap save savetxt savez "
    "savez_compressed show_config show_runtime source test tofile".split()
)
NUMPY_NAMESPACES = ("fft", "linalg", "random")
# attributes refused on any object: file I/O of arrays, raw memory, foreign-function access
ATTRIBUTES_REFUSED = frozenset("tofile dump ctypes cffi".split())
# modules a script may use attributes of: RestrictedPython's own utility builtins (and
# NEST Server's `time`); never a module reached from them
MODULES_ALLOWED = frozenset({"math", "random", "string", "time"})
# kernel settings that make NEST write files, and where recorders may record to
KERNEL_KEYS_REFUSED = frozenset({"data_path", "data_prefix", "overwrite_files"})
RECORD_TO_ALLOWED = ("memory", "screen")
# the NEST calls /api/<call> answers: those NEST Desktop makes outside scripts
API_CALLS_ALLOWED = frozenset({"GetKernelStatus", "GetDefaults", "ResetKernel"})
WATCHDOG_INTERVAL_S = 0.5


class SandboxRefusal(ValueError):
    """A script asked for something this server does not allow; the message says what is."""


def _refuse(what: str, allowed: str) -> SandboxRefusal:
    return SandboxRefusal(f"{what} is not available in the workshop's NEST Server ({allowed})")


class Namespace:
    """A module stand-in that exposes only the given members (``nest.Create``, ``np.mean``)."""

    __slots__ = ("_label", "_members", "_offers")

    def __init__(self, label: str, members: dict, offers: str | None = None):
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_members", dict(members))
        object.__setattr__(self, "_offers", offers or f"{label} offers {', '.join(sorted(members))}")

    def __getattr__(self, name):
        members = object.__getattribute__(self, "_members")
        if name in members:
            return members[name]
        label, offers = object.__getattribute__(self, "_label"), object.__getattribute__(self, "_offers")
        raise _refuse(f"{label}.{name}", offers)

    def __setattr__(self, name, value):
        raise _refuse(f"setting {self._label}.{name}", "use the module's set() or SetKernelStatus()")

    def __dir__(self):
        return sorted(self._members)

    def __repr__(self):
        return f"<{self._label}: the workshop sandbox's namespace>"


class NestNamespace(Namespace):
    """``nest`` for scripts: the calls of :data:`NEST_CALLS` (those that set parameters
    checked by :func:`check_settings`), its parameter namespaces, ``userdict``, and the
    kernel's attributes to read (``nest.biological_time``, ``nest.resolution``, ...)."""

    __slots__ = ()

    def __getattr__(self, name):
        members = object.__getattribute__(self, "_members")
        if name in members:
            return members[name]
        import nest

        if not name.startswith("_") and name in nest.GetKernelStatus():
            return nest.GetKernelStatus(name)
        raise _refuse(f"nest.{name}", "scripts may create, connect, simulate and read or set parameters")


def check_settings(value, where: str) -> None:
    """Refuse, anywhere inside ``value`` (dicts, lists, tuples), a kernel setting of
    :data:`KERNEL_KEYS_REFUSED` or a ``record_to`` other than memory or the screen."""
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:  # noqa: E721 (exactly str: a subclass could compare equal to anything)
                raise _refuse(f"{where}: a parameter name of type {type(key).__name__}", "names are plain strings")
            if key in KERNEL_KEYS_REFUSED:
                raise _refuse(f"{where}: setting {key!r}", "NEST writes no files here; recorders record to memory")
            if key == "record_to" and not (type(item) is str and item in RECORD_TO_ALLOWED):  # noqa: E721
                raise _refuse(f"{where}: record_to {item!r}", f"record_to may be {' or '.join(map(repr, RECORD_TO_ALLOWED))}")
            check_settings(item, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_settings(item, where)


def _checked(function, where: str):
    """``function`` with every argument checked by :func:`check_settings`; a key given as
    a string with its value (``SetStatus(nodes, "record_to", "ascii")``) too."""

    def call(*args, **kwargs):
        strings = [a for a in args if isinstance(a, str)]
        for i, arg in enumerate(args):
            if isinstance(arg, str) and i + 1 < len(args):
                check_settings({arg: args[i + 1]}, where)
        if strings and "val" in kwargs:
            check_settings({strings[-1]: kwargs["val"]}, where)
        check_settings(list(args), where)
        check_settings(kwargs, where)
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = getattr(function, "__name__", where)
    call.__doc__ = getattr(function, "__doc__", None)
    return call


SETTING_CALLS = ("CopyModel", "Create", "SetDefaults", "SetKernelStatus", "SetStatus", "set")


def nest_namespace():
    import nest

    members = {name: getattr(nest, name) for name in NEST_CALLS}
    for name in SETTING_CALLS:
        members[name] = _checked(members[name], f"nest.{name}")
    for name, calls in NEST_NAMESPACES.items():
        module = getattr(nest, name)
        members[name] = Namespace(f"nest.{name}", {call: getattr(module, call) for call in calls})
    members["userdict"] = nest.userdict
    return NestNamespace("nest", members)


def numpy_namespace():
    def public(module):
        members = {}
        for name in dir(module):
            value = getattr(module, name, None)
            if name.startswith("_") or name in NUMPY_REFUSED or isinstance(value, types.ModuleType):
                continue
            members[name] = value
        return members

    offers = (
        "np offers numpy's functions, types and constants, and np.fft, np.linalg and np.random, without reading or writing files"
    )
    members = public(np)
    for name in NUMPY_NAMESPACES:
        members[name] = Namespace(f"np.{name}", public(getattr(np, name)), offers)
    return Namespace("np", members, offers)


def guarded_getattr(obj, name, default=None, getattr=getattr):  # noqa: A002 (RestrictedPython's signature)
    """RestrictedPython's ``safer_getattr`` (no names starting with ``_``), and: no
    attribute of :data:`ATTRIBUTES_REFUSED`, no attribute of a module outside
    :data:`MODULES_ALLOWED`, no module as a value, and a node or synapse collection's
    ``set`` checked like ``nest.SetStatus``."""
    from RestrictedPython.Guards import safer_getattr

    if name in ATTRIBUTES_REFUSED:
        raise _refuse(f"the attribute {name!r}", "scripts may not read or write files or raw memory")
    if isinstance(obj, types.ModuleType) and obj.__name__ not in MODULES_ALLOWED:
        raise _refuse(f"module {obj.__name__}", "scripts use the nest and np they are given")
    value = safer_getattr(obj, name, default, getattr)
    if isinstance(value, types.ModuleType):
        raise _refuse(f"module {value.__name__}", "scripts use the nest and np they are given")
    # a collection's set(), from an instance or from the class (NodeCollection.set(nodes, ...))
    qualname = "" if isinstance(value, Namespace) else getattr(value, "__qualname__", "")
    if qualname in ("NodeCollection.set", "SynapseCollection.set"):
        return _checked(value, qualname)
    return value


def api_guard():
    """Flask ``before_request``: ``/api/<call>`` only for :data:`API_CALLS_ALLOWED`, without
    NEST Server's ``inspect`` option (it hands a call to any function of ``inspect``)."""
    from flask import request

    path = request.path.rstrip("/")
    if not path.startswith("/api/"):
        return None
    call = path[len("/api/") :]
    allowed = ", ".join(sorted(API_CALLS_ALLOWED))
    if call not in API_CALLS_ALLOWED:
        return (f"/api/{call} is not available in the workshop's NEST Server (it answers /api/ for {allowed}; "
                "send scripts to /exec)", 403)  # fmt: skip
    arguments = request.get_json(silent=True) if request.is_json else request.values
    if isinstance(arguments, dict) and "inspect" in arguments:
        return ("the inspect option of /api/ is not available in the workshop's NEST Server", 403)
    return None


def watch_launcher(launcher_pid: int, folder: Path | None, interval: float = WATCHDOG_INTERVAL_S) -> threading.Thread:
    """A daemon thread that stops this server (gunicorn's master, then this worker) and
    removes ``folder`` once the process ``launcher_pid`` is gone, however it ended."""

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def watch():
        while alive(launcher_pid):
            time.sleep(interval)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        master = os.getppid()
        if master not in (1, launcher_pid):
            os.kill(master, signal.SIGTERM)  # gunicorn's master: it stops its workers and exits
            time.sleep(2 * interval)  # ... before it could start a new worker for this one
        os._exit(0)

    thread = threading.Thread(target=watch, name="nest-workshop-launcher-watchdog", daemon=True)
    thread.start()
    return thread


def install(upstream) -> None:
    """Put the sandbox into NEST Server's module ``upstream`` (``nest.server.hl_api_server``)."""
    nest_for_scripts, np_for_scripts = nest_namespace(), numpy_namespace()
    upstream.get_modules_from_env = lambda: {"nest": nest_for_scripts, "np": np_for_scripts}
    restricted_globals = upstream.get_restricted_globals

    def sandboxed_globals():
        found = restricted_globals()
        found["_getattr_"] = guarded_getattr
        return found

    upstream.get_restricted_globals = sandboxed_globals
    upstream.app.before_request_funcs.setdefault(None, []).append(api_guard)


def create_app():
    """The app gunicorn serves (``server_sandbox:create_app()``), in its worker process."""
    folder = os.environ.get(SERVER_DIR_ENV)
    if not folder or not Path(folder).is_dir():
        raise RuntimeError(f"{SERVER_DIR_ENV} must name the server's private folder (make desktop creates it)")
    os.chdir(folder)  # NEST's data_path is relative to it: recorders could only write here
    from nest.server import hl_api_server as upstream

    if upstream.RESTRICTION_DISABLED or not upstream.EXEC_CALL_ENABLED or upstream.AUTH_DISABLED:
        raise RuntimeError("the sandbox runs with RestrictedPython, /exec and the access token all on")
    install(upstream)
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    if launcher:
        watch_launcher(int(launcher), Path(folder))
    return upstream.app


# gunicorn reads its server hooks from this module (``-c python:...server_sandbox``)


def on_exit(server) -> None:
    """gunicorn's master, as it exits (also on the SIGTERM Linux sends it when the launcher
    dies): the private folder goes with the server."""
    folder = os.environ.get(SERVER_DIR_ENV)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
