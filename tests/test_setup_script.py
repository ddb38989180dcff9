"""scripts/ensure_system_packages.sh: quiet when all is there; the exact command when not."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure_system_packages.sh"


def test_passes_silently_when_everything_is_installed():
    out = subprocess.run(["bash", str(SCRIPT), sys.executable], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_prints_the_apt_command_for_a_normal_user(tmp_path):
    """A PATH with no compiler or cmake, and `id` saying we are not root."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["printf", "sort"]:
        os.symlink(shutil.which(tool), bin_dir / tool)
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'apt-get must not run' >&2\nexit 99\n")
    for stub in ["id", "apt-get"]:
        (bin_dir / stub).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    out = subprocess.run([shutil.which("bash"), str(SCRIPT), sys.executable], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert "the 'g++' command" in out.stderr and "the 'cmake' command" in out.stderr
    assert "sudo apt-get update && sudo apt-get install -y cmake g++ libboost-dev libgsl-dev libltdl-dev make" in out.stderr
    assert "apt-get must not run" not in out.stderr
