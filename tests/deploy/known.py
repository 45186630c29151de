"""What the deploy artefacts may assume about the worker (from the settings contract)."""

from __future__ import annotations

SETTINGS = frozenset(
    {
        "WIREFEED_BOOTSTRAP_SERVERS",
        "WIREFEED_INPUT_TOPICS",
        "WIREFEED_OUTPUT_TOPIC",
        "WIREFEED_DUPLICATES_TOPIC",
        "WIREFEED_DEAD_LETTER_TOPIC",
        "WIREFEED_STATE_TOPIC",
        "WIREFEED_GROUP_ID",
        "WIREFEED_PROCESSING_GUARANTEE",
        "WIREFEED_COMMIT_INTERVAL_MS",
        "WIREFEED_RETENTION_HOURS",
        "WIREFEED_MAX_IN_FLIGHT",
        "WIREFEED_METRICS_PORT",
        "WIREFEED_LOG_LEVEL",
        "WIREFEED_SECURITY_PROTOCOL",
        "WIREFEED_SASL_MECHANISM",
        "WIREFEED_SASL_USERNAME",
        "WIREFEED_SASL_PASSWORD",
        "WIREFEED_SSL_CAFILE",
        "WIREFEED_SSL_CERTFILE",
        "WIREFEED_SSL_KEYFILE",
        "WIREFEED_SHUTDOWN_TIMEOUT_S",
    }
)
SECRET_SETTINGS = frozenset({"WIREFEED_SASL_USERNAME", "WIREFEED_SASL_PASSWORD"})
METRICS_PORT = 9108
SHUTDOWN_TIMEOUT_S = 20
# fixed non-root UID of the image (Dockerfile USER) and the pods (runAsUser)
UID = 10001
TOPICS = {
    "input": "wire.raw",
    "output": "wire.stories",
    "duplicates": "wire.duplicates",
    "dead_letter": "wire.dlq",
    "state": "wirefeed.state",
}
