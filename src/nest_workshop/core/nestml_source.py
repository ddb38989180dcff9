"""Read, show and edit NESTML model files for exercises.

Two ways for a notebook to let participants write NESTML:

1. **Whole blocks, in NESTML** (:func:`edit` and the ``%%nestml`` cell magic). A cell
   holds blocks of a model as NESTML reads them::

       %%nestml models/dendritic_neuron.nestml
       parameters:
           dAP_trace_increment pA = 1 pA
       update:
           integrate_odes()
           ...

   and writes a copy of the model into ``my_models/`` in which each block of the cell
   replaces the model's block of the same name; a ``parameters``, ``state``,
   ``internals`` or ``equations`` block *adds* its statements instead (a declaration,
   ODE, inline or kernel of a name the model has already replaces that one), after
   removing the block's marked regions (``# >>> name`` ... ``# <<< name``): what such a
   region declares is the exercise, and the cell's statement goes where the region was. The cell then prints the blocks it wrote, with
   the copy's line numbers, which NESTML's messages refer to. In a participant notebook a
   blank exercise inside such a cell (the ``raise NotImplementedError(...)`` line the
   generator puts there) stops that cell only, and the copy holds the model's own
   version, so the notebook goes on.

2. **Marked regions** (:func:`show`, :func:`fill_in`, :func:`regions`). A model file can
   mark a region participants write themselves::

           # >>> dAP start
           elif I_dend > theta_dAP:
               ...
           # <<< dAP start

   :func:`show` prints one block of a model with the marked regions left open (or only
   those named in ``open``), and :func:`fill_in` writes a copy in which the regions hold
   the participant's NESTML, given as Python strings.

Either way the copy is a plain ``.nestml`` file the participant can open, and
``nestml.build`` keys its cache on :func:`normalise` d text: blank lines, comments,
trailing spaces and runs of spaces inside a line do not force a rebuild; any other
change gives a new module.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from collections.abc import Iterable, Mapping
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


def show(path: str | Path, block: str | None = None, open: Iterable[str] | None = None) -> str:  # noqa: A002
    """A model's text, or one of its blocks (``"update"``, ``"onReceive(post_spikes)"``,
    ``"parameters"``, ...), with each marked region replaced by one line that says where
    the participant's NESTML goes. ``open`` names the regions to leave open (this
    notebook's exercises); the others are shown filled with the model's own text, without
    their marker lines. Default: every region open."""
    lines = _read(path)
    spans = _find(lines, path)
    if open is not None:
        open = [open] if isinstance(open, str) else list(open)
        unknown = sorted(set(open) - set(spans))
        if unknown:
            raise ModelSourceError(f"{Path(path).name} has no region {unknown}: its regions are {sorted(spans)}")
        lines = [line for number, line in enumerate(lines) if not _is_marker_of_closed(number, spans, open)]
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


def _is_marker_of_closed(number: int, spans, open_names) -> bool:
    return any(number in (start, end) for name, (start, end, _) in spans.items() if name not in open_names)


# ---------------------------------------------------------------------------
# Normalised text: what the build cache compares


def normalise(text: str) -> str:
    """The NESTML text with what cannot change the model removed: comments (``#`` to the
    end of the line), trailing spaces, blank lines, and runs of spaces inside a line
    (indentation is kept: NESTML reads it). A line with a string literal (``"``) keeps
    everything but its trailing spaces. Two texts with the same normalised form make
    the same module."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if '"' not in line:
            line = line.split("#", 1)[0]
            indent = line[: len(line) - len(line.lstrip())]
            line = indent + " ".join(line.split())
        line = line.rstrip()
        if line.strip():
            out.append(line)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Whole blocks: edit() and the %%nestml cell magic

# Blocks a cell adds to instead of replacing: each statement is keyed by what it declares
# (a variable, an ODE's left-hand side, an inline or a kernel), and replaces the model's
# statement with the same key.
ADDITIVE_BLOCKS = ("parameters", "state", "internals", "equations")
HEADER = re.compile(r"^(?P<name>[A-Za-z_]\w*(?:\s*\([^)]*\))?)\s*:\s*(?:#.*)?$")
DECLARED = re.compile(r"^\s*(?:recordable\s+)?(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s+\S")
EQUATION = re.compile(
    r"^\s*(?:recordable\s+)?(?:(?P<kind>inline|kernel)\s+(?P<name>[A-Za-z_]\w*)\b|(?P<ode>[A-Za-z_][\w$]*'+)\s*=)"
)
BLANK_EXERCISE = re.compile(r"^\s*raise NotImplementedError\((?P<message>.*)\)\s*$")
DEFAULT_INTO = "my_models"


def _canonical(header: str) -> str:
    return re.sub(r"\s+", "", header)


def _parse_blocks(text: str, where: str) -> list[tuple[str, list[str]]]:
    """[(block header, body lines dedented by one level)] of a cell's NESTML."""
    if "\t" in text:
        raise ModelSourceError(f"{where}: indent with spaces, not tabs (NESTML reads indentation)")
    lines = textwrap.dedent(text).split("\n")
    blocks: list[tuple[str, list[str]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or (not blocks and line.lstrip().startswith("#")):
            if blocks:
                blocks[-1][1].append(line)
            continue
        if line[0] != " ":
            match = HEADER.match(line)
            if not match:
                raise ModelSourceError(
                    f"{where}, line {number}: {line.strip()!r} is not a block header such as 'update:' or "
                    "'parameters:'; indent the lines that belong to a block"
                )
            blocks.append((_canonical(match["name"]), []))
        elif not blocks:
            raise ModelSourceError(f"{where}, line {number}: start with a block header such as 'update:'")
        else:
            blocks[-1][1].append(line)
    if not blocks:
        raise ModelSourceError(f"{where}: no NESTML block given (start with a header such as 'update:')")
    for name, body in blocks:
        while body and not body[-1].strip():
            body.pop()
        if not any(line.strip() and not line.lstrip().startswith("#") for line in body):
            raise ModelSourceError(f"{where}: block '{name}:' is empty; write its statements or declarations")
    return [(name, textwrap.dedent("\n".join(body)).split("\n")) for name, body in blocks]


def _model_blocks(lines: list[str]) -> dict[str, tuple[int, int, str]]:
    """{canonical header: (header line, end line (exclusive), indentation)} of the model's
    blocks: a block is its header and every following line indented deeper (or blank),
    without trailing blank lines."""
    depth = None
    found = {}
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or not line.startswith(" "):
            continue
        indent = line[: len(line) - len(line.lstrip())]
        depth = len(indent) if depth is None else depth
        match = HEADER.match(stripped)
        if len(indent) != depth or not match:
            continue
        stop = number + 1
        while stop < len(lines) and (not lines[stop].strip() or len(lines[stop]) - len(lines[stop].lstrip()) > depth):
            stop += 1
        while stop > number + 1 and not lines[stop - 1].strip():
            stop -= 1
        found[_canonical(match["name"])] = (number, stop, indent)
    return found


def edit(model: str | Path, text: str, into: str | Path = DEFAULT_INTO) -> tuple[Path, list[tuple[int, int]]]:
    """Write a copy of ``model`` into the folder ``into`` with the blocks of ``text``
    (NESTML, as in the model: block headers and their indented bodies) in place: a block
    replaces the model's block of the same header, a ``parameters``/``state``/``internals``/
    ``equations`` block adds its statements (replacing a declaration, ODE, inline or kernel
    of the same name), a block the model lacks is added at its end. Marked regions of a replaced block go with it; those of a
    declaration block the text adds to are removed first (the exercise declares them).
    Returns the copy and, per block of ``text``, its (first, last) line in the copy (1-based)."""
    model = Path(model)
    lines = _read(model)
    blocks = _parse_blocks(text, f"the NESTML for {model.name}")
    seen = [name for name, _ in blocks]
    twice = sorted({name for name in seen if seen.count(name) > 1})
    if twice:
        raise ModelSourceError(f"the NESTML for {model.name} gives block {twice} twice: write each block once")
    for name, body in blocks:
        existing = _model_blocks(lines)
        if name not in existing:
            indent = next(iter(existing.values()))[2] if existing else "    "
            while lines and not lines[-1].strip():
                lines.pop()
            lines += ["", indent + name + ":"] + [indent + "    " + line if line.strip() else "" for line in body] + [""]
            continue
        start, stop, indent = existing[name]
        inner = indent + "    "
        if name in ADDITIVE_BLOCKS:
            lines[start:stop] = _add_statements(lines, start, stop, body, inner, name, model)
        else:
            lines[start:stop] = [indent + name + ":"] + [inner + line if line.strip() else "" for line in body]
    _find(lines, model)  # the copy's markers must still pair up
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    target = into / model.name
    if target.resolve() == model.resolve():
        raise ModelSourceError(f"the NESTML would overwrite the model itself ({model}): choose another folder")
    new_text = "\n".join(lines)
    if not target.exists() or target.read_text() != new_text:
        target.write_text(new_text)
    final = _model_blocks(lines)
    return target, [(final[name][0] + 1, final[name][1]) for name, _ in blocks]


def _statement_keys(line: str, block: str) -> set[str]:
    """What a statement of an additive block declares, e.g. {"tau_m"} for ``tau_m ms = 10 ms``,
    {"inline I_h"} for an inline, {"ode V_m'"} for an ODE; empty for a comment or a line
    that declares nothing (such as the continuation of a long expression)."""
    if not line.strip() or line.lstrip().startswith("#"):
        return set()
    if block == "equations":
        match = EQUATION.match(line)
        if not match:
            return set()
        return {f"ode {match['ode']}"} if match["ode"] else {f"{match['kind']} {match['name']}"}
    match = DECLARED.match(line)
    return {name.strip() for name in match["names"].split(",")} if match else set()


def _add_statements(lines, start, stop, body, inner, name, model) -> list[str]:
    """The model's block ``lines[start:stop]`` with the cell's statements ``body`` added: a
    statement replaces the model's statement with the same key; one whose key a marked
    region of the block declared goes where that region was (the region itself is removed:
    what it declares is the exercise); any other goes after the statement before it in the
    cell, or at the block's end. Comments go with the statement they precede."""
    regions = [(b, e) for b, e, _ in _find(lines, model).values() if start < b < stop]
    # one slot per model line, one (empty) slot per removed region; statements are added to slots
    slots: list[list[str]] = []
    keyed: dict[str, list[str]] = {}  # key -> the slot of the model's statement (or region) declaring it
    number = start
    while number < stop:
        region = next(((b, e) for b, e in regions if b == number), None)
        if region:
            slot: list[str] = []
            for inside in lines[region[0] + 1 : region[1]]:
                for key in _statement_keys(inside, name):
                    keyed.setdefault(key, slot)
            slots.append(slot)
            number = region[1] + 1
            continue
        slot = [lines[number]]
        for key in _statement_keys(lines[number], name):
            keyed[key] = slot
        slots.append(slot)
        number += 1
    end: list[str] = []
    last_code = max(i for i, slot in enumerate(slots) if any(line.strip() for line in slot))
    slots.insert(last_code + 1, end)
    replaced: set[int] = set()  # slots whose model statement the cell has replaced
    pending: list[str] = []
    placed = None
    for line in body:
        keys = _statement_keys(line, name)
        if not keys:
            if line.strip():
                pending.append(inner + line)
            continue
        slot = next((keyed[key] for key in keys if key in keyed), None)
        if slot is not None and slot and _statement_keys(slot[0], name) and id(slot) not in replaced:
            slot[0:1] = pending + [inner + line]  # the model's statement, replaced in place
            replaced.add(id(slot))
        else:
            slot = slot if slot is not None else (placed if placed is not None else end)
            slot.extend(pending + [inner + line])
        pending = []
        placed = slot  # comments and statements after this one follow it
    (placed if placed is not None else end).extend(pending)
    return [line for slot in slots for line in slot]


def numbered(path: str | Path, spans: Iterable[tuple[int, int]]) -> str:
    """Lines ``first``..``last`` (1-based) of a file, each with its number."""
    lines = _read(path)
    out = []
    for first, last in spans:
        if out:
            out.append("")
        out += [f"{number:4d} | {lines[number - 1]}".rstrip() for number in range(first, last + 1)]
    return "\n".join(out)


def nestml_cell(line: str, cell: str, into: str | Path | None = None) -> Path:
    """The ``%%nestml MODEL [--into FOLDER]`` cell magic: :func:`edit` with the cell's
    NESTML, then print the blocks written, numbered as in the copy."""
    words = shlex.split(line)
    folder = into or DEFAULT_INTO
    if "--into" in words:
        at = words.index("--into")
        if at + 1 >= len(words):
            raise ModelSourceError("%%nestml: --into needs a folder")
        folder = words[at + 1]
        del words[at : at + 2]
    if len(words) != 1:
        raise ModelSourceError("%%nestml needs one model file: %%nestml models/my_neuron.nestml [--into my_models]")
    model = Path(words[0])
    blank = next((m for m in map(BLANK_EXERCISE.match, cell.split("\n")) if m), None)
    if blank:
        try:
            message = json.loads(blank["message"])
        except ValueError:
            message = blank["message"]
        target = Path(folder) / model.name
        Path(folder).mkdir(parents=True, exist_ok=True)
        original = model.read_text() if model.is_file() else None
        if original is None:
            raise FileNotFoundError(f"NESTML model {model} does not exist")
        if not target.exists() or target.read_text() != original:
            target.write_text(original)
        raise NotImplementedError(  # the exercise generator's own error type
            f"{message} (Until then, {target} holds the model's own version, so the notebook goes on.)"
        )
    target, spans = edit(model, cell, folder)
    print(f"{target}: the blocks this cell wrote (NESTML's messages give these line numbers)\n")
    print(numbered(target, spans))
    return target


def load_ipython_extension(ipython) -> None:
    """``%load_ext nest_workshop.core.nestml_source``: register the ``%%nestml`` cell magic."""

    def nestml(line, cell):
        nestml_cell(line, cell)  # returns nothing, so the cell shows only what it prints

    ipython.register_magic_function(nestml, "cell", "nestml")


def _register_in_running_ipython() -> None:
    """Importing this module in IPython/Jupyter makes ``%%nestml`` available."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ipython = get_ipython()
    if ipython is not None:
        load_ipython_extension(ipython)


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


_register_in_running_ipython()
