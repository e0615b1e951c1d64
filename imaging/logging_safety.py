"""Keep protected health information (PHI) out of log files.

:class:`PHIRedactingFilter` rewrites every record before it is emitted:

* values that look like DICOM person names (``Family^Given^Middle``) are replaced by ``[REDACTED]``;
* attributes passed with ``extra=`` under a PHI key (``patient_name``, ``PatientID``, ``accession_number``...) are
  replaced, and their values are also removed wherever they appear in the message;
* values registered with :meth:`PHIRedactingFilter.add_known` (e.g. the identity of the case being opened) are
  removed from every message.

Call :func:`install_phi_filter` once at start-up, after the handlers are configured: a filter attached to a logger
does not see records propagated from child loggers, so it is attached to the root logger *and* to each of its
handlers (records of every logger pass through those).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["PHI_EXTRA_KEYS", "REDACTED", "PHIRedactingFilter", "install_phi_filter"]

REDACTED = "[REDACTED]"

#: ``extra=`` keys whose values are PHI (compared case-insensitively, ignoring ``_``).
PHI_EXTRA_KEYS: frozenset[str] = frozenset(
    k.lower().replace("_", "")
    for k in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAddress",
        "OtherPatientIDs",
        "OtherPatientNames",
        "AccessionNumber",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "OperatorsName",
        "InstitutionName",
        "patient",
        "phi",
    )
)

# A DICOM PN value: components separated by carets, at least one caret between two non-space runs.  Allows letters
# of any script, digits, apostrophes, hyphens, dots and inner spaces in a component.
_PERSON_NAME = re.compile(r"[^\s\^=\\'\"(){}\[\],;:]+(?:\^[^\^\s=\\'\"(){}\[\],;:]*(?: [^\^\s=\\'\"(){}\[\],;:]+)*)+")


def _norm(key: str) -> str:
    return key.lower().replace("_", "")


class PHIRedactingFilter(logging.Filter):
    """Redact person names and known PHI from log records (never drops a record)."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self._known: set[str] = set()
        self._known_re: re.Pattern[str] | None = None
        self.add_known(*known)

    def add_known(self, *values: str) -> None:
        """Register identity values (names, IDs) to remove from every later message."""
        for v in values:
            v = str(v).strip()
            if len(v) >= 3:
                self._known.add(v)
                self._known.update(p for p in re.split(r"[\^=\s]+", v) if len(p) >= 3)
        if self._known:
            pattern = "|".join(re.escape(s) for s in sorted(self._known, key=len, reverse=True))
            self._known_re = re.compile(pattern, re.IGNORECASE)

    def redact(self, text: str, extra_values: Iterable[str] = ()) -> str:
        """``text`` with person-name patterns, known values and ``extra_values`` replaced."""
        for v in extra_values:
            if len(v) >= 2:
                text = re.sub(re.escape(v), REDACTED, text, flags=re.IGNORECASE)
        if self._known_re is not None:
            text = self._known_re.sub(REDACTED, text)
        return _PERSON_NAME.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        extra_values: list[str] = []
        for key, value in list(vars(record).items()):
            if _norm(key) in PHI_EXTRA_KEYS:
                if value not in (None, ""):
                    extra_values.append(str(value))
                    extra_values.extend(p for p in re.split(r"[\^=\s]+", str(value)) if len(p) >= 3)
                setattr(record, key, REDACTED)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: let logging report it, unredacted args are dropped
            message = str(record.msg)
        record.msg = self.redact(message, sorted(set(extra_values), key=len, reverse=True))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info), extra_values)
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text, extra_values)
        return True


def install_phi_filter(logger: logging.Logger | None = None, *, known: Iterable[str] = ()) -> PHIRedactingFilter:
    """Attach one :class:`PHIRedactingFilter` to ``logger`` (the root logger by default) and to its handlers.

    Idempotent: an already installed filter is reused (and given the new ``known`` values).  Call it after
    ``logging.basicConfig`` (or after adding handlers); handlers added later need ``handler.addFilter(...)``.
    """
    logger = logger or logging.getLogger()
    existing = next((f for f in logger.filters if isinstance(f, PHIRedactingFilter)), None)
    phi_filter = existing or PHIRedactingFilter()
    phi_filter.add_known(*known)
    if existing is None:
        logger.addFilter(phi_filter)
    for handler in logger.handlers:
        if phi_filter not in handler.filters:
            handler.addFilter(phi_filter)
    return phi_filter
