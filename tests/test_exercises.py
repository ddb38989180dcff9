"""The participant-notebook generator: blanking, markers, and never losing a participant's work."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nest_workshop.tools import exercises


def write_solution(folder, cells, name="demo_solution.ipynb"):
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.fixture
def solution(tmp_path):
    return write_solution(
        tmp_path,
        [
            new_markdown_cell("# Demo"),
            new_code_cell("x = 1\n### BEGIN SOLUTION: compute y, twice x\ny = 2 * x\n### END SOLUTION\nprint(y)"),
            new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 3\n    ### END SOLUTION"),
            new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        ],
    )


def participant_cells(solution):
    exercises.generate(solution)
    return nbformat.read(exercises.participant_path(solution), as_version=4).cells


def test_exercise_code_is_replaced_by_a_clear_error(solution):
    cells = participant_cells(solution)
    code = cells[2].source  # cells[1] is the participant note
    assert code.splitlines() == [
        "x = 1",
        "# YOUR CODE HERE",
        'raise NotImplementedError("Exercise: compute y, twice x, then run this cell again.")',
        "print(y)",
    ]
    assert "y = 2 * x" not in json.dumps([c.source for c in cells])
    namespace = {}
    with pytest.raises(NotImplementedError, match="compute y, twice x"):
        exec(code, namespace)


def test_exercise_cells_are_tagged_so_run_all_goes_on(solution):
    cells = participant_cells(solution)
    tagged = [i for i, c in enumerate(cells) if exercises.RAISES_TAG in c.metadata.get("tags", [])]
    assert tagged == [2, 3]  # the two code exercises; not the Markdown answer, not plain cells
    solution_cells = nbformat.read(solution, as_version=4).cells
    assert not any(exercises.RAISES_TAG in c.metadata.get("tags", []) for c in solution_cells)


def test_indentation_kept_and_default_message(solution):
    code = participant_cells(solution)[3].source
    assert code.splitlines()[1] == "    # YOUR CODE HERE"
    namespace = {}
    exec(code, namespace)  # still valid Python
    with pytest.raises(NotImplementedError, match="write the code described above"):
        namespace["f"]()


def test_markdown_answer_blanked_and_note_points_to_solution(solution):
    cells = participant_cells(solution)
    assert cells[4].source == "Why?\n\n*YOUR ANSWER HERE*"
    assert "demo_solution.ipynb" in cells[1].source


def test_outputs_removed(tmp_path):
    cell = new_code_cell("print(1)", execution_count=3, outputs=[nbformat.v4.new_output("stream", text="1\n")])
    path = write_solution(tmp_path, [cell])
    out = participant_cells(path)[1]  # [0] is the participant note
    assert out.outputs == [] and out.execution_count is None


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "has no '### END SOLUTION'"),
        ("x = 1\n### END SOLUTION", "without a '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_malformed_markers_are_reported_with_the_cell(tmp_path, source, message):
    path = write_solution(tmp_path, [new_markdown_cell("# t"), new_code_cell(source)])
    with pytest.raises(exercises.ExerciseFormatError, match=message) as info:
        exercises.generate(path)
    assert "cell 2" in str(info.value)


def test_regeneration_is_idempotent(solution):
    assert exercises.generate(solution).action == "written"
    assert exercises.generate(solution).action == "unchanged"


def test_edited_participant_notebook_is_not_overwritten(solution):
    exercises.generate(solution)
    target = exercises.participant_path(solution)
    nb = nbformat.read(target, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("# YOUR CODE HERE", "y = 2 * x  # my answer")
    nbformat.write(nb, target)
    edited = target.read_text()

    # the solution changes, so the generator would like to write
    sol = nbformat.read(solution, as_version=4)
    sol.cells[0].source = "# Demo, revised"
    nbformat.write(sol, solution)

    with pytest.raises(exercises.EditedNotebookError, match="--force"):
        exercises.generate(solution)
    assert target.read_text() == edited

    outcome = exercises.generate(solution, force=True)
    assert outcome.action == "backed up and written"
    assert outcome.backup.read_text() == edited
    assert "Demo, revised" in target.read_text()


def test_a_run_participant_notebook_counts_as_edited(solution):
    exercises.generate(solution)
    target = exercises.participant_path(solution)
    nb = nbformat.read(target, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="2\n")]
    nbformat.write(nb, target)
    assert exercises.is_edited(target)


def test_check_only_writes_nothing(solution):
    target = exercises.participant_path(solution)
    assert exercises.generate(solution, check_only=True).action == "would change"
    assert not target.exists()


def test_names():
    assert exercises.participant_path(exercises.Path("a/x_solution.ipynb")).name == "x.ipynb"
    with pytest.raises(ValueError, match="_solution.ipynb"):
        exercises.participant_path(exercises.Path("a/x.ipynb"))
