"""The heap of a long run, settled once it is built.

Start-up (imports of pandas, numpy, Textual, the wiring) leaves ~100,000 objects that live as long as the
process, and some garbage. Python's full collections walk every tracked object: left as they are, each one
over that heap is a pause of tens of milliseconds in the middle of whatever runs, an order included (50 ms
measured by bench/order_pipeline.py here). ``settled_heap`` collects start-up's garbage once, then freezes
what is left (``gc.freeze``): later collections skip those objects and walk only what the run itself made.
On exit it unfreezes them, so a process that builds several runs (the tests) still collects what a finished
one left behind.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["settled_heap"]


@contextmanager
def settled_heap() -> Iterator[None]:
    """Collect, then freeze the surviving objects for the block; unfreeze them after it."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
