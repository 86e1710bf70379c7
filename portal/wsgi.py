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


# An operator's own setting wins, in either of glibc's spellings.
if os.environ.get("MALLOC_ARENA_MAX") is None and "arena_max" not in os.environ.get("GLIBC_TUNABLES", ""):
    _one_malloc_arena()
app = create_app()
load_lessons(app)  # before the first request; `portal serve` has left them parsed in instance/cache/
# What start-up made lives as long as the process: out of the collector's sight, a full collection walks only
# what requests made since (it walked ~150,000 objects, 80 ms, a pause any request could land in).
gc.freeze()

if os.environ.get("PORTAL_BACKGROUND") == "1":
    from portal.services import background

    background.start(app)
