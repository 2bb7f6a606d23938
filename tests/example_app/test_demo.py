"""``python -m example_app demo --no-serve`` end to end, as a newcomer runs it.

Once on the embedded defaults (SQLite store, SQLite broker and state, in an
empty directory) and once with the production switch (PostgreSQL store and
state, Redis broker). Each test checks one rule on the run's printout or on
what it stored; expected numbers come from ``example_app.catalog``, which
derives every video's statistics from its id.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from example_app import catalog
from tests.example_app.conftest import ROOT, DemoRun, clean_env, run_demo

VIDEOS = 400
BATCHES = VIDEOS // 25
# Every 5th stats request answers 500, so some batches need their retry.
FAIL_EVERY = 5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["embedded", "postgresql+redis"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One demo run per backend (module scope: the rules below share it)."""
    extra = {"EXAMPLE_APP_API_FAIL_EVERY": str(FAIL_EVERY)}
    if request.param == "postgresql+redis":
        extra.update(request.getfixturevalue("postgresql_redis_env"))
    cwd = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    run = run_demo(cwd, clean_env(**extra), "--videos", str(VIDEOS))
    run.backend = request.param
    assert run.returncode == 0, f"demo failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    return run


def _expected(youtube_id: str) -> dict:
    return catalog.current_stats(youtube_id)


def _ids() -> list[str]:
    return [catalog.video_id(catalog.CHANNEL_ID, i) for i in range(VIDEOS)]


def test_the_refresh_pipeline_ends_done_with_every_batch_done(demo: DemoRun) -> None:
    found = re.search(
        r"refresh pipeline (\w+) in [\d.]+s: (\d+) batches \((\d+) done, (\d+) failed", demo.stdout
    )
    assert found, demo.stdout
    assert found.groups() == ("done", str(BATCHES), str(BATCHES), "0")


def test_every_seeded_video_is_stored_with_the_api_statistics(demo: DemoRun) -> None:
    stored = demo.stored["videos"]
    assert sorted(stored) == sorted(_ids())
    wrong = [
        vid
        for vid, values in stored.items()
        if {k: v for k, v in values.items() if k != "refreshed"} != _expected(vid)
        or not values["refreshed"]
    ]
    assert wrong == []


def test_the_aggregate_child_stores_the_channel_totals(demo: DemoRun) -> None:
    channel = demo.stored["channel"]
    views = sum(_expected(i)["views"] for i in _ids())
    likes = sum(_expected(i)["likes"] for i in _ids())
    assert (channel["video_count"], channel["total_views"], channel["total_likes"]) == (
        VIDEOS,
        views,
        likes,
    )
    assert channel["last_refresh"] == {
        "listed": VIDEOS,
        "batches": BATCHES,
        "failed_batches": 0,
        "refreshed": VIDEOS,
        "videos": VIDEOS,
        "total_views": views,
        "total_likes": likes,
    }


def test_the_printout_shows_the_channel_totals(demo: DemoRun) -> None:
    views = sum(_expected(i)["views"] for i in _ids())
    assert demo.number(r"channel totals: ([\d,]+) views") == views


def test_api_500s_are_retried_by_soft_retry_and_counted_in_the_printout(demo: DemoRun) -> None:
    answered_500 = demo.number(r"(\d+) answered 500")
    retried = demo.number(r"(\d+) retried\)")
    # 16 stats requests at least, every 5th answered 500: at least 3, each one a retry.
    assert answered_500 >= BATCHES // FAIL_EVERY
    assert retried == answered_500


def test_the_projected_leaderboard_is_faster_than_the_full_one(demo: DemoRun) -> None:
    full = demo.number(r"without projection\s+([\d.]+) ms")
    projected = demo.number(r"with projection\s+([\d.]+) ms")
    assert 0 < projected < full


def test_the_profiler_suggests_the_line_the_projected_leaderboard_uses(demo: DemoRun) -> None:
    found = re.search(r"^\s+(with projection\(Video, .*\):)$", demo.stdout, re.MULTILINE)
    assert found, demo.stdout
    source = (ROOT / "example_app" / "leaderboard.py").read_text()
    assert found.group(1) in source
    assert demo.number(r"the projected leaderboard uses that line: .*, (\d+) suggestion") == 0


def test_the_demo_leaves_no_worker_running(demo: DemoRun) -> None:
    pid = int(demo.number(r"worker started \(pid (\d+)"))
    assert not Path(f"/proc/{pid}").exists()


def test_the_default_demo_of_4000_videos_runs_in_under_two_minutes(tmp_path: Path) -> None:
    # What `make demo ARGS=--no-serve` runs, on a fresh directory.
    run = run_demo(tmp_path, clean_env())
    assert run.returncode == 0, f"demo failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert len(run.stored["videos"]) == 4000
    assert run.number(r"([\d,]+) videos refreshed") == 4000
    assert run.seconds < 120


def test_a_batch_failing_on_every_attempt_ends_failed_and_its_siblings_still_store(
    tmp_path: Path,
) -> None:
    # One video the API never serves: its batch fails all 5 attempts. The API lists
    # ids in id order, so the batch is the 25 ids around it in that order.
    listed = sorted(_ids())
    broken = listed[30]
    env = clean_env(EXAMPLE_APP_API_FAIL_IDS=broken, EXAMPLE_APP_API_FAIL_EVERY="0")
    run = run_demo(tmp_path, env, "--videos", str(VIDEOS))
    assert run.returncode == 0, f"demo failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert re.search(r"refresh pipeline done .*\((\d+) done, 1 failed", run.stdout), run.stdout
    stored = run.stored["videos"]
    stale = sorted(vid for vid, values in stored.items() if not values["refreshed"])
    assert stale == listed[25:50]
    assert run.stored["channel"]["last_refresh"]["failed_batches"] == 1
    assert run.stored["channel"]["last_refresh"]["refreshed"] == VIDEOS - 25
