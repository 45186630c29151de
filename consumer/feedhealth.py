"""Per-agency feed health: which agency and format a story counts under, and when each
agency last sent one.

A silent feed is the failure editors notice last, so the worker counts stories per
agency and format and keeps the time of each agency's latest story; an alert fires
when an agency has sent nothing for longer than its own threshold
(``deploy/prometheus/alerts.yml``).

Label values are a closed set, so the number of series stays bounded whatever the
input claims: an agency is one of :data:`AGENCIES` (matched on its names and
domains, case-insensitively), :data:`OTHER` for any agency not listed, or
:data:`NONE` when the story names none; a format is one of the parsers' names
(or :data:`OTHER`). That is at most ``(len(AGENCIES) + 2) * (formats + 1)``
counters and ``len(AGENCIES) + 2`` gauges. Adding an agency is one line below.

:func:`labels` is the pure part; :class:`FeedHealth` is the thin recorder the
worker calls once a record.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any, Final, NamedTuple

from consumer.model import Story

OTHER: Final = "other"
NONE: Final = "none"

# Label value -> the names and domain labels the formats give that agency (lower case).
AGENCIES: Final[dict[str, tuple[str, ...]]] = {
    "reuters": ("reuters", "thomson reuters", "rtrs"),
    "ap": ("ap", "associated press", "the associated press"),
    "afp": ("afp", "agence france-presse", "agence france presse"),
    "dpa": ("dpa", "deutsche presse-agentur"),
    "dpa-afx": ("dpa-afx", "dpa afx"),
    "efe": ("efe", "agencia efe"),
    "ansa": ("ansa",),
    "aap": ("aap", "australian associated press"),
    "ntb": ("ntb", "norsk telegrambyrå"),
    "stt": ("stt", "stt-fnb"),
    "ritzau": ("ritzau",),
    "ana-mpe": ("ana-mpe", "ana", "athens-macedonian news agency"),
    "pa": ("pa", "pa media", "press association", "pa sport"),
    "apa": ("apa", "austria presse agentur"),
    "keystone-sda": ("keystone-sda", "sda", "keystone-ats"),
    "tt": ("tt", "tt nyhetsbyrån"),
    "anp": ("anp",),
    "belga": ("belga",),
    "epd": ("epd", "evangelischer pressedienst"),
    "kna": ("kna", "katholische nachrichten-agentur"),
    "bloomberg": ("bloomberg",),
    "kyodo": ("kyodo", "kyodo news"),
    "xinhua": ("xinhua",),
}
_BY_NAME: Final = {name: label for label, names in AGENCIES.items() for name in names}
# "afp.com", "www.ansa.it", "tag:reuters.com,0000:..." -> the label before the top-level domain
_DOMAIN = re.compile(r"^(?:[a-z]+:)?(?:www\.)?([a-z0-9-]+)\.[a-z]{2,}(?:[/,:].*)?$")


class FeedLabels(NamedTuple):
    agency: str
    format: str


def agency_label(name: str | None) -> str:
    """The label value of an agency as a format names it: a known agency, OTHER or NONE."""
    if name is None or not name.strip():
        return NONE
    key = " ".join(name.strip().lower().split())
    if key in _BY_NAME:
        return _BY_NAME[key]
    domain = _DOMAIN.match(key)
    if domain is not None and domain.group(1) in _BY_NAME:
        return _BY_NAME[domain.group(1)]
    return OTHER


@functools.cache
def known_formats() -> frozenset[str]:
    """The parsers' format names (imported late: the parser registry pulls in lxml)."""
    from consumer.parse import ALIASES, REGISTRY

    return frozenset(name for name, _, _ in REGISTRY) | frozenset(ALIASES)


def labels(story: Story) -> FeedLabels:
    """Agency and format labels of a parsed story (the dateline's agency when the
    format names no provider)."""
    agency = agency_label(story.agency or story.dateline_agency)
    fmt = story.format if story.format in known_formats() else OTHER
    return FeedLabels(agency, fmt)


class FeedHealth:
    """Counts stories by :func:`labels` and keeps each agency's latest story time.

    The time is the input record's timestamp (when the story reached Kafka), not
    the wall clock, so a worker catching up on a backlog does not make a feed
    that went quiet look alive; it never moves backwards (records of one agency
    arrive out of order across partitions, a replay brings old ones) and never
    past now (a producer's clock cannot make a feed look fresh for hours).
    """

    def __init__(self, stories: Any, last_story: Any) -> None:
        self._stories = stories
        self._last_story = last_story
        self._last: dict[str, float] = {}

    def observe(self, story: Story | None, record_ts_ms: int | None,
                now: float | None = None) -> None:
        """Record one story (None: a dead letter, which names no agency we can trust)."""
        if story is None:
            return
        agency, fmt = labels(story)
        self._stories.labels(agency, fmt).inc()
        now = time.time() if now is None else now
        at = min(record_ts_ms / 1000, now) if record_ts_ms and record_ts_ms > 0 else now
        if at > self._last.get(agency, 0.0):
            self._last[agency] = at
            self._last_story.labels(agency).set(at)
