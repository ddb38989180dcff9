"""Slide decks: the notebooks in ``presentations/`` rendered to offline HTML slide shows.

The decks are Jupyter notebooks with slide metadata (``cell.metadata.slideshow``), so an
instructor can present them live in JupyterLab with the RISE extension
(``jupyterlab-rise``, installed with the bundle). :func:`render_all` turns them into
standalone reveal.js slide shows that need no network:

- reveal.js comes from the npm registry (``npm pack reveal.js@REVEAL_VERSION``, checked
  against the registry's pinned integrity hash) and is copied beside the HTML files;
- the HTML uses the template ``presentations/_template/offline.html.j2``, which loads
  reveal.js from that copy instead of nbconvert's CDN defaults (jQuery, require.js,
  MathJax and mermaid are not loaded at all, so the decks use no LaTeX math);
- code cells tagged ``hide-input`` (figure code) show only their output;
- decks are executed first (one fresh kernel each, in a temporary folder, one NEST
  thread), so every figure is drawn from a real simulation at render time.
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

REVEAL_VERSION = "5.2.1"
# `npm view reveal.js@5.2.1 dist.integrity`: the tarball is refused if it differs.
REVEAL_INTEGRITY = "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ=="
# What the slide shows load from the package (reveal.js's own folder layout).
REVEAL_FILES = ("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme", "plugin/notes")
REVEAL_DIR = "reveal.js"
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


def fetch_reveal(cache: Path) -> Path:
    """The reveal.js package folder (``cache/reveal.js-VERSION/package``), downloaded
    once with npm and verified against :data:`REVEAL_INTEGRITY`."""
    target = cache / f"reveal.js-{REVEAL_VERSION}"
    package = target / "package"
    if (package / "dist" / "reveal.js").is_file():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise SlidesError(
            "rendering slides needs npm, to fetch reveal.js from the npm registry once: "
            "sudo apt-get install -y npm (then run `make slides` again)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        done = subprocess.run(
            [npm, "pack", f"reveal.js@{REVEAL_VERSION}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        tarballs = list(Path(tmp).glob("reveal.js-*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise SlidesError(f"`npm pack reveal.js@{REVEAL_VERSION}` failed:\n{done.stderr.strip()[-2000:]}")
        found = _integrity(tarballs[0])
        if found != REVEAL_INTEGRITY:
            raise SlidesError(f"reveal.js {REVEAL_VERSION} from npm has integrity {found}, expected {REVEAL_INTEGRITY}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)  # -> target/package
    return package


def copy_reveal(package: Path, out_dir: Path) -> Path:
    """Copy the parts of reveal.js the slide shows load into ``out_dir/reveal.js``."""
    dest = out_dir / REVEAL_DIR
    shutil.rmtree(dest, ignore_errors=True)
    for item in REVEAL_FILES:
        source = package / item
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
        reveal_url_prefix=REVEAL_DIR,
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": source.stem}})
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
    package = fetch_reveal(cache or out_dir.parent / "cache")
    copy_reveal(package, out_dir)
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
        f"<p>Rendered offline with reveal.js {REVEAL_VERSION}. Keys: arrows or space to move, "
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
