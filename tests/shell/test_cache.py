"""The host cache on disk: atomic replacement, and reads that survive any content."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.codec import cachefile
from ltsp_mesh.core.codec.cachefile import CachedHosts
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell.client import cache

GOOD = CachedHosts(hosts=("10.0.0.2", "10.0.0.3"), written_at=1_700_000_000.5)


def test_written_cache_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "run" / "hosts.cache"
    cache.write(path, GOOD)
    assert cache.read(path) == GOOD


def test_missing_cache_reads_as_none(tmp_path: Path) -> None:
    assert cache.read(tmp_path / "absent") is None


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 10, b"garbage", cachefile.encode(GOOD)[:-3], b'{"v": 1}'],
    ids=["empty", "zeros", "text", "torn", "json"],
)
def test_corrupt_cache_reads_as_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hosts.cache"
    path.write_bytes(content)
    assert cache.read(path) is None


def test_corrupt_cache_is_replaced_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "hosts.cache"
    path.write_bytes(b"torn")
    cache.write(path, GOOD)
    assert cache.read(path) == GOOD


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    cache.write(tmp_path / "hosts.cache", GOOD)
    assert [p.name for p in tmp_path.iterdir()] == ["hosts.cache"]


def test_unreadable_cache_path_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "hosts.cache").mkdir()  # a directory where the file should be
    assert cache.read(tmp_path / "hosts.cache") is None


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    assert cache.cache_path() == tmp_path / cache.FILE_NAME
    monkeypatch.delenv(cache.CACHE_DIR_ENV)
    assert cache.cache_path() == Path(cache.DEFAULT_DIR) / cache.FILE_NAME


def test_cache_decode_refuses_names_that_are_not_ipv4_addresses() -> None:
    import msgpack

    with pytest.raises(DecodeError):
        cachefile.decode(msgpack.packb({"v": 1, "t": 1.0, "hosts": ["evil; rm -rf /"]}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_cache_decode_raises_only_decode_error(data: bytes) -> None:
    try:
        cachefile.decode(data)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=30),
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
)
def test_cache_round_trips(hosts: list[str], written_at: float) -> None:
    cached = CachedHosts(hosts=tuple(hosts), written_at=written_at)
    assert cachefile.decode(cachefile.encode(cached)) == cached
