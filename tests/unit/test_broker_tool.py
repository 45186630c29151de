"""The local broker tool's pure parts (the broker itself is exercised by every integration test)."""

from __future__ import annotations

import datetime
from pathlib import Path


def test_local_broker_cluster_ids_never_look_like_an_option() -> None:
    from consumer.devtools.broker import new_cluster_id

    ids = [new_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)


def test_gc_pauses_reads_the_collector_log_by_wall_clock(tmp_path: Path) -> None:
    from consumer.devtools.broker import gc_pauses

    log = tmp_path / "gc.log"
    log.write_text(  # lines as JDK 17 writes them with -Xlog:gc:file=...:time
        "[2026-11-27T01:14:49.377+0000] Using G1\n"
        "[2026-11-27T01:15:17.046+0000] GC(47) Pause Young (Normal) (G1 Evacuation Pause)"
        " 422M->207M(1024M) 16.363ms\n"
        "[2026-11-27T01:15:18.100+0000] GC(48) Concurrent Mark Cycle\n"
        "[2026-11-27T01:15:18.200+0000] GC(48) Pause Remark 300M->290M(1024M) 2.5ms\n"
        "[2026-11-27T01:15:19.487+0000] GC(49) Pause Young (Normal) (G1 Evacuation Pause)"
        " 248M->205M(1024M) 20.200ms\n"
        "[2026-11-27T01:15:20.000+0000] GC(50) Pause Full (System.gc()) 9M->4M(128M) 31.0ms\n"
        # as `jcmd <pid> VM.log what=gc decorators=time,uptime` writes them
        "[2026-11-27T01:15:21.000+0000][571.994s] GC(51) Pause Young (Normal)"
        " (G1 Evacuation Pause) 437M->215M(1024M) 17.873ms\n"
    )
    at = datetime.datetime(2026, 11, 27, 1, 15, 17, 46000, tzinfo=datetime.UTC).timestamp()
    assert gc_pauses(log, at - 1, at + 10) == [16.363, 2.5, 20.2, 31.0, 17.873]
    assert gc_pauses(log, at + 0.5, at + 2.5) == [2.5, 20.2]
    assert gc_pauses(log, at + 10, at + 20) == []
    assert gc_pauses(tmp_path / "missing.log", 0, at + 10) == []
