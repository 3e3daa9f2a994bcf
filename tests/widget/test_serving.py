"""The bundle as a CDN and a page see it: the plain name, the content-hashed name, the manifest."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import running_server
from tests.widget.helpers import server_config

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    extra = '[server]\nallowed_origins = ["https://shop.example"]\n'
    with running_server(server_config(extra=extra)) as url:
        yield url


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def test_the_manifest_names_the_hashed_copy_of_the_same_bytes_and_their_integrity(server: str, bundle: Path) -> None:
    manifest = httpx.get(server + "/widget/manifest.json")
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith("application/json")
    assert set(manifest.json()) == {"chatkit.js", "integrity"}
    name = manifest.json()["chatkit.js"]
    assert re.fullmatch(r"chatkit\.[0-9a-f]{16}\.js", name), name
    plain = httpx.get(server + "/widget/chatkit.js")
    hashed = httpx.get(f"{server}/widget/{name}")
    assert plain.status_code == hashed.status_code == 200
    assert plain.content == hashed.content == bundle.read_bytes()
    # The name is the content's hash; the integrity value is computed here, independently.
    assert name == f"chatkit.{hashlib.sha384(plain.content).hexdigest()[:16]}.js"
    assert manifest.json()["integrity"] == sri(plain.content)


def test_only_the_hashed_name_is_cached_for_good(server: str) -> None:
    name = httpx.get(server + "/widget/manifest.json").json()["chatkit.js"]
    plain = httpx.get(server + "/widget/chatkit.js")
    hashed = httpx.get(f"{server}/widget/{name}")
    assert hashed.headers["cache-control"] == IMMUTABLE
    assert plain.headers["cache-control"] == "public, max-age=300"
    for response in (plain, hashed):
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    # A name of another release (or none) is a plain 404 that no cache keeps for a year.
    missing = httpx.get(server + "/widget/chatkit.0123456789abcdef.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert missing.headers["cache-control"] != IMMUTABLE


def test_any_page_may_load_it_with_integrity_and_crossorigin(server: str) -> None:
    """`<script integrity crossorigin>` is a CORS request: the files are public, granted to every origin
    (an allowed one exactly, as every response), the API still only to the allowed ones."""
    name = httpx.get(server + "/widget/manifest.json").json()["chatkit.js"]
    for path in ("/widget/chatkit.js", f"/widget/{name}", "/widget/manifest.json"):
        assert httpx.get(server + path, headers={"Origin": "https://elsewhere.example"}).headers[
            "access-control-allow-origin"] == "*"
        assert httpx.get(server + path, headers={"Origin": "https://shop.example"}).headers[
            "access-control-allow-origin"] == "https://shop.example"
    refused = httpx.post(server + "/api/create-session", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in refused.headers


def test_a_browser_revalidates_the_short_lived_name_without_a_download(server: str) -> None:
    first = httpx.get(server + "/widget/chatkit.js")
    again = httpx.get(server + "/widget/chatkit.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(server + "/widget/chatkit.js")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
    assert head.headers["content-length"] == str(len(first.content))


def test_a_rebuilt_bundle_gets_a_new_name_and_the_old_one_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "widget"
    folder.mkdir()
    (folder / "chatkit.js").write_text("window.ChatKit = {version: 'a'};\n")
    with running_server(server_config(extra=f'[server]\nwidget_root = "{folder}"\n')) as url:
        old = httpx.get(url + "/widget/manifest.json").json()
        (folder / "chatkit.js").write_text("window.ChatKit = {version: 'b2'};\n")
        new = httpx.get(url + "/widget/manifest.json").json()
        assert new["chatkit.js"] != old["chatkit.js"]
        assert new["integrity"] == sri(b"window.ChatKit = {version: 'b2'};\n")
        assert httpx.get(f"{url}/widget/{new['chatkit.js']}").text == "window.ChatKit = {version: 'b2'};\n"
        assert httpx.get(f"{url}/widget/{old['chatkit.js']}").status_code == 404
