"""Build NESTML models against the installed NEST wheel, cache them, load them.

One call does it all::

    module = nestml.build(["my_neuron.nestml"])
    nest.Create(module.neuron_models[0])

How it works (the reasons are in docs/nestml-builds.md):

1. The cache key is a hash of everything that changes the built module: the model
   sources, the options, the target, the NESTML, NEST and compiler versions, the
   compiler flags, and for compartmental models the CPU (they compile with
   ``-march=native``). A hit loads the cached ``.so`` at once.
2. On a miss, one process builds while others building the same key wait on a file
   lock and then reuse its result. The build happens in a temporary folder and is
   moved into the cache in one rename only when it succeeded, so an interrupted or
   failed build never leaves a cache entry behind (:mod:`.build_cache`).
3. Code generation runs NESTML in a child process (:mod:`.nestml_codegen`);
   compilation runs CMake and make with a generated ``nest-config`` stand-in that
   answers for the wheel (the wheel's own ``nest-config`` names its build machine).
4. The module is installed with ``nest.Install(<absolute path>)``, no environment
   variables needed. A kernel reset removes dynamically loaded models, so this module
   registers with :mod:`.kernel` to install them again after every reset.

For exercises (:mod:`.nestml_source`): the ``%%nestml`` cell magic and ``edit`` write a
copy of a model with whole blocks written in a notebook cell; ``show``, ``fill_in`` and
``regions`` print a block of a model and write a copy whose marked regions hold a
participant's NESTML. The cache key reads each source's ``normalise`` d text, so blank
lines, comments and spacing inside a line do not force a rebuild.

Without this package, the same build is NESTML's own call, then NEST's (it needs a NEST
whose ``nest-config`` describes this machine, which the PyPI wheel's does not: see
docs/nestml-builds.md)::

    from pynestml.frontend.pynestml_frontend import generate_nest_target
    generate_nest_target(input_path=[...the .nestml files...], target_path="target",
                         install_path="install", module_name="sequence_learning_module",
                         codegen_opts={...})
    nest.Install("sequence_learning_module")
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from . import build_cache, kernel
from .environment import pinned_versions
from .nestml_source import (  # noqa: F401  (nw.nestml.show, ...)
    ModelSourceError,
    edit,
    fill_in,
    nestml_cell,
    normalise,
    regions,
    show,
)

CACHE_ENV = build_cache.CACHE_ENVS["nestml"]  # NEST_WORKSHOP_CACHE
# Bump when the build recipe changes, so old cache entries are not reused.
RECIPE_VERSION = 1
TARGETS = {"nest": "NEST", "nest_compartmental": "NEST_compartmental"}

# The wheel is built with the old C++ string ABI: without -D_GLIBCXX_USE_CXX11_ABI=0 the
# module compiles but fails to load (undefined __cxx11 symbols).
WHEEL_CXXFLAGS = "-Wall -fopenmp -O2 -DNDEBUG -std=c++20 -D_GLIBCXX_USE_CXX11_ABI=0"

# What NESTML's generated code needs besides the NEST headers, with the Debian package.
BUILD_TOOLS = [("g++", "g++"), ("cmake", "cmake"), ("make", "make")]
SYSTEM_HEADERS = [("gsl/gsl_errno.h", "libgsl-dev"), ("boost/version.hpp", "libboost-dev"), ("ltdl.h", "libltdl-dev")]


class NestmlError(Exception):
    """A NESTML module could not be built or loaded."""


MANIFEST_NAME = "nestml_modules.toml"  # a part's list of the NESTML modules its notebooks build


def read_manifest(path: Path) -> list[dict]:
    """The NESTML modules a part's notebooks build, from its ``nestml_modules.toml``: the
    keyword arguments of :func:`build` for each. Raises :class:`NestmlError` naming the file
    and what is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise NestmlError(f"{path}: not valid TOML: {exc}") from None
    modules = data.get("module", [])
    allowed = {"sources", "target", "module_name", "neuron_synapse_pairs", "codegen_opts"}
    for index, module in enumerate(modules):
        unknown = set(module) - allowed
        if unknown or "sources" not in module:
            raise NestmlError(
                f"{path}, module {index + 1}: needs 'sources'; allowed keys are {sorted(allowed)}"
                + (f", not {sorted(unknown)}" if unknown else "")
            )
        module["sources"] = [str(path.parent / s) for s in module["sources"]]
    return modules


class NestmlSyntaxError(NestmlError):
    """NESTML rejected a model: the message lists file, line and problem."""

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message)
        self.errors = errors


class NestmlCompileError(NestmlError):
    """The C++ compiler or CMake failed on the generated code."""

    def __init__(self, message: str, log_path: Path | None = None):
        super().__init__(message)
        self.log_path = log_path


class MissingBuildToolsError(NestmlError):
    """The compiler, CMake, make or system headers are missing."""


@dataclasses.dataclass
class NestmlModule:
    """A built and loaded NESTML module."""

    name: str
    path: Path
    key: str
    neuron_models: list[str]
    synapse_models: list[str]
    built: bool  # True when this call generated and compiled it, False on a cache hit
    timings: dict[str, float]

    @property
    def models(self) -> list[str]:
        return self.neuron_models + self.synapse_models

    def __str__(self) -> str:
        how = "built now" if self.built else "from cache"
        return f"NESTML module {self.name} ({how}): neurons {self.neuron_models}, synapses {self.synapse_models}"


# Modules installed in this process, by name: reinstalled after a kernel reset.
_loaded: dict[str, NestmlModule] = {}


# ---------------------------------------------------------------------------
# Build environment


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds built modules: argument, ``$NEST_WORKSHOP_CACHE``, or ~/.cache."""
    root = Path(cache_dir) if cache_dir is not None else build_cache.cache_root("nestml")
    return root.expanduser().resolve()


def _nest_requirement() -> str:
    """``nest-simulator==<the package's pin>``, read from the installed package's metadata."""
    pin = pinned_versions().get("nest-simulator")
    return f"nest-simulator=={pin}" if pin else "nest-simulator"


def nest_include_dir() -> Path:
    """The NEST wheel's C++ headers (found without importing NEST)."""
    spec = importlib.util.find_spec("nest")
    if spec is None or not spec.submodule_search_locations:
        raise NestmlError(
            f"NEST is not installed in this Python environment: run `make setup` or `pip install {_nest_requirement()}`"
        )
    include = Path(list(spec.submodule_search_locations)[0]) / "include" / "nest"
    if not (include / "nest.h").exists():
        raise NestmlError(
            f"NEST's C++ headers are missing from {include}: this NEST installation cannot build NESTML models; reinstall with `pip install --force-reinstall {_nest_requirement()}`"
        )
    return include


def missing_build_tools() -> list[tuple[str, str]]:
    """(what is missing, Debian package) for every missing compiler, tool or header."""
    missing = [(f"the '{cmd}' command", pkg) for cmd, pkg in BUILD_TOOLS if shutil.which(cmd) is None]
    compiler = shutil.which("g++")
    for header, pkg in SYSTEM_HEADERS:
        found = False
        if compiler:
            probe = subprocess.run(
                [compiler, "-E", "-x", "c++", "-"], input=f"#include <{header}>\n", capture_output=True, text=True
            )
            found = probe.returncode == 0
        if not found:
            missing.append((f"the C++ header <{header}>", pkg))
    return missing


def _require_build_tools() -> None:
    missing = missing_build_tools()
    if missing:
        what = ", ".join(m for m, _ in missing)
        packages = " ".join(sorted({p for _, p in missing}))
        raise MissingBuildToolsError(
            f"Cannot compile NESTML models: missing {what}.\n"
            f"On Debian/Ubuntu install them with:\n    sudo apt-get install -y {packages}\n"
            "(or run `make setup`, which installs them when run as root)."
        )


def compiler_version(compiler: str) -> str:
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def _cpu_identity() -> str:
    """CPU model and feature flags: a -march=native build runs only where these match."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    return f"{model.group(1) if model else ''}|{hashlib.sha256((flags.group(1) if flags else '').encode()).hexdigest()[:16]}"


def toolchain_fingerprint(target: str) -> dict:
    """Everything outside the model sources that changes the built module."""
    compiler = shutil.which("g++") or "g++"
    fingerprint = {
        "recipe": RECIPE_VERSION,
        "nestml": importlib.metadata.version("nestml"),
        "nest": importlib.metadata.version("nest-simulator"),
        "compiler": compiler_version(compiler) if shutil.which(compiler) else "missing",
        "cxxflags": WHEEL_CXXFLAGS,
        "nest_config": str(native_nest_config() or "wheel stand-in"),
        "machine": platform.machine(),
        "system": platform.system(),
    }
    if target == "nest_compartmental":
        fingerprint["cpu"] = _cpu_identity()
    return fingerprint


NEST_CONFIG_TEMPLATE = """#!/bin/sh
# Stand-in for nest-config, generated by nest_workshop.core.nestml for the NEST wheel in
# {site}. The wheel's own nest-config names the machine that built the wheel.
# --libs is empty on purpose: the kernel, GSL and OpenMP symbols resolve from the
# wheel's own libraries, which `import nest` has already loaded.
prefix="{prefix}"
for arg in "$@"; do
  case "$arg" in
    --prefix|--exec-prefix) echo "$prefix" ;;
    --includes) echo "-I{include}" ;;
    --cflags) echo "{cflags}" ;;
    --libs) echo "" ;;
    --compiler) echo "{compiler}" ;;
    --compiler-name) echo "GNU" ;;
    --compiler-version) echo "{compiler_version}" ;;
    --python-executable) echo "{python}" ;;
    --python-version) echo "{python_version}" ;;
    --static-libraries) echo "OFF" ;;
    --docdir) echo "share/doc/nest" ;;
    --datadir) echo "share/nest" ;;
    --libdir) echo "lib" ;;
    --version) echo "{nest_version}" ;;
    *) echo "nest-config stand-in: unknown option $arg" >&2; exit 1 ;;
  esac
done
"""


def native_nest_config() -> Path | None:
    """NEST's own ``nest-config`` when it describes this machine's installation (a NEST
    built from source or from conda-forge), else None (the PyPI wheel, whose script
    names a prefix on the machine that built it)."""
    candidate = Path(sys.prefix) / "bin" / "nest-config"
    if not candidate.is_file():
        return None
    try:
        prefix = subprocess.run([str(candidate), "--prefix"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return candidate if prefix and (Path(prefix) / "include" / "nest" / "nest.h").is_file() else None


def write_nest_config(prefix: Path) -> Path:
    """Write the ``nest-config`` stand-in under ``prefix/bin`` and return its path."""
    compiler = shutil.which("g++") or "g++"
    include = nest_include_dir()
    script = NEST_CONFIG_TEMPLATE.format(
        site=include.parent.parent,
        prefix=prefix,
        include=include,
        cflags=WHEEL_CXXFLAGS,
        compiler=compiler,
        compiler_version=re.sub(r"[\"`$\\]", "", compiler_version(compiler)) if shutil.which(compiler) else "unknown",
        python=sys.executable,
        python_version=platform.python_version(),
        nest_version=importlib.metadata.version("nest-simulator"),
    )
    path = prefix / "bin" / "nest-config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------
# The build


def _normalise_sources(sources: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths = []
    for source in sources:
        path = Path(source).expanduser().resolve()
        if path.is_dir():
            found = sorted(path.rglob("*.nestml"))
            if not found:
                raise NestmlError(f"{path} is a folder without .nestml files; give .nestml files or a folder that contains them")
            paths.extend(found)
        elif not path.exists():
            raise FileNotFoundError(f"NESTML source {source!s} does not exist (looked for {path})")
        elif path.suffix != ".nestml":
            raise NestmlError(f"{path.name} is not a NESTML file: sources must end in .nestml")
        else:
            paths.append(path)
    if not paths:
        raise NestmlError("no NESTML sources given: pass one or more .nestml files")
    names = [p.name for p in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise NestmlError(f"two sources share the file name {duplicates}: NESTML needs distinct file names")
    return paths


def cache_key(paths: Sequence[Path], target: str, module_stem: str, codegen_opts: Mapping) -> str:
    """The build cache's key for these sources and options: equal for models that differ
    only in blank lines, comments or spacing (:func:`normalise`), different otherwise."""
    description = {
        "target": target,
        "module": module_stem,
        # normalised text: a blank line, a comment or spacing inside a line is the same module
        "sources": [(p.name, hashlib.sha256(normalise(p.read_text()).encode()).hexdigest()) for p in paths],
        "codegen_opts": codegen_opts,
        "toolchain": toolchain_fingerprint(target),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _module_stem(paths: Sequence[Path], module_name: str | None) -> str:
    stem = module_name or paths[0].stem
    stem = re.sub(r"module$", "", stem)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stem):
        raise NestmlError(f"module name {stem!r} must be a C++ identifier: letters, digits and _, not starting with a digit")
    return stem


def _complete_entry_meta(entry: Path, key: str) -> dict | None:
    """The entry's metadata if the entry is complete and matches the key, else None."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    complete = meta.get("key") == key and (entry / meta.get("library", "missing")).is_file() and "neuron_models" in meta
    return meta if complete else None


REGISTRATION = re.compile(r'(?:nest::(\w+)::)?register_(\w+)\(\s*"([^"]+)"\s*\)')


def _registered_models(module_source: Path) -> tuple[list[str], list[str]]:
    """Neuron and synapse model names registered by a generated module's C++ source
    (neurons as ``register_X("X")``, synapses as ``nest::X::register_X("X")``)."""
    neurons, synapses = [], []
    for qualifier, _, name in REGISTRATION.findall(module_source.read_text()):
        (synapses if qualifier else neurons).append(name)
    return neurons, synapses


def _log_tail(text: str, lines: int = 40) -> str:
    """The part of a compiler log a person needs: the error lines, then the end."""
    all_lines = text.splitlines()
    errors = [line for line in all_lines if re.search(r"\berror\b|Error|undefined reference", line)]
    tail = all_lines[-lines:]
    picked = errors[:15] + ["..."] + [line for line in tail if line not in errors[:15]] if errors else tail
    return "\n".join(picked)


def _run_logged(command: list[str], cwd: Path, log, env=None) -> int:
    """Run a build step with its output in ``log``. The step runs in its own process
    group, so an interrupt (Ctrl-C, the notebook's stop button) stops the whole step
    (cmake, make and every compiler process), not just its parent."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()
        raise


def _generate_code(
    paths: Sequence[Path], target: str, module_name: str, codegen_opts: Mapping, workdir: Path, verbose: bool
) -> Path:
    """Run NESTML's code generation in a child process; return the generated source folder."""
    target_path = workdir / "src"
    request = {
        "files": [str(p) for p in paths],
        "target": TARGETS[target],
        "target_path": str(target_path),
        "module_name": module_name,
        "codegen_opts": dict(codegen_opts),
    }
    (workdir / "request.json").write_text(json.dumps(request, indent=1))
    result_file = workdir / "codegen-result.json"
    log_file = workdir / "codegen.log"
    with open(log_file, "w") as log:
        returncode = _run_logged(
            [sys.executable, "-m", "nest_workshop.core.nestml_codegen", str(workdir / "request.json"), str(result_file)],
            workdir,
            log,
            env={**os.environ, "PYNEST_QUIET": "1"},
        )
    log_text = log_file.read_text(errors="replace")
    if verbose:
        print(log_text)
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):
        raise NestmlError(f"NESTML code generation crashed (exit status {returncode}):\n{_log_tail(log_text)}") from None
    if not result["ok"]:
        # Errors with a place first: a general one (such as co-generation's "Synapse used in
        # pair not found") usually follows from them.
        errors = sorted(result["errors"], key=lambda e: (e["file"] is None or e["line"] is None, e["file"] or "", e["line"] or 0))
        if errors:
            lines = []
            for e in errors:
                where = e["file"] or "NESTML"
                if e["line"] is not None:
                    where += f":{e['line']}" + (f":{e['column']}" if e["column"] else "")
                lines.append(f"  {where}: {e['message']}")
            raise NestmlSyntaxError("NESTML found errors in the model:\n" + "\n".join(lines), errors)
        raise NestmlError(f"NESTML code generation failed without naming an error:\n{_log_tail(log_text)}")
    return target_path


def _compile(source_dir: Path, module_name: str, nest_config: Path, workdir: Path, verbose: bool) -> Path:
    """Compile the generated code with CMake and make; return the built library."""
    build_dir = workdir / "build"
    build_dir.mkdir()
    log_file = workdir / "compile.log"
    jobs = str(kernel.available_cores())
    steps = [
        ["cmake", f"-Dwith-nest={nest_config}", f"-DCMAKE_INSTALL_PREFIX={workdir / 'install'}", str(source_dir)],
        ["cmake", "--build", ".", "--parallel", jobs],
    ]
    with open(log_file, "w") as log:
        for step in steps:
            log.write(f"$ {' '.join(step)}\n")
            log.flush()
            returncode = _run_logged(step, build_dir, log)
            if returncode != 0:
                break
    log_text = log_file.read_text(errors="replace")
    if verbose:
        print(log_text)
    if returncode != 0:
        stage = "CMake configuration" if step is steps[0] else "compilation"
        raise NestmlCompileError(
            f"{stage} of the generated C++ code failed. The relevant part of the log:\n{_log_tail(log_text)}", log_file
        )
    library = build_dir / f"{module_name}.so"
    if not library.is_file():
        raise NestmlCompileError(f"the build finished but produced no {library.name}:\n{_log_tail(log_text)}", log_file)
    return library


def _build_entry(paths, target, module_name, codegen_opts, key, root: Path, verbose: bool) -> tuple[Path, dict]:
    """Build in a temporary folder, then publish it as the cache entry in one rename;
    return the entry and its metadata. Call while holding the entry's lock."""
    _require_build_tools()
    entry = root / key[:24]
    with build_cache.staging(root, entry.name) as workdir:
        timings = {}
        started = time.perf_counter()
        source_dir = _generate_code(paths, target, module_name, codegen_opts, workdir, verbose)
        timings["codegen_s"] = time.perf_counter() - started
        nest_config = native_nest_config() or write_nest_config(workdir / "nest-prefix")
        started = time.perf_counter()
        library = _compile(source_dir, module_name, nest_config, workdir, verbose)
        timings["compile_s"] = time.perf_counter() - started

        neurons, synapses = _registered_models(source_dir / f"{module_name}.cpp")
        staged = workdir / "entry"
        staged.mkdir()
        shutil.copy2(library, staged / library.name)
        shutil.copytree(source_dir, staged / "generated")  # for curious readers and debugging
        meta = {
            "key": key,
            "library": library.name,
            "module_name": module_name,
            "target": target,
            "neuron_models": neurons,
            "synapse_models": synapses,
            "sources": [str(p) for p in paths],
            "codegen_opts": codegen_opts,
            "toolchain": toolchain_fingerprint(target),
            "timings": timings,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staged / "meta.json").write_text(json.dumps(meta, indent=1))
        return build_cache.publish(staged, entry), meta


# What build() did in this process, {module name: "built" or "cached"}: the notebook
# runner reads it after a run (make check), so it needs no guess from a notebook's text.
BUILDS: dict[str, str] = {}


def build(
    sources,
    *,
    neuron_synapse_pairs: Sequence[Mapping] | None = None,
    codegen_opts: Mapping | None = None,
    target: str = "nest",
    module_name: str | None = None,
    cache_dir=None,
    load: bool = True,
    verbose: bool = False,
) -> NestmlModule:
    """Build NESTML models into a NEST module (or reuse the cached build) and load it.

    Parameters
    ----------
    sources
        A .nestml file, a folder of them, or a list of either.
    neuron_synapse_pairs
        Neurons and synapses generated together (NESTML 9 format), e.g.
        ``[{"neuron": "iaf_psc_exp_neuron", "synapses": {"stdp_synapse": {"post_ports": ["post_spikes"]}}}]``.
        Shorthand for ``codegen_opts["neuron_synapse_pairs"]``.
    codegen_opts
        Further NESTML code-generator options (for example ``weight_variable``).
    target
        ``"nest"`` for point neurons and synapses, ``"nest_compartmental"`` for
        compartmental models.
    module_name
        Name stem of the module; default: the first source's file name.
    cache_dir
        Where built modules are kept; default ``$NEST_WORKSHOP_CACHE`` or
        ``~/.cache/nest-workshop/nestml``.
    load
        Install the module into NEST (default). ``False`` only builds, for example to
        pre-build modules before a workshop.
    verbose
        Print NESTML's and the compiler's output.
    """
    if target not in TARGETS:
        raise NestmlError(f"unknown target {target!r}: use one of {sorted(TARGETS)}")
    options = dict(codegen_opts or {})
    if "nest_path" in options:
        raise NestmlError("do not set codegen_opts['nest_path']: this package builds against the installed NEST wheel itself")
    if neuron_synapse_pairs is not None:
        if "neuron_synapse_pairs" in options:
            raise NestmlError("give neuron_synapse_pairs either as an argument or in codegen_opts, not both")
        options["neuron_synapse_pairs"] = [dict(pair) for pair in neuron_synapse_pairs]
    try:
        json.dumps(options, sort_keys=True)
    except TypeError as exc:
        raise NestmlError(f"codegen_opts must hold only plain values (str, numbers, lists, dicts): {exc}") from None

    paths = _normalise_sources(sources)
    stem = _module_stem(paths, module_name)
    key = cache_key(paths, target, stem, options)
    # A name per key: an edited model gets a new module, never clashing with the old one.
    name = f"{stem}_{key[:8]}_module"
    root = cache_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key[:24]

    built = False
    meta = _complete_entry_meta(entry, key)
    shared = build_cache.shared_root("nestml")
    if meta is None and shared is not None:  # built once for everyone on a workshop server
        meta = _complete_entry_meta(shared / entry.name, key)
        entry = shared / entry.name if meta is not None else entry
    if meta is None:
        with build_cache.entry_lock(root, entry.name):
            meta = _complete_entry_meta(entry, key)  # another process may have built it meanwhile
            if meta is None:
                build_cache.remove_stale_temporaries(root)
                print(
                    f"Building NESTML module {stem} from {', '.join(p.name for p in paths)}: "
                    "code generation and compilation take a minute or two, once; later runs load it from the cache.",
                    flush=True,
                )
                entry, meta = _build_entry(paths, target, name, options, key, root, verbose)
                built = True
    BUILDS[name] = "built" if built else BUILDS.get(name, "cached")
    module = NestmlModule(
        name=name,
        path=entry / meta["library"],
        key=key,
        neuron_models=list(meta["neuron_models"]),
        synapse_models=list(meta["synapse_models"]),
        built=built,
        timings=dict(meta["timings"]) if built else {},
    )
    if load:
        started = time.perf_counter()
        install(module)
        module.timings["load_s"] = time.perf_counter() - started
    return module


# ---------------------------------------------------------------------------
# Loading


def install(module: NestmlModule) -> NestmlModule:
    """Install a built module into the running NEST kernel (no-op when already there)."""
    nest = kernel.import_nest()
    known = set(nest.node_models) | set(nest.synapse_models)
    if module.name in _loaded and set(module.models) <= known:
        return module  # installed in this kernel already
    # Models of the same names from another build (typically the same file before an
    # edit) are superseded. NEST drops models only by a kernel reset.
    superseded = [m for m in _loaded.values() if m.name != module.name and set(m.models) & set(module.models)]
    for old in superseded:
        del _loaded[old.name]
    clashing = sorted(set(module.models) & known)
    if clashing:
        if not superseded or nest.network_size > 0:
            raise NestmlError(
                f"NEST already has models named {clashing}, from {'an earlier build' if superseded else 'another module'}, "
                "and they can be removed only by a kernel reset. Call nest_workshop.reset_kernel() and build again, "
                "before creating neurons."
            )
        # The kernel has no nodes, so no network is lost: reset it with the notebook's own
        # seed, threads and resolution, through the one reset there is. Model settings
        # made since the last reset are lost, though: say so.
        print(
            f"NEST holds one model per name: {module.name} replaces {', '.join(m.name for m in superseded)} "
            "by a kernel reset (same seed, threads and resolution). Any SetDefaults or CopyModel made since "
            "the last reset is undone: make them after build().",
            flush=True,
        )
        kernel.reset_kernel(**kernel.current_settings())
    if nest.network_size > 0:
        raise NestmlError(
            f"NEST loads modules only into a kernel without neurons or devices, and this one has "
            f"{nest.network_size}. Call nest_workshop.reset_kernel() first, then build, then create "
            f"the network."
        )
    verbosity = nest.VerbosityLevel(int(nest.verbosity))  # read back as a number, set as the enum
    nest.verbosity = max(verbosity, nest.VerbosityLevel.WARNING, key=int)  # no "loaded module" line in notebooks
    try:
        nest.Install(str(module.path))
    except Exception as exc:
        raise NestmlError(f"NEST could not load {module.path}: {exc}") from exc
    finally:
        nest.verbosity = verbosity
    missing = sorted(set(module.models) - set(nest.node_models) - set(nest.synapse_models))
    if missing:
        raise NestmlError(
            f"{module.path} loaded, but NEST does not know {missing}: the cache entry is damaged; "
            "remove it (make clean-cache) and build again"
        )
    _loaded[module.name] = module
    kernel.after_reset(reinstall_loaded_modules)  # once; a reset removes the models
    return module


def reinstall_loaded_modules() -> None:
    """After a kernel reset dynamically loaded models are gone: install them again."""
    for module in list(_loaded.values()):
        install(module)
