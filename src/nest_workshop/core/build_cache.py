"""The one build-cache mechanism: what is built once is kept, and never kept half-built.

Used by every builder of the bundle: NESTML modules (:mod:`nest_workshop.core.nestml`),
the MPI-enabled NEST wheel (:mod:`nest_workshop.scaleout.mpi_wheel`), NEAT's tree
computations and the compiled NEURON mechanisms
(:mod:`nest_workshop.parts.compartmental.reduction`) and JupyterHub's proxy
(:mod:`nest_workshop.tools.hub`). Each builds something slow into a cache folder
(:func:`cache_root`), where each entry is a sub-folder or a file named by a key. The
rules that keep such a cache sound:

* **One builder per entry.** :func:`entry_lock` is an exclusive file lock between
  processes; the operating system releases it when its holder dies. A second process
  asking for the same entry waits, then finds it built.
* **Build aside, publish in one step.** :func:`staging` makes a temporary folder inside
  the cache (``.build-<pid>-<entry>-*``) and removes it afterwards, whatever happened;
  :func:`publish` renames the finished folder into place (:func:`publish_file` does the
  same for an entry that is one file). A build that fails or is interrupted therefore
  never leaves a cache entry behind.
* **Sweep what killed builds left.** A process killed with SIGKILL cannot clean up: its
  temporary folder or file stays. :func:`remove_stale_temporaries` removes the
  temporaries whose process is gone.
* **A shared layer, read only.** On a workshop server (``nest-workshop hub``) the shipped
  models are built once, by the organiser, into a folder every participant may read:
  ``$NEST_WORKSHOP_SHARED_CACHE``, laid out like ``~/.cache/nest-workshop``
  (``nestml/``, ``neat/``). :func:`shared_root` names it; a builder looks there after
  its own cache and before building, and builds what it does not find (a participant's
  edited model) into the participant's own cache. Nobody writes to the shared layer but
  the organiser.

Standard library only: the MPI wheel builder runs before any environment exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path

TEMPORARY_PREFIX = ".build-"
SHARED_ENV = "NEST_WORKSHOP_SHARED_CACHE"
_TEMPORARY_NAME = re.compile(r"\.build-(\d+)-")

# Every kind of cache, with the environment variable that moves it elsewhere (or None).
CACHE_ENVS = {
    "nestml": "NEST_WORKSHOP_CACHE",  # built NESTML modules
    "neat": "NEST_WORKSHOP_NEAT_CACHE",  # NEAT's tree computations, compiled NEURON mechanisms
    "mpi-wheels": "NEST_WORKSHOP_MPI_CACHE",  # MPI-enabled NEST wheels
    "npm": None,  # JupyterHub's proxy for make hub
}


def user_cache(kind: str) -> Path:
    """This user's cache folder of ``kind`` (``"nestml"``, ``"neat"``, ``"mpi-wheels"``,
    ``"npm"``, ...): ``$XDG_CACHE_HOME/nest-workshop/KIND``, by default
    ``~/.cache/nest-workshop/KIND``. The one place that says where the bundle's caches live
    (each kind's own environment variable, where it has one, overrides it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nest-workshop" / kind


def cache_root(kind: str) -> Path:
    """The cache folder of ``kind`` (a key of :data:`CACHE_ENVS`): its environment
    variable when set, else :func:`user_cache`. Every builder asks here."""
    if kind not in CACHE_ENVS:
        raise ValueError(f"unknown cache {kind!r}; the bundle's caches are {', '.join(CACHE_ENVS)}")
    override = os.environ.get(CACHE_ENVS[kind] or "")
    return Path(override).expanduser() if override else user_cache(kind)


def all_cache_roots() -> list[Path]:
    """Every folder the bundle caches into, as this environment sets them: the user's
    ``~/.cache/nest-workshop`` and each kind moved elsewhere by its variable."""
    roots = [user_cache("x").parent]
    for kind in CACHE_ENVS:
        root = cache_root(kind)
        if not any(root == r or r in root.parents for r in roots):
            roots.append(root)
    return roots


def shared_root(kind: str) -> Path | None:
    """The read-only shared cache of ``kind`` (``"nestml"``, ``"neat"``), or None when
    ``$NEST_WORKSHOP_SHARED_CACHE`` is unset or has no such folder."""
    base = os.environ.get(SHARED_ENV)
    if not base:
        return None
    folder = Path(base).expanduser() / kind
    return folder if folder.is_dir() else None


@contextlib.contextmanager
def entry_lock(root: Path, name: str):
    """Hold the exclusive lock of entry ``name`` of the cache ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Remove the temporary folders of builds whose process is gone; return them."""
    removed = []
    for path in root.glob(f"{TEMPORARY_PREFIX}*"):
        match = _TEMPORARY_NAME.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staging(root: Path, name: str):
    """A temporary build folder for entry ``name`` inside ``root``, removed on exit.

    Inside the cache folder, so that :func:`publish` is a rename on one file system.
    """
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-{name}-", dir=root))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def publish(staged: Path, entry: Path) -> Path:
    """Make the finished folder ``staged`` the cache entry ``entry``, in one rename.

    An older entry of the same name (unusable, or from an older recipe) is replaced.
    Call it while holding :func:`entry_lock`.
    """
    if entry.exists():
        shutil.rmtree(entry)
    os.rename(staged, entry)
    return entry


def publish_file(source: Path, entry: Path) -> Path:
    """Make a copy of the finished file ``source`` the cache entry ``entry``, in one
    rename: readers see the old file or the new one, never a part. The copy is a
    temporary of this process until then (swept if the process is killed)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    temporary = entry.parent / f"{TEMPORARY_PREFIX}{os.getpid()}-{entry.name}"
    try:
        shutil.copy2(source, temporary)
        os.replace(temporary, entry)
    finally:
        temporary.unlink(missing_ok=True)
    return entry


def main(argv=None) -> int:
    """``python -m nest_workshop.core.build_cache clean``: remove every cache folder
    (``make clean-cache``); ``roots``: print them."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nest_workshop.core.build_cache", description=main.__doc__)
    parser.add_argument("action", choices=("roots", "clean"))
    args = parser.parse_args(argv)
    for root in all_cache_roots():
        if args.action == "clean" and root.exists():
            shutil.rmtree(root)
            print(f"removed {root}")
        elif args.action == "roots":
            print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
