"""Slide decks: the notebooks in ``presentations/`` rendered to offline HTML slide shows.

The decks are Jupyter notebooks with slide metadata (``cell.metadata.slideshow``), so an
instructor can present them live in JupyterLab with the RISE extension
(``jupyterlab-rise``, installed with the bundle). :func:`render_all` turns them into
standalone reveal.js slide shows that need no network:

- reveal.js comes from the npm registry (``npm pack reveal.js@VERSION``, checked
  against the registry's pinned integrity hash) and is copied beside the HTML files;
- KaTeX comes the same way (``npm pack katex@VERSION``, integrity checked) and
  renders the decks' equations (``$...$`` inline, ``$$...$$`` displayed) in the browser;
- the HTML uses the template ``presentations/_template/offline.html.j2``, which loads
  reveal.js and KaTeX from those copies instead of nbconvert's CDN defaults (jQuery,
  require.js, MathJax and mermaid are not loaded at all);
- a deck's figures are Markdown images of ``presentations/figures/`` (drawn by
  :mod:`.deck_figures`, ``make deck-figures``), embedded into the HTML, so a slide
  show is one file plus reveal.js and KaTeX; the same images show in JupyterLab's live
  slideshow (RISE) without running anything;
- a code cell, should a deck have one, is run first (one fresh kernel per deck, in a
  temporary folder, one NEST thread) and, tagged ``hide-input``, shows only its output.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmPackage:
    """A package from the npm registry, pinned by version and integrity hash (``npm view
    NAME@VERSION dist.integrity``: a tarball that differs is refused), and the files of it
    that the slide shows load, copied into ``directory`` beside the HTML."""

    name: str
    version: str
    integrity: str
    files: tuple[str, ...]
    directory: str
    entry: str  # a file that shows the package was unpacked


REVEAL = NpmPackage(
    "reveal.js",
    "5.2.1",
    "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
    ("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme", "plugin/notes"),
    "reveal.js",
    "dist/reveal.js",
)
KATEX = NpmPackage(
    "katex",
    "0.19.1",
    "sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA==",
    ("LICENSE", "dist/katex.min.js", "dist/katex.min.css", "dist/fonts", "dist/contrib/auto-render.min.js"),
    "katex",
    "dist/katex.min.js",
)
PACKAGES = (REVEAL, KATEX)
TEMPLATE = Path("_template") / "offline.html.j2"
HIDE_INPUT_TAG = "hide-input"


class SlidesError(RuntimeError):
    """A deck could not be rendered; the message says why and what to do."""


@dataclass
class RenderedDeck:
    source: Path
    html: Path
    slides: int
    seconds: float


def find_decks(presentations: Path) -> list[Path]:
    """The deck notebooks, in name order (``00_`` first); checkpoints and templates skipped."""
    return sorted(p for p in presentations.glob("*.ipynb") if not p.name.startswith("_"))


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch_package(package: NpmPackage, cache: Path) -> Path:
    """The package folder (``cache/NAME-VERSION/package``), downloaded once with npm and
    verified against its pinned integrity hash."""
    cache = cache.resolve()  # npm runs in a folder of its own: relative paths would point elsewhere
    target = cache / f"{package.name}-{package.version}"
    folder = target / "package"
    if (folder / package.entry).is_file():
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise SlidesError(
            f"rendering slides needs npm, to fetch {package.name} from the npm registry once: "
            "sudo apt-get install -y npm (then run `make slides` again)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{package.name}@{package.version}"
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        done = subprocess.run([npm, "pack", spec, "--pack-destination", tmp, "--silent"], capture_output=True, text=True, cwd=tmp)
        tarballs = list(Path(tmp).glob(f"{package.name}-*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise SlidesError(f"`npm pack {spec}` failed:\n{done.stderr.strip()[-2000:]}")
        found = _integrity(tarballs[0])
        if found != package.integrity:
            raise SlidesError(f"{spec} from npm has integrity {found}, expected {package.integrity}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)  # -> target/package
    return folder


def copy_package(package: NpmPackage, folder: Path, out_dir: Path) -> Path:
    """Copy the files of ``package`` the slide shows load into ``out_dir/<directory>``."""
    dest = out_dir / package.directory
    shutil.rmtree(dest, ignore_errors=True)
    for item in package.files:
        source = folder / item
        if source.is_dir():
            shutil.copytree(source, dest / item)
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / item)
    return dest


def _execute(nb, timeout: float, kernel_name: str):
    from nbclient import NotebookClient

    env_threads = os.environ.get("NEST_WORKSHOP_THREADS")
    os.environ.setdefault("NEST_WORKSHOP_THREADS", "1")  # the kernel inherits it
    try:
        with tempfile.TemporaryDirectory(prefix="nest-workshop-slides-") as workdir:
            # A scratch working directory: NEAT, for one, writes a cache folder there.
            NotebookClient(
                nb, timeout=timeout, kernel_name=kernel_name, resources={"metadata": {"path": workdir}}, allow_errors=False
            ).execute()
    finally:
        if env_threads is None:
            os.environ.pop("NEST_WORKSHOP_THREADS", None)
    return nb


def slide_count(nb) -> int:
    """Number of horizontal slides plus sub-slides, as reveal.js will show them."""
    count = 0
    for cell in nb.cells:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") or (count == 0 and kind not in ("skip", "notes")):
            count += 1
    return count


def _tidy_outputs(nb, source: Path) -> None:
    """A figure slide shows the figure only: drop the text value of the last line
    (``<matplotlib.legend.Legend ...>``); a warning on a slide is an error in the deck."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.outputs):
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
            raise SlidesError(f"{source.name}, cell {index}: printed to stderr (it would show on the slide):\n{text}")
        if HIDE_INPUT_TAG in cell.metadata.get("tags", []):
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "execute_result"]


def render_deck(
    source: Path, out_dir: Path, *, execute: bool = True, timeout: float = 300.0, kernel_name: str = "python3"
) -> RenderedDeck:
    import nbformat
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    started = time.perf_counter()
    template = source.parent / TEMPLATE
    if not template.is_file():
        raise SlidesError(f"the slide template {template} is missing")
    nb = nbformat.read(source, as_version=4)
    if execute and any(c.cell_type == "code" for c in nb.cells):
        try:
            _execute(nb, timeout, kernel_name)
        except Exception as exc:  # CellExecutionError, timeouts, a dead kernel
            raise SlidesError(f"{source.name}: a cell failed while rendering the slides:\n{exc}") from exc
    _tidy_outputs(nb, source)
    config = Config()
    config.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    config.TagRemovePreprocessor.enabled = True
    exporter = SlidesExporter(
        config=config,
        template_file=str(template.resolve()),
        reveal_url_prefix=REVEAL.directory,
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,  # the figures of presentations/figures/, inside the HTML
    )
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": source.stem, "path": str(source.parent)}})
    html = out_dir / f"{source.stem}.html"
    html.write_text(body, encoding="utf-8")
    return RenderedDeck(source, html, slide_count(nb), time.perf_counter() - started)


def render_all(
    presentations: Path,
    out_dir: Path,
    *,
    cache: Path | None = None,
    execute: bool = True,
    decks: list[Path] | None = None,
    log=print,
) -> list[RenderedDeck]:
    """Render every deck in ``presentations`` into ``out_dir`` with reveal.js beside them,
    plus an ``index.html`` linking them."""
    decks = decks if decks is not None else find_decks(presentations)
    if not decks:
        raise SlidesError(f"no deck notebooks (*.ipynb) in {presentations}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        copy_package(package, fetch_package(package, cache or out_dir.parent / "cache"), out_dir)
    figures = presentations / "figures"
    if figures.is_dir():  # an <img> in a deck's HTML (a figure given a height) refers to figures/
        shutil.copytree(figures, out_dir / "figures", dirs_exist_ok=True)
    rendered = []
    for deck in decks:
        result = render_deck(deck, out_dir, execute=execute)
        log(f"✔ {deck.name} -> {result.html} ({result.slides} slides, {result.seconds:.1f} s)")
        rendered.append(result)
    _write_index(rendered, out_dir)
    return rendered


def _write_index(rendered: list[RenderedDeck], out_dir: Path) -> Path:
    import html as html_lib

    import nbformat

    items = []
    for deck in rendered:
        nb = nbformat.read(deck.source, as_version=4)
        title = nb.metadata.get("title") or deck.source.stem
        items.append(f'<li><a href="{deck.html.name}">{html_lib.escape(title)}</a> ({deck.slides} slides)</li>')
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>NEST workshop slides</title>'
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.6}</style></head>\n"
        "<body><h1>NEST workshop: slides</h1>\n<ul>\n" + "\n".join(items) + "\n</ul>\n"
        f"<p>Rendered offline with reveal.js {REVEAL.version} and KaTeX {KATEX.version}. Keys: arrows or space to move, "
        "<kbd>s</kbd> for speaker notes, <kbd>f</kbd> for full screen, <kbd>Esc</kbd> for an overview.</p>"
        "</body></html>\n"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def main(presentations: Path, out_dir: Path, execute: bool = True) -> int:
    try:
        rendered = render_all(presentations, out_dir, execute=execute)
    except SlidesError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 1
    print(f"{len(rendered)} decks in {out_dir}; open {out_dir / 'index.html'} in a browser (works offline).")
    return 0
