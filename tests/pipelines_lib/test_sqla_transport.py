"""The embedded broker: kombu's SQLAlchemy transport with its option bug fixed."""

from __future__ import annotations

from kombu import Connection


def test_polling_interval_option_is_honoured_instead_of_crashing(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with Connection(
        url,
        transport="pipelines_lib._sqla_transport:Transport",
        transport_options={"polling_interval": 0.05},
    ) as conn:
        queue = conn.SimpleQueue("t")
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}
        assert conn.transport.polling_interval == 0.05
        queue.close()


def test_default_polling_interval_is_a_tenth_of_a_second(tmp_path):
    with Connection(
        f"sqlite:///{tmp_path / 'b.db'}", transport="pipelines_lib._sqla_transport:Transport"
    ) as conn:
        assert conn.transport.polling_interval == 0.1
