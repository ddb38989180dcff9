"""A workshop room in real browsers (make test-browser): two participants, each in a
browser of their own (separate cookies), sign in on the hub's page, land in JupyterLab
on their copy of the materials, run the first-steps notebook, and cannot open each
other's JupyterLab. Screenshots go to test-artifacts/hub/.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import pytest

from nest_workshop.tools.hub_client import running_room

from .test_slides import artifact_dir, launch_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "workspace/introduction/01_first_steps.ipynb"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def room():
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("npm") is None:
        pytest.skip("the room makes system users (root, useradd) and installs its proxy with npm")
    with running_room(ROOT, participants=2, start_timeout=300) as room:
        yield room
        print(room.log_tail())


def sign_in(page, room, name: str, password: str) -> None:
    page.goto(room.url + "hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.fill("#otp_input", room.code)
    page.screenshot(path=str(artifact_dir("hub") / "sign_in.png"))
    page.click("#login_submit")
    # the hub spawns the server and sends the browser on to JupyterLab
    page.locator(".jp-LabShell, #jp-main-dock-panel").first.wait_for(timeout=180_000)


def test_two_participants_in_two_browsers(room):
    from playwright.sync_api import sync_playwright

    shots = artifact_dir("hub")
    names = [f"wsb{secrets.token_hex(3)}", f"wsc{secrets.token_hex(3)}"]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        pages = {}
        try:
            for name in names:
                context = browser.new_context(viewport={"width": 1400, "height": 900})  # cookies of its own
                page = context.new_page()
                sign_in(page, room, name, secrets.token_urlsafe(10))
                assert f"/user/{name}/" in page.url, page.url
                pages[name] = page
            for name, page in pages.items():
                page.goto(room.url + f"user/{name}/lab/tree/{NOTEBOOK}")
                page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
                page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle")).first.wait_for(timeout=120_000)
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
                # the first cells (set-up, a neuron, its figure) run before the first blank exercise
                page.locator(".jp-NotebookPanel .jp-OutputArea-output.jp-RenderedImage img").first.wait_for(timeout=180_000)
                page.screenshot(path=str(shots / f"participant_{names.index(name) + 1}.png"))
            # neither reaches the other's JupyterLab
            a, b = names
            answer = pages[a].goto(room.url + f"user/{b}/lab")
            assert answer.status == 403, f"{a} reached {b}'s JupyterLab: {answer.status} {pages[a].url}"
            assert pages[a].locator(".jp-LabShell").count() == 0
            pages[a].screenshot(path=str(shots / "other_participants_lab_refused.png"))
        except Exception:
            for name, page in pages.items():
                page.screenshot(path=str(shots / f"failure_{name}.png"))
            raise
        finally:
            browser.close()
