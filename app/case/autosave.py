"""Autosave copies of open cases and their recovery after a crash.

Each running SurgiTwin process owns one entry in the autosave folder: ``<token>.case`` (a normal case bundle folder,
written atomically by :func:`app.case.bundle.save_case`), ``<token>.json`` (what to tell the user: case name, where
the case was saved, when the copy was made) and ``<token>.lock``, which the process keeps locked while it lives.
The operating system drops that lock when the process dies however it dies, so an entry whose lock can be taken
belongs to a session that ended without closing cleanly: that is what :meth:`AutosaveStore.orphans` offers back.
A PID check would be fooled by PID reuse; the lock is not.

The copies hold patient images like any saved case, in the user's own application-data folder; nothing about them
goes to the log beyond the folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.case.bundle import CaseBundleError, load_case, save_case
from app.case.case import Case

__all__ = ["AutosaveEntry", "AutosaveStore"]

log = logging.getLogger(__name__)

try:  # POSIX
    import fcntl

    def _try_lock(fh: IO[Any]) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fh: IO[Any]) -> bool:
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class AutosaveEntry:
    """One autosaved case left behind by a session that did not close cleanly."""

    token: str
    bundle: Path
    case_name: str
    source_path: str | None
    saved_at: dt.datetime

    def describe(self) -> str:
        """One line for the recovery question, e.g. ``“Liver plan” (autosaved 14:02, 25 Nov)``."""
        local = self.saved_at.astimezone()
        return f"“{self.case_name}” (autosaved {local:%H:%M, %d %b %Y})"


class AutosaveStore:
    """The autosave folder of one process.

    Parameters
    ----------
    root : Path
        Folder for the autosave entries (created when needed).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.token = uuid.uuid4().hex
        self._lock: IO[Any] | None = None

    # --- this session ---------------------------------------------------------------------------------------------
    def _paths(self, token: str) -> tuple[Path, Path, Path]:
        return self.root / f"{token}.case", self.root / f"{token}.json", self.root / f"{token}.lock"

    def _hold_lock(self) -> None:
        if self._lock is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self._paths(self.token)[2], "a+b")  # noqa: SIM115 - kept open (and locked) for the session
        if not _try_lock(fh):
            fh.close()
            raise OSError(f"autosave lock {fh.name} is held by another process")
        self._lock = fh

    def write(self, case: Case) -> Path:
        """Save a copy of ``case`` as this session's autosave; the case keeps its path and unsaved flag.

        Raises
        ------
        CaseBundleError
            The copy could not be written (the previous copy is kept).
        """
        try:
            self._hold_lock()
        except OSError as exc:
            raise CaseBundleError(f"cannot autosave: {exc}") from exc
        bundle, info, _ = self._paths(self.token)
        save_case(case, bundle, mark_saved=False)
        record = {
            "case_name": case.name,
            "source_path": None if case.path is None else str(case.path),
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "format": 1,
        }
        staging = info.with_suffix(".json.tmp")
        staging.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(staging, info)
        return bundle

    def discard(self) -> None:
        """Remove this session's autosave (the case was saved, closed or discarded on purpose)."""
        bundle, info, _lock = self._paths(self.token)
        shutil.rmtree(bundle, ignore_errors=True)
        info.unlink(missing_ok=True)

    def close(self) -> None:
        """End the session cleanly: remove its autosave and its lock."""
        self.discard()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._paths(self.token)[2].unlink(missing_ok=True)

    # --- sessions that crashed -----------------------------------------------------------------------------------
    def orphans(self) -> list[AutosaveEntry]:
        """Autosaves of sessions that ended without closing cleanly, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for info in self.root.glob("*.json"):
            token = info.stem
            if token == self.token or not self._owner_gone(token):
                continue
            bundle = self._paths(token)[0]
            try:
                record = json.loads(info.read_text(encoding="utf-8"))
                saved_at = dt.datetime.fromisoformat(record["saved_at"])
                entry = AutosaveEntry(token, bundle, str(record["case_name"]), record.get("source_path"), saved_at)
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring an unreadable autosave record in %s", self.root)
                continue
            if bundle.is_dir():
                found.append(entry)
        return sorted(found, key=lambda e: e.saved_at, reverse=True)

    def _owner_gone(self, token: str) -> bool:
        lock = self._paths(token)[2]
        if not lock.exists():
            return True
        try:
            with open(lock, "a+b") as fh:
                return _try_lock(fh)  # the lock goes with the file handle
        except OSError:
            return False

    def recover(self, entry: AutosaveEntry) -> Case:
        """The case from ``entry``, marked unsaved and pointing where it was last saved (if anywhere).

        The entry stays on disk until :meth:`forget` so that a failure while opening loses nothing.
        """
        case = load_case(entry.bundle)
        case.path = None if entry.source_path is None else Path(entry.source_path)
        case.mark_unsaved()
        return case

    def forget(self, entry: AutosaveEntry) -> None:
        """Delete an orphaned autosave (recovered and now owned by this session, or declined by the user)."""
        bundle, info, lock = self._paths(entry.token)
        shutil.rmtree(bundle, ignore_errors=True)
        for path in (info, lock):
            with contextlib.suppress(OSError):
                path.unlink()
