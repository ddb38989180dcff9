"""NESTML code generation, run in a child process by :mod:`nest_workshop.core.nestml`.

Why a child process: NESTML keeps its configuration, symbol tables and log in
process-wide state, prints freely, and imports NEST. Running it apart keeps a
participant's kernel clean and lets a notebook build again after an edit.

Why no NESTML builder: this package compiles the generated code itself, against a
``nest-config`` stand-in that fits the NEST wheel, so that it can report the relevant
part of the compiler log and keep a failed build out of the cache.

Usage: ``python -m nest_workshop.core.nestml_codegen request.json result.json``.
The request holds ``files``, ``target`` ("NEST" or "NEST_compartmental"),
``target_path``, ``module_name`` and ``codegen_opts``. The result holds ``ok`` and
``errors``: a list of ``{"file", "line", "column", "message"}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _position(location):
    if location is None:
        return None, None
    try:
        return location.get_start_line(), location.get_start_column() + 1
    except Exception:  # NESTML uses placeholder positions for predefined symbols
        return None, None


def main(request_path: str, result_path: str) -> int:
    with open(request_path) as f:
        request = json.load(f)
    os.environ.setdefault("PYNEST_QUIET", "1")

    import pynestml.frontend.pynestml_frontend as frontend
    from pynestml.utils.logger import Logger, LoggingLevel
    from pynestml.utils.model_parser import ModelParser

    # Compilation is done by the parent (see module docstring).
    frontend.builder_from_target_name = lambda name, options=None: (None, dict(options or {}))

    # Parse errors are logged without the file they came from; remember it here.
    file_of_message: dict[int, str] = {}
    original_parse_file = ModelParser.parse_file

    def parse_file_remembering_origin(path):
        first = Logger.curr_message or 0
        try:
            return original_parse_file(path)
        finally:
            for message_id in range(first, Logger.curr_message or 0):
                file_of_message[message_id] = path

    ModelParser.parse_file = staticmethod(parse_file_remembering_origin)

    by_basename = {os.path.basename(p): p for p in request["files"]}
    errors = []
    try:
        failed = frontend.generate_target(
            input_path=request["files"],
            target_platform=request["target"],
            target_path=request["target_path"],
            logging_level="ERROR",
            module_name=request["module_name"],
            codegen_opts=request["codegen_opts"] or None,
        )
    except Exception as exc:  # e.g. an unknown codegen option, a bad neuron/synapse pair
        failed = True
        errors.append({"file": None, "line": None, "column": None, "message": f"{type(exc).__name__}: {exc}"})
        traceback.print_exc()

    for message_id, entry in sorted((Logger.get_log() or {}).items()):
        artifact, _node, level, _code, location, message = entry
        if level != LoggingLevel.ERROR:
            continue
        line, column = _position(location)
        path = file_of_message.get(message_id) or by_basename.get(artifact) or artifact or None
        errors.append({"file": path, "line": line, "column": column, "message": str(message)})

    ok = not failed and not errors
    with open(result_path, "w") as f:
        json.dump({"ok": ok, "errors": errors}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
