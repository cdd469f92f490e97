"""Shared by the package tests: the package built once per session, as `dify plugin package` builds it."""

from __future__ import annotations

import zipfile

import pytest

from tests.package.test_package import _run_packager


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = _run_packager("--out", str(out))
    assert proc.returncode == 0, proc.stderr
    [pkg] = list(out.iterdir())
    return pkg, proc.stdout


@pytest.fixture(scope="session")
def members(built):
    with zipfile.ZipFile(built[0]) as zf:
        return zf.infolist()


@pytest.fixture(scope="session")
def names(members):
    return [m.filename for m in members]


