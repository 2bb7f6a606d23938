"""The app config: connect the store and install the projection hook at start-up."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ExampleAppConfig"]


class ExampleAppConfig(AppConfig):
    """Connects ``orm_ext`` to ``DATABASE_URL`` and installs projection once per process."""

    name = "example_app"
    verbose_name = "protolens demo"

    def ready(self) -> None:
        import orm_ext

        from . import store

        store.connect()
        # As the seed did in appengine_config.py: hook the decoder before the first
        # request, so no request pays for installing it.
        orm_ext.projection.install()
