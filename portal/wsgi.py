"""The WSGI application for a server that imports it by name (granian, gunicorn): `portal.wsgi:app`.

The instance folder and settings come from the environment (PORTAL_INSTANCE_PATH, PORTAL_*), like every command;
`portal serve` sets them for its worker processes. With PORTAL_BACKGROUND=1 each process also runs the periodic
checks' loop, and the lease in the database lets one process of the deployment run them each minute.
"""

import gc
import os

from portal import create_app
from portal.services.content import load_lessons


def _one_malloc_arena() -> None:
    """Have glibc's malloc keep one arena for the process instead of up to eight per core. The server's threads take
    turns on the GIL anyway, and the arenas they each left behind were ~8 MB of a worker's memory after the
    benchmark. (Python's small objects do not go through malloc; large strings, lists and page bodies do.)"""
    import ctypes

    try:
        # The process's own symbols, libc's among them (no library search, which would start a subprocess).
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX (malloc.h); only glibc has it, hence the guard
    except (OSError, AttributeError, TypeError):
        pass


def _freeze_what_the_first_requests_keep(collections: int = 3) -> None:
    """The first requests of each kind fill caches that live as long as the process (SQLAlchemy's compiled
    statements, Jinja's compiled templates, Babel's locale data): 30,000-56,000 objects once each kind of page is
    served, which every later full collection walked again (28 ms on a slow VM, a pause for every request of the
    worker that lands in it). What survives one of the process's first full collections is frozen with what
    start-up made; after those, a full collection walks only what requests made since (3 ms). Frozen objects are
    still freed when nothing refers to them; what never is: a cycle among them that becomes garbage later (a cache
    entry evicted, a pooled connection replaced, a request that was under way), so at most what was alive at those
    three moments, as with start-up's freeze."""
    remaining = [collections]

    def after_collection(phase: str, info: dict) -> None:
        # Left in the list once done (a call that returns at once): removed while the collector calls the list,
        # it would make the collector skip the callback after it (another library's) this once.
        if remaining[0] and phase == "stop" and info["generation"] == 2:
            gc.freeze()
            remaining[0] -= 1

    gc.callbacks.append(after_collection)


# An operator's own setting wins, in either of glibc's spellings.
if os.environ.get("MALLOC_ARENA_MAX") is None and "arena_max" not in os.environ.get("GLIBC_TUNABLES", ""):
    _one_malloc_arena()
app = create_app()
load_lessons(app)  # before the first request; `portal serve` has left them parsed in instance/cache/
# What start-up made lives as long as the process: out of the collector's sight, a full collection walks only
# what requests made since (it walked ~150,000 objects, 80 ms, a pause any request could land in).
gc.freeze()
_freeze_what_the_first_requests_keep()

if os.environ.get("PORTAL_BACKGROUND") == "1":
    from portal.services import background

    background.start(app)
