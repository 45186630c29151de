"""``jit``: numba's ``njit`` with the on-disk cache, for the few per-byte and per-cell
loops that numpy cannot vectorise for one story at a time (the dedup band table's
walks in :mod:`consumer.dedup.kernels`, the language detector's byte automaton in
:mod:`consumer.enrich`, Kafka's murmur2 key hash in :mod:`consumer.partitioner`).

numba rather than a C or Rust extension: it ships as wheels (nothing to compile at
install, no toolchain in the image) and the kernels stay Python that tests check
against a plain reference. Compiled code is cached beside the module or in
``NUMBA_CACHE_DIR`` (the image sets ``/tmp/numba-cache``: its root filesystem is
read-only): the first process compiles for several seconds, later ones load the
cache in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """``numba.njit(cache=True)``, typed for mypy (numba has no stubs).

    The GIL stays held: the language detector's kernel writes a scratch array its
    caller owns, which threads must not share mid-walk, and nothing here runs in
    threads to gain from releasing it.

    Where no cache location is writable (a read-only install and no writable home or
    ``NUMBA_CACHE_DIR``), numba refuses ``cache=True`` at decoration; the function is
    then compiled in memory on first use (seconds, once a process) instead of failing
    the import."""
    try:
        return cast(F, numba.njit(cache=True)(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(F, numba.njit()(fn))
