"""Pausing the cyclic garbage collector around bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many containers are made at once.

    Parsing a large file or scoring every forecast allocates millions of objects and would trigger
    collection after collection, each rescanning everything already loaded (measured: parsing 22 MB
    of claims took 0.33 s with the collector running, 0.10 s without). What is made in bulk here is
    not cyclic garbage, so nothing is lost by collecting later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
