"""``python -m example_app demo``: the whole product on embedded defaults, in one command.

Creates the database, seeds a channel of videos, starts a pipelines worker and
the local analytics API, runs the refresh pipeline to completion, prints the
leaderboard's timing with and without projection and the profiler's
suggestion, then serves the app on http://127.0.0.1:8000/ (unless
``--no-serve``). Its worker and servers stop on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m example_app demo",
        description="Seed, refresh through a pipeline, time the leaderboard, then serve the app.",
    )
    parser.add_argument("--no-serve", action="store_true", help="stop after the printout")
    parser.add_argument("--videos", type=int, default=4000, help="videos to seed (default 4000)")
    parser.add_argument("--port", type=int, default=8000, help="port of the app (default 8000)")
    parser.add_argument(
        "--api-port", type=int, default=0, help="port of the analytics API (default: a free one)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the refresh may take (default 600)"
    )
    opts = parser.parse_args(argv)
    if opts.videos < 1:
        parser.error(f"--videos {opts.videos!r}: give at least 1 video, e.g. --videos 4000")
    return opts


def _say(text: str = "") -> None:
    print(text, flush=True)


def _stop_on_signals() -> None:
    # SIGTERM (a supervisor, `kill`) cleans up like Ctrl-C does.
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # A shell starting us in the background ignores SIGINT for us; Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _seed(videos: int) -> Any:
    from . import seed
    from .progress import Progress

    started = time.monotonic()
    bar = Progress("videos seeded", videos)
    channel = seed.seed_channel(videos, on_progress=bar.update)
    bar.close()
    seed.analyze()
    _say(f"seeded {videos:,} videos of {channel.title!r} in {time.monotonic() - started:.1f}s")
    return channel


def _refresh(channel: Any, api_url: str, worker: Any, timeout: float) -> dict[str, Any]:
    from django.conf import settings

    from .client import AnalyticsClient
    from .refresh import api_settings, start_refresh
    from .watch import watch_pipeline

    api = api_settings(api_url, settings.EXAMPLE_APP["CLIENT_PER_SECOND"])
    pid = start_refresh(channel, api)
    _say(f"refresh pipeline {pid} started (RefreshChannel -> FetchStats x N -> Aggregate)")
    tree = watch_pipeline(pid, timeout=timeout, check=worker.check)
    usage = AnalyticsClient(api_url, api["key"]).usage()
    batches = tree["batches"]
    out = tree["output"] or {}
    _say(
        f"refresh pipeline {tree['status']} in {tree['elapsed']:.1f}s: "
        f"{batches['total']} batches ({batches['done']} done, {batches['failed']} failed, "
        f"{batches['retried']} retried), {out.get('refreshed', 0):,} videos refreshed"
    )
    _say(
        f"  analytics API: {usage['requests']} requests, {usage['answered_500']} answered 500, "
        f"{usage['answered_429']} answered 429 (retried by SoftRetryPipeline)"
    )
    if out:
        _say(
            f"  channel totals: {out['total_views']:,} views, {out['total_likes']:,} likes "
            f"over {out['videos']:,} videos"
        )
    return tree


def _timings(channel: Any) -> None:
    from . import leaderboard
    from .models import LEADERBOARD_FIELDS, Video

    t = leaderboard.time_leaderboard(channel, runs=30)
    _say(
        f"leaderboard: top {leaderboard.LIMIT} videos, {len(Video._properties)} properties each, "
        f"the page reads {len(LEADERBOARD_FIELDS)} (median of 30 runs, fetch + read)"
    )
    _say(f"  without projection  {t['full']:7.2f} ms")
    speedup = t["full"] / t["projected"] if t["projected"] else float("nan")
    _say(f"  with projection     {t['projected']:7.2f} ms   ({speedup:.1f}x faster)")


def _suggestion() -> None:
    from django.test import Client

    client = Client()  # REMOTE_ADDR 127.0.0.1: logged in as the demo user, so profiled
    response = client.get("/?projection=off")
    url = response.headers.get("X-Protolens-Profile")
    if response.status_code != 200 or not url:
        _say(f"profiler: no profile for the leaderboard (status {response.status_code})")
        return
    profile = client.get(url, {"format": "json"}).json()
    video = [s for s in profile["suggestions"] if s["model"] == "Video"]
    _say(
        f"profiler, leaderboard without projection: {profile['total_ms']:.1f} ms total, "
        f"{profile['decode_ms']:.1f} ms decoding, {profile['db_ms']:.1f} ms in SQL"
    )
    for s in video:
        _say(f"  suggests ({s['site']}, saves ~{s['saved_ms']:.1f} ms):")
        _say(f"    {s['code']}")
    projected = client.get("/")
    p_url = projected.headers.get("X-Protolens-Profile")
    if p_url:
        p_profile = client.get(p_url, {"format": "json"}).json()
        left = [s for s in p_profile["suggestions"] if s["model"] == "Video"]
        _say(
            f"  the projected leaderboard uses that line: {p_profile['decode_ms']:.1f} ms "
            f"decoding, {len(left)} suggestion(s) left"
        )


def _run(opts: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    import django
    from django.core.management import call_command

    django.setup()
    import pipelines_lib

    from . import store
    from .servers import LoopbackServer
    from .worker import WorkerProcess

    settings = pipelines_lib.get_settings()
    _say("protolens demo")
    _say(f"  entity store   {_redacted(store.database_url())}")
    _say(f"  pipelines      broker {_redacted(settings.broker_url)}")
    _say(f"                 state  {_redacted(settings.state_url)}")
    # Take the app's port first: finding it busy after the whole run would waste it.
    app = None if opts.no_serve else LoopbackServer(opts.port)
    if app is not None:
        stack.callback(app.stop)
    call_command("migrate", verbosity=0, interactive=False)
    channel = _seed(opts.videos)

    worker = WorkerProcess(store.database_url(), concurrency=opts.workers).start()
    stack.callback(worker.stop)
    api = LoopbackServer(opts.api_port, quiet=True).start()
    stack.callback(api.stop)
    api_url = f"{api.url}api/"
    from django.conf import settings as dj

    conf = dj.EXAMPLE_APP["API"]
    _say(f"worker started (pid {worker.pid}, {opts.workers} processes)")
    _say(
        f"analytics API on {api_url}: {conf['RATE_PER_SECOND']:g} requests/s per key, "
        f"1 in {conf['FAIL_EVERY']} answers 500, {conf['LATENCY_MS']:g} ms latency"
    )
    try:
        tree = _refresh(channel, api_url, worker, opts.timeout)
    except (RuntimeError, pipelines_lib.PipelineTimeout) as exc:
        _say(f"refresh failed: {exc}")
        _say(f"worker log tail:\n{worker.log_tail()}")
        return 1
    if tree["status"] != "done":
        _say(pipelines_lib.status(tree["id"]).format())
        _say(f"worker log tail:\n{worker.log_tail()}")
        return 1
    api.stop()
    channel = type(channel).get_by_id(channel.key.id())
    _timings(channel)
    _suggestion()
    if app is None:
        return 0
    _say("")
    _say(f"serving the demo on {app.url}  (Ctrl-C stops it, its worker too)")
    _say(f"  leaderboard {app.url}   without projection {app.url}?projection=off")
    app.serve_forever()
    return 0


def main(argv: Sequence[str]) -> int:
    """Run the demo; the exit status (0: the refresh pipeline ended ``done``)."""
    opts = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_app.settings")
    _stop_on_signals()
    with contextlib.ExitStack() as stack:
        try:
            return _run(opts, stack)
        except KeyboardInterrupt:
            print("\nstopping: worker and servers", file=sys.stderr, flush=True)
            return 130
        except OSError as exc:
            print(f"python -m example_app demo: {exc}", file=sys.stderr, flush=True)
            return 2
