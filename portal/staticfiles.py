"""Static files under fingerprinted URLs with a year's immutable cache, answered before Flask.

At start-up every file in the static folder is hashed once. `url_for('static', filename='css/portal.css')` then
builds `/static/css/portal.<hash>.css` (a url_defaults hook, the way i18n keeps `?lang=` on links), and WhiteNoise
answers that URL from this process with `Cache-Control: public, max-age=31536000, immutable` and the content's
hash as a strong ETag: a browser keeps the file for a year without asking again, and changed bytes get a new URL.
The plain URL still answers with an hour's cache, for pages and bookmarks from before a change. A fingerprint that
is not the current file's is not in the table and falls through to Flask's static route, which answers 404.

WhiteNoise does the serving (conditional requests, HEAD, ranges, the right media types) and is made to run in
front of any WSGI app; its fingerprinting is Django's (CompressedManifestStaticFilesStorage runs in collectstatic),
so the names come from here, and there is no build step: the hashes are computed where the files are. WhiteNoise
also sends a `.gz`/`.br` file lying next to the original, but the package ships none: the portal's own CSS and
script are about 20 kB in all, and nginx in front (docs/deploy.md) compresses them on the way out.

Files are read once: a changed file is served after the restart or reload that loads it, like the lessons.
"""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise

from portal.security import fixed_headers

HASH_LENGTH = 12  # hex digits of SHA-256 in a file name: a collision between two releases' files is not a concern
IMMUTABLE = "public, max-age=31536000, immutable"
PLAIN = "public, max-age=3600"


def fingerprinted_name(filename: str, digest: str) -> str:
    """css/portal.css -> css/portal.<hash>.css"""
    root, extension = posixpath.splitext(filename)
    return f"{root}.{digest[:HASH_LENGTH]}{extension}"


def manifest(folder: str | Path) -> dict[str, tuple[str, str]]:
    """{filename: (fingerprinted filename, SHA-256 of the bytes)} for every file under the folder."""
    folder = Path(folder)
    entries = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            filename = path.relative_to(folder).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[filename] = (fingerprinted_name(filename, digest), digest)
    return entries


def init_app(app: Flask) -> WhiteNoise:
    """Put WhiteNoise in front of the app with both URLs of every static file, and fingerprint `url_for`."""
    folder = Path(app.static_folder)
    prefix = app.static_url_path.rstrip("/") + "/"
    files = manifest(folder)
    security = fixed_headers(app.config)
    digests, immutable = {}, set()

    def add_headers(headers, path: str, url: str) -> None:
        headers["Cache-Control"] = IMMUTABLE if url in immutable else PLAIN
        headers["ETag"] = f'"{digests[path][:32]}"'
        for name, value in security.items():
            headers[name] = value

    # allow_all_origins off: the files are for the portal's own pages (Cross-Origin-Resource-Policy: same-origin).
    server = WhiteNoise(app.wsgi_app, max_age=None, allow_all_origins=False, add_headers_function=add_headers)
    for filename, (fingerprinted, digest) in files.items():
        path = str(folder / filename)
        digests[path] = digest
        immutable.add(prefix + fingerprinted)
        server.add_file_to_dictionary(prefix + filename, path)
        server.add_file_to_dictionary(prefix + fingerprinted, path)
    names = {filename: fingerprinted for filename, (fingerprinted, _digest) in files.items()}

    def fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in names:
            values["filename"] = names[values["filename"]]

    app.url_defaults(fingerprint)
    app.wsgi_app = server
    app.extensions["portal.static_files"] = names
    return server
