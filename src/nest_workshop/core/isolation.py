"""Keep third-party code from writing where a notebook does not expect it.

Some of the simulators and tools the parts call write outside Python's streams or into
the working directory as a side effect:

- NEURON's and NEST's banners, and NEAT's probe for a display (it runs ``python -c
  "import matplotlib.pyplot ..."``), go straight to the process's file descriptors 1 and
  2. Jupyter captures only Python's ``sys.stdout``/``sys.stderr``, so this output lands
  in the terminal or the log of the kernel, or shows up in a later cell;
  :func:`quiet_file_descriptors` holds it back and replays it only if something fails.
- NEAT 1.1 creates a ``neatcache/`` folder in the working directory when it is imported
  and when trees are created (even when its cache files go to the ``cache_path`` it is
  given). Notebooks run in the materials' folders, which must stay as shipped;
  :func:`working_directory` runs such calls in a folder of their own and comes back.

Standard library only.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path


@contextlib.contextmanager
def working_directory(folder: str | Path):
    """Run the body inside ``folder`` (created, private to this user, if missing) and
    come back to the working directory of before, whatever happens; yields ``folder``."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(here)


@contextlib.contextmanager
def quiet_file_descriptors():
    """Silence output written straight to the process's stdout/stderr (NEURON's and
    NEST's banners, NEAT's display probe); replay it if something fails."""
    sys.stdout.flush()
    sys.stderr.flush()

    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text = io.StringIO()  # Python-level prints (Jupyter's streams)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        except BaseException:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace") + text.getvalue())
            raise
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
