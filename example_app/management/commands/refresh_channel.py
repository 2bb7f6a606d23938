"""``python -m example_app refresh_channel [--wait]``: start the refresh pipeline."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_app.refresh import api_settings, start_refresh
from example_app.seed import get_channel
from example_app.watch import watch_pipeline


class Command(BaseCommand):
    help = (
        "Start the pipeline that refreshes every video's statistics from the analytics API "
        "(a worker must run: python -m pipelines_lib worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--api-url",
            default=settings.EXAMPLE_APP["API_URL"] or "http://127.0.0.1:8000/api/",
            help="root of the analytics API (default: EXAMPLE_APP_API_URL or the demo server's)",
        )
        parser.add_argument(
            "--per-second",
            type=float,
            default=settings.EXAMPLE_APP["CLIENT_PER_SECOND"],
            help="requests per second all workers together keep to",
        )
        parser.add_argument(
            "--wait", action="store_true", help="show a progress bar until the pipeline ends"
        )
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")

    def handle(self, *args: Any, **opts: Any) -> None:
        channel = get_channel()
        if channel is None:
            raise CommandError(
                "No channel in the store; seed one first: python -m example_app demo"
            )
        pid = start_refresh(channel, api_settings(opts["api_url"], opts["per_second"]))
        self.stdout.write(f"started refresh pipeline {pid}")
        if not opts["wait"]:
            self.stdout.write(f"follow it with: python -m pipelines_lib status {pid}")
            return
        tree = watch_pipeline(pid, timeout=opts["timeout"])
        self.stdout.write(f"pipeline {pid}: {tree['status']}; summary {tree['output']}")
        if tree["status"] != "done":
            raise CommandError(f"the refresh pipeline ended {tree['status']}: {tree['error']}")
