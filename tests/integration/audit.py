"""What every chaos and outage test checks at the end, read back ``read_committed``.

1. every input offset exactly once in output + duplicates + dead letters (nothing
   lost, nothing doubled);
2. no committed event whose ``duplicate_of`` or ``supersedes`` names an event that
   was never committed (a decision taken on an index holding aborted entries);
3. the dedup state (the committed changelog) holds an entry for every committed
   story version, and no entry for an event that never committed. A story whose
   event time is already outside the dedup window when it arrives is rightly not
   held: a test whose stream mixes years sets a window that holds them all.

The problems are collected, not asserted one by one, so that one failing run
names every kind of damage it found (a lost offset and missing state often
come together).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiokafka import TopicPartition

from consumer.dedup.state import StateEntry
from tests.integration.worker_helpers import Topics
from tests.kafka_helpers import KafkaHelper

# the event types that add a version to the dedup state (duplicates and kills do not)
STATEFUL = frozenset({"story.created", "story.updated", "story.corrected"})

Offset = tuple[int, int]


@dataclass
class Findings:
    """The committed output of a run, and what is wrong with it."""

    seen: Counter[Offset] = field(default_factory=Counter)
    events: dict[str, dict[str, object]] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    state_events: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{dict(self.kinds)}, {len(self.state_events)} state entries"


async def accounted(kafka: KafkaHelper, topics: Topics) -> Counter[Offset]:
    """Input coordinates of every committed output record, counted."""
    seen: Counter[Offset] = Counter()
    for topic in (topics.output, topics.duplicates, topics.dlq):
        for record in await kafka.consume_all(topic, idle_s=1.0):
            headers = dict(record.headers)
            seen[(int(headers["wirefeed-source-partition"]),
                  int(headers["wirefeed-source-offset"]))] += 1
    return seen


async def _group_done(kafka: KafkaHelper, group: str, ends: dict[int, int],
                      topic: str) -> bool:
    """Whether the group committed every input partition up to its end."""
    admin = await kafka.admin()
    committed = await admin.list_consumer_group_offsets(group)
    return all(
        (c := committed.get(TopicPartition(topic, p))) is not None and c.offset >= end
        for p, end in ends.items()
    )


async def wait_settled(kafka: KafkaHelper, topics: Topics, group: str,
                       inputs: set[Offset], timeout: float = 240) -> None:
    """Until every input is accounted for, or the group committed the whole input
    (then whatever is missing is lost, and waiting longer would not bring it back)."""
    ends: dict[int, int] = {}
    for p, o in inputs:
        ends[p] = max(ends.get(p, 0), o + 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        seen = await accounted(kafka, topics)
        if inputs <= set(seen):
            return
        if await _group_done(kafka, group, ends, topics.input):
            await asyncio.sleep(2)  # the last transaction's markers
            return
        await asyncio.sleep(2)


async def audit(kafka: KafkaHelper, topics: Topics, inputs: set[Offset]) -> Findings:
    found = Findings()
    committed_ids: set[str] = set()
    links: list[tuple[str, str, str]] = []  # (event, field, event it names)
    for topic in (topics.output, topics.duplicates, topics.dlq):
        for record in await kafka.consume_all(topic, idle_s=1.0):
            headers = dict(record.headers)
            found.seen[(int(headers["wirefeed-source-partition"]),
                        int(headers["wirefeed-source-offset"]))] += 1
            if topic == topics.dlq:
                found.kinds["dead_letter"] += 1
                continue
            event = orjson.loads(record.value)
            found.kinds[event["event_type"]] += 1
            if topic == topics.output:
                committed_ids.add(event["event_id"])
                found.events[event["event_id"]] = event
            for name in ("duplicate_of", "supersedes"):
                if event.get(name):
                    links.append((event["event_id"], name, event[name]))
    for record in await kafka.consume_all(topics.state, idle_s=1.0):
        if record.value is not None:
            found.state_events.add(StateEntry.decode(record.value).event_id)

    doubled = sorted(k for k, n in found.seen.items() if n > 1)
    lost = sorted(inputs - set(found.seen))
    extra = sorted(set(found.seen) - inputs)
    if lost:
        found.problems.append(f"lost offset: {len(lost)} input records in no output, "
                              f"e.g. {lost[:5]}")
    if doubled:
        found.problems.append(f"doubled: {len(doubled)} input records twice, e.g. {doubled[:5]}")
    if extra:
        found.problems.append(f"{len(extra)} outputs for offsets never produced: {extra[:5]}")
    phantoms = [(e, name, target) for e, name, target in links if target not in committed_ids]
    if phantoms:
        found.problems.append(f"phantom link: {len(phantoms)} events whose duplicate_of/"
                              f"supersedes names an uncommitted event, e.g. {phantoms[:3]}")
    stories = {eid for eid, ev in found.events.items() if ev["event_type"] in STATEFUL}
    missing = sorted(stories - found.state_events)
    if missing:
        found.problems.append(f"missing state: {len(missing)} committed stories without a "
                              f"changelog entry, e.g. {missing[:3]}")
    orphans = sorted(found.state_events - committed_ids)
    if orphans:
        found.problems.append(f"orphan state: {len(orphans)} changelog entries of events "
                              f"never committed, e.g. {orphans[:3]}")
    return found


async def assert_exactly_once(kafka: KafkaHelper, topics: Topics,
                              inputs: set[Offset]) -> Findings:
    found = await audit(kafka, topics, inputs)
    assert not found.problems, "\n".join([*found.problems, f"committed: {found.summary()}"])
    return found
