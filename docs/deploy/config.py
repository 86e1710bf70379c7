# The deployment settings of a district's portal (docs/deploy.md), to add BELOW the keys in instance/config.py.
#
# `portal init` writes instance/config.py with SECRET_KEY, DATA_KEY_ID, DATA_KEYS and AUDIT_KEY, each random.
# Keep those lines as they are and append this file's settings after them. Every server of the deployment gets
# the same resulting file (mode 0600, owner portal): the keys included, or sessions and case text made on one
# server cannot be read on another.

# The address people type. Links in mail are built from it; a request for any other host name gets a plain 400.
PUBLIC_URL = "https://portal.school.example"
# Names the servers also answer to (the public host and loopback are always accepted).
# TRUSTED_HOSTS = ["portal.school.example", "portal-a.district.example"]

# nginx terminates TLS in front: Secure cookies with the __Host- prefix, and HSTS on every answer.
HTTPS = True
# One proxy (nginx) sets X-Forwarded-For and X-Forwarded-Proto: the client address is read from its entry.
# With a load balancer in front of nginx as well, 2. Never more proxies than there are: the rest would be
# whatever a client wrote.
PROXY_COUNT = 1

# One PostgreSQL for every server. The password may also come from PORTAL_DATABASE_URL in the unit's environment.
SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://portal:CHANGE-ME@db.district.example:5432/portal?sslmode=require"
# Each worker process runs at most `--threads` requests at once (8 by default), plus the periodic checks and the
# mail courier, so it never needs more than 10 connections: the pool holds that many and no more (see
# "PostgreSQL" in docs/deploy.md for the sum over every server).
SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 10, "max_overflow": 0, "pool_timeout": 10}

# Shared rate limits: with Redis every server counts the same failed sign-ins (without it, only the worker processes
# of one server share them, through instance/ratelimits.db). If Redis stops answering, each process counts alone
# until it is back.
RATELIMIT_STORAGE_URI = "redis://redis.district.example:6379/0"

# Mail: notices to counselors and set-password links.
MAIL_SERVER = "smtp.district.example"
MAIL_PORT = 587
MAIL_USE_STARTTLS = True
MAIL_USERNAME = "portal"
MAIL_PASSWORD = "CHANGE-ME"
MAIL_FROM = "portal@school.example"
