"""Worker configuration: one typed object, from ``WIREFEED_*`` variables or the same CLI flags.

Every setting has exactly one definition here (:data:`OPTIONS`): its environment
variable, flag, default and help text. The CLI builds its options from that
table and the README's configuration table is generated from it, so the three
cannot drift apart. Invalid values fail at start with one message naming the
variable *and* the flag; secrets are masked wherever settings are shown.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from consumer.errors import ConfigError

ENV_PREFIX = "WIREFEED_"

Guarantee = Literal["exactly_once", "at_least_once"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DuplicatesMode = Literal["topic", "drop"]

_SECRET_FIELDS = frozenset({"sasl_password", "ssl_password"})


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: ``field`` of :class:`Settings`, its env variable and CLI flag."""

    field: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.field.upper()

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("bootstrap_servers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated."),
    Option("input_topics", "wire.raw",
           "Input topics, comma-separated; or a regex when it starts with '^'."),
    Option("output_topic", "wire.stories", "Topic for story events (key = story_id)."),
    Option("duplicates_topic", "wire.duplicates",
           "Topic for story.duplicate events; empty to drop duplicates (counted, not published)."),
    Option("dead_letter_topic", "wire.dlq",
           "Dead-letter topic: original key/value/headers plus reason headers."),
    Option("state_topic", "wirefeed.state",
           "Compacted changelog topic holding the dedup state."),
    Option("group_id", "wirefeed", "Kafka consumer group id; replicas share it."),
    Option("session_timeout_ms", 10_000,
           "Consumer group session timeout: how soon a dead replica's partitions move."),
    Option("processing_guarantee", "exactly_once", "exactly_once or at_least_once.",
           ("exactly_once", "at_least_once")),
    Option("commit_interval_ms", 100, "Longest time a transaction (or offset commit) stays open."),
    Option("retention_hours", 72.0, "Dedup window by arrival time (record timestamps), in hours."),
    Option("max_entries", 2_000_000, "Dedup window by size: stories held at most."),
    Option("max_in_flight", 2000, "Records fetched but not yet committed, at most (backpressure)."),
    Option("max_record_bytes", 2 * 1024 * 1024, "Larger input records become dead letters."),
    Option("parse_processes", 0,
           "Processes that parse and fingerprint records beside the event loop; 0 parses "
           "in the loop. Set to the cores left over (cores - 1) for throughput."),
    Option("metrics_host", "0.0.0.0", "Address of the HTTP server (/metrics, /healthz, /readyz)."),
    Option("metrics_port", 9108, "Port of the HTTP server; 0 picks a free port."),
    Option("log_level", "info", "debug, info, warning or error.",
           ("debug", "info", "warning", "error")),
    Option("shutdown_timeout_s", 20.0, "SIGTERM/SIGINT: exit within this many seconds."),
    Option("progress_timeout_s", 60.0,
           "Not ready when a commit or the processing loop made no progress for this long "
           "(default: the transaction timeout)."),
    Option("producer_timeout_ms", 40_000,
           "A send not acknowledged within this time fails (its transaction aborts and "
           "the records are processed again)."),
    Option("transactional_id_prefix", "",
           "Prefix of the per-partition transactional ids; defaults to the group id."),
    Option("security_protocol", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
           ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")),
    Option("sasl_mechanism", "PLAIN", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
           ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")),
    Option("sasl_username", "", "SASL user name."),
    Option("sasl_password", "", "SASL password (never logged)."),
    Option("ssl_cafile", "", "CA bundle (PEM) to verify the brokers."),
    Option("ssl_certfile", "", "Client certificate (PEM) for mutual TLS."),
    Option("ssl_keyfile", "", "Client private key (PEM) for mutual TLS."),
    Option("ssl_password", "", "Password of the client key, if encrypted (never logged)."),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated worker settings. Build with :func:`load`, not directly.

    No defaults here: they live once, in :data:`OPTIONS`.
    """

    bootstrap_servers: str
    input_topics: str
    output_topic: str
    duplicates_topic: str
    dead_letter_topic: str
    state_topic: str
    group_id: str
    session_timeout_ms: int
    processing_guarantee: Guarantee
    commit_interval_ms: int
    retention_hours: float
    max_entries: int
    max_in_flight: int
    max_record_bytes: int
    parse_processes: int
    metrics_host: str
    metrics_port: int
    log_level: str
    shutdown_timeout_s: float
    progress_timeout_s: float
    producer_timeout_ms: int
    transactional_id_prefix: str
    security_protocol: SecurityProtocol
    sasl_mechanism: SaslMechanism
    sasl_username: str
    sasl_password: str
    ssl_cafile: str
    ssl_certfile: str
    ssl_keyfile: str
    ssl_password: str

    @property
    def topics(self) -> list[str]:
        return [t.strip() for t in self.input_topics.split(",") if t.strip()]

    @property
    def topic_pattern(self) -> str | None:
        return self.input_topics if self.input_topics.startswith("^") else None

    @property
    def txn_prefix(self) -> str:
        return self.transactional_id_prefix or self.group_id

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee == "exactly_once"

    def redacted(self) -> dict[str, Any]:
        """Settings for logs: secrets replaced by a marker, never their value."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.name in _SECRET_FIELDS and value else value
        return out

    def kafka_common(self) -> dict[str, Any]:
        """Connection and security keyword arguments shared by every aiokafka client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            kwargs["ssl_context"] = ssl_context(self)
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs


def _name(opt: Option) -> str:
    return f"{opt.env} ({opt.flag})"


def _coerce(opt: Option, raw: Any) -> Any:
    target = type(opt.default)
    if isinstance(raw, target) and not (target is int and isinstance(raw, bool)):
        value = raw
    else:
        text = str(raw).strip()
        try:
            value = target(text) if target is not float else float(text)
        except ValueError:
            raise ConfigError(
                f"{_name(opt)}: expected {target.__name__}, got {text!r}"
            ) from None
    if opt.choices is not None:
        # choices match case-insensitively (INFO == info) and keep their canonical spelling
        canonical = {c.lower(): c for c in opt.choices}
        value = canonical.get(str(value).lower(), value)
    if opt.choices is not None and str(value) not in opt.choices:
        raise ConfigError(f"{_name(opt)}: must be one of {', '.join(opt.choices)}, got {value!r}")
    return value


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults < environment < explicit overrides (CLI flags).

    Raises :class:`ConfigError` with one clear message for the first problem.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        raw: Any = opt.default
        if opt.env in env:
            raw = env[opt.env]
        if overrides and overrides.get(opt.field) is not None:
            raw = overrides[opt.field]
        values[opt.field] = _coerce(opt, raw)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    by_field = {o.field: o for o in OPTIONS}

    def fail(field: str, why: str) -> None:
        raise ConfigError(f"{_name(by_field[field])}: {why}")

    if not s.bootstrap_servers.strip():
        fail("bootstrap_servers", "must not be empty")
    for server in s.bootstrap_servers.split(","):
        if not re.fullmatch(r"\s*[\w.\-\[\]:]+:\d{1,5}\s*", server):
            fail("bootstrap_servers", f"expected host:port, got {server.strip()!r}")
    if s.topic_pattern is not None:
        try:
            re.compile(s.topic_pattern)
        except re.error as exc:
            fail("input_topics", f"invalid regex: {exc}")
    elif not s.topics:
        fail("input_topics", "must name at least one topic")
    for field in ("output_topic", "dead_letter_topic", "state_topic", "group_id"):
        if not getattr(s, field).strip():
            fail(field, "must not be empty")
    outputs = {s.output_topic, s.dead_letter_topic, s.state_topic, s.duplicates_topic} - {""}
    if s.topic_pattern is None and outputs & set(s.topics):
        fail("input_topics", "an input topic is also an output topic: that would loop")
    for field, low, high in (
        ("commit_interval_ms", 1, 600_000), ("max_in_flight", 1, 1_000_000),
        ("parse_processes", 0, 64),
        ("metrics_port", 0, 65535), ("max_record_bytes", 1, 1 << 30),
        ("max_entries", 1, 100_000_000), ("session_timeout_ms", 6_000, 300_000),
    ):
        value = getattr(s, field)
        if not low <= value <= high:
            fail(field, f"must be between {low} and {high}, got {value}")
    if s.retention_hours <= 0:
        fail("retention_hours", "must be positive")
    if s.shutdown_timeout_s <= 0:
        fail("shutdown_timeout_s", "must be positive")
    if s.progress_timeout_s <= 0:
        fail("progress_timeout_s", "must be positive")
    if s.producer_timeout_ms <= 0:
        fail("producer_timeout_ms", "must be positive")
    if s.security_protocol.startswith("SASL") and not (s.sasl_username and s.sasl_password):
        fail("sasl_username", f"{s.security_protocol} needs a user name and a password "
             f"({ENV_PREFIX}SASL_USERNAME / {ENV_PREFIX}SASL_PASSWORD)")
    for field in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(s, field)
        if path:
            problem = _unreadable(path)
            if problem:
                fail(field, problem)
    if bool(s.ssl_certfile) != bool(s.ssl_keyfile):
        fail("ssl_certfile", "a client certificate needs its key, and the other way round")
    if s.uses_tls:
        ssl_context(s)  # a CA that is not PEM or a mismatched key pair fails here, not at connect


def _unreadable(path: str) -> str | None:
    """Why ``path`` cannot serve as a TLS file, or None: a directory, a missing or
    unreadable file each get their own words (all were "no such file" before)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"no such file: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return f"{path} is a directory, expected a PEM file"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None


def ssl_context(s: Settings) -> ssl.SSLContext:
    """The TLS context every Kafka client of the worker uses, built from the settings.

    Built once while validating too, so that a CA bundle that is not PEM or a
    certificate that does not match its key exits with a one-line configuration
    error naming the setting, instead of a traceback at the first connection.
    An encrypted key without ``ssl_password`` gets an empty password rather than
    None: None makes OpenSSL prompt on the terminal, which would hang a service.
    """
    by_field = {o.field: o for o in OPTIONS}
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                             cafile=s.ssl_cafile or None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{_name(by_field['ssl_cafile'])}: not a usable PEM CA bundle: "
                          f"{_ssl_reason(exc)}") from None
    if s.ssl_certfile:
        try:
            context.load_cert_chain(s.ssl_certfile, s.ssl_keyfile or None,
                                    password=s.ssl_password or "")
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{_name(by_field['ssl_certfile'])} / {_name(by_field['ssl_keyfile'])}: "
                f"certificate and key do not load as a pair: {_ssl_reason(exc)}") from None
    return context


def _ssl_reason(exc: BaseException) -> str:
    """OpenSSL's reason in one line ("[X509: NO_CERTIFICATE_OR_CRL_FOUND] ..." has it)."""
    text = str(getattr(exc, "reason", None) or exc)
    return " ".join(text.split())


def markdown_table() -> str:
    """The README's configuration table, generated so that it cannot drift from the code."""
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for opt in OPTIONS:
        default = f"`{opt.default}`" if opt.default != "" else "(empty)"
        rows.append(f"| `{opt.env}` | `{opt.flag}` | {default} | {opt.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
