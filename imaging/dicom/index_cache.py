"""A persistent index of header records, so that reopening a folder of thousands of DICOM files is near-instant.

One SQLite database (``$XDG_CACHE_HOME/surgitwin/index/headers.sqlite3`` by default, folder mode 0700, file mode
0600) maps an absolute path to the ``(size, mtime_ns)`` seen when the file was read and either its
:class:`~imaging.dicom.fast_header.HeaderRecord` (as JSON, never pickle) or its skip reason.  A lookup whose size or
mtime differs is a miss, so edited or replaced files are read again; records of another parser version are misses
too.  The database is bounded (``max_entries``; the least recently used rows go first), safe to share between
threads (one connection behind a lock) and between processes (SQLite WAL), and a corrupt or unreadable file is moved
aside and rebuilt with a warning: the cache can only make reading faster, never make it fail.

Patient identity (``HeaderRecord.phi``) is not stored unless the cache is opened with ``store_phi=True``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .fast_header import PARSER_VERSION, HeaderRecord

__all__ = ["IndexCache", "IndexCacheWarning", "default_cache_path"]

_SCHEMA_VERSION = 1
_USER_VERSION = _SCHEMA_VERSION * 1000 + PARSER_VERSION
_LOOKUP_CHUNK = 900  # below SQLite's default limit of host parameters
_DB_NAME = "headers.sqlite3"


class IndexCacheWarning(UserWarning):
    """The cache file was unreadable and has been rebuilt, or the cache is disabled for this session."""


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/surgitwin/index/headers.sqlite3`` (``~/.cache`` when the variable is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "surgitwin" / "index" / _DB_NAME


class IndexCache:
    """Header records keyed by (absolute path, size, mtime_ns).  Open with :meth:`open`; close with :meth:`close`.

    Every method swallows database errors (a broken cache degrades to "no cache" with one warning), so callers need
    no error handling.
    """

    def __init__(self, conn: sqlite3.Connection | None, path: Path | None, max_entries: int, store_phi: bool) -> None:
        self._conn = conn
        self.path = path
        self.max_entries = max_entries
        self.store_phi = store_phi
        self._lock = threading.Lock()
        self._puts_since_prune = 0
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, max_entries: int = 500_000, store_phi: bool = False
    ) -> IndexCache:
        """Open (creating if needed) the cache database at ``path`` (default :func:`default_cache_path`).

        A file that is not a valid cache (corrupt, another schema) is renamed to ``*.corrupt`` and rebuilt with an
        :class:`IndexCacheWarning`; when even that fails (read-only home...) the cache is disabled: every ``get``
        misses and ``put_many`` does nothing.
        """
        db = Path(path) if path is not None else default_cache_path()
        for attempt in range(2):
            try:
                conn = cls._connect(db)
                return cls(conn, db, max_entries, store_phi)
            except (sqlite3.Error, OSError, ValueError) as exc:
                if attempt == 0 and db.exists():
                    warnings.warn(
                        f"DICOM index cache '{db}' was unreadable ({type(exc).__name__}: {exc}); rebuilding it",
                        IndexCacheWarning,
                        stacklevel=2,
                    )
                    cls._move_aside(db)
                    continue
                warnings.warn(
                    f"DICOM index cache '{db}' cannot be used ({type(exc).__name__}: {exc}); reading without it",
                    IndexCacheWarning,
                    stacklevel=2,
                )
                break
        return cls(None, db, max_entries, store_phi)

    @staticmethod
    def _move_aside(db: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{db}{suffix}")
            with contextlib.suppress(OSError):
                if p.exists():
                    os.replace(p, Path(f"{db}.corrupt{suffix}"))

    @staticmethod
    def _connect(db: Path) -> sqlite3.Connection:
        db.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(db.parent, 0o700)
        if not db.exists():  # create with owner-only permissions: paths can name patients
            fd = os.open(db, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(db, timeout=5.0, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # A cache: losing its last writes costs a re-read, while an fsync can stall behind other dirty data.
            conn.execute("PRAGMA synchronous=OFF")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if version != _USER_VERSION or "files" not in tables:
                if tables and version not in (0, _USER_VERSION):  # another layout or parser: start afresh
                    conn.execute("DROP TABLE IF EXISTS files")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                    "mtime_ns INTEGER NOT NULL, record TEXT, skip TEXT, used REAL NOT NULL) WITHOUT ROWID"
                )
                conn.execute("CREATE INDEX IF NOT EXISTS files_used ON files(used)")
                conn.execute(f"PRAGMA user_version={_USER_VERSION}")
            conn.execute("SELECT count(*) FROM files").fetchone()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except BaseException:
            conn.close()
            raise
        return conn

    def _broken(self, exc: BaseException) -> None:
        """A database error after opening: warn once and continue without a cache."""
        warnings.warn(
            f"DICOM index cache '{self.path}' failed ({type(exc).__name__}: {exc}); reading without it",
            IndexCacheWarning,
            stacklevel=3,
        )
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @property
    def enabled(self) -> bool:
        """False when the cache could not be opened or failed later."""
        return self._conn is not None

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def __enter__(self) -> IndexCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ lookups
    def _decode(
        self, path: str, row: tuple[Any, ...] | None, st: os.stat_result | None, include_phi: bool
    ) -> HeaderRecord | str | None:
        if row is None or st is None:
            return None
        size, mtime_ns, record, skip = row
        if size != st.st_size or mtime_ns != st.st_mtime_ns:
            return None
        if skip is not None:
            return str(skip)
        try:
            rec = HeaderRecord.from_json(json.loads(record), path, size, mtime_ns)
        except (ValueError, KeyError, TypeError):
            return None
        if include_phi and rec.phi is None:
            return None  # stored without identity: read the file again for the study browser
        return rec if include_phi else rec.without_phi()

    def get(
        self, path: str | os.PathLike[str], stat: os.stat_result | None = None, *, include_phi: bool = False
    ) -> HeaderRecord | str | None:
        """The cached outcome for ``path`` if the file is unchanged: a record, a skip reason, or None (miss).

        ``stat`` saves a system call when the caller has it already (``os.scandir``); otherwise the file is stat'ed
        and a missing file is a miss.
        """
        return self.get_many([path], [stat] if stat is not None else None, include_phi=include_phi)[0]

    def get_many(
        self,
        paths: Sequence[str | os.PathLike[str]],
        stats: Sequence[os.stat_result | None] | None = None,
        *,
        include_phi: bool = False,
    ) -> list[HeaderRecord | str | None]:
        """:meth:`get` for many paths in few queries; same order as ``paths``."""
        names = [os.fspath(p) for p in paths]
        out: list[HeaderRecord | str | None] = [None] * len(names)
        if self._conn is None or not names:
            self.misses += len(names)
            return out
        rows: dict[str, tuple[Any, ...]] = {}
        now = time.time()
        stale = now - 86400.0
        touch: list[tuple[float, str]] = []
        with self._lock:
            conn = self._conn
            if conn is None:
                return out
            try:
                for i in range(0, len(names), _LOOKUP_CHUNK):
                    chunk = names[i : i + _LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for path, size, mtime_ns, record, skip, used in conn.execute(
                        f"SELECT path, size, mtime_ns, record, skip, used FROM files WHERE path IN ({marks})", chunk
                    ):
                        rows[path] = (size, mtime_ns, record, skip)
                        if used < stale:
                            touch.append((now, path))
                if touch:  # keep the eviction order "least recently used" at one write per file per day
                    conn.executemany("UPDATE files SET used = ? WHERE path = ?", touch)
            except sqlite3.Error as exc:
                self._broken(exc)
                self.misses += len(names)
                return out
        for i, name in enumerate(names):
            row = rows.get(name)
            if row is None:
                continue
            st = stats[i] if stats is not None else None
            if st is None:
                try:
                    st = os.stat(name)
                except OSError:
                    continue
            out[i] = self._decode(name, row, st, include_phi)
        hits = sum(r is not None for r in out)
        self.hits += hits
        self.misses += len(names) - hits
        return out

    # ------------------------------------------------------------------------------------------------ updates
    def put_many(self, items: Iterable[tuple[str | os.PathLike[str], HeaderRecord | str]]) -> None:
        """Store outcomes: ``(path, record)`` or ``(path, skip_reason)``.

        A skip reason is stored with the file's current size and mtime (stat'ed here; a file that vanished is not
        stored); a record carries its own.  Transient reasons ("cannot be opened/read") are not stored.
        """
        now = time.time()
        rows = []
        for path, outcome in items:
            name = os.fspath(path)
            if isinstance(outcome, HeaderRecord):
                rec = outcome if self.store_phi else outcome.without_phi()
                rows.append((name, rec.size, rec.mtime_ns, json.dumps(rec.to_json(), separators=(",", ":")), None, now))
            elif isinstance(outcome, str):
                if outcome.startswith(("cannot be opened", "cannot be read")):
                    continue
                try:
                    st = os.stat(name)
                except OSError:
                    continue
                rows.append((name, st.st_size, st.st_mtime_ns, None, outcome, now))
        if not rows:
            return
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
                self._puts_since_prune += len(rows)
                if self._puts_since_prune >= max(1000, self.max_entries // 20):
                    self._prune(conn)
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                self._broken(exc)

    def _prune(self, conn: sqlite3.Connection) -> None:
        self._puts_since_prune = 0
        count = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        excess = count - self.max_entries
        if excess > 0:  # drop the least recently stored, plus 10 % headroom so that pruning stays rare
            excess += self.max_entries // 10
            conn.execute("DELETE FROM files WHERE path IN (SELECT path FROM files ORDER BY used LIMIT ?)", (excess,))

    def prune(self) -> None:
        """Enforce ``max_entries`` now (done automatically every ``max_entries / 20`` puts)."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._prune(self._conn)
                except sqlite3.Error as exc:
                    self._broken(exc)

    def invalidate(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Forget ``paths`` (e.g. after the application rewrote them)."""
        names = [(os.fspath(p),) for p in paths]
        with self._lock:
            if self._conn is not None and names:
                try:
                    self._conn.executemany("DELETE FROM files WHERE path = ?", names)
                except sqlite3.Error as exc:
                    self._broken(exc)

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return 0
            try:
                return int(self._conn.execute("SELECT count(*) FROM files").fetchone()[0])
            except sqlite3.Error as exc:
                self._broken(exc)
                return 0
