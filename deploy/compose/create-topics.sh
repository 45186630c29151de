#!/bin/sh
# One-shot topic creator for docker-compose.yml (runs in the apache/kafka image).
# Idempotent: --if-not-exists, so `docker compose up` can be re-run.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:29092}"
PARTITIONS="${PARTITIONS:-3}"
TOPICS=/opt/kafka/bin/kafka-topics.sh

create() {
  topic="$1"; shift
  "$TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 "$@"
}

create wire.raw
create wire.stories
create wire.duplicates
create wire.dlq
# Dedup-state changelog: compacted, partitioned like the input topic.
create wirefeed.state --config cleanup.policy=compact --config min.compaction.lag.ms=0

"$TOPICS" --bootstrap-server "$BOOTSTRAP" --describe \
  --topic 'wire\.raw|wire\.stories|wire\.duplicates|wire\.dlq|wirefeed\.state'
echo "topics ready"
