"""`nest-workshop check`: runs notebooks in fresh kernels, reports failures and measures."""

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from nest_workshop.tools import notebook_runner


def write(path, sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_passing_notebook_is_measured_in_its_own_folder(tmp_path):
    (tmp_path / "data.txt").write_text("42")
    path = write(
        tmp_path / "good_solution.ipynb",
        [
            "x = open('data.txt').read()",
            # written, so the pages are really resident; held a second so
            # the 0.2 s sampler sees them
            "import time; big = b'1' * 200_000_000; time.sleep(1.0)",
            "assert x == '42'",
        ],
    )
    run = notebook_runner.run_notebook(path)
    assert run.passed and run.error == ""
    assert run.peak_memory_gb > 0.2  # the kernel held 200 MB
    assert run.nestml == "-"


def test_failing_notebook_names_cell_and_error(tmp_path):
    path = write(tmp_path / "bad_solution.ipynb", ["a = 1", "raise ValueError('the network did not learn')", "b = 2"])
    run = notebook_runner.run_notebook(path)
    assert not run.passed
    assert run.error.startswith("cell 2:") and "the network did not learn" in run.error
    table = notebook_runner.format_table([run], tmp_path)
    assert "bad_solution.ipynb" in table and "FAIL cell 2" in table


def test_the_nestml_column_is_what_the_kernel_built_or_loaded(tmp_path):
    """Read from nestml.build's own record in the kernel, not guessed from the notebook's text
    (compartmental 03 builds through compartmental.build_model, which no text search saw)."""
    record = "from nest_workshop.core import nestml\nnestml.BUILDS['{name}_module'] = '{what}'"
    cached = write(tmp_path / "cached_solution.ipynb", ["x = 1", record.format(name="a", what="cached")])
    assert notebook_runner.run_notebook(cached).nestml == "cached"
    built = write(
        tmp_path / "built_solution.ipynb", [record.format(name="a", what="cached"), record.format(name="b", what="built")]
    )
    assert notebook_runner.run_notebook(built).nestml == "built"
    mentioned = write(tmp_path / "text_only_solution.ipynb", ["# nestml.build( is only mentioned here", "y = 2"])
    assert notebook_runner.run_notebook(mentioned).nestml == "-"
