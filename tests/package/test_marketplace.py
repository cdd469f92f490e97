"""The marketplace's strictest checks, run on the built .difypkg (not on the working tree).

langgenius/dify-plugins' pre-check and the stricter sandbox check set (DIFY_PLUGIN_RUNTIME.md,
"Packaging and installing"): manifest `privacy`, `repo` and a contact, label and description in
en_US, PRIVACY.md present; at most 50 MB and 5,000 files; no .git, .venv, .env, .pem or caches;
icons present and not the template icon; an allowed author; a valid version, increased over the
last released one in CHANGELOG.md.
"""

from __future__ import annotations

import hashlib
import re
import zipfile

import pytest
import yaml

MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 5000
VERSION = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")
AUTHOR = re.compile(r"^[a-z0-9_-]{1,64}$")
# The icons `dify plugin init` writes (langgenius/dify-plugin-daemon cmd/commandline/plugin/templates
# and bundle/templates), by sha256: a submission that still carries one is refused.
TEMPLATE_ICON_SHA256 = {
    "2856fb811fef4a709d46e2ddde41837f79077cd1a198eb711df1578e46cba971",  # bundle icon.svg
    "2961f5adb1bb2e7d3e5df231816d053c346cc55937df3841bc95b8c4ace11ef3", "8fca9b6348346376542ac58c0f103feabaccefc615262aed3fbfe4d9523fe2cc",
    "ee285092d6089dec37f8457a609ac879813c0161a51a36c03342160e8cab4f1c", "80e2cb519d4bcecd35fb5a3b26086109d677657fd0151dffd97febabc10ba78b",
    "85b51149403702f4e51df9886de0e28d1845d5b0ee2adba036fc68f8fbfd294f", "2f10098243b354f9fd9a93ba9d350644e1faa9f45c2d2b3a37d847203660ff16",
    "e85c13771e6288ec8f169585d71ad85a582fe2ba05ef641a594c54a856d6b0e0", "d3becf3331b0cacbd5e876ed7a591c47338f9d66ac0234b360cd9b03012b47a9",
    "84ecd023e5afbdb36cca9d0c6f4adbc67dcc6f2a35092b1af14763d5149aeb4d", "eaa97f3cc787d904bed8d3ae124d052254834b6334519623d6663bcb5046082f",
}
# pkg/entities/manifest_entities/tags.go
ALLOWED_TAGS = {"search", "image", "videos", "weather", "finance", "design", "travel", "social", "news", "medical",
                "productivity", "education", "business", "entertainment", "utilities", "agent", "rag", "other",
                "trigger"}
FORBIDDEN_PARTS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
                   ".ruff_cache", ".idea", ".vscode", "node_modules"}
FORBIDDEN_NAMES = re.compile(r"(^|/)(\.env(\..*)?|\.DS_Store)$|\.(pem|key|crt|p12|pfx|pyc|difypkg)$")


@pytest.fixture(scope="module")
def package(built):
    with zipfile.ZipFile(built[0]) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


@pytest.fixture(scope="module")
def manifest(package):
    return yaml.safe_load(package["manifest.yaml"])


def test_manifest_names_privacy_repo_and_english_label_and_description(manifest, package):
    assert manifest["privacy"] in package and package[manifest["privacy"]].strip()
    assert re.match(r"^https://[\w.-]+/[\w.-]+/[\w.-]+$", manifest["repo"]), manifest["repo"]
    assert manifest["label"]["en_US"].strip() and manifest["description"]["en_US"].strip()
    assert set(manifest.get("tags") or []) <= ALLOWED_TAGS


def test_privacy_policy_gives_a_contact(manifest, package):
    text = package[manifest["privacy"]].decode()
    assert re.search(r"^## Contact", text, re.M), "PRIVACY.md has no Contact section"
    contact = text.split("## Contact", 1)[1]
    assert manifest["repo"] in contact or re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", contact), "no address to reach the authors"


def test_author_is_allowed_on_the_marketplace(manifest):
    assert AUTHOR.match(manifest["author"])
    assert "langgenius" not in manifest["author"] and "dify" not in manifest["author"]


def test_size_and_file_count_are_within_the_marketplace_limits(package):
    assert len(package) <= MAX_FILES
    assert sum(len(data) for data in package.values()) <= MAX_BYTES


def test_no_repository_environment_secret_or_cache_files(package):
    bad = [name for name in package if set(name.split("/")) & FORBIDDEN_PARTS or FORBIDDEN_NAMES.search(name)]
    assert not bad, bad


def test_every_icon_is_present_and_none_is_the_template_icon(manifest, package):
    provider = yaml.safe_load(package[manifest["plugins"]["models"][0]])
    icons = {manifest["icon"], manifest.get("icon_dark")}
    icons |= {v for key in ("icon_small", "icon_large", "icon_small_dark", "icon_large_dark")
              for v in (provider.get(key) or {}).values()}
    icons.discard(None)
    for icon in icons:
        data = package.get(f"_assets/{icon}")
        assert data, f"_assets/{icon} missing"
        assert hashlib.sha256(data).hexdigest() not in TEMPLATE_ICON_SHA256, f"{icon} is the template icon"


def _released(changelog: str) -> list[tuple[int, ...]]:
    return [tuple(int(x) for x in m.group(1).split("."))
            for m in re.finditer(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}", changelog, re.M)]


def test_version_is_valid_and_is_the_newest_release_in_the_changelog(manifest, package):
    assert VERSION.match(manifest["version"]) and manifest["meta"]["version"] == manifest["version"]
    releases = _released(package["CHANGELOG.md"].decode())
    assert releases, "CHANGELOG.md lists no release"
    assert releases[0] == tuple(int(x) for x in manifest["version"].split("-")[0].split("."))
    assert releases == sorted(releases, reverse=True) and len(set(releases)) == len(releases), \
        "each release must be newer than the one below it"
