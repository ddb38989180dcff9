"""`nest-workshop start PART`: a participant's own copy of a part, never overwritten."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nest_workshop.tools import cli, workspace

ROOT = Path(__file__).resolve().parents[1]
MATERIALS = ROOT / "materials"


@pytest.fixture
def bundle(tmp_path):
    """A bundle with one part: a solution, its participant notebook, a model, a manifest,
    a data file outside the part that the notebook reads, and clutter not to copy."""
    part = tmp_path / "materials" / "demo"
    (part / "models").mkdir(parents=True)
    (part / "01_demo.ipynb").write_text('{"cells": [], "note": "participant"}')
    (part / "01_demo_solution.ipynb").write_text('{"cells": [], "note": "solution"}')
    (part / "01_demo.edited-20250101.ipynb").write_text("{}")
    (part / "models" / "neuron.nestml").write_text("model neuron:\n")
    (part / "nestml_modules.toml").write_text('[[module]]\nsources = ["models/neuron.nestml"]\n')
    (part / ".ipynb_checkpoints").mkdir()
    (part / ".ipynb_checkpoints" / "01_demo-checkpoint.ipynb").write_text("{}")
    (part / "neatcache").mkdir()
    (part / "neatcache" / "x.p").write_text("cache")
    (part / "my_models").mkdir()  # what running the solution leaves: a filled-in model
    (part / "my_models" / "neuron.nestml").write_text("model neuron: # solved\n")
    (tmp_path / "materials" / "README.md").write_text("index")
    return tmp_path


def test_start_copies_participant_notebooks_and_what_they_need(bundle):
    result = workspace.start("demo", bundle / "materials")
    target = bundle / "workspace" / "demo"
    assert result.destination == target
    assert sorted(map(str, result.copied)) == ["01_demo.ipynb", "models/neuron.nestml", "nestml_modules.toml"]
    assert (target / "01_demo.ipynb").read_text() == '{"cells": [], "note": "participant"}'
    assert not (target / "01_demo_solution.ipynb").exists(), "solutions stay in materials/"
    assert not (target / ".ipynb_checkpoints").exists() and not (target / "neatcache").exists()
    assert not (target / "my_models").exists(), "a solution's filled-in models are not the participant's"
    assert not list(target.glob("*.edited-*"))


def test_start_never_overwrites_a_notebook_already_there(bundle):
    workspace.start("demo", bundle / "materials")
    mine = bundle / "workspace" / "demo" / "01_demo.ipynb"
    mine.write_text('{"cells": ["my work"]}')
    (bundle / "workspace" / "demo" / "models" / "neuron.nestml").write_text("model neuron: # my edit\n")
    # The materials change (a `git pull`), and the participant starts the part again.
    (bundle / "materials" / "demo" / "01_demo.ipynb").write_text('{"cells": [], "note": "updated"}')
    (bundle / "materials" / "demo" / "02_new.ipynb").write_text('{"cells": []}')
    result = workspace.start("demo", bundle / "materials")
    assert mine.read_text() == '{"cells": ["my work"]}'
    assert (bundle / "workspace" / "demo" / "models" / "neuron.nestml").read_text() == "model neuron: # my edit\n"
    assert [str(p) for p in result.copied] == ["02_new.ipynb"], "new material still arrives"
    assert {str(p) for p in result.differs} == {"01_demo.ipynb", "models/neuron.nestml"}
    text = workspace.report(result)
    assert "never overwritten" in text and "01_demo.ipynb: the materials have a newer or different version" in text


def test_unknown_part_lists_the_available_ones(bundle):
    with pytest.raises(ValueError, match="available: demo"):
        workspace.start("nope", bundle / "materials")


def test_cli_start_prints_how_to_open(bundle, monkeypatch, capsys):
    monkeypatch.chdir(bundle)
    assert cli.main(["start", "materials/demo/"]) == 0
    out = capsys.readouterr().out
    assert "workspace/demo" in out and "jupyter lab" in out and "make start PART=demo" in out
    assert cli.main(["start", "nope"]) == 1


def test_workspace_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "workspace/" in ignored or "/workspace/" in ignored


@pytest.mark.parametrize("part", workspace.parts(MATERIALS))
def test_real_parts_relative_paths_still_resolve_from_the_workspace(part, tmp_path):
    """workspace/PART sits at the depth of materials/PART, so the notebooks' relative
    paths to the rest of the bundle (../../benchmarks/...) resolve from there too."""
    result = workspace.start(part, MATERIALS, workspace=tmp_path / "workspace")
    assert result.notebooks, f"no participant notebooks copied for {part}"
    fake_workspace = ROOT / workspace.WORKSPACE_DIR / part  # where the copy normally lives
    for notebook in result.notebooks:
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for relative in re.findall(r"""["']((?:\.\./)+[^"']+)["']""", code):
            assert (fake_workspace / relative).resolve().exists(), f"{notebook.name}: {relative} missing from a workspace"
        for relative in re.findall(r"""["']((?:models|data)/[^"']+)["']""", code):
            assert (result.destination / relative).exists(), f"{notebook.name}: {relative} was not copied"
    shutil.rmtree(tmp_path / "workspace")
