"""De-identification of DICOM images: DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

The profile is written as data (:data:`BASIC_PROFILE`: keyword -> action) and applied by one small interpreter, so a
reviewer can check the table against PS3.15 Table E.1-1 line by line.  Actions, as in the standard:

``D``  replace with a non-zero-length dummy value of the same VR;
``Z``  replace with a zero-length value (an empty sequence for SQ);
``X``  remove;
``K``  keep (sequences are still processed item by item);
``C``  clean: keep the meaning, remove identifying information (dates shifted, known identity strings removed);
``U``  replace the UID by another one, consistently within a :class:`UIDMap` (same input, same output).

Where the standard gives a choice (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) the table holds the option
chosen for CT/MR image storage: ``Z`` for the Type 2 attributes of the Patient/Study modules (the IOD stays valid),
``D`` where a Type 1 value must remain, ``U`` for image reference sequences (so references keep working), ``X``
otherwise.  Profile options (PS3.15 E.3) are flags of :class:`DeidentifyOptions` that override rows of the table.

Safety nets beyond the table (defence in depth, applied at every nesting level):

* every attribute of VR PN not in the table is replaced by an empty value;
* every UI value that is not a standard DICOM UID (``1.2.840.10008.*``) is remapped (``U``), wherever it is;
* every DA/DT value not in the table follows the date option (removed, or shifted with the patient's offset);
* free text (LT/ST/UT) not in the table is removed;
* private attributes are removed (``retain_safe_private`` keeps only the attributes of :data:`SAFE_PRIVATE`);
* curves (50xx) and overlays (60xx) are removed;
* every kept text value is scrubbed of the identity strings (patient name parts, IDs, accession number, staff
  names...) found in the dataset before de-identification.

:func:`deidentify_dataset` modifies the dataset **in place** (a copy of a 512x512 slice per call would double the
memory of a series export for no benefit; call ``copy.deepcopy`` first to keep the original) and returns a
:class:`DeidentifyReport` that counts the actions taken -- it never holds a PHI value.  :func:`deidentify_series`
writes de-identified copies of files atomically and refuses, before writing anything, when a file may carry burned-in
annotation unless the caller accepts that risk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from .errors import DicomError

__all__ = [
    "BASIC_PROFILE",
    "BURNED_IN_MODALITIES",
    "SAFE_PRIVATE",
    "Action",
    "BurnedInAnnotationRiskError",
    "DateMode",
    "DeidentificationError",
    "DeidentifyOptions",
    "DeidentifyReport",
    "SeriesDeidentifyReport",
    "UIDMap",
    "deidentify_dataset",
    "deidentify_series",
]


class Action(StrEnum):
    """PS3.15 Table E.1-1 action codes."""

    D = "D"
    Z = "Z"
    X = "X"
    K = "K"
    C = "C"
    U = "U"


class DateMode(StrEnum):
    """What happens to dates and date-times (the Retain Longitudinal Temporal Information options)."""

    REMOVE = "remove"  # basic profile: the table's X/Z/D actions
    SHIFT = "shift"  # Modified Dates option: every DA/DT shifted by the patient's offset, times kept
    KEEP = "keep"  # Full Dates option: dates and times kept


class DeidentificationError(DicomError):
    """A file could not be de-identified (unreadable, or its output could not be written)."""


class BurnedInAnnotationRiskError(DeidentificationError):
    """The images may carry identifying text burned into the pixels and the caller did not accept that risk."""


# --- the profile, as data -------------------------------------------------------------------------------------------
A = Action
#: Basic Application Level Confidentiality Profile for CT/MR image storage: DICOM keyword -> action.
BASIC_PROFILE: dict[str, Action] = {
    # Patient identification and demographics (Patient module: Type 2 -> Z)
    "PatientName": A.Z,
    "PatientID": A.Z,
    "PatientBirthDate": A.Z,
    "PatientSex": A.Z,
    "IssuerOfPatientID": A.X,
    "IssuerOfPatientIDQualifiersSequence": A.X,
    "TypeOfPatientID": A.X,
    "PatientBirthTime": A.X,
    "PatientBirthDateInAlternativeCalendar": A.X,
    "PatientDeathDateInAlternativeCalendar": A.X,
    "PatientAlternativeCalendar": A.X,
    "PatientAge": A.X,
    "PatientSize": A.X,
    "PatientWeight": A.X,
    "PatientAddress": A.X,
    "PatientTelephoneNumbers": A.X,
    "PatientTelecomInformation": A.X,
    "OtherPatientIDs": A.X,
    "OtherPatientIDsSequence": A.X,
    "OtherPatientNames": A.X,
    "PatientBirthName": A.X,
    "PatientMotherBirthName": A.X,
    "MilitaryRank": A.X,
    "BranchOfService": A.X,
    "MedicalRecordLocator": A.X,
    "EthnicGroup": A.X,
    "Occupation": A.X,
    "AdditionalPatientHistory": A.X,
    "PatientComments": A.X,
    "PatientReligiousPreference": A.X,
    "PatientSexNeutered": A.X,
    "PregnancyStatus": A.X,
    "LastMenstrualDate": A.X,
    "SmokingStatus": A.X,
    "MedicalAlerts": A.X,
    "Allergies": A.X,
    "SpecialNeeds": A.X,
    "PatientState": A.X,
    "CountryOfResidence": A.X,
    "RegionOfResidence": A.X,
    "PatientInsurancePlanCodeSequence": A.X,
    "PatientPrimaryLanguageCodeSequence": A.X,
    "PatientPrimaryLanguageModifierCodeSequence": A.X,
    "ResponsiblePerson": A.X,
    "ResponsiblePersonRole": A.X,
    "ResponsibleOrganization": A.X,
    "PatientTransportArrangements": A.X,
    "ReferencedPatientSequence": A.X,
    "ReferencedPatientPhotoSequence": A.X,
    # Study (General Study module: Type 2 -> Z; Type 1 UID -> U)
    "StudyInstanceUID": A.U,
    "StudyDate": A.Z,
    "StudyTime": A.Z,
    "AccessionNumber": A.Z,
    "IssuerOfAccessionNumberSequence": A.X,
    "StudyID": A.Z,
    "ReferringPhysicianName": A.Z,
    "ReferringPhysicianAddress": A.X,
    "ReferringPhysicianTelephoneNumbers": A.X,
    "ReferringPhysicianIdentificationSequence": A.X,
    "ConsultingPhysicianName": A.X,
    "ConsultingPhysicianIdentificationSequence": A.X,
    "PhysiciansOfRecord": A.X,
    "PhysiciansOfRecordIdentificationSequence": A.X,
    "NameOfPhysiciansReadingStudy": A.X,
    "PhysiciansReadingStudyIdentificationSequence": A.X,
    "StudyDescription": A.X,
    "ReferencedStudySequence": A.X,
    "AdmittingDiagnosesDescription": A.X,
    "AdmittingDiagnosesCodeSequence": A.X,
    "AdmissionID": A.X,
    "IssuerOfAdmissionIDSequence": A.X,
    "ReasonForStudy": A.X,
    "RequestingPhysician": A.X,
    "RequestingService": A.X,
    "RequestedProcedureDescription": A.X,
    "RequestedProcedureID": A.X,
    "RequestedProcedureCodeSequence": A.X,
    "RequestedContrastAgent": A.X,
    "ReasonForTheRequestedProcedure": A.X,
    "RequestAttributesSequence": A.X,
    "PlacerOrderNumberImagingServiceRequest": A.X,
    "FillerOrderNumberImagingServiceRequest": A.X,
    "ProcedureCodeSequence": A.X,
    "StudyComments": A.X,
    "InterpretationText": A.X,
    "InterpretationAuthor": A.X,
    "InterpretationRecorder": A.X,
    "InterpretationTranscriber": A.X,
    "InterpretationApproverSequence": A.X,
    "InterpretationDiagnosisDescription": A.X,
    "ResultsIDIssuer": A.X,
    "CurrentPatientLocation": A.X,
    "PatientInstitutionResidence": A.X,
    "VisitComments": A.X,
    "DistributionName": A.X,
    "DistributionAddress": A.X,
    # Series, equipment and procedure steps
    "SeriesInstanceUID": A.U,
    "SeriesDescription": A.X,
    "SeriesDate": A.X,
    "SeriesTime": A.X,
    "AcquisitionDate": A.X,
    "AcquisitionTime": A.X,
    "AcquisitionDateTime": A.X,
    "ContentDate": A.Z,
    "ContentTime": A.Z,
    "InstanceCreationDate": A.X,
    "InstanceCreationTime": A.X,
    "OverlayDate": A.X,
    "OverlayTime": A.X,
    "CurveDate": A.X,
    "CurveTime": A.X,
    "ProtocolName": A.X,
    "OperatorsName": A.X,
    "OperatorIdentificationSequence": A.X,
    "PerformingPhysicianName": A.X,
    "PerformingPhysicianIdentificationSequence": A.X,
    "InstitutionName": A.X,
    "InstitutionAddress": A.X,
    "InstitutionalDepartmentName": A.X,
    "InstitutionCodeSequence": A.X,
    "InstitutionalDepartmentTypeCodeSequence": A.X,
    "StationName": A.X,
    "DeviceSerialNumber": A.X,
    "DeviceUID": A.U,
    "DetectorID": A.X,
    "GantryID": A.X,
    "PlateID": A.X,
    "CassetteID": A.X,
    "SourceSerialNumber": A.X,
    "PerformedProcedureStepID": A.X,
    "PerformedProcedureStepDescription": A.X,
    "PerformedProcedureStepStartDate": A.X,
    "PerformedProcedureStepStartTime": A.X,
    "PerformedProcedureStepEndDate": A.X,
    "PerformedProcedureStepEndTime": A.X,
    "CommentsOnThePerformedProcedureStep": A.X,
    "PerformedLocation": A.X,
    "PerformedStationName": A.X,
    "PerformedStationAETitle": A.X,
    "ReferencedPerformedProcedureStepSequence": A.X,
    "ScheduledProcedureStepID": A.X,
    "ScheduledProcedureStepDescription": A.X,
    "ScheduledProcedureStepStartDate": A.X,
    "ScheduledProcedureStepStartTime": A.X,
    "ScheduledProcedureStepEndDate": A.X,
    "ScheduledProcedureStepEndTime": A.X,
    "ScheduledPerformingPhysicianName": A.X,
    "ScheduledStationName": A.X,
    "ScheduledStationAETitle": A.X,
    "ScheduledProcedureStepLocation": A.X,
    "ScheduledPatientInstitutionResidence": A.X,
    "ScheduledHumanPerformersSequence": A.X,
    "HumanPerformerName": A.X,
    "HumanPerformerOrganization": A.X,
    "ActualHumanPerformersSequence": A.X,
    "PreMedication": A.X,
    "ContrastBolusAgent": A.D,  # X/D in the table; the agent name is kept as a dummy so the series reads "contrast"
    # Image level: free text, references and UIDs
    "SOPInstanceUID": A.U,
    "FrameOfReferenceUID": A.U,
    "SynchronizationFrameOfReferenceUID": A.U,
    "ReferencedFrameOfReferenceUID": A.U,
    "RelatedFrameOfReferenceUID": A.U,
    "ReferencedSOPInstanceUID": A.U,
    "InstanceCreatorUID": A.U,
    "IrradiationEventUID": A.U,
    "ConcatenationUID": A.U,
    "DimensionOrganizationUID": A.U,
    "StorageMediaFileSetUID": A.U,
    "TargetUID": A.U,
    "FiducialUID": A.U,
    "UID": A.U,
    "TransactionUID": A.U,
    "FailedSOPInstanceUIDList": A.U,
    "ReferencedImageSequence": A.U,  # X/Z/U*: kept with remapped UIDs so references still resolve
    "SourceImageSequence": A.U,
    "ReferencedSeriesSequence": A.U,
    "ImageComments": A.X,
    "FrameComments": A.X,
    "DerivationDescription": A.X,
    "IdentifyingComments": A.X,
    "AcquisitionComments": A.X,
    "AcquisitionDeviceProcessingDescription": A.X,
    "ImagePresentationComments": A.X,
    "TextComments": A.X,
    "TextString": A.X,
    "TextValue": A.X,
    "ContentSequence": A.X,
    "ContentCreatorName": A.Z,
    "ContentCreatorIdentificationCodeSequence": A.X,
    "VerifyingObserverName": A.D,
    "VerifyingObserverIdentificationCodeSequence": A.Z,
    "VerifyingOrganization": A.X,
    "PersonName": A.D,
    "PersonAddress": A.X,
    "PersonTelephoneNumbers": A.X,
    "PersonIdentificationCodeSequence": A.D,
    "ReviewerName": A.X,
    "Arbitrary": A.X,
    "AuthorObserverSequence": A.X,
    "ParticipantSequence": A.X,
    "CustodialOrganizationSequence": A.X,
    "DigitalSignaturesSequence": A.X,
    "OriginalAttributesSequence": A.X,
    "ModifiedAttributesSequence": A.X,
    "DataSetTrailingPadding": A.X,
    "TimezoneOffsetFromUTC": A.X,
}
del A

#: Attributes each profile option puts back (Table E.1-1 option columns), with the action the option gives.
RETAIN_PATIENT_CHARACTERISTICS: dict[str, Action] = {
    k: Action.K
    for k in (
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "EthnicGroup",
        "PregnancyStatus",
        "SmokingStatus",
        "PatientSexNeutered",
        "SpecialNeeds",
        "PatientState",
        "Allergies",
        "MedicalAlerts",
    )
}
RETAIN_DEVICE_IDENTITY: dict[str, Action] = {
    k: Action.K for k in ("StationName", "DeviceSerialNumber", "DeviceUID", "DetectorID", "GantryID", "PlateID",
                          "CassetteID", "SourceSerialNumber")
}
RETAIN_INSTITUTION_IDENTITY: dict[str, Action] = {
    k: Action.K for k in ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
                          "InstitutionCodeSequence")
}
#: Clean Descriptors option: descriptions kept, cleaned of identity strings.
RETAIN_DESCRIPTORS: dict[str, Action] = {
    k: Action.C
    for k in (
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "ImageComments",
        "AcquisitionComments",
        "DerivationDescription",
        "PerformedProcedureStepDescription",
        "RequestedProcedureDescription",
        "ScheduledProcedureStepDescription",
        "AcquisitionDeviceProcessingDescription",
        "ContrastBolusAgent",
    )
}

#: Safe private attributes (PS3.15 E.3.10 Retain Safe Private option): (private creator, group, element byte).
SAFE_PRIVATE: frozenset[tuple[str, int, int]] = frozenset(
    {
        ("SIEMENS MR HEADER", 0x0019, 0x0C),  # B_value
        ("GEMS_PARM_01", 0x0043, 0x39),  # slop_int_6..9 (diffusion b-value)
        ("Philips Imaging DD 001", 0x2001, 0x03),  # diffusion b-factor
    }
)

#: Modalities whose images typically carry burned-in text (ultrasound, secondary capture, photographs, documents).
BURNED_IN_MODALITIES: frozenset[str] = frozenset({"US", "SC", "OT", "XC", "ES", "GM", "SM", "DOC", "IVUS"})
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_STANDARD_UID_ROOT = "1.2.840.10008."
_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_DUMMY = {
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
}
_DCM_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "descriptors": ("113105", "Clean Descriptors Option"),
    "full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "device_identity": ("113109", "Retain Device Identity Option"),
    "safe_private": ("113111", "Retain Safe Private Option"),
    "institution_identity": ("113112", "Retain Institution Identity Option"),
}


@dataclass(frozen=True)
class DeidentifyOptions:
    """Profile options (PS3.15 E.3).  The defaults are the basic profile: remove dates and private attributes.

    Parameters
    ----------
    date_mode : DateMode
        ``REMOVE`` (basic profile), ``SHIFT`` (every date shifted by a per-patient offset of whole days, intervals
        preserved) or ``KEEP``.
    retain_descriptors : bool
        Clean Descriptors option: keep study/series descriptions, protocol name, comments -- cleaned of identity
        strings.
    retain_patient_characteristics : bool
        Keep sex, age, size, weight...
    retain_device_identity, retain_institution_identity : bool
        Keep station name / serial numbers, institution name / address.
    retain_safe_private : bool
        Keep the private attributes listed in :data:`SAFE_PRIVATE` (all others are removed).
    pseudonym : str, optional
        Written as PatientName and PatientID (``D`` instead of ``Z``), e.g. a study subject code.
    """

    date_mode: DateMode = DateMode.REMOVE
    retain_descriptors: bool = False
    retain_patient_characteristics: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_safe_private: bool = False
    pseudonym: str | None = None

    def profile(self) -> dict[str, Action]:
        """The effective keyword -> action table for these options."""
        table = dict(BASIC_PROFILE)
        if self.retain_descriptors:
            table.update(RETAIN_DESCRIPTORS)
        if self.retain_patient_characteristics:
            table.update(RETAIN_PATIENT_CHARACTERISTICS)
        if self.retain_device_identity:
            table.update(RETAIN_DEVICE_IDENTITY)
        if self.retain_institution_identity:
            table.update(RETAIN_INSTITUTION_IDENTITY)
        if self.pseudonym is not None:
            table["PatientName"] = table["PatientID"] = Action.D
        return table

    def method_codes(self) -> list[tuple[str, str]]:
        codes = [_DCM_CODES["basic"]]
        if self.retain_descriptors:
            codes.append(_DCM_CODES["descriptors"])
        if self.date_mode is DateMode.KEEP:
            codes.append(_DCM_CODES["full_dates"])
        elif self.date_mode is DateMode.SHIFT:
            codes.append(_DCM_CODES["modified_dates"])
        for flag in ("patient_characteristics", "device_identity", "institution_identity", "safe_private"):
            if getattr(self, f"retain_{flag}"):
                codes.append(_DCM_CODES[flag])
        return codes


class UIDMap:
    """Consistent UID replacement (and date offsets) for one de-identification session.

    A new UID is ``2.25.<128-bit integer>`` derived from HMAC-SHA256(salt, old UID): the same input always gives the
    same output with the same salt, across processes too when the salt is stored; without the salt the mapping can
    neither be reversed nor recomputed.  The salt also derives the per-patient date offsets.

    Parameters
    ----------
    salt : bytes, optional
        Secret key; a fresh random one (``secrets.token_bytes(32)``) when omitted.  Keep it secret: with it, anyone
        holding an original UID can confirm that a de-identified file derives from it.
    """

    def __init__(self, salt: bytes | None = None) -> None:
        self._salt = salt if salt is not None else secrets.token_bytes(32)
        self._map: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, uid: object) -> bool:
        return uid in self._map

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._salt, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def remap(self, uid: str) -> str:
        """The replacement of ``uid`` (blank and standard DICOM UIDs are returned unchanged)."""
        uid = str(uid).strip().rstrip("\0")
        if not uid or uid.startswith(_STANDARD_UID_ROOT):
            return uid
        new = self._map.get(uid)
        if new is None:
            new = f"2.25.{int.from_bytes(self._digest('uid', uid)[:16], 'big')}"
            self._map[uid] = new
        return new

    def date_offset_days(self, patient_key: str) -> int:
        """Per-patient shift in days, between -3650 and -30 (never zero), derived from the salt and the key."""
        value = int.from_bytes(self._digest("date-offset", patient_key)[:8], "big")
        return -(30 + value % 3621)


@dataclass
class DeidentifyReport:
    """What :func:`deidentify_dataset` did: counts and attribute keywords only, never a value."""

    actions: Counter[str] = field(default_factory=Counter)
    attributes: dict[str, str] = field(default_factory=dict)  # keyword (or private tag) -> action letter
    private_removed: int = 0
    burned_in_annotation_risk: bool = False
    burned_in_reasons: list[str] = field(default_factory=list)
    dates: str = DateMode.REMOVE.value

    def record(self, name: str, action: Action | str) -> None:
        self.actions[str(action)] += 1
        self.attributes.setdefault(name, str(action))

    def merge(self, other: DeidentifyReport) -> None:
        self.actions.update(other.actions)
        for k, v in other.attributes.items():
            self.attributes.setdefault(k, v)
        self.private_removed += other.private_removed
        if other.burned_in_annotation_risk:
            self.burned_in_annotation_risk = True
            for r in other.burned_in_reasons:
                if r not in self.burned_in_reasons:
                    self.burned_in_reasons.append(r)


@dataclass
class SeriesDeidentifyReport(DeidentifyReport):
    """:class:`DeidentifyReport` summed over a series, plus the written files (new names, no PHI)."""

    files: list[Path] = field(default_factory=list)


# --- helpers --------------------------------------------------------------------------------------------------------
def burned_in_annotation_risk(ds: Dataset) -> list[str]:
    """Reasons (possibly none) to believe ``ds`` has identifying text burned into its pixels."""
    reasons = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if str(ds.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        reasons.append("RecognizableVisualFeatures is YES")
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in BURNED_IN_MODALITIES and str(ds.get("BurnedInAnnotation", "")).strip().upper() != "NO":
        reasons.append(f"modality {modality} typically carries burned-in annotation")
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if sop_class.startswith(_SECONDARY_CAPTURE_PREFIX) and str(ds.get("BurnedInAnnotation", "")).upper() != "NO":
        reasons.append("secondary capture image")
    return reasons


def _identity_strings(ds: Dataset) -> list[str]:
    """Identity values of ``ds`` (names and their parts, IDs, accession...) to scrub from kept text."""
    found: set[str] = set()

    def add(text: str) -> None:
        text = text.strip()
        if len(text) >= 3:
            found.add(text)

    def visit(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value or []:
                    visit(item)
                continue
            if elem.VR == "PN" or elem.keyword in _IDENTITY_KEYWORDS:
                values = elem.value if isinstance(elem.value, Sequence) and not isinstance(elem.value, str) else [
                    elem.value]
                for v in values:
                    if v is None or isinstance(v, bytes):
                        continue
                    text = str(v)
                    add(text)
                    for part in re.split(r"[\^=\s,]+", text):
                        add(part)

    visit(ds)
    return sorted(found, key=len, reverse=True)


_IDENTITY_KEYWORDS = frozenset(
    {"PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "MedicalRecordLocator", "AdmissionID",
     "StudyID", "PatientAddress", "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress", "StationName",
     "DeviceSerialNumber", "RequestedProcedureID", "PerformedProcedureStepID"}
)


def _shift_date(value: str, days: int) -> str | None:
    value = value.strip()
    if not value:
        return value
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + value[8:]


class _Context:
    def __init__(self, options: DeidentifyOptions, uid_map: UIDMap, identity: list[str], date_offset: int) -> None:
        self.options = options
        self.table = options.profile()
        self.uid_map = uid_map
        self.identity = identity
        self.identity_re = (
            re.compile("|".join(re.escape(s) for s in identity), re.IGNORECASE) if identity else None
        )
        self.date_offset = date_offset
        self.report = DeidentifyReport(dates=options.date_mode.value)


def _values(elem: DataElement) -> list:
    value = elem.value
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _set_values(elem: DataElement, values: list) -> None:
    elem.value = values[0] if len(values) == 1 else values


def _clean_text(ctx: _Context, elem: DataElement) -> bool:
    """Scrub identity strings from a text element; True when something was removed."""
    if ctx.identity_re is None or elem.VR not in _TEXT_VRS or elem.value is None:
        return False
    changed = False
    out = []
    for v in _values(elem):
        if isinstance(v, bytes):
            out.append(v)
            continue
        cleaned = ctx.identity_re.sub("", str(v))
        changed |= cleaned != str(v)
        out.append(cleaned)
    if changed:
        _set_values(elem, out)
    return changed


def _apply_dates(ctx: _Context, elem: DataElement) -> Action:
    """Date option for a DA/DT element: returns the action taken."""
    mode = ctx.options.date_mode
    if mode is DateMode.KEEP:
        return Action.K
    if mode is DateMode.REMOVE:
        elem.value = ""
        return Action.Z
    shifted = [_shift_date(str(v), ctx.date_offset) for v in _values(elem)]
    if any(s is None for s in shifted):
        elem.value = ""  # unparseable dates cannot be shifted consistently: remove them
        return Action.Z
    _set_values(elem, shifted)
    return Action.C


def _apply(ctx: _Context, ds: Dataset, elem: DataElement, action: Action, name: str) -> None:
    """Apply ``action`` to ``elem`` of ``ds`` and record it."""
    vr = elem.VR
    if action is Action.X:
        del ds[elem.tag]
    elif action is Action.Z:
        elem.value = DicomSequence() if vr == "SQ" else ("" if vr in _DUMMY or vr in ("UI", "UC", "UR") else None)
    elif action is Action.D:
        if vr == "SQ":
            elem.value = DicomSequence()
        elif vr == "UI":
            _set_values(elem, [ctx.uid_map.remap(str(v)) for v in _values(elem)])
        elif vr in ("PN", "LO", "SH") and ctx.options.pseudonym is not None and name in ("PatientName", "PatientID"):
            elem.value = ctx.options.pseudonym
        else:
            elem.value = _DUMMY.get(vr, "")
    elif action is Action.U:
        if vr == "SQ":
            for item in elem.value or []:
                _process(ctx, item)
        elif vr == "UI":
            _set_values(elem, [ctx.uid_map.remap(str(v)) for v in _values(elem)])
    elif action is Action.C:
        if vr in ("DA", "DT"):
            action = _apply_dates(ctx, elem)
        elif vr == "SQ":
            for item in elem.value or []:
                _process(ctx, item)
        else:
            _clean_text(ctx, elem)
    elif action is Action.K and vr == "SQ":
        for item in elem.value or []:
            _process(ctx, item)
    ctx.report.record(name, action)


_DATE_KEYWORD = re.compile(r"(Date|DateTime|Time)$")


def _table_action(ctx: _Context, elem: DataElement) -> Action | None:
    action = ctx.table.get(elem.keyword)
    if action is None:
        return None
    # Dates and times in the table follow the date option instead of the basic profile's removal.
    if elem.VR in ("DA", "DT", "TM") and ctx.options.date_mode is not DateMode.REMOVE and action in (Action.X,
                                                                                                    Action.Z):
        return Action.C if elem.VR != "TM" else Action.K
    return action


def _process(ctx: _Context, ds: Dataset) -> None:
    """De-identify one dataset level and recurse into sequences."""
    private_ok = _safe_private_tags(ds) if ctx.options.retain_safe_private else set()
    for tag in list(ds.keys()):
        elem = ds[tag]
        group = tag.group
        if tag.is_private:
            if tag in private_ok:
                ctx.report.record(f"({group:04X},{tag.element:04X})", Action.K)
            else:
                del ds[tag]
                ctx.report.private_removed += 1
                ctx.report.actions[Action.X.value] += 1
            continue
        if 0x5000 <= group <= 0x501E or 0x6000 <= group <= 0x601E:  # curves and overlays (repeating groups)
            del ds[tag]
            ctx.report.record(f"({group & 0xFF00:04X}xx) curve/overlay", Action.X)
            continue
        name = elem.keyword or f"({group:04X},{tag.element:04X})"
        action = _table_action(ctx, elem)
        if action is not None:
            _apply(ctx, ds, elem, action, name)
            continue
        vr = elem.VR
        if vr == "SQ":
            for item in elem.value or []:
                _process(ctx, item)
        elif vr == "PN":
            _apply(ctx, ds, elem, Action.Z, name)
        elif vr == "UI":
            old = _values(elem)
            new = [ctx.uid_map.remap(str(v)) for v in old]
            if new != [str(v).strip().rstrip("\0") for v in old]:
                _set_values(elem, new)
                ctx.report.record(name, Action.U)
        elif vr in ("DA", "DT"):
            ctx.report.record(name, _apply_dates(ctx, elem))
        elif vr in _FREE_TEXT_VRS:
            _apply(ctx, ds, elem, Action.X, name)
        elif vr in _TEXT_VRS and _clean_text(ctx, elem):
            ctx.report.record(name, Action.C)


def _safe_private_tags(ds: Dataset) -> set[BaseTag]:
    keep: set[BaseTag] = set()
    for tag in list(ds.keys()):
        if not tag.is_private or not 0x0010 <= tag.element <= 0x00FF:
            continue
        creator = str(ds[tag].value).strip()
        block = tag.element << 8
        for safe_creator, group, offset in SAFE_PRIVATE:
            if safe_creator == creator and group == tag.group:
                keep.add(tag)
                keep.add(BaseTag((tag.group << 16) | block | offset))
    return keep


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


# --- public API -----------------------------------------------------------------------------------------------------
def deidentify_dataset(
    ds: Dataset,
    *,
    options: DeidentifyOptions | None = None,
    uid_map: UIDMap | None = None,
) -> DeidentifyReport:
    """De-identify ``ds`` **in place** following the PS3.15 basic profile and ``options``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset (its ``file_meta`` too, when present).  Deep-copy it first to keep the original.
    options : DeidentifyOptions, optional
        Profile options; the basic profile by default.
    uid_map : UIDMap, optional
        Share one map over every file of a study/series (same UID in, same UID out).  A fresh one (random salt) when
        omitted, which is only consistent within this call.

    Returns
    -------
    DeidentifyReport
        Counts per action, the affected attribute keywords, and ``burned_in_annotation_risk`` (pixel data are never
        altered: the caller decides whether such images may leave).
    """
    options = options or DeidentifyOptions()
    uid_map = uid_map if uid_map is not None else UIDMap()
    reasons = burned_in_annotation_risk(ds)
    patient_key = str(ds.get("PatientID", "") or "") + "\0" + str(ds.get("PatientName", "") or "")
    ctx = _Context(options, uid_map, _identity_strings(ds), uid_map.date_offset_days(patient_key))
    ctx.report.burned_in_annotation_risk = bool(reasons)
    ctx.report.burned_in_reasons = reasons
    _process(ctx, ds)

    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        new_meta = FileMetaDataset()
        for keyword in ("FileMetaInformationVersion", "MediaStorageSOPClassUID", "TransferSyntaxUID"):
            if keyword in meta:
                new_meta[keyword] = meta[keyword]
        if "SOPInstanceUID" in ds:
            new_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta:
            new_meta.MediaStorageSOPInstanceUID = uid_map.remap(str(meta.MediaStorageSOPInstanceUID))
        new_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        new_meta.ImplementationVersionName = "SURGITWIN_DEID"
        ds.file_meta = new_meta

    ds.PatientIdentityRemoved = "YES"
    codes = options.method_codes()
    # LO is at most 64 characters per value: one value per profile/option (multi-valued).
    ds.DeidentificationMethod = [m for _, m in codes]
    ds.DeidentificationMethodCodeSequence = DicomSequence([_code_item(v, m) for v, m in codes])
    ds.LongitudinalTemporalInformationModified = {
        DateMode.REMOVE: "REMOVED",
        DateMode.SHIFT: "MODIFIED",
        DateMode.KEEP: "UNMODIFIED",
    }[options.date_mode]
    return ctx.report


def deidentify_series(
    files: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    options: DeidentifyOptions | None = None,
    uid_map: UIDMap | None = None,
    accept_burned_in_risk: bool = False,
) -> SeriesDeidentifyReport:
    """Write de-identified copies of ``files`` into ``out_dir`` as ``IM00001.dcm``, ``IM00002.dcm``...

    Input file names are not reused (they often contain patient names).  Each file is written under a hidden
    temporary name and renamed when complete, so a reader never sees a partial file.  Before anything is written,
    every header is checked for burned-in annotation risk.

    Parameters
    ----------
    files : iterable of path
        DICOM files (typically one series, in any order).
    out_dir : path
        Destination folder; created if missing.  Existing ``IMnnnnn.dcm`` files are replaced.
    options : DeidentifyOptions, optional
    uid_map : UIDMap, optional
        Share it between calls to keep UIDs consistent across series of one study.
    accept_burned_in_risk : bool
        Write images flagged with burned-in annotation risk anyway (the caller takes responsibility).

    Returns
    -------
    SeriesDeidentifyReport
        Summed counts per action and the written files.

    Raises
    ------
    BurnedInAnnotationRiskError
        A file may carry burned-in annotation and ``accept_burned_in_risk`` is False; nothing was written.
    DeidentificationError
        A file cannot be read as DICOM or the output cannot be written.
    """
    options = options or DeidentifyOptions()
    uid_map = uid_map if uid_map is not None else UIDMap()
    paths = [Path(f) for f in files]
    out = Path(out_dir)

    risky = 0
    reasons: list[str] = []
    for path in paths:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types on damaged files
            raise DeidentificationError(f"'{path.name}' cannot be read as DICOM ({type(exc).__name__})") from exc
        found = burned_in_annotation_risk(header)
        if found:
            risky += 1
            reasons.extend(r for r in found if r not in reasons)
    if risky and not accept_burned_in_risk:
        raise BurnedInAnnotationRiskError(
            f"{risky} of {len(paths)} image(s) may show identifying text burned into the pixels "
            f"({'; '.join(reasons)}): review and clean the pixels, or pass accept_burned_in_risk=True"
        )

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeidentificationError(f"cannot create the output folder ({exc.strerror})") from exc
    report = SeriesDeidentifyReport(dates=options.date_mode.value)
    for k, path in enumerate(paths, start=1):
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            raise DeidentificationError(f"'{path.name}' cannot be read as DICOM ({type(exc).__name__})") from exc
        report.merge(deidentify_dataset(ds, options=options, uid_map=uid_map))
        target = out / f"IM{k:05d}.dcm"
        tmp = out / f".IM{k:05d}.dcm.partial"
        try:
            ds.save_as(tmp, enforce_file_format=True)
            tmp.replace(target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise DeidentificationError(f"cannot write '{target.name}' ({type(exc).__name__})") from exc
        report.files.append(target)
    return report
