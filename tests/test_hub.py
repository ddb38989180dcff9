"""The workshop room (``nest-workshop hub``): who gets in, each participant separate, the
fair share, and a two-participant smoke test through the proxy.

The room tests start a real JupyterHub with its proxy on a free port of 127.0.0.1, as
root (each participant is a system user), and sign two participants in over HTTP as a
browser does (:mod:`nest_workshop.tools.hub_client`). The access code and the
instructor's secret are generated here for each run. Everything the room started is
stopped and the test users are removed afterwards, also when a test fails.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from nest_workshop.tools import hub
from nest_workshop.tools.hub_client import Participant, code_cells, running_room

ROOT = Path(__file__).resolve().parents[1]
FIRST_STEPS = ROOT / "materials" / "introduction" / "01_first_steps_solution.ipynb"
DOCTOR_MODEL = ROOT / "src" / "nest_workshop" / "tools" / "data" / "doctor_lif_neuron.nestml"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("npm") is None,
    reason="the room makes system users (root, useradd) and installs its proxy with npm",
)


# ---------------------------------------------------------------------------
# Rules, without a room


def test_fair_share_divides_cores_and_memory():
    assert hub.fair_share(32, 128 * 10**9, 30) == (1, int(128e9 * 0.9) // 30)
    assert hub.fair_share(32, 128 * 10**9, 8)[0] == 4
    assert hub.fair_share(2, 24 * 10**9, 8)[0] == 1, "never fewer than 1 thread"
    with pytest.raises(hub.HubError, match="at least 1"):
        hub.fair_share(8, 10**9, 0)


@pytest.mark.parametrize("name", ["", "a", "Alice", "1abc", "a b", "../etc", "x" * 33, "al;ce"])
def test_names_that_are_not_accepted_say_what_is(name):
    with pytest.raises(hub.HubError, match="lower-case letters"):
        hub.check_name(name)


def test_system_accounts_are_taken():
    assert hub.system_user_state("root") == "taken"
    assert hub.system_user_state("nobody-here-" + secrets.token_hex(3)) == "free"


def test_a_name_keeps_the_password_it_chose(tmp_path):
    book = hub.PasswordBook(tmp_path / "participants.json")
    assert book.check_or_claim("alice", "first-password")
    assert book.check_or_claim("alice", "first-password")
    assert not book.check_or_claim("alice", "another-password")
    assert (tmp_path / "participants.json").stat().st_mode & 0o777 == 0o600
    assert "first-password" not in (tmp_path / "participants.json").read_text()
    book.forget("alice")  # the instructor deleted the user: the name may choose again
    assert book.check_or_claim("alice", "another-password")


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    hub.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_no_plain_http_beyond_loopback():
    with pytest.raises(hub.HubError, match="needs HTTPS"):
        hub.launch(_args(ip="0.0.0.0"))
    with pytest.raises(hub.HubError, match="both --ssl-cert and --ssl-key"):
        hub.launch(_args(ip="0.0.0.0", ssl_cert="/x.pem"))


def test_weak_or_equal_secrets_are_refused(monkeypatch):
    monkeypatch.setenv(hub.CODE_ENV, "short")
    with pytest.raises(hub.HubError, match="at least 8 characters"):
        hub.launch(_args())
    same = secrets.token_urlsafe(32)
    monkeypatch.setenv(hub.CODE_ENV, same)
    monkeypatch.setenv(hub.ADMIN_SECRET_ENV, same)
    with pytest.raises(hub.HubError, match="must differ"):
        hub.launch(_args())


def test_a_bundle_others_cannot_reach_is_refused_with_the_fix(tmp_path):
    private = tmp_path / "private"
    (private / "bundle").mkdir(parents=True)
    private.chmod(0o700)
    with pytest.raises(hub.HubError, match="where every user may read them"):
        hub.check_readable_by_participants(private / "bundle")
    assert not hub.usable_by_others(private / "bundle")


def test_self_signed_certificate_names_the_host_and_keeps_its_key_private(tmp_path):
    from cryptography import x509

    cert, key = hub.self_signed_certificate(tmp_path, "192.0.2.7")
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "192.0.2.7" in {str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)}
    assert key.stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------------------
# A room


@pytest.fixture(scope="module")
def room(built_module_cache):
    """A room on 127.0.0.1 for two participants, with a shared cache holding the test
    neuron's module; stopped, and its users and folders removed, afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("npm") is None:
        pytest.skip("the room makes system users (root, useradd) and installs its proxy with npm")
    # the shared cache must be reachable by the participants: not under pytest's private
    # (0700) temporary folders
    shared = Path(tempfile.mkdtemp(prefix="nest-workshop-shared-test-"))
    try:
        shutil.copytree(built_module_cache[0], shared / "nestml")
        for folder, _, files in os.walk(shared):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder) / name, 0o644)
        with running_room(ROOT, participants=2, shared_cache=shared, start_timeout=300) as room:
            room.names = [f"wsa{secrets.token_hex(3)}", f"wsb{secrets.token_hex(3)}"]
            yield room
            print(room.log_tail())  # shown by pytest when a test failed
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def two_participants(room):
    """Both participants signed in (each with a password of their own), servers started,
    each with a kernel on the first-steps notebook of their workspace."""
    people = []
    for name in room.names:
        person = Participant(room.url, name, secrets.token_urlsafe(10), room.code)
        answer = person.sign_in()
        assert answer.status_code == 302 and person.signed_in, f"{name} could not sign in: {answer.status_code}"
        person.create_token()
        person.start_server()
        person.kernel = person.open_kernel("workspace/introduction/01_first_steps.ipynb")
        people.append(person)
    yield people
    for person in people:
        person.kernel.close()


def _run(person, code: str) -> str:
    error, printed = person.kernel.execute(code, timeout=120)
    assert error is None, f"{person.name}'s kernel: {error}"
    return printed.strip()


@needs_root
def test_nothing_without_signing_in(room):
    name = room.names[0]
    for path in [f"user/{name}/lab", f"user/{name}/api/contents", "hub/admin"]:
        answer = requests.get(room.url + path, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 403), f"{path}: {answer.status_code}"
        if answer.status_code == 302:
            assert "/hub/login" in answer.headers["location"] or "/hub/user/" in answer.headers["location"]
    assert requests.get(room.url + "hub/api/users", timeout=10).status_code == 403


@needs_root
def test_wrong_code_wrong_password_and_system_names_are_refused(room, two_participants):
    url, code = room.url, room.code
    owner = two_participants[0]
    refused = [
        Participant(url, "wsz" + secrets.token_hex(3), "a-password-1", "not-the-code"),  # wrong access code
        Participant(url, owner.name, "someone-elses-pw", code),  # right code, another's name
        Participant(url, "root", "a-password-1", code),  # a system account
        Participant(url, "daemon", "a-password-1", code),
        Participant(url, room.admin, room.code, code),  # the instructor's name needs the instructor's secret
    ]
    for person in refused:
        answer = person.sign_in()
        assert answer.status_code == 403 and not person.signed_in, f"{person.name} got in ({answer.status_code})"
    assert not any(hub.system_user_state(p.name) == "participant" for p in refused[:1] + refused[2:4])


@needs_root
def test_two_participants_run_a_notebook_each_in_their_own_user(room, two_participants):
    """The smoke test: both signed in, both servers up, the first-steps notebook runs in
    each kernel, as its own system user, with the fair share and the shared cache."""
    uids = set()
    for person in two_participants:
        results = person.kernel.run_cells(code_cells(FIRST_STEPS), timeout=300)
        errors = [(r.index, r.error) for r in results if r.error]
        assert not errors, f"{person.name}: cells failed: {errors}"
        uid = int(_run(person, "import os; print(os.getuid())"))
        assert pwd.getpwuid(uid).pw_name == person.name
        uids.add(uid)
        threads, _ = hub.fair_share(len(os.sched_getaffinity(0)), hub._memory_bytes(), 2)
        assert _run(person, "print(os.environ['NEST_WORKSHOP_THREADS'])") == str(threads)
    assert len(uids) == 2


@needs_root
def test_a_participant_cannot_reach_anothers_server_or_files(room, two_participants):
    a, b = two_participants
    for path in ["kernels", "contents/workspace"]:
        answer = a.server_api("GET", path, user=b.name)
        assert answer.status_code in (403, 404), f"{a.name} opened {b.name}'s {path}: {answer.status_code}"
    answer = a.session.get(room.url + f"user/{b.name}/lab", allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 403, 404) and "/lab" not in answer.headers.get("location", "/hub/")[-4:]
    b_home = pwd.getpwnam(b.name).pw_dir
    printed = _run(
        a,
        f"""
for attempt in [lambda: os.listdir({b_home!r}),
                lambda: open({b_home!r} + '/nest-workshop/workspace/introduction/01_first_steps.ipynb').read()]:
    try:
        attempt(); print('READ')
    except PermissionError:
        print('refused')
""",
    )
    assert printed.split() == ["refused", "refused"]
    # what a participant writes is theirs alone (umask 077)
    mode = _run(a, "open('mine.txt', 'w').write('x'); print(oct(os.stat('mine.txt').st_mode & 0o777))")
    assert mode == "0o600"


@needs_root
def test_the_hubs_secrets_are_not_readable_by_participants(room, two_participants):
    state = room.state
    assert state.stat().st_mode & 0o777 == 0o700
    for name in ["jupyterhub_cookie_secret", "participants.json", "jupyterhub.sqlite", "room.json"]:
        assert (state / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"
    settings = (state / "room.json").read_text()
    assert room.code not in settings and room.admin_secret not in settings
    # the hub and its proxy hold the secrets and the proxy's API token in their environment
    proxy_pid = int((state / "proxy.pid").read_text())
    a = two_participants[0]
    printed = _run(
        a,
        f"""
for pid in [{room.process.pid}, {proxy_pid}]:
    try:
        open(f'/proc/{{pid}}/environ').read(); print('READ')
    except (PermissionError, FileNotFoundError):
        print('refused')
""",
    )
    assert printed.split() == ["refused", "refused"]


@needs_root
def test_participants_use_the_shared_cache_and_build_their_own(room, two_participants):
    a = two_participants[0]
    printed = _run(
        a,
        f"""
from nest_workshop.core import nestml
module = nestml.build({str(DOCTOR_MODEL)!r}, load=False)
print(module.built, str(module.path).startswith({str(room.shared_cache)!r}))
""",
    )
    assert printed == "False True", "the shipped model comes from the shared cache, without building"
    assert _run(a, f"print(os.access({str(room.shared_cache / 'nestml')!r}, os.W_OK))") == "False"


@needs_root
def test_participants_are_refused_the_admin_pages_and_the_instructor_sees_the_room(room, two_participants):
    a = two_participants[0]
    assert a.session.get(room.url + "hub/admin", timeout=10).status_code == 403
    assert a.hub_api("GET", "users").status_code == 403
    teacher = room.instructor()
    assert teacher.sign_in().status_code == 302 and teacher.signed_in
    assert teacher.session.get(room.url + "hub/admin", timeout=10).status_code == 200
    teacher.create_token()
    users = {u["name"]: u for u in teacher.hub_api("GET", "users").json()}
    for person in two_participants:
        assert users[person.name]["servers"][""]["ready"], f"the instructor sees {person.name}'s server running"
    # idle servers are culled: JupyterHub runs the culler as a service of the room
    services = teacher.hub_api("GET", "services").json()
    assert "idle-culler" in services, f"services: {sorted(services)}"
    assert any("--timeout=3600" in part for part in services["idle-culler"]["command"])
    # ... and can stop a stuck server (the admin page's button does the same)
    b = two_participants[1]
    assert teacher.hub_api("DELETE", f"users/{b.name}/server").status_code in (202, 204)
