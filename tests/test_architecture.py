"""The package's floor plan: import graph, layers, private names, and who owns the kernel.

See docs/architecture.md for the rules these tests enforce.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nest_workshop as nw
from nest_workshop.core.kernel import KernelNotFreshError

PACKAGE = Path(nw.__file__).resolve().parent
ROOMS = ("core", "parts", "tools", "scaleout")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PART_MODULES = sorted(m for m in MODULES if m.startswith("nest_workshop.parts.") and not m.endswith("__init__"))


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` statement."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if MODULES[importer].name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import of the package's
    own modules, at module level and inside functions alike."""
    found = []
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.startswith("nest_workshop")]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node)
            if not target.startswith("nest_workshop"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (target, alias.name))
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name in MODULES:
        # importing a module imports its packages first: count only the module itself
        graph[name] = {target for target, _ in imports_of(name) if target in MODULES and target != name}
    return graph


def room(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "package"


def test_every_module_imports_alone_in_a_fresh_interpreter():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    for name in MODULES:
        result = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True)
        assert result.returncode == 0, f"import {name} failed:\n{result.stderr[-2000:]}"


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


# Which room may import which, a strict order: core <- parts <- scaleout <- tools. The
# core stands alone (gathering across MPI ranks included: core.ranks); parts build on
# the core; scaleout on both; tools on everything (nest-workshop scale is a tool).
ALLOWED = {
    "core": {"core", "package"},
    "parts": {"core", "parts", "package"},
    "tools": {"core", "parts", "tools", "scaleout", "package"},
    "scaleout": {"core", "parts", "scaleout", "package"},
}


@pytest.mark.parametrize("name", [m for m in MODULES if room(m) in ROOMS])
def test_each_room_imports_only_what_it_may(name):
    allowed = ALLOWED[room(name)]
    for target in import_graph()[name]:
        target_room = room(target)
        assert target_room in allowed or target == "nest_workshop", f"{name} imports {target}, outside {sorted(allowed)}"


@pytest.mark.parametrize("name", list(MODULES))
def test_no_module_uses_another_modules_private_names(name):
    offenders = [
        f"{target}.{taken}"
        for target, taken in imports_of(name)
        if taken and taken.startswith("_") and taken not in ("__version__",)
    ]
    tree = ast.parse(MODULES[name].read_text())
    imported_modules = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if f"{resolve(name, node)}.{alias.name}" in MODULES
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            offenders.append(f"{node.value.id}.{node.attr}")
    assert not offenders, f"{name} uses private names of other modules: {offenders}"


KERNEL_SETTINGS = {"rng_seed", "local_num_threads", "total_num_virtual_procs"}


@pytest.mark.parametrize("name", PART_MODULES)
def test_part_modules_never_reset_the_kernel_or_choose_seeds_and_threads(name):
    """The notebook owns the kernel: a part's helpers run in the kernel it set up."""
    problems = []
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("reset_kernel", "ResetKernel", "SetKernelStatus"):
                problems.append(f"line {node.lineno}: calls {called}")
            if called in ("set", "SetKernelStatus") and any(k.arg in KERNEL_SETTINGS for k in node.keywords):
                problems.append(f"line {node.lineno}: sets {[k.arg for k in node.keywords]}")
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in KERNEL_SETTINGS | {"resolution"}:
                    problems.append(f"line {node.lineno}: assigns {target.attr}")
    assert not problems, f"{name} changes the kernel behind the notebook's back: {problems}"


def _network_builders():
    """Every part helper that builds a network of its own, with arguments that are valid."""
    from nest_workshop.parts import compartmental

    tree = compartmental.BallAndSticks().compartments()
    return {
        "compartmental.synchronous_input": lambda: compartmental.synchronous_input([1], weight=0.001),
        "compartmental.summation": lambda: compartmental.summation(2, layout="clustered", weight=0.001, receptor_type="AMPA"),
        "compartmental.volleys": lambda: compartmental.volleys({"a": [1]}, weight=0.001),
        "compartmental.run_cell": lambda: compartmental.run_cell("cm_default", tree, t_sim=10.0),
        "compartmental.compare_models": lambda: compartmental.compare_models(tree, t_sim=10.0),
    }


# Builders that need a NEAT tree or a reduced neuron to be called; each has its own
# used-kernel test in tests/test_compartmental.py.
BUILDERS_TESTED_WITH_A_TREE = {"reduce_to_tolerance", "epsp_reduced", "compare_epsps"}


def test_every_helper_that_asks_for_a_fresh_kernel_is_tested():
    """The list above is checked against the code: every name a part passes to
    require_fresh_kernel (directly, or as the ``caller=`` of a shared helper)."""
    asked = set()
    for name, path in MODULES.items():
        if room(name) != "parts":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if callee == "require_fresh_kernel" and node.args and isinstance(node.args[0], ast.Constant):
                asked.add(node.args[0].value)
            asked.update(k.value.value for k in node.keywords if k.arg == "caller" and isinstance(k.value, ast.Constant))
    tested = {key.split(".")[-1] for key in _network_builders()} | BUILDERS_TESTED_WITH_A_TREE
    assert asked == tested, f"untested: {sorted(asked - tested)}; no longer asking: {sorted(tested - asked)}"


@pytest.mark.parametrize("helper", sorted(_network_builders()))
def test_network_builders_ask_for_a_fresh_kernel(helper):
    nest = nw.reset_kernel(seed=1, threads=1)
    nest.Create("iaf_psc_alpha")
    with pytest.raises(KernelNotFreshError, match="nw.reset_kernel"):
        _network_builders()[helper]()


def test_nw_reset_kernel_shows_its_own_signature():
    import inspect

    import nest_workshop as nw
    from nest_workshop.core import kernel

    assert nw.reset_kernel is kernel.reset_kernel
    assert list(inspect.signature(nw.reset_kernel).parameters) == ["seed", "threads", "resolution", "quiet"]


def test_dir_of_the_facade_offers_the_short_names():
    """Completers that rely on dir() offer nw.eprop, nw.plotting, ... before their first use."""
    import nest_workshop as nw

    assert {"reset_kernel", "eprop", "plotting", "compartmental", "nestml"} <= set(dir(nw))


def test_scaleout_runs_the_notebooks_networks_and_builds_none_of_its_own():
    """nest-workshop scale runs the notebooks' network cells (core.notebook_code): no
    Create, Connect or TripartiteConnect of its own, so there is nothing to drift."""
    for name, path in MODULES.items():
        if room(name) == "scaleout":
            calls = [
                node.func.attr
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            ]
            assert not {"Create", "Connect", "TripartiteConnect"} & set(calls), f"{name} builds a network"
