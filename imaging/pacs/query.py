"""What a user asks a PACS for (patient, study, date, modality) and what comes back (studies and series)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom.dataset import Dataset

from .errors import PacsConfigError

__all__ = ["SeriesRecord", "StudyQuery", "StudyRecord", "parse_date_range"]

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _parse_date(text: str) -> str:
    m = _DATE.match(text.strip())
    if not m:
        raise PacsConfigError(f"{text!r} is not a date: use YYYYMMDD or YYYY-MM-DD")
    try:
        date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise PacsConfigError(f"{text!r} is not a calendar date") from None
    return f"{m[1]}{m[2]}{m[3]}"


def parse_date_range(text: str) -> str:
    """A DICOM date or date range from what a user types.

    ``20150206`` or ``2015-02-06`` (one day); ``20150101-20151231``, ``2015-01-01..2015-12-31`` (range);
    ``20150101-`` or ``..2015-12-31`` (open ended); empty = any date.  Returns DICOM ``DA`` range syntax.
    """
    text = text.strip()
    if not text:
        return ""
    if ".." in text:
        lo, hi = text.split("..", 1)
    elif re.match(r"^\d{8}-\d{0,8}$|^-\d{8}$", text):
        lo, hi = text.split("-", 1)
    else:
        return _parse_date(text)
    lo_d = _parse_date(lo) if lo.strip() else ""
    hi_d = _parse_date(hi) if hi.strip() else ""
    if not lo_d and not hi_d:
        raise PacsConfigError(f"{text!r} is not a date range: give at least one end")
    if lo_d and hi_d and lo_d > hi_d:
        raise PacsConfigError(f"date range {text!r} ends before it starts")
    return f"{lo_d}-{hi_d}"


def _check_uid(value: str, what: str) -> str:
    value = value.strip()
    if value and (len(value) > 64 or not _UID.match(value)):
        raise PacsConfigError(f"{what} {value!r} is not a DICOM UID (digits and dots, at most 64 characters)")
    return value


@dataclass(frozen=True)
class StudyQuery:
    """Study-level search keys; empty fields match anything.

    ``patient_name`` without a ``*`` or ``?`` matches names that start with it (as Horos and Slicer do); the other
    fields match exactly.  ``study_date`` takes what :func:`parse_date_range` accepts.
    """

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    modality: str = ""
    accession_number: str = ""
    study_uid: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "study_date", parse_date_range(self.study_date))
        object.__setattr__(self, "study_uid", _check_uid(self.study_uid, "study UID"))
        object.__setattr__(self, "modality", self.modality.strip().upper())
        for name in ("patient_id", "patient_name", "accession_number"):
            value = getattr(self, name).strip()
            if "\\" in value:
                raise PacsConfigError(f"{name.replace('_', ' ')} must not contain a backslash")
            object.__setattr__(self, name, value)

    @property
    def name_pattern(self) -> str:
        """The PatientName matching key sent to the PACS."""
        name = self.patient_name
        if name and not any(c in name for c in "*?"):
            name += "*"
        return name


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyRecord:
    """One study found on a node.  Patient fields are for display only: never log them."""

    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyRecord:
        """From a C-FIND response identifier or a QIDO-RS result (as a pydicom dataset)."""
        modalities = ds.get("ModalitiesInStudy", "")
        if isinstance(modalities, str):
            modalities = [m for m in modalities.split("\\") if m]
        return cls(
            study_uid=_text(ds, "StudyInstanceUID"),
            patient_name=_text(ds, "PatientName"),
            patient_id=_text(ds, "PatientID"),
            study_date=_text(ds, "StudyDate"),
            study_description=_text(ds, "StudyDescription"),
            accession_number=_text(ds, "AccessionNumber"),
            modalities=tuple(str(m) for m in modalities),
            n_series=_int(ds, "NumberOfStudyRelatedSeries"),
            n_instances=_int(ds, "NumberOfStudyRelatedInstances"),
        )


@dataclass(frozen=True)
class SeriesRecord:
    """One series of a study found on a node."""

    study_uid: str
    series_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    n_instances: int | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset, study_uid: str = "") -> SeriesRecord:
        """From a C-FIND response identifier or a QIDO-RS result."""
        return cls(
            study_uid=_text(ds, "StudyInstanceUID") or study_uid,
            series_uid=_text(ds, "SeriesInstanceUID"),
            modality=_text(ds, "Modality"),
            series_number=_int(ds, "SeriesNumber"),
            series_description=_text(ds, "SeriesDescription"),
            n_instances=_int(ds, "NumberOfSeriesRelatedInstances"),
        )


STUDY_RETURN_KEYS: tuple[str, ...] = (
    "StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
)
SERIES_RETURN_KEYS: tuple[str, ...] = (
    "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


def study_filters(query: StudyQuery) -> dict[str, Any]:
    """The non-empty matching keys of ``query`` by DICOM keyword."""
    keys = {
        "PatientID": query.patient_id,
        "PatientName": query.name_pattern,
        "StudyDate": query.study_date,
        "ModalitiesInStudy": query.modality,
        "AccessionNumber": query.accession_number,
        "StudyInstanceUID": query.study_uid,
    }
    return {k: v for k, v in keys.items() if v}
