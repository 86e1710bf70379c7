"""What the server's worker processes load (`portal.wsgi`): how they keep their memory small."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from portal.config import write_instance_config

# Eight threads allocate at once, as a worker's threads do under load; then glibc lists the malloc arenas
# ("heaps") the process has.
ARENAS = """
import ctypes, os, re, tempfile, threading
import portal.wsgi

def work():
    for _ in range(500):
        [bytes(4096) for _ in range(20)]

threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
with tempfile.TemporaryFile() as listing:
    stream = ctypes.c_void_p(libc.fdopen(os.dup(listing.fileno()), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    listing.seek(0)
    print(len(re.findall(rb"<heap nr=", listing.read())))
"""


def _arenas(tmp_path, **env) -> int:
    write_instance_config(tmp_path)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")
                   and k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    environment.update(PORTAL_INSTANCE_PATH=str(tmp_path), **env)
    result = subprocess.run([sys.executable, "-c", ARENAS], env=environment, capture_output=True, text=True,  # noqa: S603
                            timeout=120, check=True)
    return int(result.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_a_worker_keeps_one_malloc_arena_however_many_threads_allocate(tmp_path):
    assert _arenas(tmp_path) == 1
    # An operator's own setting wins, in either spelling (and shows the threads would otherwise each get one).
    assert _arenas(tmp_path, MALLOC_ARENA_MAX="4") > 1
    assert _arenas(tmp_path, GLIBC_TUNABLES="glibc.malloc.arena_max=4") > 1


# A worker's first pages fill caches that last as long as it does; then the process makes cycles of its own, keeps
# them, and drops others.
FIRST_PAGES = """
import gc, json
import portal.wsgi
from portal.cli import upgrade_database

with portal.wsgi.app.app_context():
    upgrade_database()
client = portal.wsgi.app.test_client()
for path in ("/", "/login", "/lessons/a1-pictures-can-change/step/1", "/lessons/a1-pictures-can-change/step/2?lang=en"):
    assert client.get(path).status_code == 200, path
made = len(gc.get_objects())
gc.collect()
walked_next = len(gc.get_objects())
gc.collect(); gc.collect()

class Node:
    pass

def cycles(count):
    nodes = [Node() for _ in range(count)]
    for node in nodes:
        node.me = node
    return nodes

kept = cycles(2000)
gc.collect()
walked_later = len(gc.get_objects())
dropped = cycles(3000)
del dropped
print(json.dumps({"made": made, "walked_next": walked_next, "walked_later": walked_later,
                  "freed": gc.collect()}))
"""


def test_a_full_collection_walks_only_what_requests_made_since_the_first_pages(tmp_path):
    """What the first pages cached (and start-up made) is frozen by the process's first full collections: a later
    one walks only the objects made since, not a pause of tens of milliseconds for every request under way. After
    those, the collector works as usual: what the process keeps is walked, cycles it drops are freed."""
    write_instance_config(tmp_path)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    environment.update(PORTAL_INSTANCE_PATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", FIRST_PAGES], env=environment, capture_output=True,  # noqa: S603
                            text=True, timeout=120, check=True)
    counts = json.loads(result.stdout.splitlines()[-1])
    assert counts["made"] > 5000 and counts["walked_next"] < 100
    assert counts["walked_later"] >= 2000 and counts["freed"] >= 3000
