"""One record in, one event out: parse, dedup decision, event, state changes. Pure.

Shared by the offline ``wirefeed process`` mode and the streaming worker, so
both make the same decisions for the same input. :meth:`Pipeline.process`
never mutates the index: it returns the event *and* the changelog records
(tombstones for evicted entries, then the new entry) so that the worker can
write output and changelog in one Kafka transaction and only then call
:meth:`Pipeline.commit`. Commit each outcome before processing the next record,
or the next record cannot see this one (a re-send inside one batch would be
missed).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from consumer.dedup import Change, Decision, Features, Index, StateEntry, decide, features
from consumer.dedup.decide import story_flags
from consumer.dedup.index import DEFAULT_MAX_ENTRIES, DEFAULT_WINDOW_MS
from consumer.dedup.state import FLAG_CORRECTION, FLAG_REPEAT, FLAG_UPDATE
from consumer.diff import changes_between, snapshot, unavailable
from consumer.errors import Reason, WirefeedError
from consumer.events import EventType, dead_letter_event, event_id, story_event
from consumer.model import RawRecord, Story

Parser = Callable[[RawRecord], Story]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one record: exactly one event, and what to persist."""

    event: dict[str, Any]
    event_type: EventType
    story: Story | None = None
    decision: Decision | None = None
    entry: StateEntry | None = None
    changes: tuple[Change, ...] = ()
    error: WirefeedError | None = None


def _default_parser(record: RawRecord) -> Story:
    # imported by name at call time: importing the parser lazily keeps
    # ``wirefeed --help`` cheap
    parse: Parser = importlib.import_module("consumer.parse").parse_record
    return parse(record)


def event_time_ms(record: RawRecord, index: Index) -> int:
    """When wirefeed saw the record: its timestamp, held near the window's watermark.

    Not the story's printed date: a date line years ahead (a typo, an outlook
    piece) moved the watermark and emptied the window, and a stream whose dates
    spread over weeks while it arrived within minutes missed re-sends minutes
    apart. The printed date stays in the event as data. The bounds are
    :meth:`~consumer.dedup.index.Index.arrival_ms`'s.
    """
    return index.arrival_ms(record.timestamp_ms)


_KIND_TO_EVENT: dict[str, EventType] = {
    "created": "story.created",
    "updated": "story.updated",
    "corrected": "story.corrected",
    "duplicate": "story.duplicate",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """The stateless half of a record's processing: its story and dedup features, or why not.

    Everything here is a pure function of the record's bytes, so it may be
    computed in another process (:mod:`consumer.parallel`) and pickled back;
    the error travels as its reason code and message, not as an exception
    object, for the same reason.
    """

    story: Story | None
    features: Features | None = None
    reason: str = Reason.INTERNAL.value
    message: str = ""
    parse_s: float = 0.0


def story_features(story: Story) -> Features:
    """Dedup features of a story: blocks joined by spaces (see :func:`~consumer.dedup.facts`)."""
    return features(story.normalized_text, " ".join(b.text for b in story.body))


def prepare(record: RawRecord, parser: Parser | None = None) -> Prepared:
    """Parse and compute features. Never raises for bad input or a parser bug."""
    started = time.perf_counter()
    try:
        story = (parser or _default_parser)(record)
    except WirefeedError as exc:
        return Prepared(None, None, exc.reason.value, exc.message,
                        time.perf_counter() - started)
    except Exception as exc:  # a parser bug must not stop the stream
        return Prepared(None, None, Reason.INTERNAL.value, f"parser failed: {exc!r}",
                        time.perf_counter() - started)
    parse_s = time.perf_counter() - started
    feats = None if "canceled" in story.flags else story_features(story)
    return Prepared(story, feats, parse_s=parse_s)


class IndexOwner(Protocol):
    """Whoever owns the dedup index (the worker's state store replaces it on a restore)."""

    @property
    def index(self) -> Index: ...


@dataclass(slots=True)
class _Held:
    index: Index


class Pipeline:
    """Parse + decide + build the event, against one dedup index.

    ``state`` owns the index when something else may replace it (a restore);
    otherwise the pipeline holds ``index`` itself.
    """

    def __init__(
        self,
        index: Index | None = None,
        *,
        state: IndexOwner | None = None,
        parser: Parser | None = None,
        window_ms: int = DEFAULT_WINDOW_MS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._state: IndexOwner = state or _Held(
            index or Index(window_ms=window_ms, max_entries=max_entries))
        self.parser: Parser = parser or _default_parser

    @property
    def index(self) -> Index:
        return self._state.index

    def process(self, record: RawRecord) -> Outcome:
        """Decide one record. Never raises for bad input: it becomes a dead letter."""
        return self.process_prepared(prepare(record, self.parser), record)

    def process_prepared(self, prepared: Prepared, record: RawRecord) -> Outcome:
        """Decide a record whose stateless half (:func:`prepare`) ran already, maybe elsewhere."""
        if prepared.story is None:
            error = WirefeedError(prepared.message, reason=Reason(prepared.reason))
            return self.dead_letter(record, error)
        return self.process_story(prepared.story, record, prepared.features)

    def process_story(self, story: Story, record: RawRecord,
                      feats: Features | None = None) -> Outcome:
        """Decide an already parsed story (the bench and tests skip the parser)."""
        if "canceled" in story.flags:
            return self._canceled(story, record)
        if feats is None:
            feats = story_features(story)
        when = event_time_ms(record, self.index)
        decision = decide(story, feats, when, self.index)
        eid = event_id(record)
        event_type = _KIND_TO_EVENT[decision.kind]
        if decision.kind == "duplicate":
            assert decision.matched is not None
            event = story_event(
                event_type=event_type,
                story=story,
                source=record,
                story_id=decision.matched.story_id,
                duplicate_of=decision.matched.event_id,
                reason=decision.reason,
                similarity=decision.similarity,
                changes=(changes_between(decision.matched.text, story)
                         if decision.reason == "near" else None),
            )
            return Outcome(event, event_type, story, decision)
        repeat, correction, update = story_flags(story)
        if decision.kind == "created" or decision.matched is None:
            story_id, supersedes, similarity = eid, None, None
            # a story that says it is a new version, of which no version is held
            what = None
            if correction or update or (story.version or 0) > 1:
                what = unavailable("previous_not_held")
        else:
            story_id = decision.matched.story_id
            supersedes, similarity = decision.supersedes, decision.similarity
            previous = self.index.latest(story_id) or decision.matched  # the superseded
            what = changes_between(previous.text, story)
        event = story_event(
            event_type=event_type,
            story=story,
            source=record,
            story_id=story_id,
            supersedes=supersedes,
            similarity=similarity,
            changes=what,
        )
        entry = StateEntry(
            fingerprint=feats.fingerprint,
            story_id=story_id,
            event_id=eid,
            event_time_ms=when,
            signature=feats.signature,
            shingle_count=feats.shingle_count,
            facts=feats.facts,
            agency_id=story.agency_id,
            version=story.version,
            flags=(FLAG_CORRECTION if correction else 0)
            | (FLAG_UPDATE if update else 0)
            | (FLAG_REPEAT if repeat else 0),
            text=snapshot(story),
        )
        changes = tuple(self.index.changes_for(entry))
        return Outcome(event, event_type, story, decision, entry, changes)

    def _canceled(self, story: Story, record: RawRecord) -> Outcome:
        """A kill: ``story.canceled`` linked to the held story with the same agency id.

        A kill repeats the story's agency id (a NewsML-G2 guid, an ninjs uri) and
        nothing else worth comparing, so the agency id is the only link. A kill of
        a story outside the window still becomes an event, with a story id of its
        own, so that downstream systems can act on it. Kills add no state.
        """
        eid = event_id(record)
        story_id, supersedes = eid, None
        if story.agency_id is not None:
            held = self.index.by_agency_id(story.agency_id)
            if held:
                story_id = max(held, key=lambda e: e.event_time_ms).story_id
                supersedes = self.index.latest_event(story_id)
        event = story_event(
            event_type="story.canceled", story=story, source=record,
            story_id=story_id, supersedes=supersedes,
        )
        return Outcome(event, "story.canceled", story)

    def commit(self, outcome: Outcome) -> None:
        """Apply an outcome's state changes (after its event is safely written).

        The last change is normally this outcome's own entry, just encoded: it is
        applied from the entry object rather than decoded again (same index state).
        """
        changes, entry = outcome.changes, outcome.entry
        key, value = changes[-1] if changes else ("", None)
        if entry is None or value is None or key != entry.key:
            self.index.apply_all(changes)
            return
        self.index.apply_all(changes[:-1])
        self.index.apply_entry(entry, value)

    def run(self, record: RawRecord) -> Outcome:
        """process + commit, for callers without a transaction to wait for."""
        outcome = self.process(record)
        self.commit(outcome)
        return outcome

    @staticmethod
    def dead_letter(record: RawRecord, error: WirefeedError) -> Outcome:
        """The outcome for a record that never became a story."""
        event = dead_letter_event(source=record, error=error)
        return Outcome(event, "dead_letter", error=error)
