"""Rules for the committed notebooks. (The solution notebooks themselves run under
nbval: `make test` passes materials/ to pytest with --nbval-lax.)"""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nest_workshop.tools import exercises

ROOT = Path(__file__).resolve().parents[1]
MATERIALS = ROOT / "materials"
SOLUTIONS = exercises.find_solutions(MATERIALS)
ALL_NOTEBOOKS = sorted(p for p in MATERIALS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_there_are_solution_notebooks():
    assert SOLUTIONS, "no *_solution.ipynb under materials/"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: str(p.relative_to(MATERIALS)))
def test_participant_notebook_is_what_the_generator_makes(solution):
    participant = exercises.participant_path(solution)
    assert participant.exists(), f"{participant.name} missing: run `nest-workshop exercises`"
    assert participant.read_text() == exercises.render(solution), (
        f"{participant.relative_to(ROOT)} differs from its solution: edit the solution, then run `nest-workshop exercises`"
    )


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(MATERIALS)))
def test_committed_without_outputs(notebook):
    nb = json.loads(notebook.read_text())
    dirty = [
        i for i, c in enumerate(nb["cells"], 1) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"cells {dirty} carry outputs: clear them before committing"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: str(p.relative_to(MATERIALS)))
def test_solution_has_an_exercise_and_a_self_check(solution):
    text = solution.read_text()
    assert "### BEGIN SOLUTION" in text, "every notebook has at least one exercise"
    assert "selfcheck." in text, "every notebook checks its own result with nest_workshop.core.selfcheck"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: str(p.relative_to(MATERIALS)))
def test_blank_exercises_stop_only_their_own_cells(solution):
    """Run the participant version: the only failing cells are blank exercises, and
    they fail with the exercise's NotImplementedError, so a stuck participant can go on.
    (Threads as for the solutions: NEST_WORKSHOP_THREADS if set, else all cores.)"""
    participant = exercises.participant_path(solution)
    nb = nbformat.read(participant, as_version=4)
    NotebookClient(nb, timeout=600, allow_errors=True, resources={"metadata": {"path": str(participant.parent)}}).execute()
    for index, cell in enumerate(nb.cells, 1):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if not errors:
            continue
        assert "# YOUR CODE HERE" in cell.source, f"cell {index} fails without being an exercise: {errors[0].evalue}"
        assert errors[0].ename == "NotImplementedError" and errors[0].evalue.startswith("Exercise:"), errors[0]
