"""Exercise regions in NESTML files: show them open, fill them in, refuse bad input."""

from pathlib import Path

import pytest

from nest_workshop.core import nestml_source as src

MODEL = """\
model toy_neuron:
    state:
        V_m mV = 0 mV

    update:
        integrate_odes()
        # >>> threshold
        if V_m > 10 mV:
            emit_spike()
        # <<< threshold

    parameters:
        tau ms = 10 ms
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "models" / "toy_neuron.nestml"
    path.parent.mkdir()
    path.write_text(MODEL)
    return path


def test_regions_are_read_dedented(model):
    assert src.regions(model) == {"threshold": "if V_m > 10 mV:\n    emit_spike()"}


def test_show_prints_one_block_with_the_region_open(model):
    shown = src.show(model, "update")
    assert shown.splitlines() == [
        "    update:",
        "        integrate_odes()",
        "        # >>> threshold: your NESTML goes here <<<",
    ]
    assert "tau ms" in src.show(model, "parameters") and "emit_spike" not in src.show(model)


def test_fill_in_indents_the_participants_text_and_keeps_the_markers(model, tmp_path):
    (written,) = src.fill_in({model: {"threshold": "\nif V_m > 12 mV:\n    emit_spike()\n"}}, tmp_path / "mine")
    assert written == tmp_path / "mine" / "toy_neuron.nestml"
    text = written.read_text()
    assert "        # >>> threshold\n        if V_m > 12 mV:\n            emit_spike()\n        # <<< threshold\n" in text
    assert src.regions(written) == {"threshold": "if V_m > 12 mV:\n    emit_spike()"}


def test_the_models_own_text_gives_an_identical_file(model, tmp_path, capsys):
    """What makes an unchanged exercise come from the build cache: the same bytes."""
    (same,) = src.fill_in({model: {"threshold": src.regions(model)["threshold"]}}, tmp_path / "a")
    (kept,) = src.fill_in({model: {"threshold": None}}, tmp_path / "b")
    assert same.read_bytes() == kept.read_bytes() == model.read_bytes()
    assert "left blank, so the model's own version is used" in capsys.readouterr().out


def test_an_unchanged_fill_keeps_the_file_untouched(model, tmp_path):
    (first,) = src.fill_in({model: {"threshold": "if V_m > 12 mV:\n    emit_spike()"}}, tmp_path)
    stamp = first.stat().st_mtime_ns
    src.fill_in({model: {"threshold": "if V_m > 12 mV:\n    emit_spike()"}}, tmp_path)
    assert first.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "edits, message",
    [
        ({"treshold": "x"}, r"no region \['treshold'\]: its regions are \['threshold'\]"),
        ({"threshold": "   "}, "write the NESTML for this region"),
        ({"threshold": "if V_m > 1 mV:\n\temit_spike()"}, "indent with spaces"),
    ],
)
def test_bad_edits_are_explained(model, tmp_path, edits, message):
    with pytest.raises(src.ModelSourceError, match=message):
        src.fill_in({model: edits}, tmp_path / "mine")


def test_fill_in_never_overwrites_the_model(model):
    with pytest.raises(src.ModelSourceError, match="would overwrite the model itself"):
        src.fill_in({model: {"threshold": "emit_spike()"}}, model.parent)


def test_unknown_block_and_broken_markers_are_explained(model, tmp_path):
    with pytest.raises(src.ModelSourceError, match=r"no block 'updates': its blocks are \[.*'update'"):
        src.show(model, "updates")
    broken = tmp_path / "broken.nestml"
    broken.write_text(MODEL.replace("# <<< threshold", "# <<< thresold"))
    with pytest.raises(src.ModelSourceError, match="broken.nestml:10: '# <<< thresold' closes no open region"):
        src.regions(broken)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        src.show(tmp_path / "missing.nestml")


def test_show_leaves_other_regions_filled(model, tmp_path):
    two = tmp_path / "two.nestml"
    two.write_text(
        MODEL.replace("        integrate_odes()\n", "        # >>> step\n        integrate_odes()\n        # <<< step\n")
    )
    shown = src.show(two, "update", open=["threshold"])
    assert "integrate_odes()" in shown and "# >>> step" not in shown and "# <<< step" not in shown
    assert "# >>> threshold: your NESTML goes here <<<" in shown and "emit_spike" not in shown
    assert src.show(two, "update", open=[]).count("emit_spike()") == 1
    assert src.show(two, "update") == src.show(two, "update", open=["step", "threshold"])  # default: all open
    with pytest.raises(src.ModelSourceError, match=r"no region \['treshold'\]"):
        src.show(two, "update", open=["treshold"])


# ---------------------------------------------------------------------------
# The normalised text the build cache reads


def test_blank_lines_comments_and_spacing_do_not_change_the_normalised_text():
    edited = (
        MODEL.replace("    update:\n", "    update:   \n\n")  # trailing spaces, a blank line
        .replace("if V_m > 10 mV:", "if V_m  >  10 mV:   # fire")  # spacing inside a line, a comment
        .replace("        integrate_odes()\n", "        # advance the ODEs\n        integrate_odes()\r\n")
    )
    assert src.normalise(edited) == src.normalise(MODEL)
    # the indentation, the numbers and the names are the model
    for change in [("V_m > 10 mV", "V_m > 12 mV"), ("            emit_spike()", "        emit_spike()"), ("tau ms", "tau_m ms")]:
        assert src.normalise(MODEL.replace(*change)) != src.normalise(MODEL), change
    # a string literal is left as it is, '#' included
    assert src.normalise('print("a  # b")   \n') == 'print("a  # b")\n'


def test_the_cache_key_reads_the_normalised_text(model, tmp_path):
    from nest_workshop.core import nestml

    spaced = tmp_path / "spaced" / "toy_neuron.nestml"
    spaced.parent.mkdir()
    spaced.write_text(MODEL.replace("\n\n", "\n\n\n").replace("emit_spike()", "emit_spike()   # spike!"))
    key = nestml.cache_key([model], "nest", "toy", {})
    assert nestml.cache_key([spaced], "nest", "toy", {}) == key
    spaced.write_text(MODEL.replace("10 mV", "11 mV"))
    assert nestml.cache_key([spaced], "nest", "toy", {}) != key


# ---------------------------------------------------------------------------
# Whole blocks written in NESTML: edit() and %%nestml

CELL = """\
parameters:
    V_th mV = 12 mV      # a new parameter

update:
    integrate_odes()
    if V_m > V_th:
        emit_spike()
"""


def test_edit_replaces_a_block_and_adds_a_declaration(model, tmp_path):
    target, spans = src.edit(model, CELL, tmp_path / "mine")
    text = target.read_text()
    assert target == tmp_path / "mine" / "toy_neuron.nestml"
    assert "        tau ms = 10 ms\n        V_th mV = 12 mV      # a new parameter" in text  # added, others kept
    assert "        if V_m > V_th:\n            emit_spike()" in text and "10 mV:" not in text
    assert "# >>> threshold" not in text  # the region went with the replaced block
    lines = text.split("\n")
    assert [lines[first - 1].strip() for first, _ in spans] == ["parameters:", "update:"]
    assert lines[spans[1][1] - 1].strip() == "emit_spike()"
    printed = src.numbered(target, spans)
    assert f"{spans[0][0]:4d} |     parameters:" in printed


def test_edit_accepts_the_models_own_indentation_and_replaces_a_declaration_by_name(model, tmp_path):
    indented = "    parameters:\n        tau ms = 20 ms\n"
    target, _ = src.edit(model, indented, tmp_path)
    assert "        tau ms = 20 ms\n" in target.read_text() and "10 ms" not in target.read_text()


def test_the_models_own_blocks_give_the_models_normalised_text(model, tmp_path):
    """What makes a solution's %%nestml cell come from the build cache."""
    own = src.show(model, "update", open=[])
    target, _ = src.edit(model, own + "\n", tmp_path)
    assert src.normalise(target.read_text()) == src.normalise(model.read_text())


@pytest.mark.parametrize(
    "cell, message",
    [
        ("integrate_odes()\n", "is not a block header"),
        ("update:\n\tintegrate_odes()\n", "indent with spaces"),
        ("update:\n    # nothing\n", "block 'update:' is empty"),
        ("update:\n    a = 1\nupdate:\n    a = 2\n", r"gives block \['update'\] twice"),
        ("# only a comment\n", "no NESTML block given"),
    ],
)
def test_bad_cells_are_explained(model, tmp_path, cell, message):
    with pytest.raises(src.ModelSourceError, match=message):
        src.edit(model, cell, tmp_path)


def test_the_cell_magic_prints_what_it_wrote(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = src.nestml_cell(f"{model} --into built", CELL)
    assert target == Path("built") / "toy_neuron.nestml"
    out = capsys.readouterr().out
    assert "built/toy_neuron.nestml" in out and "|             emit_spike()" in out
    # running the cell twice writes the same file and does not fail
    stamp = target.stat().st_mtime_ns
    src.nestml_cell(f"{model} --into built", CELL)
    assert target.stat().st_mtime_ns == stamp


def test_a_blank_exercise_in_the_cell_stops_it_and_leaves_the_models_own_version(model, tmp_path, monkeypatch):
    """The participant notebook's blank: the generator's two lines inside the NESTML."""
    monkeypatch.chdir(tmp_path)
    blank = 'update:\n    integrate_odes()\n    # YOUR CODE HERE\n    raise NotImplementedError("Exercise: write the branch, then run this cell again.")\n'
    with pytest.raises(NotImplementedError, match=r"^Exercise: write the branch, then run this cell again\. \(Until then"):
        src.nestml_cell(str(model), blank)
    assert (tmp_path / "my_models" / "toy_neuron.nestml").read_text() == model.read_text()


def test_comments_after_a_declaration_stay_with_it(model, tmp_path):
    cell = "parameters:\n    # before\n    tau ms = 20 ms\n    # after\n"
    target, _ = src.edit(model, cell, tmp_path)
    assert "        # before\n        tau ms = 20 ms\n        # after\n" in target.read_text()


def test_a_marked_declaration_must_come_from_the_cell(tmp_path):
    """The declaration an exercise asks for sits in a marked region: the copy starts without it."""
    model = tmp_path / "toy.nestml"
    model.write_text(
        MODEL.replace(
            "        tau ms = 10 ms\n", "        tau ms = 10 ms\n        # >>> new\n        V_th mV = 10 mV\n        # <<< new\n"
        )
    )
    kept, _ = src.edit(model, "update:\n    integrate_odes()\n", tmp_path / "a")
    assert "V_th mV = 10 mV" in kept.read_text()  # a block the cell does not touch keeps its regions
    missing, _ = src.edit(model, "parameters:\n    tau ms = 10 ms\n", tmp_path / "b")
    assert "V_th" not in missing.read_text()
    written, _ = src.edit(model, "parameters:\n    V_th mV = 10 mV   # mine\n", tmp_path / "c")
    assert src.normalise(written.read_text()) == src.normalise(model.read_text())


def test_the_blank_exercise_error_is_the_generators_own_type(model, tmp_path, monkeypatch):
    """tests/test_notebooks.py accepts exactly NotImplementedError from a blank exercise."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotImplementedError) as error:
        src.nestml_cell(str(model), 'update:\n    raise NotImplementedError("Exercise: x, then run this cell again.")\n')
    assert type(error.value) is NotImplementedError


EQUATIONS_MODEL = """\
model toy_neuron:
    state:
        V_m mV = 0 mV

    equations:
        kernel K = exp(-t / tau)
        # >>> leak
        V_m' = -V_m / tau
        # <<< leak
        inline I_syn pA = convolve(K, spikes) * 1 pA

    parameters:
        tau ms = 10 ms
"""


@pytest.fixture
def equations_model(tmp_path):
    path = tmp_path / "models" / "toy_equations.nestml"
    path.parent.mkdir()
    path.write_text(EQUATIONS_MODEL)
    return path


def test_an_equations_block_adds_to_the_models_and_replaces_statements_by_name(equations_model, tmp_path):
    cell = "equations:\n    inline I_syn pA = 2 * convolve(K, spikes) * 1 pA\n    w' = -w / tau\n"
    target, _ = src.edit(equations_model, cell, tmp_path / "mine")
    text = target.read_text()
    assert "kernel K = exp(-t / tau)" in text  # the model's other statements stay
    assert "inline I_syn pA = 2 * convolve" in text and "= convolve(K, spikes)" not in text  # replaced by name
    assert text.index("inline I_syn") < text.index("w' = -w / tau") < text.index("parameters:")  # added after it
    assert "V_m' = " not in text  # the marked region is what the exercise writes: the copy starts without it


def test_a_statement_a_region_declared_goes_where_the_region_was(equations_model, tmp_path):
    """So the solution's cell gives the model's own text, and its build comes from the cache."""
    target, _ = src.edit(equations_model, "equations:\n    V_m' = -V_m / tau    # the leak\n", tmp_path)
    assert src.normalise(target.read_text()) == src.normalise(EQUATIONS_MODEL)


def test_odes_of_different_order_and_inlines_and_kernels_are_told_apart():
    keys = [
        src._statement_keys(line, "equations")
        for line in (
            "x' = 1",
            "x'' = 1",
            "inline x real = 1",
            "kernel x = 1",
            "recordable inline x real = 1",
            "# x' = 1",
            "I$' = 0",
        )
    ]
    assert keys == [{"ode x'"}, {"ode x''"}, {"inline x"}, {"kernel x"}, {"inline x"}, set(), {"ode I$'"}]
    assert src._statement_keys("a, b real = 0", "state") == {"a", "b"}
