"""Build an MPI-enabled NEST wheel once, cache it, and install it into its own venv.

``make mpi`` runs ``python -m nest_workshop.scaleout.mpi_wheel``. It uses the standard library
only, so it runs before any environment exists (the Makefile puts ``src`` on the path).

The PyPI wheel of NEST has no MPI. The PyPI source distribution builds with MPI
without changes (docs/science-notes.md, "NEST with MPI"); that takes 13-23 minutes on two
cores, so the wheel is cached:

* The cache key covers everything the wheel depends on: NEST version, the build
  options, the OpenMPI, GSL and ltdl it links, the Python ABI, the machine and the OS.
  A different value of any of them gives a different entry, never a reused one.
* An entry is a folder with the wheel and ``manifest.json`` (the key's fields and the
  wheel's SHA-256). It is used only if the manifest matches the current key and the
  wheel's checksum and zip structure are intact; otherwise it is removed and rebuilt.
* A build happens in a temporary folder next to the entry and becomes the entry in one
  rename, so an interrupted build leaves no half-written entry. A file lock makes
  concurrent ``make mpi`` runs build once. (The package's one build-cache mechanism,
  :mod:`nest_workshop.core.build_cache`, shared with the NESTML builder.)

The wheel is installed into ``.venv-mpi`` (a separate environment: ``make lab`` and
``make test`` keep the binary wheel), with mpi4py and this package.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..core import build_cache  # standard library only, like this module
from ..core.kernel import available_cores  # standard library only until NEST is asked for

NEST_VERSION = "3.10.0"
# Bump when the recipe below changes, so wheels built by an older recipe are not reused.
RECIPE_VERSION = 1
CMAKE_DEFINES = {"with-mpi": "ON"}  # the sdist already turns on Python, OpenMP, GSL, Boost
# What the sdist's build needs besides the compiler (pinned: the build is reproducible).
MPI4PY = "mpi4py==4.1.2"
BUILD_REQUIREMENTS = ["cython==3.3.1", "numpy==2.4.6", MPI4PY, "scikit-build-core==1.1.2", "setuptools==84.2.1", "wheel==0.48.0"]
CACHE_ENV = build_cache.CACHE_ENVS["mpi-wheels"]  # NEST_WORKSHOP_MPI_CACHE
MANIFEST = "manifest.json"
VENV_STAMP = ".nest-workshop-mpi"


class MpiSetupError(Exception):
    """The MPI environment could not be set up; the message says what to do."""


def log(message: str) -> None:
    print(f"[make mpi] {message}", flush=True)


# ----------------------------------------------------------------------------- key
def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def openmpi_version() -> str:
    """OpenMPI's version as ``ompi_info`` reports it, e.g. ``4.1.4``."""
    match = re.search(r"Open MPI:?\s*v?(\d\S*)", _output(["ompi_info", "--version"]) or "")
    if not match:
        raise MpiSetupError(
            "OpenMPI was not found (no working `ompi_info`). Install it with:\n"
            "    sudo apt-get install -y openmpi-bin libopenmpi-dev"
        )
    return match.group(1)


def os_release() -> str:
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            fields[key] = value.strip('"')
    return f"{fields.get('ID', platform.system().lower())}-{fields.get('VERSION_ID', platform.release())}"


def _debian_package_version(package: str) -> str:
    return _output(["dpkg-query", "-W", "-f=${Version}", package]) or "unknown"


def build_key_fields() -> dict:
    """Everything the built wheel depends on; a change in any of them means a new build."""
    return {
        "recipe": RECIPE_VERSION,
        "nest": NEST_VERSION,
        "cmake_defines": CMAKE_DEFINES,
        "build_requirements": BUILD_REQUIREMENTS,
        "openmpi": openmpi_version(),
        # The wheel links the system's GSL and ltdl as well.
        "gsl": _output(["gsl-config", "--version"]) or _debian_package_version("libgsl-dev"),
        "ltdl": _debian_package_version("libltdl-dev"),
        "python_abi": sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag,
        "machine": platform.machine(),
        "os": os_release(),
    }


def key_of(fields: dict) -> str:
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return f"nest-{fields['nest']}-mpi-{digest}"


# ----------------------------------------------------------------------------- cache
def cache_root(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$NEST_WORKSHOP_MPI_CACHE``, else ~/.cache/nest-workshop/mpi-wheels."""
    if path is None:
        path = build_cache.cache_root("mpi-wheels")
    root = Path(path).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_problem(entry: Path, fields: dict) -> str | None:
    """Why the cache entry cannot be used, or None when it is sound."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        return f"unreadable manifest ({error.__class__.__name__})"
    if manifest.get("fields") != json.loads(json.dumps(fields)):
        changed = sorted(
            k
            for k in set(fields) | set(manifest.get("fields", {}))
            if manifest.get("fields", {}).get(k) != json.loads(json.dumps(fields)).get(k)
        )
        return f"built for a different configuration ({', '.join(changed)})"
    wheel = entry / str(manifest.get("wheel", ""))
    if not manifest.get("wheel") or not wheel.is_file():
        return "wheel file missing"
    if sha256_of(wheel) != manifest.get("sha256"):
        return "wheel checksum does not match (file damaged)"
    try:
        with zipfile.ZipFile(wheel) as archive:
            if archive.testzip() is not None:
                return "wheel archive is damaged"
    except zipfile.BadZipFile:
        return "wheel is not a zip archive"
    return None


def _run(command: list[str], *, log_file: Path, env: dict | None = None, cwd: Path | None = None) -> None:
    with open(log_file, "a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    if result.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
        raise MpiSetupError(
            f"`{' '.join(command[:4])} ...` failed (exit {result.returncode}). End of the build log ({log_file}):\n{tail}"
        )


def build_wheel(workdir: Path, python: str = sys.executable) -> Path:
    """Build NEST's sdist with MPI in ``workdir``; returns the wheel. Takes 13-23 min."""
    build_log = workdir / "build.log"
    log(f"building NEST {NEST_VERSION} with MPI from the PyPI source distribution (13-23 min on 2 cores; log: {build_log})")
    venv = workdir / "buildenv"
    _run([python, "-m", "venv", str(venv)], log_file=build_log)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--quiet", *BUILD_REQUIREMENTS], log_file=build_log)
    sdist_dir = workdir / "sdist"
    # --no-binary for nest-simulator only: ':all:' would needlessly compile Cython too.
    _run(
        [
            *pip,
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            "nest-simulator",
            f"nest-simulator=={NEST_VERSION}",
            "-d",
            str(sdist_dir),
        ],
        log_file=build_log,
    )
    sdists = sorted(sdist_dir.glob("nest_simulator-*.tar.gz")) + sorted(sdist_dir.glob("nest-simulator-*.tar.gz"))
    if not sdists:
        raise MpiSetupError(f"pip did not download NEST's source distribution into {sdist_dir}")
    wheel_dir = workdir / "wheel"
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(available_cores()))
    defines = [f"-Ccmake.define.{name}={value}" for name, value in CMAKE_DEFINES.items()]
    # An explicit output folder and no pip cache: pip's wheel cache ignores -C settings.
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", *defines, "-w", str(wheel_dir), str(sdists[0])],
        log_file=build_log,
        env=env,
    )
    wheels = sorted(wheel_dir.glob("nest_simulator-*.whl"))
    if not wheels:
        raise MpiSetupError(f"the build finished but left no wheel in {wheel_dir}; see {build_log}")
    return wheels[0]


def cached_wheel(
    *, root: Path | None = None, fields: dict | None = None, builder: Callable[[Path], Path] = build_wheel
) -> tuple[Path, bool]:
    """The cached MPI wheel for this machine, built first when needed.

    Returns (wheel path, built now?). ``builder(workdir)`` must return a wheel inside
    ``workdir``; tests pass a fake one.
    """
    root = cache_root(root)
    fields = build_key_fields() if fields is None else fields
    entry = root / key_of(fields)
    with build_cache.entry_lock(root, entry.name):
        if entry.exists():
            problem = entry_problem(entry, fields)
            if problem is None:
                manifest = json.loads((entry / MANIFEST).read_text())
                log(f"using the cached MPI wheel {entry / manifest['wheel']} (no compilation)")
                return entry / manifest["wheel"], False
            log(f"cache entry {entry} is not usable: {problem}; rebuilding it")
            shutil.rmtree(entry)
        build_cache.remove_stale_temporaries(root)  # left by killed builds
        with build_cache.staging(root, entry.name) as workdir:
            wheel = builder(workdir)
            staged = workdir / "entry"
            staged.mkdir()
            shutil.copy2(wheel, staged / wheel.name)
            manifest = {"fields": fields, "wheel": wheel.name, "sha256": sha256_of(staged / wheel.name)}
            (staged / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            build_cache.publish(staged, entry)  # the one step that makes the entry visible
        log(f"cached the MPI wheel in {entry}")
        return entry / wheel.name, True


# ----------------------------------------------------------------------------- venv
def install_venv(venv: Path, wheel: Path, project: Path, python: str = sys.executable) -> None:
    """Create ``venv`` with the MPI wheel, mpi4py and this package (idempotent)."""
    stamp = venv / VENV_STAMP
    wanted = (
        f"{sha256_of(wheel)} {sha256_of(project / 'pyproject.toml')} {sha256_of(project / 'requirements' / 'constraints.txt')}"
    )
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        log(f"{venv} is up to date")
        return
    log(f"installing the MPI wheel, mpi4py and nest-workshop into {venv}")

    def step(command: list[str]) -> None:  # pip prints its own error; say which step failed
        if subprocess.run(command).returncode != 0:
            raise MpiSetupError(f"installing into {venv} failed at `{' '.join(command[-3:])}` (pip's message is above)")

    if not (venv / "bin" / "python").exists():
        step([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    step([*pip, "install", "--upgrade", "pip"])
    # The MPI wheel first: the package's pin nest-simulator==3.10.0 is then satisfied
    # and pip does not replace it with the binary wheel from PyPI.
    step([*pip, "install", "--force-reinstall", "--no-deps", str(wheel)])
    step([*pip, "install", "-c", str(project / "requirements" / "constraints.txt"), MPI4PY, "-e", f"{project}[test]"])
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import nest, sys; sys.exit(0 if nest.build_info['have_mpi'] else 3)"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise MpiSetupError(f"NEST in {venv} has no MPI after the install (exit {check.returncode}):\n{check.stderr[-2000:]}")
    stamp.write_text(wanted + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nest_workshop.scaleout.mpi_wheel", description=__doc__.split("\n")[0])
    parser.add_argument("--venv", default=".venv-mpi", help="environment to install into (default .venv-mpi)")
    parser.add_argument("--project", default=".", help="the nest-workshop checkout (default .)")
    parser.add_argument("--cache", default=None, help=f"wheel cache (default ${CACHE_ENV} or ~/.cache/...)")
    parser.add_argument("--wheel-only", action="store_true", help="build or check the cached wheel, install nothing")
    args = parser.parse_args(argv)
    try:
        wheel, _ = cached_wheel(root=args.cache)
        if not args.wheel_only:
            install_venv(Path(args.venv).resolve(), wheel, Path(args.project).resolve())
    except MpiSetupError as error:
        print(f"make mpi: {error}", file=sys.stderr)
        return 1
    log(
        f"ready: run MPI jobs with {args.venv}/bin/python, e.g. "
        f"mpirun -np 2 {args.venv}/bin/nest-workshop scale astrocytes --size 2"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
