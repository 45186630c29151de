"""Typed errors with machine-readable reason codes.

Every failure that can happen to one input record is a :class:`WirefeedError`
subclass carrying a stable ``reason`` code. The shell maps these codes once,
in one place, to dead letters, counters and log lines; nothing else inspects
exception messages. Reason codes are part of the public contract (they appear
in dead-letter headers and metrics labels): add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable reason codes for records that cannot become a story."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNDECODABLE = "undecodable"
    UNKNOWN_FORMAT = "unknown_format"
    MALFORMED_XML = "malformed_xml"
    FORBIDDEN_XML = "forbidden_xml"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_RECORD = "malformed_record"
    MISSING_BODY = "missing_body"
    #: the item's text is delivered separately (a NewsML-G2 package or remote
    #: content, an API envelope of links, a picture): not a broken story
    BY_REFERENCE = "by_reference"
    INVALID_FIELD = "invalid_field"
    INTERNAL = "internal_error"
    PARSER_CRASHED = "parser_crashed"


class WirefeedError(Exception):
    """Base class: an error with a stable reason code and a human message."""

    reason: Reason = Reason.INTERNAL

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """The form used on stderr, in dead-letter headers and in offline output."""
        return {"reason": self.reason.value, "message": self.message}


class ParseError(WirefeedError):
    """Raw bytes that do not yield a story. Always carries a specific reason."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message, reason=reason)


class ConfigError(WirefeedError):
    """Invalid configuration: reported once at start, the process exits non-zero."""

    reason = Reason.INVALID_FIELD
