"""Rank-aware runtime helpers: the same results under one process and under N MPI processes.

Under MPI, NEST distributes neurons over ranks. A recorder then holds only the events
of the neurons on its own rank, and ``nest.GetConnections`` returns only the
connections whose target lives there. The helpers here gather such data from every
rank, in a canonical order, so that the analysis and plotting code of the package sees
the whole network whatever the number of processes; and they let only rank 0 write
files and figures.

Every gathering function here is a collective operation: every rank must call it, in
the same order, or the ranks that did wait forever. That is why gathering is always an
explicit call of this module and never happens inside a getter (a getter called on one
rank only would hang). It belongs to the runtime core, beside the kernel, because the
parts' training loops and ``nest-workshop scale`` both need it (as NetPyNE keeps its
``gather`` beside ``run``); launching ``mpirun`` is :mod:`nest_workshop.scaleout.launch`.

With one process (the pip wheel, a notebook) nothing is gathered and mpi4py is not
needed. Under MPI (``make mpi``), mpi4py is used; NEST has initialised MPI already.

The canonical order (spikes sorted by time, then sender; connections by source, then
target) is what makes runs comparable: NEST guarantees the same spikes for the same
number of virtual processes (ranks x threads), but not the same order in memory.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from .analysis import sort_events
from .kernel import import_nest


@functools.cache
def num_processes() -> int:
    """The number of MPI processes NEST runs on (1 for the pip wheel).

    Fixed for the life of the process, so asked once: NEST's ``NumProcesses`` takes
    about 30 ms, which the training loops would otherwise pay at every iteration."""
    return int(import_nest().NumProcesses())


@functools.cache
def rank() -> int:
    """This process's MPI rank (0 for the pip wheel); fixed for the life of the process."""
    return int(import_nest().Rank())


def is_root() -> bool:
    """True on the process that writes files and figures (rank 0)."""
    return rank() == 0


def _comm():
    from mpi4py import MPI  # only under MPI; NEST initialised MPI, mpi4py reuses it

    return MPI.COMM_WORLD


def allgather(value):
    """A list of ``value`` from every rank, in rank order (``[value]`` with one process)."""
    if num_processes() == 1:
        return [value]
    return _comm().allgather(value)


def barrier() -> None:
    if num_processes() > 1:
        _comm().Barrier()


def merge_events(parts: list[dict]) -> dict:
    """Concatenate event dicts from several ranks key by key, then sort canonically.

    Spike events are sorted by time, then sender; sampled events (multimeters) the
    same way, which orders samples by time and, within a time, by node.
    """
    keys = sorted(set().union(*(part.keys() for part in parts))) if parts else []
    merged = {}
    for key in keys:
        arrays = [np.asarray(part.get(key, [])) for part in parts]
        arrays = [a for a in arrays if a.size] or arrays[:1]
        merged[key] = np.concatenate(arrays) if arrays else np.array([])
    return sort_events(merged)


def gather_events(source) -> dict:
    """The events of a recorder (spike recorder or multimeter), or this rank's events
    dict, merged with every other rank's: each key an array, in the canonical order.
    Collective: every rank calls it and receives the whole result. With one process it
    only puts the events in that order."""
    events = source if isinstance(source, dict) else source.get("events")
    if not isinstance(events, dict):
        raise ValueError("give one recorder, not several")
    return merge_events(allgather({key: np.asarray(value) for key, value in events.items()}))


def gather_connections(keys=("source", "target", "weight"), **selection) -> dict:
    """Connections from every rank as arrays of ``keys`` (``source`` and ``target``
    always included), sorted by source, then target, then any further key.

    ``selection`` is passed to ``nest.GetConnections`` (``source=``, ``target=``,
    ``synapse_model=``). States are read in slices, which keeps memory flat for large
    networks (NEST builds one status dict per connection).
    """
    nest = import_nest()
    keys = list(dict.fromkeys(["source", "target", *keys]))
    connections = nest.GetConnections(**selection)
    local = {key: [] for key in keys}
    total = len(connections)
    for start in range(0, total, 10_000):
        chunk = connections[start : start + 10_000].get(keys)
        for key in keys:
            local[key].append(np.atleast_1d(np.asarray(chunk[key])))
    local = {key: np.concatenate(parts) if parts else np.array([]) for key, parts in local.items()}
    parts = allgather(local)
    merged = {key: np.concatenate([part[key] for part in parts]) for key in keys}
    order = np.lexsort(tuple(merged[key] for key in reversed(keys)))
    return {key: value[order] for key, value in merged.items()}


def count_connections(**selection) -> int:
    """The number of connections in the whole network (all ranks) that match ``selection``."""
    return int(sum(allgather(len(import_nest().GetConnections(**selection)))))


# ----------------------------------------------------------------------------- output
def write_json(path, data) -> None:
    """Write ``data`` as JSON, once (rank 0); the other ranks wait until it exists.
    NaN (e.g. the CV of a silent network) is written as null: JSON has no NaN."""
    if is_root():
        text = json.dumps(_without_nan(data), indent=2, sort_keys=True, default=_jsonable, allow_nan=False)
        _atomic_write(Path(path), text.encode())
    barrier()


def write_npz(path, **arrays) -> None:
    """Write arrays to a ``.npz`` file, once (rank 0)."""
    if is_root():
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + f".tmp-{os.getpid()}.npz")
        np.savez_compressed(temporary, **arrays)
        os.replace(temporary, path)
    barrier()


def save_figure(figure, path, **kwargs) -> None:
    """Save a matplotlib figure, once (rank 0): for a researcher's own scripts under MPI."""
    if is_root():
        figure.savefig(path, **kwargs)
    barrier()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _without_nan(value):
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
