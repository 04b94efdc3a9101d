"""Choosing a kernel from the cache, on a cache laid out by the test (no apt, no QEMU)."""

import json

import pytest

from ptnet.errors import UsageError
from ptnet.lab import kernel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    for release, version, series in [
        ("6.1.0-56-amd64", "6.1.192-2", "bookworm"),
        ("6.12.95+deb12-amd64", "6.12.95-1~bpo12+1", "bookworm-backports"),
    ]:
        d = tmp_path / "kernels" / release
        d.mkdir(parents=True)
        (d / "meta.json").write_text(
            json.dumps({"release": release, "version": version, "series": series})
        )
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "release"),
    [
        (None, "6.1.0-56-amd64"),
        ("6.1", "6.1.0-56-amd64"),
        ("6.12", "6.12.95+deb12-amd64"),
        ("bookworm-backports", "6.12.95+deb12-amd64"),
        ("6.12.95+deb12-amd64", "6.12.95+deb12-amd64"),
        ("6.1.192-2", "6.1.0-56-amd64"),
    ],
)
def test_find_by_release_version_or_series(cache, spec, release):
    assert kernel.find(spec).release == release


def test_unknown_kernel_lists_what_is_cached(cache):
    with pytest.raises(UsageError, match=r"unknown kernel '5.10'; cached: 6.1.0-56-amd64"):
        kernel.find("5.10")


def test_empty_cache_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="ptnet kernel fetch"):
        kernel.find(None)


def test_unknown_series_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown kernel series 'sid'"):
        kernel.check_series("sid")
