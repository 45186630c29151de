"""What the deploy artefacts may assume about the worker (from the settings contract)."""

from __future__ import annotations

from consumer.config import OPTIONS

# every WIREFEED_* variable the worker reads (consumer/config.py is the source)
SETTINGS = frozenset(opt.env for opt in OPTIONS)
# read from a Secret by the Deployment
SECRET_SETTINGS = frozenset({"WIREFEED_SASL_USERNAME", "WIREFEED_SASL_PASSWORD"})
# never in a ConfigMap or compose environment in clear
NOT_IN_CONFIGMAP = SECRET_SETTINGS | {"WIREFEED_SSL_PASSWORD"}
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
