"""The day's schedule: how a notebook's time is counted (synthetic notebooks), and the
bundle's own parts against their slots (the materials as committed)."""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from nest_workshop.tools import schedule

md = nbformat.v4.new_markdown_cell
code = nbformat.v4.new_code_cell


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_prose_counts_words_but_not_comments_markers_or_answers():
    text = "One two three. <!-- not this --> <!-- schedule -->**Time:** 5 min<!-- /schedule -->\n"
    text += "### BEGIN SOLUTION\nhidden answer words\n### END SOLUTION\nfour"
    assert schedule.prose_words(text) == 4


def test_code_lines_skip_blanks_comments_and_solutions():
    source = textwrap.dedent(
        """\
        import nest  # a comment after code counts as code
        # a comment line

        x = 1
        ### BEGIN SOLUTION: connect it
        nest.Connect(a, b)
        nest.Simulate(10.0)
        ### END SOLUTION
        print(x)
        """
    )
    assert schedule.code_lines(source) == 3


def test_code_key_ignores_comments_and_blank_lines_but_not_code():
    a = "x = 1\n# say why\ny = 2\n"
    assert schedule.code_key(a) == schedule.code_key("x = 1\n\ny = 2   \n# another reason\n")
    assert schedule.code_key(a) != schedule.code_key("x = 1\ny = 3\n")


def make_timed_notebook():
    exercise = code("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\n")
    continued = code("### BEGIN SOLUTION\nc = 3\n### END SOLUTION\nprint(c)\n")
    continued.metadata["tags"] = [schedule.CONTINUED_TAG]
    return notebook(
        md("# Title\n<!-- schedule --><!-- /schedule -->\n" + "word " * 150),
        code("x = 1\n" * 15),
        exercise,
        continued,
        md("## 3. Going further (optional, … min): more\n" + "word " * 300),
        code("y = 2\n" * 30),
        md("### A deeper heading stays in the section\n"),
        code("### BEGIN SOLUTION\nz = 3\n### END SOLUTION\n"),
        md("## Summary\n" + "word " * 1000),  # neither core nor going further
        code("w = 4\n" * 100),
    )


def test_core_path_ends_at_the_first_going_further_heading_and_sections_end_at_their_level():
    core, sections = schedule.split_notebook(make_timed_notebook())
    assert core == [0, 1, 2, 3]
    assert sections == [(4, [4, 5, 6, 7])]


def test_minutes_follow_the_teaching_pace(tmp_path):
    nb = make_timed_notebook()
    compute = {schedule.code_key(nb.cells[1].source): 60.0}  # one minute of simulation
    core, _ = schedule.split_notebook(nb)
    stretch = schedule.measure(nb, core, compute, None, "t")
    # 151 words (the title's one word too) -> 1 min; 15 + 1 + 1 code lines -> 1.13 min;
    # one exercise (the continued cell is the same one): 5-10 min; compute 1 min
    assert (stretch.words, stretch.code_lines, stretch.exercises) == (151, 17, 1)
    assert stretch.minutes == (8, 13)
    assert stretch.unmeasured == [3, 4]  # the exercise cells have no figure


def write_bundle(root, nb, slot, deck_minutes=2, deck_notes="**[min 1]** hello"):
    part = root / "materials" / "demo"
    part.mkdir(parents=True)
    nbformat.write(nb, part / "01_demo_solution.ipynb")
    (part / "README.md").write_text("# Demo\n\n<!-- schedule:demo --><!-- /schedule -->\n")
    (root / "README.md").write_text("# Bundle\n\n<!-- schedule:day --><!-- /schedule -->\n")
    (root / "materials" / "schedule.toml").write_text(
        f'[demo]\ntitle = "demo"\nstart = "09:00"\nslot = {slot}\ndeck = "01_demo"\n'
        f'deck_minutes = {deck_minutes}\nsession = ["01_demo"]\n'
    )
    (root / "presentations").mkdir()
    deck = notebook(md("## Timing\n<!-- schedule:demo --><!-- /schedule -->"), md(deck_notes))
    nbformat.write(deck, root / "presentations" / "01_demo.ipynb")
    compute = {schedule.code_key(c.source): 1.0 for c in nb.cells if c.cell_type == "code"}  # every cell measured at 1 s
    (root / "benchmarks" / "results").mkdir(parents=True)
    (root / schedule.COMPUTE_FILE).write_text(json.dumps({"notebooks": {"demo/01_demo_solution.ipynb": compute}}))


def test_write_fills_every_marker_and_then_nothing_is_stale(tmp_path):
    write_bundle(tmp_path, make_timed_notebook(), slot=30)
    day = schedule.load_day(tmp_path)
    assert schedule.missing_markers(day) == []
    assert len(schedule.stale(day)) == 4  # notebook, deck, part README, top README
    schedule.write(day)
    day = schedule.load_day(tmp_path)
    assert schedule.stale(day) == []
    part = day.part("demo")
    low, high = part.minutes
    assert (low, high) == (2 + part.notebooks[0].core.minutes[0], 2 + part.notebooks[0].core.minutes[1])
    header = nbformat.read(tmp_path / "materials/demo/01_demo_solution.ipynb", as_version=4).cells[0].source
    assert f"**Time:** {low - 2}–{high - 2} min in the demo session" in header
    heading = nbformat.read(tmp_path / "materials/demo/01_demo_solution.ipynb", as_version=4).cells[4].source
    further = part.notebooks[0].further[0].minutes
    assert heading.startswith(f"## 3. Going further (optional, {further[0]}–{further[1]} min): more")
    for text in [(tmp_path / "README.md").read_text(), (tmp_path / "materials/demo/README.md").read_text()]:
        assert f"{low}–{high}" in text
    deck = (tmp_path / "presentations/01_demo.ipynb").read_text()
    assert f"{low}–{high} of 30" in deck


def test_a_part_over_its_slot_is_reported(tmp_path):
    write_bundle(tmp_path, make_timed_notebook(), slot=5)
    part = schedule.load_day(tmp_path).part("demo")
    assert not part.fits
    assert any("over its 5-min slot" in p for p in part.problems)


def test_high_end_may_exceed_the_slot_by_a_quarter_only(tmp_path):
    nb = make_timed_notebook()
    write_bundle(tmp_path, nb, slot=10)
    part = schedule.load_day(tmp_path).part("demo")
    low, high = part.minutes
    assert low <= 10 and high > 12.5  # one exercise: 5 minutes between low and high
    assert not part.fits and any("slot + 25 %" in p for p in part.problems)


def test_deck_notes_beyond_the_decks_minutes_are_reported(tmp_path):
    write_bundle(tmp_path, make_timed_notebook(), slot=30, deck_minutes=2, deck_notes="**[min 4]** too late")
    assert schedule.deck_overruns(schedule.load_day(tmp_path)) == ["01_demo: a speaker note says [min 4], but the deck has 2 min"]


def test_unlisted_notebooks_and_unknown_keys_are_clear_errors(tmp_path):
    write_bundle(tmp_path, make_timed_notebook(), slot=30)
    nbformat.write(notebook(md("# other")), tmp_path / "materials/demo/02_other_solution.ipynb")
    with pytest.raises(schedule.ScheduleError, match="02_other_solution.ipynb.*not listed"):
        schedule.load_day(tmp_path)
    (tmp_path / "materials/schedule.toml").write_text('[demo]\ntitle = "x"\nslots = 3\n')
    with pytest.raises(schedule.ScheduleError, match="missing.*unknown keys \\['slots'\\]"):
        schedule.load_day(tmp_path)


# ---------------------------------------------------------------------------
# the bundle's own day, as committed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def day():
    return schedule.load_day(ROOT)


def test_every_part_fits_its_slot_with_every_core_cell_measured(day):
    problems = [problem for part in day.parts for problem in part.problems]
    assert not problems, "\n".join(problems)


def test_the_times_written_in_notebooks_readmes_and_decks_are_the_computed_ones(day):
    assert schedule.missing_markers(day) == []
    stale = [str(p.relative_to(ROOT)) for p in schedule.stale(day)]
    assert not stale, f"out of date (run `nest-workshop schedule --write`): {stale}"


def test_deck_notes_stay_within_the_decks_minutes(day):
    assert schedule.deck_overruns(day) == []


def test_the_day_follows_the_tutorials_timetable(day):
    # 09:00 introduction, 09:10 e-prop, 09:40 sequence learning, coffee, 10:40 compartmental, 11:25 astrocytes
    times = {p.part: (p.start, p.slot) for p in day.parts}
    assert times == {
        "introduction": ("09:00", 10),
        "eprop": ("09:10", 30),
        "sequence_learning": ("09:40", 30),
        "compartmental": ("10:40", 45),
        "astrocytes": ("11:25", 45),
    }


def test_every_session_keeps_an_exercise_in_its_core_path(day):
    for part in day.parts:
        if part.session:
            assert sum(nb.core.exercises for nb in part.session) >= 1, part.part
