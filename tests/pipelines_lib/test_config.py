"""configure() and the PIPELINES_* environment."""

from __future__ import annotations

import pytest

import pipelines_lib
from pipelines_lib import _config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, restore_settings):
    for var in _config._ENV.values():
        monkeypatch.delenv(var, raising=False)
    _config.reset_for_tests()


def test_environment_variables_configure_broker_state_and_queue(monkeypatch):
    monkeypatch.setenv("PIPELINES_BROKER_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("PIPELINES_STATE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("PIPELINES_QUEUE", "videos")
    settings = pipelines_lib.get_settings()
    assert (settings.broker_url, settings.state_url, settings.queue) == (
        "redis://127.0.0.1:6379/3",
        "postgresql+psycopg://u@h/db",
        "videos",
    )
    assert settings.broker_kind == "redis" and settings.limiter_url == settings.broker_url


def test_without_a_broker_the_default_is_embedded_sqlite_in_the_current_directory(
    monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    settings = pipelines_lib.get_settings()
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path}/pipelines-broker.db"
    assert settings.state_url == f"sqlite:///{tmp_path}/pipelines-state.db"
    assert settings.broker_kind == "sqla" and settings.limiter_url == settings.state_url
    assert (
        pipelines_lib.get_app().conf.broker_transport == "pipelines_lib._sqla_transport:Transport"
    )


def test_configure_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("PIPELINES_QUEUE", "from-env")
    settings = pipelines_lib.configure("amqp://guest@localhost//", "sqlite:///x.db", queue="q")
    assert settings.queue == "q" and settings.broker_kind == "amqp"


def test_an_unknown_broker_scheme_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"broker_url='kafka://x'.*PIPELINES_BROKER_URL"):
        pipelines_lib.configure("kafka://x")


def test_a_state_url_that_is_not_sqlalchemy_is_refused():
    with pytest.raises(pipelines_lib.ConfigurationError, match=r"state_url='not a url'"):
        pipelines_lib.configure(state_url="not a url")


def test_the_sweeper_must_run_more_often_than_a_lease_lasts():
    with pytest.raises(pipelines_lib.ConfigurationError, match="make sweep_seconds smaller"):
        pipelines_lib.configure(lease_seconds=2, sweep_seconds=5)


def test_the_app_acks_late_and_requeues_tasks_of_lost_pool_processes():
    conf = pipelines_lib.configure("redis://127.0.0.1:6379/3") and pipelines_lib.get_app().conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.task_ignore_result is True  # outputs live in the state DB, not a result backend


def test_a_forked_process_gets_fresh_state_locks():
    # A pool process forked while the sweeper thread holds a lock must not inherit it held.
    import os
    import threading

    from pipelines_lib import _config, _store

    held, release = threading.Event(), threading.Event()

    def sweeper_like() -> None:
        with _store._lock, _config._lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=sweeper_like)
    thread.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: both locks must be free
            ok = _store._lock.acquire(timeout=1) and _config._lock.acquire(timeout=1)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
