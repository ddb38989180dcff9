"""Participant notebooks from solution notebooks.

The solution notebook ``NAME_solution.ipynb`` is the single source; the participant
notebook ``NAME.ipynb`` beside it is generated, never edited by hand. In a solution,
exercise code sits between markers (the nbgrader convention)::

    rate = count_spikes(...)                 # kept
    ### BEGIN SOLUTION: compute the mean rate in spikes/s
    mean_rate = len(times) / n / T           # removed in the participant version
    ### END SOLUTION

and the participant version keeps the surrounding code and gets, in its place::

    # YOUR CODE HERE
    raise NotImplementedError("Exercise: compute the mean rate in spikes/s, then run this cell again.")

In a Markdown cell the block becomes "*YOUR ANSWER HERE*". Outputs are removed.

A code cell with a blank exercise carries the cell tag ``raises-exception``. JupyterLab
then sends it with ``stop_on_error`` off, so *Run All Cells* goes on past a blank
exercise instead of cancelling every cell after it (and nbclient and nbval expect its
error). Later cells never depend on an exercise's result, or fall back to a provided
value and say so, so the rest of the notebook runs.

The participant notebook records a digest of what was generated. Regenerating refuses
to overwrite a participant notebook whose cells differ from that record (a participant
wrote in it, or ran it) unless ``force=True``; then the old file is kept as a backup.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

SOLUTION_SUFFIX = "_solution.ipynb"
BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:\s*[:\-—]?\s*(?P<task>.*?))?\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
METADATA_KEY = "nest_workshop"
DEFAULT_TASK = "write the code described above"
NOTE_TAG = "participant-note"
# Cells that raise on purpose: JupyterLab's Run All continues past them.
RAISES_TAG = "raises-exception"


class ExerciseFormatError(ValueError):
    """A solution notebook's exercise markers are malformed."""


class EditedNotebookError(RuntimeError):
    """A participant notebook was edited since it was generated; it is not overwritten."""


def participant_path(solution: Path) -> Path:
    solution = Path(solution)
    if not solution.name.endswith(SOLUTION_SUFFIX):
        raise ValueError(f"{solution.name} is not a solution notebook: its name must end in {SOLUTION_SUFFIX}")
    return solution.with_name(solution.name[: -len(SOLUTION_SUFFIX)] + ".ipynb")


def _blank_block(lines: list[str], where: str, markdown: bool) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if END.match(lines[i]):
            raise ExerciseFormatError(f"{where}: '### END SOLUTION' without a '### BEGIN SOLUTION' before it")
        if not begin:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise ExerciseFormatError(f"{where}: '### BEGIN SOLUTION' inside another exercise block (line {j + 1})")
            j += 1
        if j == len(lines):
            raise ExerciseFormatError(f"{where}: '### BEGIN SOLUTION' (line {i + 1}) has no '### END SOLUTION'")
        indent = begin.group("indent")
        if markdown:
            out.append(f"{indent}*YOUR ANSWER HERE*")
        else:
            task = (begin.group("task") or DEFAULT_TASK).rstrip(".")
            message = json.dumps(f"Exercise: {task}, then run this cell again.", ensure_ascii=False)
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message})"]
        i = j + 1
    return out


def _cells_digest(nb) -> str:
    """What a participant can change: cell types, sources and outputs."""
    cells = [{"type": c.cell_type, "source": c.source, "outputs": c.get("outputs", [])} for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def make_participant(solution_nb, solution_name: str):
    """Return the participant version of a solution notebook (an nbformat node)."""
    nb = copy.deepcopy(solution_nb)
    n_exercises = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type in ("code", "markdown"):
            lines = cell.source.split("\n")
            blanked = _blank_block(lines, f"{solution_name}, cell {index + 1}", markdown=cell.cell_type == "markdown")
            exercises_here = sum(1 for line in lines if BEGIN.match(line))
            n_exercises += exercises_here
            cell.source = "\n".join(blanked)
            if exercises_here and cell.cell_type == "code":
                tags = list(cell.metadata.get("tags", []))
                cell.metadata["tags"] = tags + [RAISES_TAG] if RAISES_TAG not in tags else tags
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    note = nbformat.v4.new_markdown_cell(
        f"> **Participant version.** Exercises are marked *YOUR CODE HERE*: fill them in and run the cell. "
        f"Stuck? An exercise left blank stops only its own cell, so you can go on; the worked solutions are in "
        f"`{solution_name}`.",
        metadata={"tags": [NOTE_TAG]},
    )
    note.id = "participant-note"
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, note)
    nb.metadata[METADATA_KEY] = {"generated_from": solution_name, "exercises": n_exercises}
    nb.metadata[METADATA_KEY]["cells_sha256"] = _cells_digest(nb)
    return nb


def render(solution: Path) -> str:
    """The exact text of the participant notebook for ``solution``."""
    solution = Path(solution)
    nb = nbformat.read(solution, as_version=4)
    return nbformat.writes(make_participant(nb, solution.name)) + "\n"


@dataclass
class Outcome:
    solution: Path
    participant: Path
    action: str  # "written", "unchanged", "backed up and written", "would change"
    backup: Path | None = None


def is_edited(participant: Path) -> bool:
    """True when the participant notebook differs from what was generated into it."""
    nb = nbformat.read(participant, as_version=4)
    record = nb.metadata.get(METADATA_KEY, {})
    if "cells_sha256" not in record:
        return True  # not made by the generator: treat as someone's work
    return _cells_digest(nb) != record["cells_sha256"]


def generate(solution: Path, *, force: bool = False, check_only: bool = False) -> Outcome:
    """Write the participant notebook for ``solution``.

    Refuses (:class:`EditedNotebookError`) when the existing participant notebook was
    edited since it was generated, unless ``force``, which first saves it as
    ``NAME.edited-<time>.ipynb``. With ``check_only`` nothing is written.
    """
    solution = Path(solution)
    target = participant_path(solution)
    text = render(solution)
    if target.exists() and target.read_text() == text:
        return Outcome(solution, target, "unchanged")
    if check_only:
        return Outcome(solution, target, "would change")
    backup = None
    if target.exists() and is_edited(target):
        if not force:
            raise EditedNotebookError(
                f"{target} was edited since it was generated (someone wrote in it or ran it); it was not overwritten. "
                "Save your work under another name, or run again with --force to keep a backup copy and regenerate."
            )
        backup = target.with_name(f"{target.stem}.edited-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
        target.rename(backup)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    tmp.replace(target)  # atomic: never a half-written notebook
    return Outcome(solution, target, "backed up and written" if backup else "written", backup)


def find_solutions(root: Path) -> list[Path]:
    """Every solution notebook under ``root`` (checkpoints excluded)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob(f"*{SOLUTION_SUFFIX}") if ".ipynb_checkpoints" not in p.parts)
