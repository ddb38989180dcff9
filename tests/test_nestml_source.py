"""Exercise regions in NESTML files: show them open, fill them in, refuse bad input."""

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
