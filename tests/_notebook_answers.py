"""The NESTML strings a solution notebook's exercise cells define (shared by the parts' tests)."""

import json
import re
from pathlib import Path


def solution_answers(notebook: Path) -> dict[str, str]:
    """The NESTML strings (``name = \"\"\"...\"\"\"``) the exercise cells of a solution
    notebook define between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, by name."""
    answers: dict = {}
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and re.search(r'^\w+ = """', source, re.M) and "### BEGIN SOLUTION" in source:
            block = source.split("### BEGIN SOLUTION", 1)[1].split("\n", 1)[1].split("### END SOLUTION")[0]
            exec(block, {}, answers)
    return answers
