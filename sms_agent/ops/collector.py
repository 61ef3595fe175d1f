"""Python's cyclic garbage collector set for a long-running server process.

A worker answers 256 texts at once, and every object of a text still being answered lives
through the collections that happen meanwhile: at Python's default (a young collection
every 700 new objects) they are scanned again and again and promoted to the oldest
generation, whose full collections then walk the whole heap, the imported libraries
included. Measured with `make bench-cpu --threads 256`, that was about 1 ms of CPU a text,
against 0.07 ms when one text is answered at a time. A young collection every
GC_GEN0_THRESHOLD new objects lets a text's objects die before they are looked at, and
freezing what start-up built (modules, the app, SQLAlchemy's mappers and caches) keeps it
out of every later scan; reference counting still frees almost everything at once.
"""

from __future__ import annotations

import gc

#: How many young collections make a middle one, and middle ones an old one (Python's are
#: 10 and 10): with far fewer young collections, rarer older ones are still enough.
OLDER_GENERATIONS = (20, 100)


def tune_collector(config) -> None:
    """Freeze what start-up built and space the collections out (GC_GEN0_THRESHOLD; 0
    keeps Python's defaults). Called once a web or worker process is ready to serve."""
    threshold = config.get("GC_GEN0_THRESHOLD")
    if not threshold:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, *OLDER_GENERATIONS)
