"""The ``nest-workshop`` command.

nest-workshop doctor      is everything installed, and does a NESTML model build and run?
nest-workshop build       pre-build every NESTML module the materials use
nest-workshop exercises   participant notebooks from the solution notebooks
nest-workshop check       run every solution notebook in a fresh kernel and measure it
nest-workshop start PART  copy a part's participant notebooks into workspace/PART
nest-workshop slides      render presentations/ into offline HTML slide shows (--figures: draw their figures)
nest-workshop schedule    each part's session time against its slot; --write fills it in
nest-workshop desktop     NEST Desktop and NEST Server on this machine, for notebook 02 of the introduction
nest-workshop hub         a workshop room on one server: JupyterHub, one account per participant (as root)
nest-workshop scale NET   a notebook's network at a larger size, also under mpirun (NET: astrocytes, eprop)

Each command is a ``*_command(args)`` function below; the work itself lives in the
package's modules, which the tests call directly.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import sys
import time
from pathlib import Path

from .. import __version__
from ..core import environment, nestml
from ..core.kernel import import_nest, reset_kernel
from ..core.nestml import MANIFEST_NAME, read_manifest
from . import exercises


def find_materials(start: Path | None = None) -> Path:
    """The bundle's ``materials/`` folder: in the current folder or one above it."""
    start = (start or Path.cwd()).resolve()
    for folder in [start, *start.parents]:
        if (folder / "materials").is_dir():
            return folder / "materials"
        if folder.name == "materials":
            return folder
    raise SystemExit(f"no materials/ folder in {start} or above it: run this from the workshop bundle, or pass a path")


# ---------------------------------------------------------------------------
# doctor


def _doctor_build_and_run() -> str:
    """Build the smallest NESTML neuron, run it, and check it behaves: silent below
    rheobase (375 pA), firing above it. The doctor owns its process, so it resets the
    kernel itself, like a notebook."""
    source = importlib.resources.files("nest_workshop.tools") / "data" / "doctor_lif_neuron.nestml"
    started = time.perf_counter()
    nest = reset_kernel(seed=1, threads=1)
    module = nestml.build(Path(str(source)))
    elapsed = time.perf_counter() - started
    counts = []
    for current in (300.0, 500.0):
        neuron = nest.Create(module.neuron_models[0], params={"I_e": current})
        recorder = nest.Create("spike_recorder")
        nest.Connect(neuron, recorder)
        nest.Simulate(1000.0)
        counts.append(recorder.n_events)
        nest = reset_kernel(seed=1, threads=1)
    if counts[0] != 0 or counts[1] == 0:
        raise RuntimeError(
            f"the test neuron fired {counts[0]} spikes at 300 pA (expected 0) and {counts[1]} at 500 pA (expected > 0)"
        )
    how = "built now" if module.built else "loaded from cache"
    took = f"{elapsed:.1f} s" if elapsed >= 1 else f"{1000 * elapsed:.0f} ms"
    return f"{module.neuron_models[0]} {how} in {took}; 0 spikes at 300 pA, {counts[1]} spikes/s at 500 pA"


def doctor_command(args) -> int:
    checks: list[tuple[str, bool, str]] = []  # (what, ok, detail or fix)

    py_ok = sys.version_info[:2] == (3, 11)
    checks.append(("Python", py_ok, sys.version.split()[0] + ("" if py_ok else " — the materials are tested with Python 3.11")))
    for status in environment.package_status():
        if status.ok:
            checks.append((status.label, True, status.installed))
        elif status.installed is None:
            checks.append(
                (status.label, False, f"not installed — fix: make setup (or pip install {status.pip_line.split()[-1]})")
            )
        else:
            checks.append((status.label, False, f"{status.installed}, expected {status.required} — fix: make setup"))
    try:
        nest = import_nest()
        checks.append(("NEST import", True, f"kernel loads, {len(nest.node_models)} node models"))
    except Exception as exc:  # report, don't crash: this is the doctor
        checks.append(("NEST import", False, f"{exc} — fix: make setup"))
    try:
        include = nestml.nest_include_dir()
        checks.append(("NEST C++ headers", True, str(include)))
    except nestml.NestmlError as exc:
        checks.append(("NEST C++ headers", False, str(exc)))
    compiler = shutil.which("g++")
    checks.append(
        (
            "C++ compiler",
            compiler is not None,
            nestml.compiler_version(compiler) if compiler else "g++ not found — fix: sudo apt-get install -y g++",
        )
    )
    missing = nestml.missing_build_tools()
    if missing:
        packages = " ".join(sorted({p for _, p in missing}))
        checks.append(
            (
                "build tools and headers",
                False,
                f"missing {', '.join(m for m, _ in missing)} — fix: sudo apt-get install -y {packages}",
            )
        )
    else:
        checks.append(("build tools and headers", True, "cmake, make, GSL, Boost and ltdl headers found"))
    checks.append(("NESTML cache", True, str(nestml.cache_root())))
    if all(ok for _, ok, _ in checks):
        try:
            checks.append(("NESTML build and run", True, _doctor_build_and_run()))
        except Exception as exc:
            checks.append(("NESTML build and run", False, f"{type(exc).__name__}: {exc}"))
    else:
        checks.append(("NESTML build and run", False, "skipped: fix the problems above first"))

    width = max(len(what) for what, _, _ in checks)
    print(f"nest-workshop {__version__} doctor")
    for what, ok, detail in checks:
        print(f"  {'✔' if ok else '✘'} {what:<{width}}  {detail}")
    failed = [what for what, ok, _ in checks if not ok]
    print("All checks passed." if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}.")
    return 0 if not failed else 1


# ---------------------------------------------------------------------------
# build


def build_command(args) -> int:
    materials = Path(args.path).resolve() if args.path else find_materials()
    manifests = sorted(materials.rglob(MANIFEST_NAME))
    if not manifests:
        print(f"No {MANIFEST_NAME} under {materials}: no NESTML module to build.")
    failures = 0
    for manifest in manifests:
        try:
            specs = read_manifest(manifest)
        except nestml.NestmlError as exc:
            failures += 1
            print(f"✘ {exc}")
            continue
        for spec in specs:
            part = manifest.parent.relative_to(materials) if manifest.parent != materials else Path(manifest.parent.name)
            label = f"{part}: {', '.join(Path(s).name for s in spec['sources'])}"
            started = time.perf_counter()
            try:
                module = nestml.build(**spec, load=False)
            except (nestml.NestmlError, FileNotFoundError) as exc:
                failures += 1
                print(f"✘ {label}\n{exc}")
                continue
            how = "built" if module.built else "cached"
            print(f"✔ {label}: {how} in {time.perf_counter() - started:.1f} s -> {module.path}")
    failures += prepare_morphologies(materials)
    return 1 if failures else 0


def prepare_morphologies(materials: Path) -> int:
    """Compute NEAT's tree modes for every shipped morphology (``<part>/data/*.swc``, with
    the compartmental part's default passive membrane) into NEAT's cache, so a
    notebook's first fit of it takes seconds instead of about 20 s. Returns the number of
    failures; without NEAT installed it says so and does nothing."""
    morphologies = sorted(materials.glob("*/data/*.swc"))
    if not morphologies:
        return 0
    from ..parts import compartmental

    try:
        compartmental.import_neat()
    except ImportError as exc:
        print(f"– morphologies not prepared: {exc}")
        return 0
    failures = 0
    for swc in morphologies:
        label = f"{swc.relative_to(materials)} (NEAT)"
        started = time.perf_counter()
        try:
            tree = compartmental.load_morphology(swc)
            compartmental.reduce_morphology(tree, {"soma": (1, 0.5)}, support=())  # any fit computes the tree's modes
        except Exception as exc:  # a bad file must not hide the others' results
            failures += 1
            print(f"✘ {label}\n{exc}")
            continue
        print(f"✔ {label}: tree modes cached in {time.perf_counter() - started:.1f} s -> {compartmental.neat_cache_dir()}")
    return failures


# ---------------------------------------------------------------------------
# exercises


def exercises_command(args) -> int:
    targets = [Path(p) for p in args.paths] or [find_materials()]
    solutions = [s for t in targets for s in exercises.find_solutions(t)]
    if not solutions:
        print(f"No *{exercises.SOLUTION_SUFFIX} notebooks in {', '.join(map(str, targets))}.")
        return 1
    status = 0
    for solution in solutions:
        try:
            outcome = exercises.generate(solution, force=args.force, check_only=args.check)
        except (exercises.EditedNotebookError, exercises.ExerciseFormatError) as exc:
            print(f"✘ {exc}")
            status = 1
            continue
        if outcome.action == "would change":
            status = 1
            print(f"✘ {outcome.participant} is out of date: run `nest-workshop exercises`")
        else:
            extra = f" (your edited version was kept as {outcome.backup.name})" if outcome.backup else ""
            print(f"✔ {outcome.participant}: {outcome.action}{extra}")
    return status


# ---------------------------------------------------------------------------
# check


def check_command(args) -> int:
    from . import notebook_runner

    materials = find_materials()
    targets = [Path(p) for p in args.paths] or [materials]
    solutions = [s for t in targets for s in exercises.find_solutions(t)]
    if not solutions:
        print(f"No *{exercises.SOLUTION_SUFFIX} notebooks in {', '.join(map(str, targets))}.")
        return 1
    runs = []
    for number, solution in enumerate(solutions, 1):
        print(
            f"[{number}/{len(solutions)}] {solution.relative_to(materials.parent) if solution.is_relative_to(materials.parent) else solution} ...",
            end=" ",
            flush=True,
        )
        run = notebook_runner.run_notebook(solution, timeout=args.timeout)
        print(f"{'pass' if run.passed else 'FAIL'} in {run.wall_s:.0f} s", flush=True)
        runs.append(run)
    print()
    print(notebook_runner.format_table(runs, materials))
    failed = [r for r in runs if not r.passed]
    print(f"\n{len(runs) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


# ---------------------------------------------------------------------------
# start


def start_command(args) -> int:
    from . import workspace

    materials = find_materials()
    try:
        result = workspace.start(args.part, materials, Path(args.workspace) if args.workspace else None)
    except ValueError as exc:
        print(f"✘ {exc}")
        return 1
    print(workspace.report(result))
    return 0


# ---------------------------------------------------------------------------
# slides


def slides_command(args) -> int:
    from . import slides

    root = find_materials().parent
    presentations = Path(args.presentations) if args.presentations else root / "presentations"
    out_dir = Path(args.output) if args.output else root / "build" / "slides"
    if args.figures is not None:
        from . import deck_figures

        if args.figures == "drawn":
            for name in deck_figures.DRAWN:
                print(f"✔ {deck_figures.draw(name, presentations / 'figures')}")
        else:
            deck_figures.write_all(presentations / "figures")
        return 0
    return slides.main(presentations, out_dir, execute=not args.no_execute)


def scale_command(args) -> int:
    from ..core import ranks
    from ..scaleout import scaling

    try:
        summary = scaling.main(
            args.network, args.size, args.out, seed=args.seed, threads=args.threads, t_sim=args.t_sim, iterations=args.iterations
        )
    except ValueError as error:
        if ranks.is_root():
            print(f"nest-workshop scale: {error}", file=sys.stderr)
        return 2
    if ranks.is_root():
        what = (
            f"{summary['n_spikes']} spikes, {summary['rate_hz']:.2f} spikes/s, CV {summary['cv']:.2f}, chi {summary['chi']:.3f}"
            if args.network == "astrocytes"
            else f"loss {summary['first_loss']:.4g} -> {summary['last_loss']:.4g}"
        )
        print(
            f"{args.network} x{summary['size']:g} on {summary['ranks']} rank(s) x {summary['threads_per_rank']} "
            f"thread(s): {what}; {summary['wall_s']:.1f} s, peak "
            f"{max(summary['peak_memory_mb_per_rank']):.0f} MB per rank; files in {args.out}"
        )
    return 0


def schedule_command(args) -> int:
    from . import schedule

    root = find_materials().parent
    try:
        day = schedule.load_day(root)
        parts = [day.part(name) for name in args.parts] if args.parts else day.parts
    except schedule.ScheduleError as exc:
        print(f"✘ {exc}")
        return 1
    print(schedule.report(schedule.Day(root, parts)))
    status = 0 if all(p.fits and not p.problems for p in parts) else 1
    if args.write:
        changed = schedule.write(day, args.parts or None)
        for path in changed:
            print(f"✔ wrote {path.relative_to(root)}")
            if path.name.endswith(exercises.SOLUTION_SUFFIX):
                outcome = exercises.generate(path)
                print(f"✔ {outcome.participant.relative_to(root)}: {outcome.action}")
        if not changed:
            print("✔ every time in the notebooks, READMEs and decks is up to date")
    else:
        for problem in schedule.missing_markers(day) + schedule.deck_overruns(day):
            print(f"✘ {problem}")
            status = 1
        for path in schedule.stale(day):
            print(f"✘ {path.relative_to(root)} states other times: run `nest-workshop schedule --write`")
            status = 1
    return status


def desktop_command(args) -> int:
    from . import desktop

    return desktop.run(desktop_port=args.port, server_port=args.server_port, bind=args.host)


def hub_command(args) -> int:
    from . import hub

    try:
        return hub.launch(args)
    except hub.HubError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nest-workshop", description="Helpers for the NEST workshop materials.")
    parser.add_argument("--version", action="version", version=f"nest-workshop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check the installation; every failed check says how to fix it")
    p.set_defaults(func=doctor_command)

    p = sub.add_parser("build", help="pre-build every NESTML module the materials use, and NEAT's cache for their morphologies")
    p.add_argument("path", nargs="?", help="materials folder (default: ./materials)")
    p.set_defaults(func=build_command)

    p = sub.add_parser("exercises", help="generate participant notebooks from *_solution.ipynb")
    p.add_argument("paths", nargs="*", help="solution notebooks or folders (default: ./materials)")
    p.add_argument("--force", action="store_true", help="overwrite edited participant notebooks (a backup is kept)")
    p.add_argument("--check", action="store_true", help="write nothing; fail if a participant notebook is out of date")
    p.set_defaults(func=exercises_command)

    p = sub.add_parser("check", help="run solution notebooks in fresh kernels; table of result, time, memory")
    p.add_argument("paths", nargs="*", help="solution notebooks or part folders (default: all of materials/)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per cell (default 1800)")
    p.set_defaults(func=check_command)

    p = sub.add_parser("start", help="copy a part's participant notebooks into workspace/PART (never overwrites)")
    p.add_argument("part", help="a folder of materials/, e.g. introduction, eprop, astrocytes")
    p.add_argument("--workspace", help="where to put the part's folder (default: workspace/ beside materials/)")
    p.set_defaults(func=start_command)

    p = sub.add_parser("slides", help="render presentations/*.ipynb into offline HTML slide shows")
    p.add_argument("--presentations", help="folder of deck notebooks (default: ./presentations)")
    p.add_argument("--output", help="output folder (default: build/slides)")
    p.add_argument("--no-execute", action="store_true", help="do not run the decks' figure cells")
    p.add_argument(
        "--figures",
        nargs="?",
        const="all",
        choices=["all", "drawn"],
        help="write the decks' figures into presentations/figures/ instead (all: also the notebooks' "
        "result figures, which runs those notebooks, minutes; drawn: only the schematics and slide simulations)",
    )
    p.set_defaults(func=slides_command)

    p = sub.add_parser(
        "schedule",
        help="each part's session (slides + core paths of its notebooks) against its slot in the day",
        description="Compute each part's session time from its notebooks at the teaching pace "
        "(materials/schedule.toml, benchmarks/results/session_compute.json) and check it against the part's slot.",
    )
    p.add_argument("parts", nargs="*", help="parts to report (default: all)")
    p.add_argument(
        "--write", action="store_true", help="write the times into the notebooks, READMEs and decks (of the parts named, or all)"
    )
    p.set_defaults(func=schedule_command)

    p = sub.add_parser(
        "desktop",
        help="start NEST Desktop and a token-protected NEST Server on 127.0.0.1 (Ctrl-C stops both)",
        description="Start NEST Server (127.0.0.1 only, access token from NEST_SERVER_ACCESS_TOKEN or generated, "
        "scripts under RestrictedPython) and NEST Desktop, and print the URL to open.",
    )
    p.add_argument("--port", type=int, default=54286, help="NEST Desktop's port (default 54286)")
    p.add_argument("--server-port", type=int, default=52425, help="NEST Server's port (default 52425)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        choices=["127.0.0.1", "0.0.0.0"],
        help="address both listen on: 127.0.0.1 (default); 0.0.0.0 only inside a container whose ports are published on 127.0.0.1",
    )
    p.set_defaults(func=desktop_command)

    p = sub.add_parser(
        "hub",
        help="a workshop room on this server: JupyterHub serving the bundle to many participants (as root)",
        description="Start JupyterHub for a room: each participant signs in with a name, their own password and "
        "the access code, and gets a system user, a private copy of the materials and a fair share of cores and "
        "memory; NESTML modules are built once for everyone. Prints the access code and the instructor's secret once.",
    )
    from .hub import add_arguments as add_hub_arguments

    add_hub_arguments(p)
    p.set_defaults(func=hub_command)

    p = sub.add_parser(
        "scale",
        help="run the astrocyte or e-prop network at a larger size (works under mpirun)",
        description="Run a network of the bundle at SIZE times its workshop size, on this process "
        "or under `mpirun -np N`; writes summary.json and spikes.npz / weights.npz "
        "into --out (formats: nest_workshop.scaleout.scaling).",
    )
    p.add_argument("network", choices=["astrocytes", "eprop"])
    p.add_argument(
        "--size",
        type=float,
        default=1.0,
        help="astrocytes: SIZE x 1000 neurons (>= 0.5); eprop: SIZE x 100 recurrent neurons (default 1)",
    )
    p.add_argument("--out", default="scale-results", help="output folder (default ./scale-results)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="threads per rank (default: 1 under MPI, else the machine's cores)")
    p.add_argument("--t-sim", type=float, default=1000.0, help="astrocytes: simulated time in ms (default 1000)")
    p.add_argument("--iterations", type=int, default=20, help="eprop: training iterations (default 20)")
    p.set_defaults(func=scale_command)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
