"""Read and fill in NESTML model files for exercises.

A model file can mark a region that participants write themselves::

        # >>> dAP start
        elif I_dend > theta_dAP:
            ...
        # <<< dAP start

:func:`show` prints one block of a model (``update``, ``onReceive(post_spikes)``,
``parameters``, ...) with the marked regions left open, so a notebook shows the
context of an exercise without printing the whole model. :func:`fill_in` writes a copy
of the models in which the regions hold the participant's NESTML, ready for
``nestml.build``: the copy is a plain ``.nestml`` file the participant can open, and
NESTML's errors name its file and line. An unchanged text gives an unchanged file, so
the build comes from the cache; a changed text gives a new module.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# >>> (?P<name>\S.*?)\s*$")
END = re.compile(r"^[ \t]*# <<< (?P<name>\S.*?)\s*$")
OPEN = "# >>> {name}: your NESTML goes here <<<"


class ModelSourceError(ValueError):
    """A model file's regions, or the text meant for them, are not usable."""


def regions(path: str | Path) -> dict[str, str]:
    """The marked regions of a model file: ``{name: text}``, the text dedented."""
    lines = _read(path)
    return {name: textwrap.dedent("\n".join(lines[start + 1 : end])) for name, (start, end, _) in _find(lines, path).items()}


def show(path: str | Path, block: str | None = None) -> str:
    """A model's text, or one of its blocks (``"update"``, ``"onReceive(post_spikes)"``,
    ``"parameters"``, ...), with each marked region replaced by one line that says where
    the participant's NESTML goes."""
    lines = _read(path)
    spans = _find(lines, path)
    shown = lines
    if block is not None:
        start, stop = _block_span(lines, block, path)
        shown = lines[start:stop]
        spans = {n: (b - start, e - start, i) for n, (b, e, i) in spans.items() if start <= b < stop}
    out, skip_until = [], -1
    for index, line in enumerate(shown):
        if index <= skip_until:
            continue
        opened = next(((n, e, i) for n, (b, e, i) in spans.items() if b == index), None)
        if opened:
            name, end, indent = opened
            out.append(indent + OPEN.format(name=name))
            skip_until = end
        else:
            out.append(line)
    return "\n".join(out).rstrip("\n")


def fill_in(edits: Mapping[str | Path, Mapping[str, str | None]], into: str | Path) -> list[Path]:
    """Copy each model file into the folder ``into``, with its marked regions holding the
    given NESTML text. ``edits`` maps a model file to ``{region name: text}``; a text of
    ``None`` keeps the model's own version of that region (and says so). Returns the
    written files, in the order given."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    written = []
    for source, texts in edits.items():
        source = Path(source)
        lines = _read(source)
        spans = _find(lines, source)
        unknown = sorted(set(texts) - set(spans))
        if unknown:
            raise ModelSourceError(f"{source.name} has no region {unknown}: its regions are {sorted(spans)}")
        # replace from the bottom up, so earlier line numbers stay valid
        for name, (start, end, indent) in sorted(spans.items(), key=lambda item: -item[1][0]):
            text = texts.get(name)
            if name not in texts:
                continue
            if text is None:
                print(f"{source.name}, '{name}': left blank, so the model's own version is used")
                continue
            if not isinstance(text, str) or not text.strip():
                raise ModelSourceError(f"{source.name}, '{name}': write the NESTML for this region (got {text!r})")
            if "\t" in text:
                raise ModelSourceError(f"{source.name}, '{name}': indent with spaces, not tabs (NESTML reads indentation)")
            body = textwrap.indent(textwrap.dedent(text).strip("\n"), indent).split("\n")
            lines[start + 1 : end] = body
        target = into / source.name
        if target.resolve() == source.resolve():
            raise ModelSourceError(f"fill_in would overwrite the model itself ({source}): choose another folder")
        new_text = "\n".join(lines)  # _read kept the final newline as an empty last line
        if not target.exists() or target.read_text() != new_text:  # an unchanged file keeps its time stamp
            target.write_text(new_text)
        written.append(target)
    return written


def _read(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NESTML model {path} does not exist")
    return path.read_text().split("\n")


def _find(lines: list[str], path) -> dict[str, tuple[int, int, str]]:
    """{name: (line of '# >>>', line of '# <<<', indentation)}, 0-based."""
    spans: dict[str, tuple[int, int, str]] = {}
    open_name = None
    for number, line in enumerate(lines):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_name is not None:
                raise ModelSourceError(f"{path}:{number + 1}: region '{begin['name']}' opens inside region '{open_name}'")
            open_name, open_at, indent = begin["name"], number, begin["indent"]
        elif end:
            if end["name"] != open_name:
                raise ModelSourceError(f"{path}:{number + 1}: '# <<< {end['name']}' closes no open region")
            if open_name in spans:
                raise ModelSourceError(f"{path}: region '{open_name}' is marked twice")
            spans[open_name] = (open_at, number, indent)
            open_name = None
    if open_name is not None:
        raise ModelSourceError(f"{path}: region '{open_name}' is never closed with '# <<< {open_name}'")
    return spans


def _block_span(lines: list[str], block: str, path) -> tuple[int, int]:
    """Lines of the block whose header is ``block:`` (e.g. ``update:``): the header and
    every following line indented deeper than it (blank lines included)."""
    header = re.compile(rf"^(?P<indent>[ \t]*){re.escape(block)}\s*:\s*(#.*)?$")
    for number, line in enumerate(lines):
        match = header.match(line)
        if match:
            depth = len(match["indent"])
            stop = number + 1
            while stop < len(lines) and (not lines[stop].strip() or len(lines[stop]) - len(lines[stop].lstrip()) > depth):
                stop += 1
            while stop > number + 1 and not lines[stop - 1].strip():
                stop -= 1
            return number, stop
    block_header = re.compile(r"^[ \t]+([A-Za-z_]\w*(?:\([\w, ]*\))?)\s*:\s*$")
    found = sorted({match[1] for match in map(block_header.match, lines) if match})
    raise ModelSourceError(f"{Path(path).name} has no block {block!r}: its blocks are {found}")
