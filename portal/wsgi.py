"""The WSGI application for a server that imports it by name (granian, gunicorn): `portal.wsgi:app`.

The instance folder and settings come from the environment (PORTAL_INSTANCE_PATH, PORTAL_*), like every command;
`portal serve` sets them for its worker processes. With PORTAL_BACKGROUND=1 each process also runs the periodic
checks' loop, and the lease in the database lets one process of the deployment run them each minute.
"""

import gc
import os

from portal import create_app
from portal.services.content import load_lessons

app = create_app()
load_lessons(app)  # before the first request; `portal serve` has left them parsed in instance/cache/
# What start-up made lives as long as the process: out of the collector's sight, a full collection walks only
# what requests made since (it walked ~150,000 objects, 80 ms, a pause any request could land in).
gc.freeze()

if os.environ.get("PORTAL_BACKGROUND") == "1":
    from portal.services import background

    background.start(app)
