"""The workshop's day, computed from the materials: does each part fit its slot?

The day (``materials/schedule.toml``) gives each part a slot, a deck and the notebooks of
its session. A part's *session* is its deck plus the *core path* of each session
notebook: every cell before the first heading "Going further (optional ...)". Its time
follows the teaching pace, the same for every estimate in the bundle:

- 1 min per 150 words of prose (Markdown; HTML comments and the generated time itself
  not counted, nor the answers of Markdown exercises);
- 1 min per 15 lines of code the participant reads (blank lines, comment lines and the
  lines of an exercise's solution not counted);
- 5 min (low) to 10 min (high) per exercise: a cell with a ``### BEGIN SOLUTION`` block,
  unless tagged ``exercise-continued`` (the second cell of the same exercise);
- the compute the cells take, as measured by ``benchmarks/session_compute.py``
  (``make bench``; committed in ``benchmarks/results/session_compute.json``), keyed by
  each cell's code, plus, for a cell tagged ``nestml-exercise-build``, the cold build of
  the part's NESTML module (what a participant whose edit differs from the shipped
  model waits for);
- plus the deck's minutes, declared in ``schedule.toml`` (its speaker notes' ``[min N]``
  marks stay below them).

A part fits when the low end is within its slot and the high end within the slot + 25 %.

The numbers are written, never typed: ``nest-workshop schedule --write`` fills every
marker (``<!-- schedule -->...<!-- /schedule -->`` in a notebook's first cell,
``<!-- schedule:PART -->...<!-- /schedule -->`` in a README or a deck,
``<!-- schedule:day -->`` for the whole day) and every "Going further (optional, N min)"
heading; ``tests/test_schedule.py`` fails when one is out of date or a part is over.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

WORDS_PER_MIN = 150
CODE_LINES_PER_MIN = 15
EXERCISE_MIN = (5, 10)
OVERRUN = 1.25  # the high end may exceed the slot by this factor

CONFIG_NAME = "schedule.toml"
COMPUTE_FILE = Path("benchmarks") / "results" / "session_compute.json"
SOLUTION_SUFFIX = "_solution.ipynb"
CONTINUED_TAG = "exercise-continued"
BUILD_TAG = "nestml-exercise-build"
ROLES = ("session", "warm_up", "take_home")
ROLE_TEXT = {
    "warm_up": "a warm-up to do before the workshop day",
    "take_home": "a take-home notebook, not part of the workshop's schedule",
}

GOING_FURTHER = re.compile(r"^(?P<hashes>#+)\s.*?Going further \(optional(?P<time>[^)]*)\)", re.I | re.M)
HEADING = re.compile(r"^(#+)\s", re.M)
COMMENT = re.compile(r"<!--.*?-->", re.S)
MARKER = re.compile(r"<!-- schedule(?::(?P<key>[\w-]+))? -->(?P<body>.*?)<!-- /schedule -->", re.S)
MD_SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
BEGIN = re.compile(r"^\s*### BEGIN SOLUTION")
END = re.compile(r"^\s*### END SOLUTION")
WORD = re.compile(r"\w+")
MIN_MARK = re.compile(r"\[min (\d+)\]")


class ScheduleError(ValueError):
    """``schedule.toml`` or a notebook does not say what the schedule needs."""


# ---------------------------------------------------------------------------
# counting one notebook


def code_key(source: str) -> str:
    """A code cell's identity for the compute figures: its code without blank lines,
    comment lines and trailing spaces, so a reworded comment keeps its measurement."""
    lines = [line.rstrip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


OPTIONAL_TIME = re.compile(r"\(optional[^)]*\)", re.I)


def prose_words(markdown: str) -> int:
    text = OPTIONAL_TIME.sub("", MARKER.sub("", markdown))  # the written times are not read as prose
    text = COMMENT.sub("", text)
    text = MD_SOLUTION.sub("", text)
    return len(WORD.findall(text))


def code_lines(source: str) -> int:
    """Lines a participant reads: not blank, not a comment, not an exercise's solution."""
    count, in_solution = 0, False
    for line in source.splitlines():
        if BEGIN.match(line):
            in_solution = True
            continue
        if END.match(line):
            in_solution = False
            continue
        stripped = line.strip()
        if in_solution or not stripped or stripped.startswith("#"):
            continue
        count += 1
    return count


def is_exercise(cell) -> bool:
    return any(BEGIN.match(line) for line in cell.source.splitlines()) and CONTINUED_TAG not in cell.metadata.get("tags", [])


@dataclass
class Stretch:
    """A run of cells read in one go: a notebook's core path, or one going-further section."""

    title: str
    words: int = 0
    code_lines: int = 0
    exercises: int = 0
    compute_s: float = 0.0
    unmeasured: list[int] = field(default_factory=list)  # 1-based indices of code cells without a figure
    heading_cell: int | None = None  # index of the going-further heading (None: the core path)

    @property
    def reading_min(self) -> float:
        return self.words / WORDS_PER_MIN + self.code_lines / CODE_LINES_PER_MIN

    @property
    def minutes(self) -> tuple[int, int]:
        """(low, high), whole minutes."""
        base = self.reading_min + self.compute_s / 60
        low, high = (round_min(base + per * self.exercises) for per in EXERCISE_MIN)
        return max(low, 1), max(high, 1)  # anything worth a heading takes a minute


def round_min(x: float) -> int:
    return int(math.floor(x + 0.5))


def split_notebook(nb) -> tuple[list[int], list[tuple[int, list[int]]]]:
    """(core cell indices, [(heading index, cell indices) per going-further section]).

    A going-further section runs from its heading to the next heading of the same or a
    higher level; cells after it that are in no section (a summary, the references) are
    neither core nor optional work and are not timed."""
    core: list[int] = []
    sections: list[tuple[int, list[int]]] = []
    current: tuple[int, list[int], int] | None = None  # (heading index, cells, level)
    seen_further = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            further = GOING_FURTHER.search(cell.source)
            heading = HEADING.search(cell.source)
            if further:
                seen_further = True
                current = (index, [index], len(further.group("hashes")))
                sections.append((current[0], current[1]))
                continue
            if current and heading and len(heading.group(1)) <= current[2]:
                current = None
        if not seen_further:
            core.append(index)
        elif current:
            current[1].append(index)
    return core, sections


def measure(nb, indices: list[int], compute: dict[str, float], build_s: float | None, title: str) -> Stretch:
    stretch = Stretch(title)
    for index in indices:
        cell = nb.cells[index]
        if cell.cell_type == "markdown":
            stretch.words += prose_words(cell.source)
        elif cell.cell_type == "code":
            stretch.code_lines += code_lines(cell.source)
            key = code_key(cell.source)
            if key in compute:
                stretch.compute_s += compute[key]
            elif code_lines(cell.source) or any(BEGIN.match(line) for line in cell.source.splitlines()):
                stretch.unmeasured.append(index + 1)
            if BUILD_TAG in cell.metadata.get("tags", []):
                if build_s is None:  # the part's cold build is not measured yet
                    stretch.unmeasured.append(index + 1)
                else:
                    stretch.compute_s += build_s
        if cell.cell_type in ("code", "markdown") and is_exercise(cell):
            stretch.exercises += 1
    return stretch


@dataclass
class NotebookTime:
    name: str  # e.g. "01_pattern_generation"
    path: Path  # the solution notebook
    role: str
    core: Stretch
    further: list[Stretch]

    @property
    def further_minutes(self) -> tuple[int, int]:
        lows, highs = zip(*(s.minutes for s in self.further)) if self.further else ((0,), (0,))
        return sum(lows), sum(highs)


def time_notebook(path: Path, role: str, compute: dict[str, float], build_s: float | None) -> NotebookTime:
    nb = nbformat.read(path, as_version=4)
    core_cells, sections = split_notebook(nb)
    name = path.name[: -len(SOLUTION_SUFFIX)]
    core = measure(nb, core_cells, compute, build_s, f"{name} (core path)")
    further = []
    for heading, cells in sections:
        line = nb.cells[heading].source.strip().splitlines()[0]
        title = OPTIONAL_TIME.sub("", line).split(":", 1)[-1].strip(" #") if ":" in line else "going further"
        stretch = measure(nb, cells, compute, build_s, title)
        stretch.heading_cell = heading
        further.append(stretch)
    return NotebookTime(name, path, role, core, further)


# ---------------------------------------------------------------------------
# the day


@dataclass
class PartTime:
    part: str
    title: str
    start: str
    slot: int
    deck: str
    deck_minutes: int
    notebooks: list[NotebookTime]

    @property
    def session(self) -> list[NotebookTime]:
        return [n for n in self.notebooks if n.role == "session"]

    @property
    def minutes(self) -> tuple[int, int]:
        """The session's (low, high) in whole minutes: deck + core paths."""
        lows = [n.core.minutes[0] for n in self.session]
        highs = [n.core.minutes[1] for n in self.session]
        return self.deck_minutes + sum(lows), self.deck_minutes + sum(highs)

    @property
    def fits(self) -> bool:
        low, high = self.minutes
        return low <= self.slot and high <= OVERRUN * self.slot

    @property
    def problems(self) -> list[str]:
        out = []
        low, high = self.minutes
        if low > self.slot:
            out.append(f"{self.part}: the session takes {low} min at the low end of the pace, over its {self.slot}-min slot")
        if high > OVERRUN * self.slot:
            out.append(
                f"{self.part}: the session takes {high} min at the high end, over the slot + 25 % ({OVERRUN * self.slot:g} min)"
            )
        for nb in self.notebooks:
            for stretch in [nb.core, *nb.further]:
                if stretch.unmeasured:
                    out.append(
                        f"{self.part}/{nb.name}: code cells {stretch.unmeasured} have no measured compute "
                        f"(run `python benchmarks/session_compute.py {self.part}`)"
                    )
        return out


@dataclass
class Day:
    root: Path  # the bundle (holds materials/, presentations/, benchmarks/)
    parts: list[PartTime]

    def part(self, name: str) -> PartTime:
        for p in self.parts:
            if p.part == name:
                return p
        raise ScheduleError(f"no part {name!r} in {CONFIG_NAME}; parts: {', '.join(p.part for p in self.parts)}")


def load_compute(root: Path) -> dict:
    path = root / COMPUTE_FILE
    if not path.exists():
        return {"notebooks": {}, "builds": {}}
    return json.loads(path.read_text())


def load_day(root: Path) -> Day:
    """Read ``materials/schedule.toml`` and time every notebook it names."""
    root = Path(root)
    config_path = root / "materials" / CONFIG_NAME
    try:
        config = tomllib.loads(config_path.read_text())
    except FileNotFoundError:
        raise ScheduleError(f"{config_path} is missing: it lists each part's slot, deck and notebooks") from None
    compute = load_compute(root)
    parts = []
    for part, spec in config.items():
        missing = {"title", "start", "slot", "deck", "deck_minutes"} - set(spec)
        unknown = set(spec) - {"title", "start", "slot", "deck", "deck_minutes", *ROLES}
        if missing or unknown:
            raise ScheduleError(
                f"{config_path} [{part}]: "
                + (f"missing {sorted(missing)}; " if missing else "")
                + (f"unknown keys {sorted(unknown)}; " if unknown else "")
                + f"allowed: title, start, slot, deck, deck_minutes, {', '.join(ROLES)}"
            )
        notebooks = []
        listed = set()
        for role in ROLES:
            for name in spec.get(role, []):
                path = root / "materials" / part / f"{name}{SOLUTION_SUFFIX}"
                if not path.exists():
                    raise ScheduleError(f"{config_path} [{part}] {role}: no notebook {path.relative_to(root)}")
                rel = str(path.relative_to(root / "materials"))
                notebooks.append(
                    time_notebook(path, role, compute["notebooks"].get(rel, {}), compute.get("builds", {}).get(part))
                )
                listed.add(path.name)
        unlisted = sorted(p.name for p in (root / "materials" / part).glob(f"*{SOLUTION_SUFFIX}") if p.name not in listed)
        if unlisted:
            raise ScheduleError(f"{config_path} [{part}]: {unlisted} not listed as {', '.join(ROLES)}")
        parts.append(PartTime(part, spec["title"], spec["start"], spec["slot"], spec["deck"], spec["deck_minutes"], notebooks))
    return Day(root, parts)


# ---------------------------------------------------------------------------
# what the markers say


def _range(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low}–{high}"


def notebook_line(part: PartTime, nb: NotebookTime) -> str:
    core = f"**Time:** {_range(*nb.core.minutes)} min"
    if nb.role == "session":
        others = [n.name[:2] for n in part.session]
        which = "notebook " + others[0] if len(others) == 1 else "notebooks " + ", ".join(others[:-1]) + " and " + others[-1]
        core += f" in the {part.title} session ({part.start}, {part.slot} min: slides {part.deck_minutes} min, then {which})"
    else:
        core += f", {ROLE_TEXT[nb.role]}"
    if nb.further:
        core += f"; going further: {_range(*nb.further_minutes)} min more (optional)"
    core += "."
    return core


def part_table(part: PartTime) -> str:
    rows = [
        "| what | prose (words) | code (lines) | exercises | compute (s) | minutes |",
        "|---|---|---|---|---|---|",
        f"| slides `presentations/{part.deck}.ipynb` | | | | | {part.deck_minutes} |",
    ]
    for nb in part.session:
        c = nb.core
        rows.append(
            f"| `{nb.name}`, core path | {c.words} | {c.code_lines} | {c.exercises} | {c.compute_s:.0f} | {_range(*c.minutes)} |"
        )
    low, high = part.minutes
    rows.append(f"| **session** ({part.start}) | | | | | **{_range(low, high)} of the {part.slot}-min slot** |")
    for nb in part.notebooks:
        if nb.role != "session":
            c = nb.core
            rows.append(
                f"| `{nb.name}` ({ROLE_TEXT[nb.role].split(',')[0]}) | {c.words} | {c.code_lines} | {c.exercises} "
                f"| {c.compute_s:.0f} | {_range(*c.minutes)} |"
            )
    for nb in part.notebooks:
        for s in nb.further:
            rows.append(
                f"| `{nb.name}`, going further: {s.title} (optional) | {s.words} "
                f"| {s.code_lines} | {s.exercises} | {s.compute_s:.0f} | {_range(*s.minutes)} |"
            )
    return "\n".join(rows)


def _exercises(n: int) -> str:
    return f"{n} exercise" + ("" if n == 1 else "s")


def deck_table(part: PartTime) -> str:
    rows = ["| | minutes |", "|---|---|", f"| these slides | {part.deck_minutes} |"]
    for nb in part.session:
        rows.append(f"| notebook `{nb.name}` (core path, {_exercises(nb.core.exercises)}) | {_range(*nb.core.minutes)} |")
    low, high = part.minutes
    rows.append(f"| **session** | **{_range(low, high)} of {part.slot}** |")
    for nb in part.notebooks:
        if nb.role != "session":
            rows.append(f"| notebook `{nb.name}`: {ROLE_TEXT[nb.role].split(',')[0]} (core path) | {_range(*nb.core.minutes)} |")
    optional = [(nb.name, nb.further_minutes) for nb in part.notebooks if nb.further]
    if optional:
        text = ", ".join(f"`{name}` {_range(*m)}" for name, m in optional)
        rows.append(f"| going further in the notebooks (optional, outside the session) | {text} |")
    return "\n".join(rows)


def day_table(day: Day) -> str:
    rows = [
        "| time | part | slot | slides | notebooks (core paths) | session | before or after the day |",
        "|---|---|---|---|---|---|---|",
    ]
    for part in day.parts:
        nbs = ", ".join(f"`{n.name}` {_range(*n.core.minutes)}" for n in part.session) or "—"
        other = ", ".join(
            f"`{n.name}` {_range(*n.core.minutes)} ({n.role.replace('_', '-')})" for n in part.notebooks if n.role != "session"
        )
        rows.append(
            f"| {part.start} | {part.title} | {part.slot} | {part.deck_minutes} | {nbs} | {_range(*part.minutes)} | {other or '—'} |"
        )
    return "\n".join(rows)


def heading_time(stretch: Stretch) -> str:
    return f", {_range(*stretch.minutes)} min"


# ---------------------------------------------------------------------------
# finding and filling markers


def _fill(text: str, key: str | None, body: str) -> str:
    def replace(match):
        if match.group("key") != key:
            return match.group(0)
        sep = "\n" if "\n" in body else ""
        return f"<!-- schedule{':' + key if key else ''} -->{sep}{body}{sep}<!-- /schedule -->"

    return MARKER.sub(replace, text)


def _fill_text(text: str, day: Day) -> str:
    for match in list(MARKER.finditer(text)):
        key = match.group("key")
        if key == "day":
            text = _fill(text, key, day_table(day))
        elif key:
            text = _fill(text, key, part_table(day.part(key)))
    return text


def planned_notebook(day: Day, part: PartTime, nb: NotebookTime):
    """The solution notebook with its header marker and going-further headings filled."""
    notebook = nbformat.read(nb.path, as_version=4)
    header = notebook.cells[0]
    if header.cell_type == "markdown":  # a missing marker is reported by missing_markers()
        header.source = _fill(header.source, None, notebook_line(part, nb))
    for stretch in nb.further:
        cell = notebook.cells[stretch.heading_cell]
        time_text = heading_time(stretch)
        cell.source = GOING_FURTHER.sub(
            lambda m, t=time_text: m.group(0)[: m.start("time") - m.start(0)] + t + ")", cell.source, count=1
        )
    return notebook


def planned_deck(day: Day, part: PartTime, path: Path):
    deck = nbformat.read(path, as_version=4)
    for cell in deck.cells:
        if cell.cell_type == "markdown" and MARKER.search(cell.source):
            cell.source = MARKER.sub(
                lambda m: (
                    f"<!-- schedule:{m.group('key')} -->\n{deck_table(day.part(m.group('key')))}\n<!-- /schedule -->"
                    if m.group("key") and m.group("key") != "day"
                    else m.group(0)
                ),
                cell.source,
            )
    return deck


def _normalised(path: Path) -> str:
    """A notebook as nbformat writes it, so a difference is one of content, not of JSON layout."""
    return nbformat.writes(nbformat.read(path, as_version=4)) + "\n"


def targets(day: Day, only: list[str] | None = None) -> list[tuple[Path, str, str]]:
    """(file, current text, planned text) for every file that carries schedule figures
    (with ``only``, the files of those parts: their notebooks, deck and README)."""
    out = []
    root = day.root
    for part in day.parts:
        if only and part.part not in only:
            continue
        for nb in part.notebooks:
            out.append((nb.path, _normalised(nb.path), nbformat.writes(planned_notebook(day, part, nb)) + "\n"))
        deck = root / "presentations" / f"{part.deck}.ipynb"
        if deck.exists():
            out.append((deck, _normalised(deck), nbformat.writes(planned_deck(day, part, deck)) + "\n"))
    readmes = [root / "README.md", root / "materials" / "README.md", *sorted((root / "materials").glob("*/README.md"))]
    if only:
        readmes = [root / "materials" / part / "README.md" for part in only]
    for readme in readmes:
        if readme.exists():
            text = readme.read_text()
            out.append((readme, text, _fill_text(text, day)))
    return out


def stale(day: Day) -> list[Path]:
    """Files whose schedule figures differ from what the materials give now."""
    return [path for path, current, planned in targets(day) if current != planned]


def write(day: Day, only: list[str] | None = None) -> list[Path]:
    """Fill every marker (of the parts ``only`` names, or all); returns the files changed
    (participant notebooks not included)."""
    changed = []
    for path, current, planned in targets(day, only):
        if current != planned:
            path.write_text(planned)
            changed.append(path)
    return changed


def missing_markers(day: Day) -> list[str]:
    """Where a part's time must be shown but no marker is."""
    out = []
    for part in day.parts:
        for nb in part.notebooks:
            first = nbformat.read(nb.path, as_version=4).cells[0]
            if not (first.cell_type == "markdown" and MARKER.search(first.source)):
                out.append(f"{nb.path.name}: no <!-- schedule --> marker in the first cell")
        readme = day.root / "materials" / part.part / "README.md"
        if f"<!-- schedule:{part.part} -->" not in readme.read_text():
            out.append(f"{readme.relative_to(day.root)}: no <!-- schedule:{part.part} --> marker")
        deck = day.root / "presentations" / f"{part.deck}.ipynb"
        if f"<!-- schedule:{part.part} -->" not in deck.read_text():
            out.append(f"{deck.relative_to(day.root)}: no <!-- schedule:{part.part} --> marker on its timing slide")
    if "<!-- schedule:day -->" not in (day.root / "README.md").read_text():
        out.append("README.md: no <!-- schedule:day --> marker")
    return out


def deck_overruns(day: Day) -> list[str]:
    """Speaker-note minute marks at or beyond the deck's declared minutes."""
    out = []
    for part in day.parts:
        deck = nbformat.read(day.root / "presentations" / f"{part.deck}.ipynb", as_version=4)
        marks = [int(m) for c in deck.cells for m in MIN_MARK.findall(c.source)]
        if marks and max(marks) >= part.deck_minutes:
            out.append(f"{part.deck}: a speaker note says [min {max(marks)}], but the deck has {part.deck_minutes} min")
    return out


def report(day: Day) -> str:
    lines = []
    for part in day.parts:
        low, high = part.minutes
        verdict = "fits" if part.fits else "OVER"
        lines.append(
            f"{part.part} ({part.start}, slot {part.slot} min): session {_range(low, high)} min = "
            f"slides {part.deck_minutes} + core paths — {verdict}"
        )
        for nb in part.notebooks:
            c = nb.core
            lines.append(
                f"  {nb.name} [{nb.role}]: core {_range(*c.minutes)} min ({c.words} words, {c.code_lines} code lines, "
                f"{c.exercises} exercises, compute {c.compute_s:.0f} s)"
                + (f"; going further {_range(*nb.further_minutes)} min" if nb.further else "")
            )
        for problem in part.problems:
            lines.append(f"  ✘ {problem}")
    return "\n".join(lines)
