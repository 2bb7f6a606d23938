"""The ndb adapters' tests run in their own virtualenvs (``make test-appengine``,
``make test-cloud-ndb``); where the library is not importable, pytest skips
collecting them instead of failing on the import.
"""

from __future__ import annotations

import importlib.util


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


collect_ignore_glob: list[str] = []
if not _importable("google.appengine.ext.ndb"):
    collect_ignore_glob.append("test_appengine_*.py")
if not _importable("google.cloud.ndb"):
    collect_ignore_glob.append("test_cloud_*.py")
