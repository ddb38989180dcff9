"""The slide decks in presentations/.

Fast checks of the deck notebooks run with `make test`: slide counts (10 per session deck,
8 for the introduction), speaker notes with minute marks, a schematic and an equation in
every part deck. The tests marked `browser` run with `make test-browser`: they render
every deck as `make slides` does (its figures, images of presentations/figures/, embedded;
reveal.js and KaTeX from the npm registry) and open each in headless Chromium (Debian's `chromium`, driven by
Playwright), checking that the slides appear, that the equations are rendered, that no
script error is raised and that nothing is requested from the network; a screenshot of
each deck's first slide and key figure goes to test-artifacts/slides/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from nest_workshop.tools import slides

ROOT = Path(__file__).resolve().parents[1]
PRESENTATIONS = ROOT / "presentations"
ARTIFACTS = ROOT / "test-artifacts"
DECKS = slides.find_decks(PRESENTATIONS)
CHROMIUM = "/usr/bin/chromium"
APT_HINT = "sudo apt-get update && sudo apt-get install -y chromium"
# The machine has no outside network; these keep Chromium from trying to reach it.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


# ---------------------------------------------------------------------------
# helpers shared with test_browser.py


def require_chromium() -> str:
    """Path of Debian's chromium, or skip with the command that installs it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed; install it with: {APT_HINT}")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run make setup")
    return CHROMIUM


def launch_chromium(playwright):
    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    return playwright.chromium.launch(executable_path=require_chromium(), headless=True, args=args)


class PageWatch:
    """Script errors, console errors and requests that leave the machine, on one page."""

    def __init__(self, page, allow_hosts=()):
        self.errors: list[str] = []
        self.external: list[str] = []
        self.allow_hosts = tuple(allow_hosts)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")) or any(
            url.startswith(f"{scheme}://{host}") for host in self.allow_hosts for scheme in ("http", "ws")
        ):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()


def artifact_dir(name: str) -> Path:
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------
# the deck notebooks (fast)


def test_every_part_and_the_introduction_have_a_deck():
    names = [d.stem for d in DECKS]
    assert names[0] == "00_introduction", "the introduction deck comes first"
    for part in ["first_steps", "eprop", "sequence_learning", "compartmental", "astrocytes"]:
        assert any(n.endswith(part) for n in names), f"no deck for {part} in {PRESENTATIONS}"


@pytest.mark.parametrize("deck", DECKS, ids=[d.stem for d in DECKS])
def test_deck_is_a_slide_show_without_outputs(deck):
    nb = nbformat.read(deck, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("title"), "the deck needs a title (notebook metadata 'title')"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "a deck opens with a title slide"
    for index, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        assert kind in SLIDE_TYPES, f"cell {index}: slide metadata missing or unknown ({kind!r})"
        assert cell.cell_type == "markdown", (
            f"cell {index}: a deck holds no code cells; a figure is an image of presentations/figures/ "
            "(nest_workshop.tools.deck_figures), so JupyterLab's live slideshow shows it without its code"
        )
    # a session's deck: 10-15 slides; the introduction at least 8
    assert slides.slide_count(nb) >= (8 if deck.stem.startswith("00_") else 10)


PART_DECKS = [d for d in DECKS if not d.stem.startswith(("00_", "01_"))]
MINUTE_MARK = re.compile(r"\[min (\d+)\]")


def _slides_with_notes(nb):
    """[(the slide's markdown, the text of its notes cells)] in order."""
    found = []
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if kind in ("slide", "subslide"):
            found.append([cell.source if cell.cell_type == "markdown" else "", ""])
        elif kind == "notes" and found:
            found[-1][1] += cell.source
    return found


@pytest.mark.parametrize("deck", DECKS, ids=[d.stem for d in DECKS])
def test_every_content_slide_has_speaker_notes_with_a_minute_mark(deck):
    minutes = []
    for index, (slide, notes) in enumerate(_slides_with_notes(nbformat.read(deck, as_version=4)), 1):
        if slide.lstrip().startswith("## References"):
            continue
        mark = MINUTE_MARK.search(notes)
        assert mark, f"slide {index} ({slide.strip().splitlines()[0] if slide.strip() else 'figure'}): notes with a [min N] mark"
        minutes.append(int(mark.group(1)))
    assert minutes == sorted(minutes) and minutes[0] == 0, f"minute marks go forward from 0: {minutes}"


def test_the_introduction_talk_is_its_ten_minute_slot_and_the_warm_up_is_not_in_it():
    # deck 00 is the whole introduction slot; the warm-up notebook is done before the day
    talk = nbformat.read(PRESENTATIONS / "00_introduction.ipynb", as_version=4)
    marks = [int(m) for _, notes in _slides_with_notes(talk) for m in MINUTE_MARK.findall(notes)]
    assert max(marks) < 10, f"the talk's minute marks run to {max(marks)}: it must fit its 10-minute slot"
    assert "<!-- schedule:introduction -->" in "".join(c.source for c in talk.cells), "the talk's timing slide has its marker"
    for name in ("00_introduction", "01_first_steps"):
        text = "".join(c.source for c in nbformat.read(PRESENTATIONS / f"{name}.ipynb", as_version=4).cells)
        assert "before the" in text and "warm-up" in text, (
            f"{name}: say that the first-steps notebook is a warm-up before the day"
        )


FIGURE = re.compile(r"!\[([^\]]*)\]\(figures/([^)]+)\)")
# a figure too tall for a slide: an HTML image with a height, which JupyterLab keeps
HTML_FIGURE = re.compile(r'<img src="figures/([^"]+)" alt="([^"]*)"[^>]*>')


def deck_figures_shown(deck: Path) -> list[tuple[str, str]]:
    """[(alt text, file name)] of the figures a deck shows."""
    text = "".join(c.source for c in nbformat.read(deck, as_version=4).cells)
    return FIGURE.findall(text) + [(alt, name) for name, alt in HTML_FIGURE.findall(text)]


@pytest.mark.parametrize("deck", PART_DECKS, ids=[d.stem for d in PART_DECKS])
def test_every_part_deck_has_a_schematic_and_an_equation(deck):
    from nest_workshop.tools import deck_figures

    nb = nbformat.read(deck, as_version=4)
    shown = {name for _, name in deck_figures_shown(deck)}
    assert shown & deck_figures.SCHEMATICS, "a schematic of the model, drawn by nest_workshop.core.schematics"
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"\$\$.+?\$\$", text, re.S), "a displayed equation ($$...$$), rendered by KaTeX"


@pytest.mark.parametrize("name", ["eprop_architecture", "sequence_contexts", "compartment_trees", "tripartite_synapse"])
def test_schematics_are_drawn_in_code(name):
    import matplotlib

    matplotlib.use("Agg")
    from nest_workshop.core import schematics

    fig = getattr(schematics, name)()
    artists = sum(len(ax.patches) + len(ax.lines) + len(ax.texts) for ax in fig.axes)
    assert artists >= 8, f"{name} draws {artists} shapes"
    matplotlib.pyplot.close(fig)


def test_every_figure_a_deck_shows_is_there_and_has_a_source():
    """Each image is a committed file of presentations/figures/, drawn by deck_figures or
    taken from a solution notebook's marked cell, with alt text; no file is left unused."""
    from nest_workshop.tools import deck_figures

    sources = set(deck_figures.DRAWN) | set(deck_figures.notebook_figures())
    shown = set()
    for deck in DECKS:
        for alt, name in deck_figures_shown(deck):
            assert alt.strip(), f"{deck.name}: figure {name} needs alt text"
            assert (PRESENTATIONS / "figures" / name).is_file(), f"{deck.name}: figures/{name} is missing: make deck-figures"
            assert name in sources, f"{deck.name}: figures/{name} has no source in nest_workshop.tools.deck_figures"
            shown.add(name)
    unused = {p.name for p in (PRESENTATIONS / "figures").glob("*.png")} - shown
    assert not unused, f"figures no deck shows: {sorted(unused)}"


def test_the_drawn_figures_are_the_committed_ones(tmp_path):
    """Drawing every figure again gives images of the committed size: the functions work and
    the committed files are theirs (pixels may differ with fonts and versions)."""
    from PIL import Image

    from nest_workshop.tools import deck_figures

    for name in deck_figures.DRAWN:
        fresh = deck_figures.draw(name, tmp_path)
        with Image.open(fresh) as new, Image.open(PRESENTATIONS / "figures" / name) as committed:
            assert abs(new.size[0] - committed.size[0]) <= 4 and abs(new.size[1] - committed.size[1]) <= 4, (
                f"{name}: drawn {new.size}, committed {committed.size}: run make deck-figures"
            )


def test_decks_load_nothing_from_a_cdn():
    template = (PRESENTATIONS / slides.TEMPLATE).read_text()
    for marker in ["http://", "https://", "jquery_url", "require_js_url", "mathjax(", "mermaid_js_url"]:
        assert marker not in template, f"the offline template still refers to {marker}"
    assert 'src="katex/dist/katex.min.js"' in template and "renderMathInElement" in template
    for package in slides.PACKAGES:  # pinned, verified against the registry's hash
        assert re.fullmatch(r"\d+\.\d+\.\d+", package.version) and package.integrity.startswith("sha512-")


# ---------------------------------------------------------------------------
# rendered and shown in Chromium (make test-browser)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    require_chromium()
    if shutil.which("npm") is None and not any((ROOT / "build" / "cache").glob("reveal.js-*")):
        pytest.fail("npm is needed once to fetch reveal.js: sudo apt-get install -y npm")
    out = tmp_path_factory.mktemp("slides")
    decks = slides.render_all(PRESENTATIONS, out, cache=ROOT / "build" / "cache")
    return {d.source.stem: d for d in decks}, out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.mark.browser
def test_rendered_decks_are_standalone(rendered):
    decks, out = rendered
    assert (out / "index.html").is_file()
    assert (out / slides.REVEAL.directory / "dist" / "reveal.js").is_file()
    assert (out / slides.KATEX.directory / "dist" / "katex.min.js").is_file()
    assert any((out / slides.KATEX.directory / "dist" / "fonts").glob("*.woff2")), "KaTeX's fonts, copied beside the HTML"
    for deck in decks.values():
        html = deck.html.read_text()
        for marker in ["https://cdn", "unpkg.com", "cdnjs", "jsdelivr"]:
            assert marker not in html, f"{deck.html.name} refers to {marker}"
        assert 'src="reveal.js/dist/reveal.js"' in html


@pytest.mark.browser
@pytest.mark.parametrize("name", [d.stem for d in DECKS])
def test_deck_shows_in_chromium(rendered, browser, name):
    decks, _ = rendered
    deck = decks[name]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    watch = PageWatch(page)
    try:
        page.goto(deck.html.as_uri())
        page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15000)
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total == deck.slides, f"reveal.js shows {total} slides, the notebook has {deck.slides}"
        title = page.locator(".reveal .slides section.present h1").first
        assert title.is_visible(), "the title slide is not shown"
        nb_title = nbformat.read(deck.source, as_version=4).metadata["title"]
        assert title.inner_text().strip().replace("\n", " ").rstrip("¶").casefold() == nb_title.casefold()
        shots = artifact_dir("slides")
        page.screenshot(path=str(shots / f"{name}.png"))

        # Every slide can be shown; a slide with a figure shows a decoded image.
        figure_shot = False
        for index in range(total):
            if index:
                page.evaluate("Reveal.next()")
            page.wait_for_timeout(50)
            images = page.locator(".reveal .slides section.present:not(.stack) img")
            for i in range(images.count()):
                size = images.nth(i).evaluate("img => [img.naturalWidth, img.clientWidth]")
                assert size[0] > 0 and size[1] > 0, f"slide {index + 1}: a figure did not render"
                if not figure_shot:
                    page.screenshot(path=str(shots / f"{name}_figure.png"))
                    figure_shot = True
        # equations: KaTeX's elements in the page, no TeX left as text
        markdown = "".join(c.source for c in nbformat.read(deck.source, as_version=4).cells if c.cell_type == "markdown")
        if "$" in markdown:
            assert page.locator(".reveal .slides .katex").count() > 0, "the equations were not rendered"
        shown = page.locator(".reveal .slides").inner_text()
        assert "$$" not in shown and "\\frac" not in shown and "\\mathrm" not in shown, "raw TeX on a slide"
        has_figure = bool(deck_figures_shown(deck.source))
        assert figure_shot == has_figure, "the deck's figure was not found on any slide"
        assert not watch.errors, "\n".join(watch.errors)
        assert not watch.external, f"requests to the network: {watch.external}"
    finally:
        page.close()
