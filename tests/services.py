"""Real services for the tests: find them, start them if they are down, or say why not.

The start commands are the machine's own (PostgreSQL, MariaDB, Redis,
RabbitMQ on 127.0.0.1). A test that needs a service calls :func:`require`;
it skips with the reason only if the service cannot be started, and in CI
(``PROTOLENS_REQUIRE_ALL=1``) it fails instead, so nothing is skipped unseen.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

PORTS = {"postgresql": 5432, "mysql": 3306, "redis": 6379, "rabbitmq": 5672}

START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mysql": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    "redis": (
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
    "rabbitmq": "rabbitmq-server -detached",
}

_checked: dict[str, str | None] = {}


def is_up(name: str, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on the service's port."""
    try:
        with socket.create_connection(("127.0.0.1", PORTS[name]), timeout=timeout):
            return True
    except OSError:
        return False


def start(name: str, wait: float = 60.0) -> str | None:
    """Start *name* if it is down; None when it is up, else the reason it is not."""
    if is_up(name):
        return None
    try:
        subprocess.run(START[name], shell=True, check=False, capture_output=True, timeout=wait)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{name} is down and its start command failed: {exc}"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if is_up(name):
            return None
        time.sleep(0.5)
    return f"{name} is down on 127.0.0.1:{PORTS[name]} and did not start with: {START[name]}"


def require(name: str) -> None:
    """Skip (fail in CI) the calling test unless *name* is up or can be started."""
    if name not in _checked or _checked[name] is not None:
        _checked[name] = start(name)
    reason = _checked[name]
    if reason is not None:
        if os.environ.get("PROTOLENS_REQUIRE_ALL") == "1":
            pytest.fail(f"PROTOLENS_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)
