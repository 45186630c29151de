"""Configuration: env and flags, one clear error, secrets never shown."""

from __future__ import annotations

import pytest

from consumer.config import OPTIONS, Settings, load
from consumer.errors import ConfigError


def test_defaults_env_and_flags_in_order_of_precedence() -> None:
    env = {"WIREFEED_GROUP_ID": "from-env", "WIREFEED_COMMIT_INTERVAL_MS": "250"}
    settings = load({"group_id": "from-flag"}, environ=env)
    assert settings.group_id == "from-flag"
    assert settings.commit_interval_ms == 250
    assert settings.output_topic == "wire.stories"


def test_every_option_has_a_settings_field_and_a_prefixed_env_name() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {o.field for o in OPTIONS} == fields
    assert all(o.env.startswith("WIREFEED_") and o.flag.startswith("--") for o in OPTIONS)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WIREFEED_COMMIT_INTERVAL_MS": "soon"},
         "WIREFEED_COMMIT_INTERVAL_MS (--commit-interval-ms)"),
        ({"WIREFEED_PROCESSING_GUARANTEE": "maybe"}, "exactly_once, at_least_once"),
        ({"WIREFEED_BOOTSTRAP_SERVERS": "localhost"}, "expected host:port"),
        ({"WIREFEED_INPUT_TOPICS": "wire.stories"}, "would loop"),
        ({"WIREFEED_INPUT_TOPICS": "^(unclosed"}, "invalid regex"),
        ({"WIREFEED_SECURITY_PROTOCOL": "SASL_SSL"}, "needs a user name and a password"),
        ({"WIREFEED_SSL_CAFILE": "/nonexistent/ca.pem"}, "no such file"),
        ({"WIREFEED_METRICS_PORT": "70000"}, "between 0 and 65535"),
    ],
)
def test_invalid_configuration_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ=env)
    assert message in info.value.message


def test_secrets_are_redacted() -> None:
    settings = load(environ={
        "WIREFEED_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "WIREFEED_SASL_MECHANISM": "SCRAM-SHA-512",
        "WIREFEED_SASL_USERNAME": "svc", "WIREFEED_SASL_PASSWORD": "hunter2-secret",
    })
    shown = settings.redacted()
    assert shown["sasl_password"] == "***"
    assert "hunter2-secret" not in repr(shown)
    kwargs = settings.kafka_common()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "hunter2-secret"


def test_pattern_topics() -> None:
    settings = load(environ={"WIREFEED_INPUT_TOPICS": "^wire\\.raw\\..*"})
    assert settings.topic_pattern == "^wire\\.raw\\..*"

