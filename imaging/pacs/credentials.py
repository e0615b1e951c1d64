"""Passwords of DICOMweb nodes: in the operating system's keyring where one exists, else in memory only.

The ``keyring`` library picks the platform's store (macOS Keychain, Windows Credential Locker, the Secret Service
of GNOME/KDE).  Where it finds none (a headless Linux server, a container) it reports the ``fail`` backend: then a
password is kept in this process's memory only and asked again after a restart -- never written to a file in plain
text.  :func:`password_storage` says which applies, for the settings dialog.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["KEYRING_SERVICE", "delete_password", "get_password", "keyring_available", "password_storage",
           "set_password"]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "surgitwin-pacs"
_memory: dict[str, str] = {}
_lock = threading.Lock()


def _key(node_name: str, username: str) -> str:
    return f"{node_name}|{username}"


def _backend():
    """The usable keyring backend, or None (no library, or only the fail/null/plaintext backends)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a misconfigured backend must not break the settings dialog
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    # keyrings.alt's PlaintextKeyring writes the password to a file in clear text: refuse it.
    if "plaintext" in type(backend).__name__.lower():
        return None
    return backend


def keyring_available() -> bool:
    """True when passwords can be kept in the operating system's keyring."""
    return _backend() is not None


def password_storage() -> str:
    """One line for the user: where passwords go on this machine."""
    backend = _backend()
    if backend is None:
        return ("no system keyring found: passwords are kept in memory only and asked again after SurgiTwin "
                "restarts (never written to disk)")
    return f"passwords are kept in the system keyring ({type(backend).__name__})"


def set_password(node_name: str, username: str, password: str) -> str:
    """Remember ``password``; returns ``"keyring"`` or ``"memory"`` (where it went)."""
    backend = _backend()
    key = _key(node_name, username)
    with _lock:
        _memory[key] = password  # this session uses it either way
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, key, password)
            return "keyring"
        except Exception as exc:  # a locked or broken keyring: keep the session copy only
            log.warning("the system keyring refused the password (%s); kept in memory only", type(exc).__name__)
    return "memory"


def get_password(node_name: str, username: str) -> str | None:
    """The remembered password, or None."""
    key = _key(node_name, username)
    with _lock:
        if key in _memory:
            return _memory[key]
    backend = _backend()
    if backend is None:
        return None
    try:
        value = backend.get_password(KEYRING_SERVICE, key)
    except Exception as exc:
        log.warning("the system keyring could not be read (%s)", type(exc).__name__)
        return None
    if value is not None:
        with _lock:
            _memory[key] = value
    return value


def delete_password(node_name: str, username: str) -> None:
    """Forget the password in memory and in the keyring."""
    key = _key(node_name, username)
    with _lock:
        _memory.pop(key, None)
    backend = _backend()
    if backend is not None:
        try:
            backend.delete_password(KEYRING_SERVICE, key)
        except Exception:  # absent or locked: nothing left to forget
            log.debug("no keyring entry to delete")
