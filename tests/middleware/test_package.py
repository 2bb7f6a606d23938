"""middleware (the package): public names, and no Django import for WSGI users."""

from __future__ import annotations

import subprocess
import sys

import middleware


def test_public_names_are_exported():
    assert {"Error", "ConfigurationError", "Recording", "watch_engine"} <= set(middleware.__all__)
    assert all(hasattr(middleware, name) for name in middleware.__all__)


def test_configuration_error_is_a_middleware_error_and_a_value_error():
    assert issubclass(middleware.ConfigurationError, middleware.Error)
    assert issubclass(middleware.ConfigurationError, ValueError)


def test_importing_the_package_and_its_middlewares_does_not_import_django():
    code = (
        "import sys, middleware, middleware.wsgi, middleware.django; print('django' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
