"""Patient and study identity of a series, for DISPLAY ONLY (the study/series browser).

Everything else in :mod:`imaging.dicom` keeps patient identity out (see :mod:`.metadata`).  A radiologist choosing a
series must however see whose exam it is, so this module reads the patient's name, ID and birth date and the study
date/description from one file per series.  The values are meant to be shown on screen and dropped: never log them,
never put them into a :class:`~imaging.volume.Volume`, a case or a file.  :class:`StudyIdentity` redacts itself in
``repr()`` so that an accidental log line or traceback does not leak it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pydicom

__all__ = ["StudyIdentity", "format_dicom_date", "format_person_name", "read_study_identity"]

_TAGS = ["PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime", "StudyDescription"]


def format_dicom_date(value: object) -> str:
    """``YYYYMMDD`` -> ``YYYY-MM-DD``; anything else is returned stripped (empty for None)."""
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def format_person_name(value: object) -> str:
    """A DICOM PN (``Family^Given^Middle^Prefix^Suffix``) as ``FAMILY, Given Middle``."""
    text = str(value or "").split("=")[0].strip()  # alphabetic representation only
    if not text:
        return ""
    parts = [p.strip() for p in text.split("^")]
    family = parts[0].upper()
    given = " ".join(p for p in parts[1:3] if p)
    return f"{family}, {given}" if family and given else (family or given)


@dataclass(frozen=True)
class StudyIdentity:
    """Who and when, as shown in the series browser.  Display only: never log or store it."""

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""

    def __repr__(self) -> str:  # never leak identity through logs or tracebacks
        return "StudyIdentity(<redacted>)"

    __str__ = __repr__

    @property
    def patient_key(self) -> tuple[str, str]:
        """Groups series of the same patient (ID first, name when there is no ID)."""
        return (self.patient_id, self.patient_name)

    @property
    def patient_label(self) -> str:
        """``FAMILY, Given · ID 123 · born 1960-01-02`` (parts that are absent are left out)."""
        parts = [self.patient_name or "Unnamed patient"]
        if self.patient_id:
            parts.append(f"ID {self.patient_id}")
        if self.birth_date:
            parts.append(f"born {self.birth_date}")
        return "  ·  ".join(parts)


def read_study_identity(path: str | os.PathLike[str]) -> StudyIdentity:
    """Patient/study identity from the header of ``path`` (pixels are not read); empty fields when unreadable."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS, force=True)
    except Exception:  # the scanner already read this file; a failure here only costs the label
        return StudyIdentity()

    def text(keyword: str) -> str:
        value = ds.get(keyword)
        return str(value).strip() if value is not None else ""

    return StudyIdentity(
        patient_name=format_person_name(ds.get("PatientName")),
        patient_id=text("PatientID"),
        birth_date=format_dicom_date(ds.get("PatientBirthDate")),
        study_date=format_dicom_date(ds.get("StudyDate")),
        study_time=text("StudyTime")[:4],
        study_description=text("StudyDescription"),
    )
