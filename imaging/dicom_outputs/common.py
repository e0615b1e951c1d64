"""What every derived object shares: UIDs, creation time, equipment, patient/study copy, de-identification, saving."""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from imaging.dicom.deidentify import DateMode, DeidentifyOptions, UIDMap, deidentify_dataset

from .errors import DicomOutputError

__all__ = [
    "PATIENT_STUDY_KEYWORDS",
    "Deidentify",
    "OutputOptions",
    "copy_patient_study",
    "finish_and_save",
    "software_version",
]

MANUFACTURER = "SurgiTwin"
MODEL_NAME = "SurgiTwin"

#: Patient and General Study module attributes copied from the source, so the object files under the same study.
PATIENT_STUDY_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "StudyDescription", "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
)

#: Our own equipment description (Enhanced General Equipment, Contributing Equipment), kept by de-identification.
_EQUIPMENT_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions")

#: Type 1 date/time attributes of the objects we write: the basic profile empties ContentDate/Time (Z), which would
#: make the object invalid, so PS3.15's own remedy for Type 1 applies: a dummy value (action D).
_TYPE1_DUMMIES = {"ContentDate": "19000101", "ContentTime": "000000"}


def software_version() -> str:
    """SurgiTwin's version string (SoftwareVersions)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("surgitwin")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Deidentify:
    """The de-identification hook: the options and UID map used for the source series' own de-identified export.

    Pass the same :class:`~imaging.dicom.deidentify.UIDMap` (same salt) as for the series, so that the written
    object's Study/Series/SOP/Frame of Reference references point at the de-identified copies.
    """

    uid_map: UIDMap
    options: DeidentifyOptions = field(default_factory=DeidentifyOptions)


@dataclass(frozen=True)
class OutputOptions:
    """Options shared by every writer.

    Parameters
    ----------
    series_number : int
        SeriesNumber of the new series.
    series_description : str, optional
        SeriesDescription (removed again by de-identification unless descriptors are kept).
    uid_seed : str, optional
        Derive the new Series/SOP Instance UIDs from this text (reproducible outputs, e.g. a batch item's input hash);
        random UIDs otherwise.
    content_datetime : datetime, optional
        ContentDate/ContentTime; now by default.
    deidentify : Deidentify, optional
        De-identify the object before saving (PS3.15 basic profile and the given options).
    """

    series_number: int = 901
    series_description: str | None = None
    uid_seed: str | None = None
    content_datetime: dt.datetime | None = None
    deidentify: Deidentify | None = None

    def uid(self, purpose: str) -> str:
        """A new UID: derived from ``uid_seed`` and ``purpose`` when seeded, random otherwise."""
        if self.uid_seed is None:
            return generate_uid()
        return generate_uid(entropy_srcs=["SurgiTwin derived object", self.uid_seed, purpose])

    def when(self) -> dt.datetime:
        """The content date-time."""
        return self.content_datetime or dt.datetime.now()


def copy_patient_study(source: Dataset, target: Dataset) -> None:
    """Copy the Patient and General Study attributes present in ``source`` onto ``target``."""
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in source:
            target[keyword] = source[keyword]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        if keyword not in target:  # Type 2: present, possibly empty
            setattr(target, keyword, "")


def finish_and_save(ds: Dataset, path: str | os.PathLike[str], options: OutputOptions) -> Path:
    """Apply the de-identification hook, then write ``ds`` atomically (temporary name, then rename).

    Raises
    ------
    DicomOutputError
        The file cannot be written.
    """
    if options.deidentify is not None:
        # highdicom shares data elements with the source headers, and items between sequences (a source reference
        # in Referenced Series and in Source Image): a copy through the file format has no shared parts, so no UID is
        # remapped twice and the caller's source headers stay untouched.
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        ds = pydicom.dcmread(buffer)
        # The equipment attributes describe SurgiTwin, not the patient's hospital, and are Type 1 in the Enhanced
        # General Equipment module: put them back after the profile (which removes serial numbers and scrubs the
        # source's institution name, "SurgiTwin" for our phantom, out of every text).
        equipment = [(item, {k: item[k].value for k in _EQUIPMENT_KEYWORDS if k in item})
                     for item in (ds, *ds.get("ContributingEquipmentSequence", []))]
        deidentify_dataset(ds, options=options.deidentify.options, uid_map=options.deidentify.uid_map)
        for item, values in equipment:
            for keyword, value in values.items():
                setattr(item, keyword, value)
        if options.deidentify.options.date_mode is DateMode.REMOVE:
            for keyword, dummy in _TYPE1_DUMMIES.items():
                if keyword in ds and not ds[keyword].value:
                    setattr(ds, keyword, dummy)
    out = Path(path)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DicomOutputError(f"cannot write {out.name} ({exc.strerror or exc})") from exc
    return out
