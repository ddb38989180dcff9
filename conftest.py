"""Test collection for the whole repository.

nbval (``--nbval-lax``) collects every notebook it is given. Only solution notebooks
are executed: participant notebooks are generated from them and contain blank
exercises by design (tests/test_notebooks.py checks they match their solutions and
that their blank exercises stop only their own cells).
"""

from pathlib import Path

SOLUTION_SUFFIX = "_solution.ipynb"


def pytest_ignore_collect(collection_path: Path, config):
    if ".ipynb_checkpoints" in collection_path.parts:
        return True
    if collection_path.suffix == ".ipynb" and not collection_path.name.endswith(SOLUTION_SUFFIX):
        return True
    return None
