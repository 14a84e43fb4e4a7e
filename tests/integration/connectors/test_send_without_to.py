"""A send step may leave `to` out for a System with a default (smtp's to, chat's channel); to a
broker, which has none, it is a clear error naming the System and what is missing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interlink.connectors.base import Connector, OutgoingMessage, StatementError
from interlink.connectors.mqtt import MqttConnector
from interlink.connectors.nats import NatsConnector
from interlink.estate.kinds.flow import SendStep
from interlink.testing.services import (
    mqtt_config,
    mqtt_reachable,
    nats_reachable,
    nats_url,
    require_service,
)


def test_a_send_step_may_leave_to_out() -> None:
    step = SendStep.model_validate({"name": "tell", "type": "send", "system": "ops-mail"})
    assert step.to == ""


@pytest.mark.parametrize(
    ("connector", "name"),
    [
        pytest.param(NatsConnector(), "subject", marks=pytest.mark.nats),
        pytest.param(MqttConnector(), "topic", marks=pytest.mark.mqtt),
    ],
)
def test_a_broker_without_to_says_so(connector: Connector, name: str) -> None:
    config: dict[str, Any]
    if name == "subject":
        require_service("NATS", lambda: nats_reachable(nats_url()))
        config = {"url": nats_url()}
    else:
        config = mqtt_config()
        require_service("MQTT", lambda: mqtt_reachable(config))

    async def main() -> None:
        connection = await connector.open(connector.spec.defaults(config), "bus")
        try:
            with pytest.raises(StatementError, match=f"no {name} to send to") as caught:
                await connection.send(OutgoingMessage("", {"n": 1}))
            assert caught.value.message.startswith(f"System/bus ({name}): ")
            assert not caught.value.retryable
        finally:
            await connection.close()

    asyncio.run(main())
