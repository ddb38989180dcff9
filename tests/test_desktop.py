"""NEST Desktop and NEST Server (make desktop): safe by default, and working.

The server tests start a real NEST Server (gunicorn, one worker) on a free port of
127.0.0.1, as `make desktop` does, and talk to it over HTTP: a request without the token
is refused, a script that imports or opens a file is refused, a small simulation runs.
The browser test opens NEST Desktop in headless Chromium, imports the bundle's example
project, simulates it through the server, checks that the activity plot appears, that no
request left the machine, and that NEST Desktop's script for the project is the one the
introduction's notebook runs. Screenshots go to test-artifacts/nest-desktop/.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from nest_workshop.tools import desktop as D

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "materials" / "introduction" / "data" / "ei_network.nest-desktop.json"
SCRIPT = ROOT / "materials" / "introduction" / "data" / "ei_network.nest-desktop.py"
SMALL_SIMULATION = """
nest.ResetKernel()
neurons = nest.Create("iaf_psc_alpha", 10, params={"I_e": 400.0})
recorder = nest.Create("spike_recorder")
nest.Connect(neurons, recorder)
nest.Simulate(200.0)
response = {"n_events": recorder.n_events, "mean": float(np.mean([1.0, 2.0]))}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    token = D.new_token()
    running = D.start_server(
        D.free_port(), token, desktop_origin="http://127.0.0.1:54286", log=tmp_path_factory.mktemp("log") / "server.log"
    )
    yield running
    running.stop()


def test_the_server_listens_on_localhost_only_with_a_token(server):
    listening = [c.laddr for c in psutil.Process(server.process.pid).children()[0].net_connections() if c.status == "LISTEN"]
    listening += [c.laddr for c in psutil.Process(server.process.pid).net_connections() if c.status == "LISTEN"]
    assert listening and {address.ip for address in listening} == {"127.0.0.1"}
    assert D.request(server.url + "/")[0] == 403
    assert D.request(server.url + "/", token="wrong")[0] == 403
    assert D.request(server.url + "/api/GetKernelStatus", data={"keys": ["resolution"]})[0] == 403
    status, body = D.request(server.url + "/", token=server.token)
    assert status == 200 and body["nest"] == "3.10.0"
    assert server.log.stat().st_mode & 0o077 == 0, "the log holds the token: this user only"


@pytest.mark.parametrize(
    "script, refused",
    [
        ("import os\nresponse = os.getcwd()", "name 'os' is not defined"),
        ("response = open('/etc/hostname').read()", "name 'open' is not defined"),
        # RestrictedPython refuses to compile it at all (NEST Server answers 500, with no result)
        ("response = nest.__class__.__subclasses__()", "Internal Server Error"),
    ],
)
def test_restricted_scripts_are_refused(server, script, refused):
    status, body = D.request(server.url + "/exec", token=server.token, data={"source": script, "return": "response"})
    assert status in (400, 500) and refused in json.dumps(body) and "data" not in body


SECRET = "nest-workshop-secret-7f3a9c"  # the content of a file no script may read


@pytest.fixture
def outside(tmp_path):
    """A folder outside the server's own, with a file holding SECRET."""
    (tmp_path / "secret.txt").write_text(f"{SECRET}:x:1\n{SECRET}:y:2\n")
    return tmp_path


# Every route found to read or write a file, run a program or reach a module: through numpy,
# through NEST, through the modules they import, through NEST's recorders and kernel.
HOSTILE_SCRIPTS = {
    "numpy reads a file": "response = np.genfromtxt('{secret}', dtype=str, delimiter=':')",
    "numpy reads it inside an error": "response = float(str(np.loadtxt('{secret}', dtype=str)))",
    "numpy reads raw bytes": "response = np.fromfile('{secret}', dtype=np.uint8).tolist()",
    "numpy maps a file": "response = np.memmap('{secret}', dtype=np.uint8, mode='r').tolist()",
    "numpy's DataSource": "response = np.DataSource().open('{secret}').read()",
    "numpy loads": "response = np.load('{secret}', allow_pickle=True)",
    "numpy by regex": "response = np.fromregex('{secret}', '(.*)', [('a', 'U64')]).tolist()",
    "numpy saves": "np.save('{out}/a.npy', np.arange(3))",
    "numpy saves text": "np.savetxt('{out}/a.txt', np.arange(3))",
    "numpy saves archives": "np.savez('{out}/a.npz', a=np.arange(3))",
    "an array writes itself": "np.arange(3).tofile('{out}/a.bin')",
    "an array pickles itself": "np.arange(3).dump('{out}/a.pkl')",
    "an array's raw memory": "response = np.arange(3).ctypes.data",
    "numpy's submodules reach os": "response = np.lib.npyio.os.listdir('{out}')",
    "numpy loads a library": "response = np.ctypeslib.load_library('libc', '/lib')",
    "numpy's test runner": "response = np.testing.assert_equal(1, 1)",
    "a random generator's raw memory": "response = np.random.default_rng().bit_generator.ctypes",
    "NEST's server module reaches os": "response = nest.server.hl_api_server.os.listdir('{out}')",
    "NEST's low-level API": "response = str(nest.ll_api)",
    "NEST reads spike files": "response = nest.raster_plot.from_file('{secret}')",
    "NEST loads a library": "nest.Install('evilmodule')",
    "NEST dumps a layer": "layer = nest.Create('iaf_psc_alpha', positions=nest.spatial.grid([2, 2]))\n"
    "nest.DumpLayerNodes(layer, '{out}/layer.txt')",
    "NEST's data path": "nest.SetKernelStatus({{'data_path': '{out}', 'overwrite_files': True}})",
    "NEST's data path, set()": "nest.set(data_path='{out}')",
    "NEST's data prefix": "nest.SetKernelStatus({{'data_prefix': '../'}})",
    "a recorder to a file": "r = nest.Create('spike_recorder', params={{'record_to': 'ascii', 'label': '{out}/r'}})",
    "a recorder set to a file": "r = nest.Create('multimeter')\nr.set(record_to='ascii')",
    "a recorder set through the class": "r = nest.Create('spike_recorder')\nnest.NodeCollection.set(r, record_to='ascii')",
    "a recorder's attribute": "r = nest.Create('spike_recorder')\nr.record_to = 'ascii'",
    "a recorder's attribute, setattr": "r = nest.Create('spike_recorder')\nsetattr(r, 'record_to', 'ascii')",
    "a recorder's status": "r = nest.Create('spike_recorder')\nnest.SetStatus(r, 'record_to', 'ascii')",
    "recorders' defaults": "nest.SetDefaults('spike_recorder', {{'record_to': 'ascii'}})",
    "a copied recorder": "nest.CopyModel('spike_recorder', 'my_recorder', {{'record_to': 'ascii'}})",
    "setting a module attribute": "nest.data_path = '{out}'",
    "a string that equals anything": "class S(str):\n    def __eq__(self, other):\n        return True\n"
    "    def __hash__(self):\n        return 0\n"
    "r = nest.Create('spike_recorder', params={{'record_to': S('ascii'), 'label': '{out}/r'}})\n"
    "nest.Simulate(10.0)",
    "a key that equals nothing": "class K(str):\n    def __eq__(self, other):\n        return False\n"
    "    def __hash__(self):\n        return 0\n"
    "nest.SetKernelStatus({{K('data_path'): '{out}'}})",
}


@pytest.mark.parametrize("script", list(HOSTILE_SCRIPTS.values()), ids=list(HOSTILE_SCRIPTS))
def test_no_script_reads_or_writes_a_file_or_reaches_a_module(server, outside, script):
    source = script.format(secret=outside / "secret.txt", out=outside)
    status, body = D.request(server.url + "/exec", token=server.token, data={"source": source, "return": "response"})
    assert status in (400, 500) and "data" not in body, body
    assert SECRET not in json.dumps(body), "an error echoed the file's content"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"], "a file was written"
    if status == 400:  # refused while running (500: RestrictedPython refused to compile it)
        refusals = ("not available in the workshop's NEST Server", "is not defined", "_guarded_writes")
        assert any(refusal in body["message"] for refusal in refusals), body["message"]


@pytest.mark.parametrize(
    "call, data",
    [
        ("SetKernelStatus", {"params": {"data_path": "/tmp"}}),
        ("Install", {"module_name": "evilmodule"}),
        ("Create", {"model": "spike_recorder", "params": {"record_to": "ascii"}}),
        ("GetKernelStatus", {"inspect": "getsource"}),
    ],
)
def test_nest_calls_outside_scripts_are_limited_to_what_nest_desktop_asks(server, call, data):
    status, body = D.request(f"{server.url}/api/{call}", token=server.token, data=data)
    assert status == 403 and "not available in the workshop's NEST Server" in body


def test_what_nest_desktop_scripts_use_still_works(server):
    script = """
nest.ResetKernel()
nest.SetKernelStatus({"local_num_threads": 1, "resolution": 0.1, "rng_seed": 1})
layer = nest.Create("iaf_psc_alpha", 4, positions=nest.spatial.free(nest.random.uniform(-0.5, 0.5), num_dimensions=2))
noise = nest.Create("poisson_generator", params={"rate": np.float64(8000.0)})
recorder = nest.Create("spike_recorder", params={"record_to": "memory"})
nest.Connect(noise, layer, syn_spec={"weight": nest.random.normal(20.0, 1.0)})
nest.Connect(layer, recorder)
nest.Simulate(100.0)
events = recorder.get("events")
response = {"spikes": len(events["times"]), "time": nest.biological_time, "positions": len(nest.GetPosition(layer)),
            "mean": float(np.mean(np.arange(4))), "rng": int(np.random.default_rng(1).integers(0, 1))}
"""
    status, body = D.request(server.url + "/exec", token=server.token, data={"source": script, "return": "response"})
    assert status == 200, body
    assert body["data"]["spikes"] > 0 and body["data"]["time"] == 100.0 and body["data"]["positions"] == 4
    assert body["data"]["mean"] == 1.5 and body["data"]["rng"] == 0


def test_the_server_works_in_a_private_folder_of_its_own(server):
    worker = psutil.Process(server.process.pid).children()[0]
    assert Path(worker.cwd()) == server.folder == Path(psutil.Process(server.process.pid).cwd())
    assert server.folder.stat().st_mode & 0o077 == 0, "this user only"


def test_a_small_simulation_runs(server):
    status, body = D.request(server.url + "/exec", token=server.token, data={"source": SMALL_SIMULATION, "return": "response"})
    assert status == 200 and body["data"] == {"n_events": 60, "mean": 1.5}
    status, body = D.request(server.url + "/api/GetKernelStatus", token=server.token, data={"keys": ["biological_time"]})
    assert status == 200 and body == [200.0]


def test_only_the_desktop_page_may_call_the_server(server):
    """Cross-origin requests (the browser's preflight) are allowed from NEST Desktop's page only."""

    def allowed_origin(origin):
        preflight = urllib.request.Request(server.url + "/exec", method="OPTIONS")
        preflight.add_header("Origin", origin)
        preflight.add_header("Access-Control-Request-Method", "POST")
        preflight.add_header("Access-Control-Request-Headers", "nestserverauth")
        with urllib.request.urlopen(preflight, timeout=10) as response:
            return response.headers.get("Access-Control-Allow-Origin")

    assert allowed_origin("http://127.0.0.1:54286") == "http://127.0.0.1:54286"
    assert allowed_origin("http://evil.example") is None


def test_no_server_without_a_token(tmp_path):
    with pytest.raises(D.DesktopError, match="needs an access token"):
        D.start_server(D.free_port(), "", desktop_origin="http://127.0.0.1:1", log=tmp_path / "log")


def test_a_port_in_use_is_explained():
    with D.socket.socket() as taken:
        taken.bind((D.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(D.DesktopError, match=f"port {port} on 127.0.0.1 is in use: choose another NEST Desktop port"):
            D.check_port(port, "NEST Desktop")


def test_the_app_is_served_with_its_backend_and_without_internet():
    overrides = D.app_overrides(D.app_dir(), "http://127.0.0.1:5000")
    page = overrides["/index.html"].decode()
    assert "fonts.googleapis" not in page and "fonts.gstatic" not in page
    assert '\\"url\\": \\"http://127.0.0.1:5000\\"' in page  # the backend, saved before the app starts
    backends = json.loads(overrides["/assets/workspaces/nest/config/backends.json"])
    assert backends["nest"] == {"enabled": True, "url": "http://127.0.0.1:5000"}
    assert not any(b["enabled"] for name, b in backends.items() if name != "nest")
    fonts = [text for path, text in overrides.items() if "webfontloader" in path]
    assert fonts and all(b"fonts.googleapis" not in text for text in fonts)
    app = [text for path, text in overrides.items() if re.search(r"/assets/js/index-.*\.js$", path)]
    assert app and all(b"githubusercontent" not in text and b"api.github.com" not in text for text in app)
    url = D.desktop_url(6000, "http://127.0.0.1:5000", "abc")
    assert url == "http://127.0.0.1:6000/#/nest?nest_server_url=http%3A%2F%2F127.0.0.1%3A5000&nest_server_access_token=abc"


@contextlib.contextmanager
def launched_desktop(tmp_path, token: str):
    """``nest-workshop desktop`` on free ports, as ``make desktop`` runs it; yields
    (process, desktop port, server port) once it has printed its URL. Afterwards, also on
    any failure, the launcher and everything it started (gunicorn and its worker) are
    stopped, and both ports must be free."""
    desktop_port, server_port = D.free_port(), D.free_port()
    env = dict(D.os.environ, NEST_SERVER_ACCESS_TOKEN=token, XDG_CACHE_HOME=str(tmp_path))
    command = [sys.executable, "-m", "nest_workshop.tools.cli", "desktop", "--port", str(desktop_port)]
    command += ["--server-port", str(server_port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        process.lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("#/nest?" in line for line in process.lines):
            process.lines.append(process.stdout.readline())
        yield process, desktop_port, server_port
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
        if process.poll() is None:
            process.kill()
    for port in (desktop_port, server_port):
        assert D.check_port(port, "freed") == port  # both stopped


def test_make_desktop_prints_the_url_and_stops_both_on_ctrl_c(tmp_path):
    with launched_desktop(tmp_path, "token-from-the-environment") as (process, desktop_port, server_port):
        url = next(line.strip() for line in process.lines if "#/nest?" in line)
        assert url == D.desktop_url(desktop_port, f"http://127.0.0.1:{server_port}", "token-from-the-environment")
        assert D.request(f"http://127.0.0.1:{desktop_port}/")[0] == 200
        assert D.request(f"http://127.0.0.1:{server_port}/", token="token-from-the-environment")[0] == 200
        process.send_signal(signal.SIGINT)
        # it must stop, however loaded the machine: a generous bound, not a speed test
        assert process.wait(timeout=120) == 0


def test_a_burst_of_ctrl_c_still_stops_both_cleanly(tmp_path):
    """Ctrl-C pressed again and again (an impatient user, a loaded machine): each press
    only asks the launcher to stop, so no interrupt lands inside the stop itself (or
    inside a Popen call, whose wait lock it could leave taken, hanging the stop)."""
    with launched_desktop(tmp_path, D.new_token()) as (process, _, _):
        for _ in range(200):  # for about 4 s, through the whole stop
            if process.poll() is not None:
                break
            process.send_signal(signal.SIGINT)
            time.sleep(0.02)
        status = process.wait(timeout=120)
        output = process.stdout.read()
        assert status == 0 and "Traceback" not in output, output[-2000:]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_server_outlives_its_launcher(tmp_path, how):
    """However `make desktop` ends, NEST Server (gunicorn and its worker) ends with it, and
    its private folder goes."""
    desktop_port, server_port = D.free_port(), D.free_port()
    env = dict(D.os.environ, XDG_CACHE_HOME=str(tmp_path))
    command = [sys.executable, "-m", "nest_workshop.tools.cli", "desktop", "--port", str(desktop_port)]
    process = subprocess.Popen(
        command + ["--server-port", str(server_port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    started = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "#/nest?" not in process.stdout.readline():
            pass
        started = psutil.Process(process.pid).children(recursive=True)
        assert started, "the launcher started no server"
        folder = Path(started[0].cwd())
        assert folder.name.startswith("nest-server-")
        process.send_signal(how)
        process.wait(timeout=30)
        # generous bounds, not a speed test: the server notices at once, a loaded machine is slow
        gone, alive = psutil.wait_procs(started, timeout=60)
        assert alive == [], f"still running after the launcher ended by {how.name}: {alive}"
        deadline = time.monotonic() + 30
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not folder.exists(), "the server's folder outlived it"
        assert D.check_port(server_port, "freed") == server_port
    finally:
        for child in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if process.poll() is None:
            process.kill()


# ---------------------------------------------------------------------------
# NEST Desktop in a real browser (make test-browser)


def normalised(script: str) -> list[str]:
    return [line.rstrip() for line in script.strip().splitlines() if line.strip()]


@pytest.mark.browser
def test_nest_desktop_simulates_the_example_project_through_the_local_server(tmp_path):
    from playwright.sync_api import sync_playwright

    from .test_slides import PageWatch, artifact_dir, launch_chromium, require_chromium

    require_chromium()
    shots = artifact_dir("nest-desktop")
    desktop = D.start(D.free_port(), D.free_port(), log=tmp_path / "nest-server.log")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            watch = PageWatch(page, allow_hosts=[D.HOST])
            page.goto(desktop.url)
            # the NEST backend's indicator turns green once NEST Desktop has reached the server
            page.locator(f'button[title="{desktop.server.url}"] .text-green').wait_for(timeout=30_000)

            page.locator("#import-dialog").click()
            page.get_by_title("Import from drive").click()
            page.locator("input[type=file]").first.set_input_files(str(PROJECT))
            dialog = page.locator(".v-overlay__content").last
            dialog.locator("input[type=checkbox]").first.check()
            dialog.get_by_text("import selected").click()
            page.keyboard.press("Escape")
            page.get_by_text(json.loads(PROJECT.read_text())["name"], exact=True).first.click()
            page.get_by_title("Simulate").click()
            points = page.locator(".js-plotly-plot .point")
            points.first.wait_for(state="attached", timeout=60_000)
            page.get_by_text("Simulation finished.").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)
            n_spikes = points.count()
            page.screenshot(path=str(shots / "activity.png"))

            page.get_by_role("tab", name="code").click()
            code = page.locator(".cm-content").first
            code.wait_for()
            script = code.inner_text()
            page.screenshot(path=str(shots / "code.png"))
            browser.close()
    finally:
        desktop.stop()
    (shots / "page-errors.txt").write_text("\n".join(watch.errors) + "\n")  # NEST Desktop's own, kept for reading
    assert watch.external == [], f"requests left the machine: {watch.external}"
    # 500 neurons for 1 s at 15-25 spikes/s, as the project says (the notebook checks the rates)
    assert 500 * 15 <= n_spikes <= 500 * 25, n_spikes
    assert normalised(script) == normalised(SCRIPT.read_text()), (
        "NEST Desktop's script for the example project differs from the one the introduction's notebook runs: "
        f"export it again into {SCRIPT.relative_to(ROOT)}"
    )
