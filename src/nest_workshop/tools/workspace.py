"""A participant's own copy of a part: ``nest-workshop start PART``.

The participant notebooks of ``materials/PART/`` and the files they need (models,
``nestml_modules.toml``, data, README) are copied into ``workspace/PART/``, a folder
git ignores. A participant works there, so updating the materials (``git pull``) never
conflicts with their work. Nothing already in the workspace is ever overwritten: a file
that is there is kept, and when the materials hold a different version of it the
command says so and how to get the new one.

``workspace/PART`` sits at the same depth as ``materials/PART``, so a notebook's
relative paths to the rest of the bundle (``../../benchmarks/...``) still resolve.
"""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import SOLUTION_SUFFIX

WORKSPACE_DIR = "workspace"
# Never copied: solutions stay in materials/ (for reference), and nothing generated —
# my_models/ holds the models a solution notebook filled in and built (a finished exercise).
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", "neatcache", "build", "target", "my_models"}


@dataclass
class StartResult:
    part: str
    destination: Path
    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # already there, identical or not
    differs: list[Path] = field(default_factory=list)  # kept, while materials/ has another version

    @property
    def notebooks(self) -> list[Path]:
        return sorted(p for p in (self.destination.rglob("*.ipynb")) if not _skipped(p.relative_to(self.destination)))


def parts(materials: Path) -> list[str]:
    """The parts that have notebooks, e.g. ``["astrocytes", "eprop", "introduction"]``."""
    return sorted(
        d.name for d in materials.iterdir() if d.is_dir() and not d.name.startswith((".", "_")) and any(d.glob("*.ipynb"))
    )


def _skipped(relative: Path) -> bool:
    name = relative.name
    return (
        any(part in SKIP_DIRS or part.startswith(".") for part in relative.parts)
        or name.endswith(SOLUTION_SUFFIX)
        or ".edited-" in name
    )


def files_to_copy(part_dir: Path) -> list[Path]:
    """A part's files that belong in a participant's workspace, relative to the part."""
    return sorted(p.relative_to(part_dir) for p in part_dir.rglob("*") if p.is_file() and not _skipped(p.relative_to(part_dir)))


def start(part: str, materials: Path, workspace: Path | None = None) -> StartResult:
    """Copy ``materials/PART`` (participant version) into ``workspace/PART``; never
    overwrite a file that is already there."""
    materials = materials.resolve()
    available = parts(materials)
    name = part.strip("/").removeprefix("materials/")
    if name not in available:
        raise ValueError(f"no part {part!r} in {materials}; available: {', '.join(available) or 'none'}")
    source = materials / name
    destination = (workspace or materials.parent / WORKSPACE_DIR) / name
    result = StartResult(name, destination)
    for relative in files_to_copy(source):
        target = destination / relative
        if target.exists():
            result.kept.append(relative)
            if not filecmp.cmp(source / relative, target, shallow=False):
                result.differs.append(relative)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # "x": create, and fail if the file exists meanwhile (a second `start`, a
            # save from JupyterLab): even then nothing is overwritten.
            with open(source / relative, "rb") as src, open(target, "xb") as dst:
                shutil.copyfileobj(src, dst)
        except FileExistsError:
            result.kept.append(relative)
            continue
        shutil.copystat(source / relative, target)
        result.copied.append(relative)
    return result


def report(result: StartResult) -> str:
    """What happened and how to open the notebooks, for the terminal."""
    try:
        shown = result.destination.relative_to(Path.cwd())
    except ValueError:
        shown = result.destination
    lines = [f"Your workspace for '{result.part}': {shown}/"]
    if result.copied:
        lines.append(f"  copied {len(result.copied)} file(s): {', '.join(map(str, result.copied))}")
    if result.kept:
        lines.append(f"  kept {len(result.kept)} file(s) already there (never overwritten)")
    for relative in result.differs:
        source = Path("materials") / result.part / relative
        lines.append(
            f"  ! {relative}: the materials have a newer or different version. To get it, rename your "
            f"copy and run this command again (or compare with {source})."
        )
    notebooks = [p.relative_to(result.destination) for p in result.notebooks]
    if notebooks:
        lines.append("Notebooks: " + ", ".join(map(str, notebooks)))
    lines += [
        "Open them with:",
        f"  make start PART={result.part}          (JupyterLab on 127.0.0.1, opened on {WORKSPACE_DIR}/)",
        f"  or: .venv/bin/jupyter lab --ip=127.0.0.1 --notebook-dir={WORKSPACE_DIR}",
        f"  or, in a JupyterLab that is already open at the bundle's folder, browse to {WORKSPACE_DIR}/{result.part}/.",
        f"The worked solutions stay in materials/{result.part}/ (*{SOLUTION_SUFFIX}).",
    ]
    return "\n".join(lines)
