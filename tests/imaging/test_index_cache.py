"""The persistent header index: hits, invalidation, PHI policy, corruption recovery, bounds and concurrency."""

from __future__ import annotations

import os
import stat
import threading
import warnings
from pathlib import Path

import pytest

from imaging.dicom.fast_header import HeaderRecord, read_header_fast, read_headers_fast
from imaging.dicom.index_cache import IndexCache, IndexCacheWarning, default_cache_path


@pytest.fixture
def cache(tmp_path: Path) -> IndexCache:
    c = IndexCache.open(tmp_path / "cache" / "index.sqlite3")
    yield c
    c.close()


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "surgitwin" / "index" / "headers.sqlite3"
    with IndexCache.open() as c:
        assert c.enabled
    assert stat.S_IMODE(os.stat(tmp_path / "surgitwin" / "index").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(default_cache_path()).st_mode) == 0o600


def test_hit_miss_and_round_trip(cache: IndexCache, small_phantom_dir: Path, tmp_path: Path) -> None:
    files = sorted(small_phantom_dir.iterdir())[:10]
    (tmp_path / "junk.txt").write_text("hello")
    paths = [str(f) for f in files] + [str(tmp_path / "junk.txt")]
    first = read_headers_fast(paths, cache=cache)
    assert cache.misses == len(paths)
    assert cache.hits == 0
    second = read_headers_fast(paths, cache=cache)
    assert cache.hits == len(paths)
    assert second == first
    assert isinstance(second[0], HeaderRecord)
    assert second[-1] == "not DICOM (no DICM preamble)"
    assert len(cache) == len(paths)


def test_invalidated_by_size_and_mtime(cache: IndexCache, small_phantom_dir: Path, tmp_path: Path) -> None:
    f = _copy(sorted(small_phantom_dir.iterdir())[0], tmp_path / "a.dcm")
    read_headers_fast([f], cache=cache)
    assert isinstance(cache.get(f), HeaderRecord)
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cache.get(f) is None  # mtime changed
    read_headers_fast([f], cache=cache)
    assert cache.get(f) is not None
    with f.open("ab") as fh:
        fh.write(b"\x00\x00")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same mtime, other size
    assert cache.get(f) is None
    f.write_text("now a text file")
    out = read_headers_fast([f], cache=cache)
    assert out == ["not DICOM (no DICM preamble)"]
    f.unlink()
    assert cache.get(f) is None
    cache.invalidate([f])
    assert len(cache) == 0


def test_phi_not_stored_unless_asked(tmp_path: Path, small_phantom_dir: Path) -> None:
    f = sorted(small_phantom_dir.iterdir())[0]
    db = tmp_path / "c.sqlite3"
    with IndexCache.open(db) as c:
        out = read_headers_fast([f], cache=c, include_phi=True)
        assert out[0].phi["PatientName"].startswith("Phantom")
        assert b"Phantom^Abdomen" not in db.read_bytes() + Path(f"{db}-wal").read_bytes()
        assert c.get(f).phi is None
        assert c.get(f, include_phi=True) is None  # stored without identity: a miss for the study browser
    with IndexCache.open(db, store_phi=True) as c:
        read_headers_fast([f], cache=c, include_phi=True)
        assert c.get(f, include_phi=True).phi["PatientName"].startswith("Phantom")
        assert c.get(f).phi is None


@pytest.mark.parametrize("garbage", [b"", b"not a database at all" * 100, b"SQLite format 3\x00" + bytes(500)])
def test_corrupt_cache_file_is_rebuilt(tmp_path: Path, small_phantom_dir: Path, garbage: bytes) -> None:
    db = tmp_path / "c.sqlite3"
    db.write_bytes(garbage)
    f = sorted(small_phantom_dir.iterdir())[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = IndexCache.open(db)
    assert c.enabled
    assert not garbage or any(issubclass(w.category, IndexCacheWarning) for w in caught)
    read_headers_fast([f], cache=c)
    assert isinstance(c.get(f), HeaderRecord)
    c.close()


def test_cache_corrupted_while_open_degrades_to_no_cache(tmp_path: Path, small_phantom_dir: Path) -> None:
    db = tmp_path / "c.sqlite3"
    c = IndexCache.open(db)
    files = sorted(small_phantom_dir.iterdir())[:3]
    read_headers_fast(files, cache=c)
    c._conn.execute("DROP TABLE files")  # simulate damage under our feet
    with pytest.warns(IndexCacheWarning):
        out = read_headers_fast(files, cache=c)
    assert all(isinstance(r, HeaderRecord) for r in out)
    assert not c.enabled
    c.close()


def test_unusable_location_disables_cache(tmp_path: Path, small_phantom_dir: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.warns(IndexCacheWarning):
        c = IndexCache.open(blocker / "sub" / "c.sqlite3")  # parent is a file
    assert not c.enabled
    f = sorted(small_phantom_dir.iterdir())[0]
    assert isinstance(read_headers_fast([f], cache=c)[0], HeaderRecord)
    assert c.get(f) is None


def test_bad_json_row_is_a_miss(cache: IndexCache, small_phantom_dir: Path) -> None:
    f = str(sorted(small_phantom_dir.iterdir())[0])
    read_headers_fast([f], cache=cache)
    cache._conn.execute("UPDATE files SET record = '{\"v\": 1}'")
    assert cache.get(f) is None
    cache._conn.execute("UPDATE files SET record = 'garbage'")
    assert cache.get(f) is None


def test_bounded_size(tmp_path: Path, small_phantom_dir: Path) -> None:
    record = read_header_fast(sorted(small_phantom_dir.iterdir())[0])
    with IndexCache.open(tmp_path / "c.sqlite3", max_entries=100) as c:
        for i in range(30):
            c.put_many([(f"/nowhere/{i}-{j}", record) for j in range(100)])
        c.prune()
        assert len(c) <= 100


def test_concurrent_threads(cache: IndexCache, small_phantom_dir: Path) -> None:
    files = [str(f) for f in sorted(small_phantom_dir.iterdir())]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                out = read_headers_fast(files, cache=cache)
                assert all(isinstance(r, HeaderRecord) for r in out)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) == len(files)


def test_two_connections_share_the_database(tmp_path: Path, small_phantom_dir: Path) -> None:
    f = sorted(small_phantom_dir.iterdir())[0]
    db = tmp_path / "c.sqlite3"
    with IndexCache.open(db) as a, IndexCache.open(db) as b:
        read_headers_fast([f], cache=a)
        assert isinstance(b.get(f), HeaderRecord)


def test_scan_folder_fills_an_empty_cache_it_is_given(cache: IndexCache, small_phantom_dir: Path) -> None:
    from imaging.dicom.scanner import scan_folder

    assert len(cache) == 0
    scan_folder(small_phantom_dir, cache=cache)
    assert len(cache) == len(list(small_phantom_dir.iterdir()))
    assert cache.misses > 0
