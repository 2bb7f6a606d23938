"""The fake YouTube channel: video ids, metadata and statistics, all deterministic.

The seed step stores what the channel looked like at the last refresh
(``stale_stats``); the local analytics API answers with today's numbers
(``current_stats``). Both derive from the video id alone, so tests can check
every stored number against this module.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import random
from typing import Any

__all__ = [
    "CHANNEL_ID",
    "CHANNEL_TITLE",
    "current_stats",
    "stale_stats",
    "video_id",
    "video_values",
]

CHANNEL_ID = "UCprotolensAcademy000000"
CHANNEL_TITLE = "Protolens Academy"

_SUBJECTS = {
    "math": ["arithmetic", "algebra", "geometry", "trigonometry", "calculus", "statistics"],
    "science": ["physics", "chemistry", "biology", "cosmology", "organic chemistry"],
    "economics": ["microeconomics", "macroeconomics", "finance", "banking"],
    "humanities": ["art history", "world history", "grammar", "music"],
    "computing": ["programming", "algorithms", "cryptography", "information theory"],
}
_WORDS = [
    "introduction",
    "to",
    "limits",
    "derivatives",
    "integrals",
    "vectors",
    "matrices",
    "probability",
    "proof",
    "example",
    "worked",
    "problem",
    "intuition",
    "review",
    "practice",
    "exam",
    "motion",
    "energy",
    "atoms",
    "cells",
    "supply",
    "demand",
    "interest",
    "inflation",
    "sorting",
    "graphs",
    "entropy",
]
_EPOCH = datetime.datetime(2006, 11, 16)


def video_id(channel_id: str, index: int) -> str:
    """The 11-character YouTube-style id of the channel's *index*-th upload."""
    digest = hashlib.sha1(f"{channel_id}:{index}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:11]


def _rng(youtube_id: str, purpose: str) -> random.Random:
    return random.Random(f"{youtube_id}:{purpose}")


def current_stats(youtube_id: str) -> dict[str, Any]:
    """Today's statistics of a video, as the analytics API reports them.

    Example:
        >>> current_stats(video_id(CHANNEL_ID, 0))["views"] > 0
        True
    """
    rng = _rng(youtube_id, "stats")
    views = int(rng.lognormvariate(9.5, 1.6)) + 50
    likes = int(views * rng.uniform(0.005, 0.04))
    comments = int(views * rng.uniform(0.0005, 0.004))
    shares = int(views * rng.uniform(0.001, 0.01))
    card_impressions = int(views * rng.uniform(0.2, 0.6))
    card_clicks = int(card_impressions * rng.uniform(0.01, 0.05))
    avg_pct = round(rng.uniform(25.0, 85.0), 2)
    return {
        "views": views,
        "likes": likes,
        "dislikes": int(likes * rng.uniform(0.01, 0.08)),
        "comments": comments,
        "favorites": int(likes * rng.uniform(0.05, 0.2)),
        "shares": shares,
        "subscribers_gained": int(views * rng.uniform(0.0005, 0.003)),
        "subscribers_lost": int(views * rng.uniform(0.00005, 0.0003)),
        "estimated_minutes_watched": int(views * rng.uniform(2.0, 9.0)),
        "average_view_duration": int(rng.uniform(60, 600)),
        "average_view_percentage": avg_pct,
        "card_impressions": card_impressions,
        "card_clicks": card_clicks,
        "card_click_rate": round(card_clicks / card_impressions, 4) if card_impressions else 0.0,
        "engagement_score": round((likes + 3 * comments + 5 * shares) / views * avg_pct, 3),
    }


def stale_stats(youtube_id: str) -> dict[str, Any]:
    """The statistics stored at the previous refresh: lower, in another order."""
    rng = _rng(youtube_id, "stale")
    stats = current_stats(youtube_id)
    factor = rng.uniform(0.3, 0.95)
    return {
        k: (type(v)(v * factor) if k != "average_view_percentage" else v) for k, v in stats.items()
    }


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def video_values(channel_id: str, index: int) -> dict[str, Any]:
    """Every property of the channel's *index*-th video except ``channel`` (a key).

    The statistics are :func:`stale_stats`; descriptions and transcripts are
    long, as real ones are.
    """
    yid = video_id(channel_id, index)
    rng = _rng(yid, "meta")
    subject = rng.choice(sorted(_SUBJECTS))
    topic = rng.choice(_SUBJECTS[subject])
    title = f"{topic.title()}: {_text(rng, rng.randint(3, 7))[:-1]}"
    published = _EPOCH + datetime.timedelta(days=index * 1.1, seconds=rng.randint(0, 86_399))
    days = [
        {
            "day": (published + datetime.timedelta(days=d)).date().isoformat(),
            "views": rng.randint(0, 900),
        }
        for d in range(30)
    ]
    values: dict[str, Any] = {
        "youtube_id": yid,
        "published_at": published,
        "title": title,
        "slug": title.lower().replace(" ", "-").replace(":", "")[:80],
        "category": subject,
        "topic": topic,
        "subject": subject.title(),
        "language": "en",
        "default_audio_language": "en",
        "author": rng.choice(["Sal", "Grant", "Elizabeth", "David", "Vi"]),
        "license": rng.choice(["youtube", "creativeCommon"]),
        "privacy_status": "public",
        "definition": rng.choice(["hd", "sd"]),
        "dimension": "2d",
        "thumbnail_url": f"/static/example_app/thumbs/{subject}.svg",
        "download_url": f"https://example.invalid/downloads/{yid}.mp4",
        "tags": [subject, topic, *rng.sample(_WORDS, 4)],
        "playlist_ids": [f"PL{subject[:4]}{rng.randint(1, 40):04d}"],
        "keywords": rng.sample(_WORDS, 6),
        "caption_languages": rng.sample(["en", "es", "fr", "pt", "hi", "zh"], 3),
        "description": "\n\n".join(_text(rng, 60) for _ in range(6)),
        "transcript": " ".join(_text(rng, 25) for _ in range(40)),
        "notes": _text(rng, 20),
        "duration_seconds": rng.randint(120, 1_500),
        "recorded_at": published - datetime.timedelta(days=rng.randint(1, 30)),
        "updated_at": published + datetime.timedelta(days=rng.randint(0, 400)),
        "stats_refreshed_at": None,
        "position": index,
        "embeddable": True,
        "licensed_content": rng.random() < 0.5,
        "has_captions": True,
        "made_for_kids": rng.random() < 0.1,
        "public_stats_viewable": True,
        "annotation_click_through_rate": round(rng.uniform(0, 0.05), 4),
        "annotation_close_rate": round(rng.uniform(0, 0.2), 4),
        "playlist_starts": rng.randint(0, 5_000),
        "views_per_playlist_start": round(rng.uniform(1, 4), 2),
        "red_views": rng.randint(0, 2_000),
        "stats_by_day": days,
        "traffic_sources": {
            k: rng.randint(0, 10_000) for k in ("search", "suggested", "external", "playlist")
        },
        "device_types": {k: rng.randint(0, 10_000) for k in ("desktop", "mobile", "tablet", "tv")},
        "geography": {
            c: rng.randint(0, 5_000) for c in ("US", "IN", "GB", "BR", "MX", "DE", "PH", "NG")
        },
        "age_groups": {
            k: round(rng.random(), 3) for k in ("13-17", "18-24", "25-34", "35-44", "45+")
        },
        "sharing_services": {
            k: rng.randint(0, 300) for k in ("twitter", "facebook", "email", "reddit")
        },
        "related_videos": [video_id(channel_id, (index + k) % 5000) for k in (1, 2, 3)],
        "raw_api_response": {
            "kind": "youtube#video",
            "etag": yid * 2,
            "id": yid,
            "snippet": {"title": title},
        },
    }
    values.update(stale_stats(yid))
    return values
