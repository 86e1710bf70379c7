"""Static files: fingerprinted URLs on every page, a year's immutable cache, and the plain URLs still answering."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from flask import Flask, url_for

from portal import staticfiles

STATIC = Path(staticfiles.__file__).parent / "static"
ASSET_RE = re.compile(r'(?:href|src)="(/static/[^"]+)"')
FINGERPRINTED_RE = re.compile(r"^/static/(.+)\.([0-9a-f]{12})(\.(?:css|js))$")
LESSON = "/lessons/a1-pictures-can-change"


def _assets(response) -> list[str]:
    assert response.status_code == 200
    return ASSET_RE.findall(response.get_data(as_text=True))


def _on_disk(url: str) -> bytes:
    name, _digest, extension = FINGERPRINTED_RE.match(url).groups()
    return (STATIC / (name + extension)).read_bytes()


def test_pages_link_fingerprinted_files_that_are_kept_for_a_year(client):
    assets = set(_assets(client.get("/"))) | set(_assets(client.get(LESSON)))
    assert any(url.endswith(".css") for url in assets) and any(url.endswith(".js") for url in assets)
    for url in assets:
        assert FINGERPRINTED_RE.match(url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.get_data() == _on_disk(url)
        etag = response.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag


def test_plain_urls_still_answer_with_a_short_cache_and_unknown_fingerprints_are_not_found(client):
    plain = client.get("/static/css/portal.css")
    assert plain.status_code == 200 and plain.get_data() == (STATIC / "css/portal.css").read_bytes()
    assert plain.headers["Cache-Control"] == "public, max-age=3600"
    assert plain.headers["Content-Type"].startswith("text/css")
    for url in ("/static/css/portal.0123456789ab.css", "/static/css/nothing.css", "/static/../config.py"):
        assert client.get(url).status_code == 404, url


def test_changed_bytes_get_a_new_url_and_the_old_one_is_gone(tmp_path):
    folder = tmp_path / "static"
    shutil.copytree(STATIC, folder)

    def build() -> tuple[Flask, str]:
        app = Flask(__name__, static_folder=str(folder))
        staticfiles.init_app(app)
        with app.test_request_context():
            return app, url_for("static", filename="css/portal.css")

    before_app, before = build()
    (folder / "css/portal.css").write_text("body { color: black; }\n")
    after_app, after = build()
    assert before != after and FINGERPRINTED_RE.match(before) and FINGERPRINTED_RE.match(after)
    response = after_app.test_client().get(after)
    assert response.get_data() == b"body { color: black; }\n"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert after_app.test_client().get(before).status_code == 404
    assert before_app.test_client().get(before).headers["ETag"] != response.headers["ETag"]


def test_the_page_cache_serves_the_fingerprinted_links(app):
    cache = app.extensions["portal.page_cache"]
    first = app.test_client().get(LESSON)
    hits = cache.hits
    second = app.test_client().get(LESSON)
    assert cache.hits == hits + 1 and second.get_data() == first.get_data()
    assets = _assets(second)
    assert assets and all(FINGERPRINTED_RE.match(url) for url in assets)
    assert all(app.test_client().get(url).status_code == 200 for url in assets)
