"""The demo's entities, in ``orm_ext``: a YouTube channel and its wide videos.

``Video`` has 62 properties, like the entity of the seed story ("fetching 50
entities, each with over 60 properties ... the code in question only required
15"). Only what pages filter or sort on is indexed; the rest lives in the
protobuf blob, so seeding and refreshing stay cheap.
"""

from __future__ import annotations

from orm_ext import (
    BooleanProperty,
    DateTimeProperty,
    FloatProperty,
    IntegerProperty,
    JsonProperty,
    KeyProperty,
    Model,
    StringProperty,
    TextProperty,
)

__all__ = ["LEADERBOARD_FIELDS", "STATS_FIELDS", "Channel", "Video"]


def _s() -> StringProperty:
    return StringProperty(indexed=False)


def _i() -> IntegerProperty:
    return IntegerProperty(indexed=False, default=0)


def _f() -> FloatProperty:
    return FloatProperty(indexed=False, default=0.0)


def _b() -> BooleanProperty:
    return BooleanProperty(indexed=False, default=False)


class Channel(Model):
    """A YouTube channel whose videos the refresh pipeline keeps up to date."""

    youtube_channel_id = StringProperty(required=True)
    title = StringProperty(required=True, indexed=False)
    description = TextProperty(compressed=True)
    video_count = IntegerProperty(indexed=False, default=0)
    total_views = IntegerProperty(indexed=False, default=0)
    total_likes = IntegerProperty(indexed=False, default=0)
    refreshed_at = DateTimeProperty(indexed=False)
    last_pipeline_id = StringProperty(indexed=False)
    last_refresh = JsonProperty()


class Video(Model):
    """One uploaded video: metadata, long texts, statistics and analytics blobs.

    The key name is the YouTube id (``Video.get_by_id("dQw4w9WgXcQ")``).
    """

    # -- identity and listing (indexed: the leaderboard filters and sorts on these)
    channel = KeyProperty(kind="Channel", required=True)
    youtube_id = StringProperty(required=True)
    views = IntegerProperty(default=0)
    published_at = DateTimeProperty()
    # -- metadata
    title = StringProperty(required=True, indexed=False)
    slug = _s()
    category = _s()
    topic = _s()
    subject = _s()
    language = _s()
    default_audio_language = _s()
    author = _s()
    license = _s()
    privacy_status = _s()
    definition = _s()
    dimension = _s()
    thumbnail_url = _s()
    download_url = _s()
    tags = StringProperty(repeated=True, indexed=False)
    playlist_ids = StringProperty(repeated=True, indexed=False)
    keywords = StringProperty(repeated=True, indexed=False)
    caption_languages = StringProperty(repeated=True, indexed=False)
    # -- long texts (compressed; decompressed only when read)
    description = TextProperty(compressed=True)
    transcript = TextProperty(compressed=True)
    notes = TextProperty()
    # -- durations and times
    duration_seconds = _i()
    recorded_at = DateTimeProperty(indexed=False)
    updated_at = DateTimeProperty(indexed=False)
    stats_refreshed_at = DateTimeProperty(indexed=False)
    position = _i()
    # -- flags
    embeddable = _b()
    licensed_content = _b()
    has_captions = _b()
    made_for_kids = _b()
    public_stats_viewable = _b()
    # -- statistics (what the refresh pipeline fetches)
    likes = _i()
    dislikes = _i()
    comments = _i()
    favorites = _i()
    shares = _i()
    subscribers_gained = _i()
    subscribers_lost = _i()
    estimated_minutes_watched = _i()
    average_view_duration = _i()
    average_view_percentage = _f()
    annotation_click_through_rate = _f()
    annotation_close_rate = _f()
    card_impressions = _i()
    card_clicks = _i()
    card_click_rate = _f()
    playlist_starts = _i()
    views_per_playlist_start = _f()
    red_views = _i()
    engagement_score = _f()
    # -- analytics blobs
    stats_by_day = JsonProperty(compressed=True)
    traffic_sources = JsonProperty()
    device_types = JsonProperty()
    geography = JsonProperty(compressed=True)
    age_groups = JsonProperty()
    sharing_services = JsonProperty()
    related_videos = JsonProperty()
    raw_api_response = JsonProperty(compressed=True)


# What the analytics API returns and the refresh pipeline stores.
STATS_FIELDS = (
    "views",
    "likes",
    "dislikes",
    "comments",
    "favorites",
    "shares",
    "subscribers_gained",
    "subscribers_lost",
    "estimated_minutes_watched",
    "average_view_duration",
    "average_view_percentage",
    "card_impressions",
    "card_clicks",
    "card_click_rate",
    "engagement_score",
)

# The 14 properties the leaderboard template reads, in declaration order (the
# order the profiler's suggestion lists them in): the leaderboard's projection.
LEADERBOARD_FIELDS = (
    "youtube_id",
    "views",
    "published_at",
    "title",
    "category",
    "thumbnail_url",
    "duration_seconds",
    "stats_refreshed_at",
    "likes",
    "comments",
    "shares",
    "subscribers_gained",
    "average_view_percentage",
    "engagement_score",
)
