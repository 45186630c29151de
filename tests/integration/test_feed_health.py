"""Per-agency feed health on the real broker: the worker counts real agency samples by
agency and format and keeps each agency's latest record time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.worker_helpers import InProcessWorker, make_topics
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration

# real samples (../shared/data/wire_fixtures) -> (agency, format) they must count under
SAMPLES = {
    "anpa1312/ap_anpa-1.tst": ("ap", "anpa1312"),
    "anpa1312/ap_anpa-2.tst": ("ap", "anpa1312"),
    "iptc7901_dpa/dpa_two_line.txt": ("dpa", "iptc7901"),
    "newsml_1_2/afp.xml": ("afp", "newsml12"),
    "newsml_g2/ansa-newsmlg2-text.xml": ("ansa", "newsml_g2"),
}


async def test_worker_counts_stories_per_agency_and_keeps_the_last_time(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path,
) -> None:
    fixtures = shared_dir / "data" / "wire_fixtures"
    topics = await make_topics(kafka, unique_name)
    settings = topics.settings(kafka.bootstrap, unique_name("g"))
    before = time.time()
    async with InProcessWorker(settings) as worker:
        await kafka.produce(topics.input, [(fixtures / s).read_bytes() for s in SAMPLES])
        for _ in range(600):  # until every record was processed (bounded: 60 s)
            if worker.counter("wirefeed_records_consumed_total", topic=topics.input) >= len(
                    SAMPLES):
                break
            await asyncio.sleep(0.1)
        after = time.time()
        expected: dict[tuple[str, str], int] = {}
        for labels in SAMPLES.values():
            expected[labels] = expected.get(labels, 0) + 1
        for (agency, fmt), count in expected.items():
            assert worker.counter("wirefeed_agency_stories_total",
                                  agency=agency, format=fmt) == count, (agency, fmt)
        for agency in {a for a, _ in SAMPLES.values()}:
            last = worker.counter("wirefeed_agency_last_story_timestamp_seconds", agency=agency)
            # the input records' timestamps: set by the producer during this test
            assert before - 1 <= last <= after, (agency, last)
        assert worker.counter("wirefeed_agency_stories_total", agency="other",
                              format="anpa1312") == 0
