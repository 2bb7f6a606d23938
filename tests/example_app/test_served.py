"""The served demo: its analytics API's rules over HTTP, and the pages in headless Chromium.

One ``python -m example_app demo --videos 400 --port <free>`` serves for the
whole module (after its own refresh); the browser test then starts a second
refresh from the leaderboard's button and follows its status page to ``done``.
Screenshots go to ``test-artifacts/example_app/``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from example_app import catalog
from tests.example_app.conftest import ROOT, clean_env

VIDEOS = 400
FAIL_EVERY = 7
ARTIFACTS = ROOT / "test-artifacts" / "example_app"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


@dataclass
class Served:
    """The demo process and where it serves."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str]

    def get(self, path: str) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pump(stream, lines: list[str], found: queue.Queue) -> None:
    for line in stream:
        lines.append(line)
        if "serving the demo on" in line:
            found.put(line.split("serving the demo on", 1)[1].split()[0])
    found.put(None)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo serving on a free port, after its own refresh (stopped with SIGINT after)."""
    cwd = tmp_path_factory.mktemp("served")
    env = clean_env(EXAMPLE_APP_API_FAIL_EVERY=str(FAIL_EVERY))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "example_app",
            "demo",
            "--videos",
            str(VIDEOS),
            "--port",
            str(_free_port()),
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    found: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines, found), daemon=True).start()
    try:
        url = found.get(timeout=180)
    except queue.Empty:
        url = None
    if url is None:
        proc.kill()
        pytest.fail("the demo did not start serving:\n" + "".join(lines)[-4000:])
    try:
        yield Served(proc, url, lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _stats(served: Served, key: str, ids: list[str]) -> int:
    status, _, _ = served.get(f"api/v1/videos/stats?key={key}&ids={','.join(ids)}")
    return status


def test_api_answers_429_beyond_the_per_key_burst(served: Served) -> None:
    ids = [catalog.video_id(catalog.CHANNEL_ID, 0)]
    key = f"burst-{time.monotonic_ns()}"
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(lambda _: _stats(served, key, ids), range(30)))
    elapsed = time.monotonic() - start
    admitted = sum(1 for s in statuses if s != 429)
    # A burst of 10 tokens at 50/s: 10 admitted at once, plus what the bucket refilled
    # while the requests arrived (bounded by the time they took, however loaded the machine).
    assert 10 <= admitted <= 10 + 50 * elapsed + 1, (statuses, elapsed)
    usage = json.loads(served.get(f"api/v1/usage?key={key}")[2])
    assert usage["answered_429"] == 30 - admitted


def test_api_answers_500_on_every_nth_stats_request(served: Served) -> None:
    ids = [catalog.video_id(catalog.CHANNEL_ID, 1)]
    key = f"seq-{time.monotonic_ns()}"
    statuses = []
    for _ in range(2 * FAIL_EVERY):
        statuses.append(_stats(served, key, ids))
        time.sleep(0.03)  # stay under 50/s, so no 429 mixes in
    assert [i + 1 for i, s in enumerate(statuses) if s == 500] == [FAIL_EVERY, 2 * FAIL_EVERY]
    assert set(statuses) == {200, 500}


def test_api_stats_are_the_catalog_numbers(served: Served) -> None:
    ids = [catalog.video_id(catalog.CHANNEL_ID, i) for i in range(3)]
    status, _, body = served.get(
        f"api/v1/videos/stats?key=cat-{time.monotonic_ns()}&ids={','.join(ids)}"
    )
    assert status == 200
    assert {i["id"]: i["stats"] for i in json.loads(body)["items"]} == {
        i: catalog.current_stats(i) for i in ids
    }


def test_the_video_page_shows_the_full_entity(served: Served) -> None:
    vid = catalog.video_id(catalog.CHANNEL_ID, 5)
    status, _, body = served.get(f"videos/{vid}/")
    text = body.decode()
    assert status == 200
    assert text.count("<tr><td>") == 62
    assert catalog.video_values(catalog.CHANNEL_ID, 5)["description"][:80] in text.replace(
        "&#x27;", "'"
    )


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    subprocess.run(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
        shell=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    if Path(CHROMIUM).exists():
        return
    reason = (
        f"{CHROMIUM} is missing and apt-get install chromium failed here (no network or no root)"
    )
    if os.environ.get("PROTOLENS_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.browser
def test_a_refresh_started_from_the_leaderboard_ends_done_with_the_api_numbers(
    served: Served,
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ids = [catalog.video_id(catalog.CHANNEL_ID, i) for i in range(VIDEOS)]
    stats = {i: catalog.current_stats(i) for i in ids}
    top = sorted(ids, key=lambda i: -stats[i]["views"])
    total_views = sum(s["views"] for s in stats.values())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served.url)
            rows = page.locator("#leaderboard tbody tr")
            assert rows.count() == 50
            shown = [rows.nth(i).get_attribute("data-youtube-id") for i in range(50)]
            assert shown == top[:50]
            assert (
                page.locator("#leaderboard tbody tr >> nth=0 >> td.views").inner_text()
                == f"{stats[top[0]]['views']:,}"
            )
            page.screenshot(path=str(ARTIFACTS / "leaderboard.png"))

            page.click("#toggle-off")
            page.wait_for_url("**/?projection=off")
            assert page.locator("#timing-full.on").count() == 1
            page.screenshot(path=str(ARTIFACTS / "leaderboard-unprojected.png"))

            page.goto(served.url)
            page.click("#refresh")
            page.wait_for_url("**/pipelines/*/")
            page.wait_for_function(
                "document.getElementById('pipeline-status').textContent === 'done'", timeout=90_000
            )
            assert page.inner_text("#aggregate-status") == "done"
            assert page.inner_text("#out-refreshed") == f"{VIDEOS:,}"
            assert page.inner_text("#out-failed") == "0"
            assert page.inner_text("#out-views") == f"{total_views:,}"
            assert (
                page.inner_text("#batches-ended")
                == page.inner_text("#batches-total")
                == str(VIDEOS // 25)
            )
            assert page.locator("#grid span.done").count() == VIDEOS // 25
            page.screenshot(path=str(ARTIFACTS / "pipeline.png"), full_page=True)
        finally:
            browser.close()


def test_ctrl_c_stops_the_demo_its_worker_and_its_server(served: Served) -> None:
    worker_pid = int(
        next(line for line in served.lines if "worker started" in line)
        .split("pid ")[1]
        .split(",")[0]
    )
    os.killpg(served.proc.pid, signal.SIGINT)
    assert served.proc.wait(timeout=30) == 130
    assert not Path(f"/proc/{worker_pid}").exists()
    with pytest.raises(OSError):
        socket.create_connection(
            ("127.0.0.1", int(served.url.rsplit(":", 1)[1].strip("/"))), timeout=2
        )
