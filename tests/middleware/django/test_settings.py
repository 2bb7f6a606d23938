"""middleware.django._settings: PROTOLENS_PROFILER is checked, with the fix in the message."""

from __future__ import annotations

import pytest

from middleware import ConfigurationError
from middleware.django._settings import get_config
from tests.middleware.conftest import profiler_settings


def test_unknown_key_names_the_close_match():
    with (
        profiler_settings(SAMPLE_RATES=0.1),
        pytest.raises(ConfigurationError, match="SAMPLE_RATE"),
    ):
        get_config()


def test_sample_rate_out_of_range_is_refused():
    with profiler_settings(SAMPLE_RATE=5), pytest.raises(ConfigurationError, match=r"from 0\.0"):
        get_config()


def test_authorize_dotted_path_is_imported():
    with profiler_settings(AUTHORIZE="middleware.django.is_staff"):
        from middleware.django import is_staff

        assert get_config().authorize is is_staff


def test_authorize_path_that_does_not_import_says_so():
    with (
        profiler_settings(AUTHORIZE="nowhere.check"),
        pytest.raises(ConfigurationError, match="cannot be imported"),
    ):
        get_config()


def test_changing_the_setting_drops_the_cached_configuration():
    with profiler_settings(SAMPLE_RATE=0.5):
        assert get_config().profiler.sample_rate == 0.5
    with profiler_settings(SAMPLE_RATE=0.25):
        assert get_config().profiler.sample_rate == 0.25
