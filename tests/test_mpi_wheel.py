"""The MPI wheel cache of `make mpi`: key, reuse, rebuild of damaged or foreign entries,
nothing left behind by a failed build. A fake builder stands in for the 20-minute
compilation; tests/mpi/ checks the real wheel."""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nest_workshop.scaleout import mpi_wheel

FIELDS = {
    "recipe": 1,
    "nest": "3.10.0",
    "cmake_defines": {"with-mpi": "ON"},
    "openmpi": "4.1.4",
    "gsl": "2.7.1",
    "ltdl": "2.4.7",
    "python_abi": "cpython-311-x86_64-linux-gnu",
    "machine": "x86_64",
    "os": "debian-12",
    "build_requirements": ["cython==3.3.1"],
}


class FakeBuilder:
    """Writes a small valid wheel into the work folder and counts its calls."""

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail

    def __call__(self, workdir: Path) -> Path:
        self.calls += 1
        if self.fail:
            (workdir / "half-written.o").write_text("x")
            raise mpi_wheel.MpiSetupError("compiler failed")
        wheel = workdir / "nest_simulator-3.10.0-cp311-cp311-linux_x86_64.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("nest/__init__.py", f"# build {self.calls}\n")
        return wheel


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock"))


def test_key_changes_with_every_field():
    base = mpi_wheel.key_of(FIELDS)
    assert base.startswith("nest-3.10.0-mpi-")
    for name, other in [
        ("openmpi", "5.0.7"),
        ("python_abi", "cpython-312-x86_64-linux-gnu"),
        ("os", "ubuntu-24.04"),
        ("nest", "3.9.0"),
        ("gsl", "2.8"),
        ("cmake_defines", {"with-mpi": "OFF"}),
    ]:
        assert mpi_wheel.key_of({**FIELDS, name: other}) != base, name


def test_real_key_fields_describe_this_machine():
    if not mpi_wheel._output(["ompi_info", "--version"]):
        with pytest.raises(mpi_wheel.MpiSetupError, match="apt-get install -y openmpi-bin libopenmpi-dev"):
            mpi_wheel.build_key_fields()
        return
    fields = mpi_wheel.build_key_fields()
    assert fields["nest"] == mpi_wheel.NEST_VERSION
    assert fields["python_abi"].startswith(f"cpython-{sys.version_info.major}{sys.version_info.minor}")
    assert fields["openmpi"][0].isdigit()


def test_built_once_then_reused(tmp_path):
    builder = FakeBuilder()
    wheel, built = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    assert built and builder.calls == 1 and wheel.is_file()
    again, built_again = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    assert (again, built_again, builder.calls) == (wheel, False, 1)
    manifest = json.loads((wheel.parent / "manifest.json").read_text())
    assert manifest["fields"] == FIELDS and manifest["sha256"] == mpi_wheel.sha256_of(wheel)
    assert entries(tmp_path) == [wheel.parent.name]  # no temporary folders left


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "delete"])
def test_damaged_entry_is_rebuilt(tmp_path, damage, capsys):
    builder = FakeBuilder()
    wheel, _ = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    if damage == "truncate":
        wheel.write_bytes(wheel.read_bytes()[:20])
    elif damage == "flip":
        data = bytearray(wheel.read_bytes())
        data[40] ^= 0xFF
        wheel.write_bytes(bytes(data))
    elif damage == "manifest":
        (wheel.parent / "manifest.json").write_text("{not json")
    else:
        wheel.unlink()
    assert mpi_wheel.entry_problem(wheel.parent, FIELDS) is not None
    rebuilt, built = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    assert built and builder.calls == 2
    assert mpi_wheel.entry_problem(rebuilt.parent, FIELDS) is None
    assert "not usable" in capsys.readouterr().out


def test_entry_for_another_configuration_is_not_used(tmp_path, capsys):
    builder = FakeBuilder()
    wheel, _ = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    # Someone copied an entry built against another OpenMPI under this key's name.
    manifest = json.loads((wheel.parent / "manifest.json").read_text())
    manifest["fields"]["openmpi"] = "5.0.7"
    (wheel.parent / "manifest.json").write_text(json.dumps(manifest))
    assert "openmpi" in mpi_wheel.entry_problem(wheel.parent, FIELDS)
    _, built = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=builder)
    assert built and builder.calls == 2
    assert "different configuration (openmpi)" in capsys.readouterr().out


def test_failed_build_leaves_nothing(tmp_path):
    with pytest.raises(mpi_wheel.MpiSetupError, match="compiler failed"):
        mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=FakeBuilder(fail=True))
    assert entries(tmp_path) == []
    _, built = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=FakeBuilder())
    assert built


def test_killed_build_leaves_no_entry_and_its_leftovers_are_removed(tmp_path):
    # A build killed with SIGKILL cannot clean up: its temporary folder stays, the entry
    # does not exist, and the next build removes the leftovers.
    script = (  # noqa: UP031 (a script with braces of its own is easier to read with %r)
        "import os, signal, sys; sys.path.insert(0, %r)\n"
        "from nest_workshop.scaleout import mpi_wheel\n"
        "def killed(workdir):\n"
        "    (workdir / 'partial.whl').write_bytes(b'PK')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "mpi_wheel.cached_wheel(root=%r, fields=%r, builder=killed)\n"
    ) % (str(Path(mpi_wheel.__file__).parents[2]), str(tmp_path), FIELDS)
    result = subprocess.run([sys.executable, "-c", script])
    assert result.returncode == -9
    leftovers = entries(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(".build-")
    key = mpi_wheel.key_of(FIELDS)
    assert not (tmp_path / key).exists()
    wheel, built = mpi_wheel.cached_wheel(root=tmp_path, fields=FIELDS, builder=FakeBuilder())
    assert built and entries(tmp_path) == [key]


def test_cache_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(mpi_wheel.CACHE_ENV, str(tmp_path / "wheels"))
    assert mpi_wheel.cache_root() == (tmp_path / "wheels").resolve()
    assert (tmp_path / "wheels").is_dir()


def test_the_mpi_wheel_builds_the_nest_the_bundle_pins():
    """NEST_VERSION names the sdist the MPI wheel is built from: the same NEST as .venv's."""
    root = Path(__file__).resolve().parents[1]
    pins = re.findall(r'"nest-simulator==([^"]+)"', (root / "pyproject.toml").read_text())
    constraints = re.findall(r"^nest-simulator==(\S+)$", (root / "requirements" / "constraints.txt").read_text(), re.M)
    assert pins == constraints == [mpi_wheel.NEST_VERSION], (
        f"pyproject.toml pins NEST {pins}, constraints.txt {constraints}, the MPI wheel builds {mpi_wheel.NEST_VERSION}"
    )
