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


def test_make_desktop_prints_the_url_and_stops_both_on_ctrl_c(tmp_path):
    desktop_port, server_port = D.free_port(), D.free_port()
    env = dict(D.os.environ, NEST_SERVER_ACCESS_TOKEN="token-from-the-environment", XDG_CACHE_HOME=str(tmp_path))
    command = [sys.executable, "-m", "nest_workshop.tools.cli", "desktop", "--port", str(desktop_port)]
    process = subprocess.Popen(
        command + ["--server-port", str(server_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("#/nest?" in line for line in lines):
            lines.append(process.stdout.readline())
        url = next(line.strip() for line in lines if "#/nest?" in line)
        assert url == D.desktop_url(desktop_port, f"http://127.0.0.1:{server_port}", "token-from-the-environment")
        assert D.request(f"http://127.0.0.1:{desktop_port}/")[0] == 200
        assert D.request(f"http://127.0.0.1:{server_port}/", token="token-from-the-environment")[0] == 200
        process.send_signal(signal.SIGINT)
        # it must stop, however loaded the machine: a generous bound, not a speed test
        assert process.wait(timeout=120) == 0
    finally:
        # on any failure, stop the launcher and everything it started (gunicorn and its worker)
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
        if process.poll() is None:
            process.kill()
    for port in (desktop_port, server_port):
        assert D.check_port(port, "freed") == port  # both stopped


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
