"""A notebook's network cells, run outside the notebook: the notebook is the one source.

A part's solution notebook defines its network in code cells tagged ``network``: the
imports they need, the parameters, and the cells or functions that build and run the
network. ``nest-workshop scale``, the benchmarks and the tests run those cells, so they
run the network participants run, never a copy of it (NEST's examples work the same way:
the script that teaches takes a ``scale``).

Sizes and seeds follow papermill's convention: one tagged cell is also tagged
``parameters``; a caller's overrides replace the values it defines, right after it ran.
Only names that cell defines can be overridden, so a misspelt override is an error, not
a silent no-op.

As in every notebook of the bundle, ``nw`` is the helper package and ``nest`` the NEST
module: the cells find both in their namespace, and run in the notebook's folder, as in
Jupyter (``models/`` and ``data/`` are the part's). Threads come from
``$NEST_WORKSHOP_THREADS``, as in a participant's kernel (:func:`.kernel.default_threads`).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path

from .isolation import working_directory

NETWORK_TAG = "network"
PARAMETERS_TAG = "parameters"
BUNDLE_ENV = "NEST_WORKSHOP_BUNDLE"


@dataclasses.dataclass(frozen=True)
class Cell:
    id: str
    source: str
    tags: tuple[str, ...]


def bundle_root() -> Path:
    """The folder holding ``materials/``: ``$NEST_WORKSHOP_BUNDLE``, else the repository
    this package is installed from (``make setup`` installs it in place)."""
    root = Path(os.environ.get(BUNDLE_ENV) or Path(__file__).resolve().parents[3])
    if not (root / "materials").is_dir():
        raise FileNotFoundError(
            f"no materials/ folder in {root}: the notebooks are not next to this installation of "
            f"nest_workshop; set ${BUNDLE_ENV} to the nest-workshop folder"
        )
    return root


def solution_notebook(part: str, name: str) -> Path:
    """``materials/PART/NAME_solution.ipynb`` of the bundle, e.g. ``("astrocytes", "02_pools_and_network")``."""
    path = bundle_root() / "materials" / part / f"{name}_solution.ipynb"
    if not path.is_file():
        found = sorted(p.name for p in path.parent.glob("*_solution.ipynb")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no notebook {path}; {part} has {', '.join(found) or 'no solution notebooks'}")
    return path


def tagged_cells(notebook: str | Path, tag: str = NETWORK_TAG) -> list[Cell]:
    """The code cells of ``notebook`` tagged ``tag``, in notebook order."""
    cells = []
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        tags = tuple(cell.get("metadata", {}).get("tags", ()))
        if cell["cell_type"] == "code" and tag in tags:
            cells.append(Cell(cell.get("id", "?"), "".join(cell["source"]), tags))
    return cells


def assigned_names(source: str) -> set[str]:
    """The names a cell assigns at its top level (``a = ...``, ``a, b = ...``, ``a: int = ...``)."""
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def run_cells(
    notebook: str | Path, overrides: dict | None = None, *, tag: str = NETWORK_TAG, until: str | None = None, quiet: bool = True
) -> dict:
    """Execute the cells of ``notebook`` tagged ``tag`` in a fresh namespace and return
    it. ``overrides`` replace values of the cell tagged ``parameters`` right after it
    ran. ``until`` names the last cell to run (its id), for a notebook whose later
    network cells start a new network in a fresh kernel. What the cells print is
    dropped when ``quiet`` (under MPI every rank would print it). Tracebacks name the
    notebook and the cell's id."""
    import nest_workshop

    from .kernel import import_nest

    notebook = Path(notebook)
    cells = tagged_cells(notebook, tag)
    if not cells:
        raise ValueError(f"{notebook.name} has no code cell tagged {tag!r}")
    if until is not None:
        ids = [cell.id for cell in cells]
        if until not in ids:
            raise ValueError(f"{notebook.name} has no {tag!r} cell {until!r}; they are {', '.join(ids)}")
        cells = cells[: ids.index(until) + 1]
    overrides = dict(overrides or {})
    parameter_cells = [cell for cell in cells if PARAMETERS_TAG in cell.tags]
    if overrides and len(parameter_cells) != 1:
        raise ValueError(
            f"{notebook.name} needs exactly one {tag!r} cell tagged {PARAMETERS_TAG!r} to take overrides; "
            f"it has {len(parameter_cells)}"
        )
    namespace = {"__name__": f"notebook:{notebook.stem}", "nw": nest_workshop, "nest": import_nest()}
    with working_directory(notebook.resolve().parent):  # as in Jupyter: relative paths are the notebook's
        _run(notebook, cells, namespace, overrides, tag, quiet)
    return namespace


def _run(notebook: Path, cells: list[Cell], namespace: dict, overrides: dict, tag: str, quiet: bool) -> None:
    for cell in cells:
        magic = next((line for line in cell.source.splitlines() if line.lstrip().startswith(("%", "!"))), None)
        if magic is not None:
            raise ValueError(f"{notebook.name}, cell {cell.id}: a {tag!r} cell must be plain Python, found {magic!r}")
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            exec(compile(cell.source, f"{notebook.name}[{cell.id}]", "exec"), namespace)
        if PARAMETERS_TAG in cell.tags and overrides:
            defined = assigned_names(cell.source)
            unknown = sorted(set(overrides) - defined)
            if unknown:
                raise ValueError(
                    f"{notebook.name} has no parameter {', '.join(unknown)}; "
                    f"its parameters cell ({cell.id}) defines {', '.join(sorted(defined))}"
                )
            namespace.update(overrides)
