"""Print what a demo run stored, as JSON (run in a subprocess: ``python -m tests.example_app.inspect_store``).

Kept out of the pytest process on purpose: importing the demo's models there
would register the kinds ``Channel`` and ``Video`` next to the test suite's own.
The store is ``DATABASE_URL`` (or ``sqlite:///protolens.db`` in the working
directory), exactly as the demo resolves it.
"""

from __future__ import annotations

import json
import sys

import orm_ext


def main() -> int:
    from example_app import store
    from example_app.models import STATS_FIELDS, Channel, Video

    store.connect()
    channel = Channel.query().get()
    videos = {
        v.key.id(): {
            **{name: getattr(v, name) for name in STATS_FIELDS},
            "refreshed": v.stats_refreshed_at is not None,
        }
        for v in Video.query().iter(batch_size=500)
    }
    doc = {
        "channels": Channel.query().count(),
        "channel": None
        if channel is None
        else {
            "video_count": channel.video_count,
            "total_views": channel.total_views,
            "total_likes": channel.total_likes,
            "last_refresh": channel.last_refresh,
            "last_pipeline_id": channel.last_pipeline_id,
        },
        "videos": videos,
    }
    json.dump(doc, sys.stdout)
    orm_ext.get_store().close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
