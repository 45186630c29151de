"""Process checks for tests that must leave no process behind (Linux ``/proc``)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


def children(pid: int) -> set[int]:
    """Child processes of ``pid``."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def running(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) does not."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


async def still_running(pids: set[int], timeout: float = 15) -> set[int]:
    """Which of ``pids`` still run after waiting up to ``timeout`` for all to exit."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        alive = {pid for pid in pids if running(pid)}
        if not alive or asyncio.get_running_loop().time() > deadline:
            return alive
        await asyncio.sleep(0.05)
