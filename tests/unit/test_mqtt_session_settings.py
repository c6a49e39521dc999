"""The MQTT session defaults: a stable client id per instance and host, a persistent session, a plain subscription."""
from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from tb_bridge.config import load_settings
from tb_bridge.runner import build_transport


def test_defaults_give_a_persistent_session_under_a_stable_client_id():
    mqtt = load_settings().mqtt
    assert mqtt.session_client_id() == f"atilax-main-{socket.gethostname()}"
    assert (mqtt.session_expiry_s, mqtt.end_session_on_stop, mqtt.shared_group) == (86_400, False, None)


def test_the_instance_name_or_an_explicit_client_id_names_the_session(monkeypatch):
    monkeypatch.setenv("ATILAX_MQTT__INSTANCE_NAME", "replica-2")
    assert load_settings().mqtt.session_client_id() == f"atilax-replica-2-{socket.gethostname()}"
    assert load_settings(mqtt={"client_id": "plant-a"}).mqtt.session_client_id() == "plant-a"


@pytest.mark.parametrize("name", ["", "a/b", "two words", "x" * 65])
def test_an_instance_name_that_cannot_be_part_of_a_client_id_is_refused(name):
    with pytest.raises(ValidationError, match="instance_name"):
        load_settings(mqtt={"instance_name": name})


def test_the_service_transport_uses_the_session_client_id():
    settings = load_settings(transport="mqtt", mqtt={"instance_name": "unit"})
    transport = build_transport(settings)
    assert transport.client_id == settings.mqtt.session_client_id()
    assert transport.subscriptions() == ["atilax/v1/+/+"]  # a plain subscription: it survives a broker restart
