"""The ``%%nestml`` cells of a solution notebook (shared by the parts' tests)."""

import json
import shlex
from pathlib import Path


def nestml_cells(notebook: Path) -> list[tuple[str, str, str]]:
    """The ``%%nestml`` cells of a notebook: (model file, --into folder, NESTML body)."""
    found = []
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith("%%nestml"):
            line, body = source.split("\n", 1)
            words = shlex.split(line)[1:]
            into = words[words.index("--into") + 1] if "--into" in words else "my_models"
            found.append((words[0], into, body))
    return found
