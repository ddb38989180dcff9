"""The one build-cache mechanism, by itself: where caches live, publishing whole entries
(folders and single files), and sweeping what killed builds left. The builders that use
it (NESTML, MPI wheel, NEAT, NEURON mechanisms, npm) are tested in their own files."""

import os
import subprocess
import sys

import pytest

from nest_workshop.core import build_cache


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for variable in build_cache.CACHE_ENVS.values():
        if variable:
            monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_every_cache_has_one_root_and_its_variable_moves_it(caches, monkeypatch):
    assert build_cache.cache_root("neat") == caches / "xdg" / "nest-workshop" / "neat"
    assert build_cache.all_cache_roots() == [caches / "xdg" / "nest-workshop"]
    monkeypatch.setenv("NEST_WORKSHOP_NEAT_CACHE", str(caches / "elsewhere"))
    assert build_cache.cache_root("neat") == caches / "elsewhere"
    assert build_cache.all_cache_roots() == [caches / "xdg" / "nest-workshop", caches / "elsewhere"]
    with pytest.raises(ValueError, match="unknown cache 'neuron'; the bundle's caches are nestml, neat, mpi-wheels, npm"):
        build_cache.cache_root("neuron")


def test_the_builders_ask_the_one_root(caches, monkeypatch):
    from nest_workshop.core import nestml
    from nest_workshop.scaleout import mpi_wheel

    monkeypatch.setenv("NEST_WORKSHOP_CACHE", str(caches / "modules"))
    monkeypatch.setenv("NEST_WORKSHOP_MPI_CACHE", str(caches / "wheels"))
    assert nestml.cache_root() == (caches / "modules").resolve()
    assert mpi_wheel.cache_root() == (caches / "wheels").resolve()


def test_clean_removes_every_root_also_the_moved_ones(caches, monkeypatch, capsys):
    monkeypatch.setenv("NEST_WORKSHOP_CACHE", str(caches / "modules"))
    for root in build_cache.all_cache_roots():
        (root / "entry").mkdir(parents=True)
    assert build_cache.main(["clean"]) == 0
    assert not (caches / "modules").exists() and not (caches / "xdg" / "nest-workshop").exists()
    assert str(caches / "modules") in capsys.readouterr().out


def test_a_folder_entry_is_published_whole_or_not_at_all(tmp_path):
    with build_cache.entry_lock(tmp_path, "a"), build_cache.staging(tmp_path, "a") as staged:
        (staged / "built").write_text("done")
        build_cache.publish(staged, tmp_path / "a")
    assert (tmp_path / "a" / "built").read_text() == "done"
    with pytest.raises(RuntimeError), build_cache.staging(tmp_path, "b") as staged:
        (staged / "half").write_text("...")
        raise RuntimeError("the build failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.lock", "a"]


def test_a_file_entry_is_replaced_in_one_rename(tmp_path):
    source = tmp_path / "new.p"
    source.write_bytes(b"new")
    entry = tmp_path / "cache" / "modes.p"
    build_cache.publish_file(source, entry)
    assert entry.read_bytes() == b"new"
    source.write_bytes(b"newer")
    build_cache.publish_file(source, entry)
    assert entry.read_bytes() == b"newer" and sorted(p.name for p in entry.parent.iterdir()) == ["modes.p"]


def test_temporaries_of_dead_builds_are_swept_and_live_ones_kept(tmp_path):
    dead = dead_pid()
    (tmp_path / f".build-{dead}-module-x1").mkdir()
    (tmp_path / f".build-{dead}-modes.p").write_bytes(b"half")
    (tmp_path / f".build-{os.getpid()}-mine-x2").mkdir()
    removed = build_cache.remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == [f".build-{dead}-modes.p", f".build-{dead}-module-x1"]
    assert [p.name for p in tmp_path.iterdir()] == [f".build-{os.getpid()}-mine-x2"]
