"""Coded terminology of segments: SurgiTwin's structure names -> SNOMED CT category / type / modifier codes.

DICOM SEG describes each segment by a *Segmented Property Category* (CID 7150) and *Type* (CID 7151 and friends), with
an optional modifier (laterality).  Our terminology (``resources/presets/terminology.json``, see
:mod:`imaging.segmentation.terminology`) keeps keys, names, categories and colours; the codes come from pydicom's copy
of the DICOM code dictionaries (``pydicom.sr.codedict.codes.SCT``), looked up by name, so that no code value is typed
by hand here.  A structure we cannot code precisely falls back to the generic type of its category (the segment label
still names it), which is what 3D Slicer does for free-text segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from imaging.segmentation.terminology import TerminologyEntry, find_terminology

__all__ = ["SegmentCodes", "codes_for_name"]

#: Our terminology category -> CID 7150 Segmentation Property Category (pydicom SCT names).
_CATEGORY = {
    "bone": "AnatomicalStructure",
    "organ": "AnatomicalStructure",
    "vessel": "AnatomicalStructure",
    "nerve": "AnatomicalStructure",
    "brain": "AnatomicalStructure",
    "tissue": "Tissue",
    "fluid": "BodySubstance",
    "lesion": "MorphologicallyAbnormalStructure",
    "foreign": "PhysicalObject",
}

#: Generic type of each category, used when a structure has no precise code.
_GENERIC_TYPE = {
    "AnatomicalStructure": "AnatomicalStructure",
    "Tissue": "Tissue",
    "BodySubstance": "BodySubstance",
    "MorphologicallyAbnormalStructure": "MorphologicallyAbnormalStructure",
    "PhysicalObject": "PhysicalObject",
}

#: Terminology keys whose pydicom SCT name is not the CamelCase of the key: key -> (type name, modifier name or None).
_TYPE_OVERRIDES: dict[str, tuple[str, str | None]] = {
    "tumour": ("Neoplasm", None),
    "kidney_left": ("Kidney", "Left"),
    "kidney_right": ("Kidney", "Right"),
    "lung_left": ("Lung", "Left"),
    "lung_right": ("Lung", "Right"),
    "bowel": ("SmallIntestine", None),
    "bowel_gas": ("Gas", None),
    "urinary_bladder": ("Bladder", None),
    "vessel_wall": ("BloodVessel", None),
    "spinal_canal": ("VertebralCanal", None),
    "airway": ("AirwayStructure", None),
    "oesophagus": ("Esophagus", None),
    "grey_matter": ("GrayMatter", None),
    "brainstem": ("BrainStem", None),
    "ventricles": ("BrainVentricle", None),
    "clot": ("Thrombus", None),
    "calcification": ("PathologicCalcificationCalcifiedStructure", None),
}


@dataclass(frozen=True)
class SegmentCodes:
    """The codes of one segment (pydicom :class:`~pydicom.sr.coding.Code` values) and whether they are precise."""

    category: Code
    type: Code
    modifier: Code | None = None
    precise: bool = True


def _sct(name: str) -> Code | None:
    try:
        return getattr(codes.SCT, name)
    except AttributeError:
        return None


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.replace("-", "_").split("_"))


@cache
def _codes_for_entry(entry: TerminologyEntry) -> SegmentCodes:
    category_name = _CATEGORY.get(entry.category, "Tissue")
    category = _sct(category_name)
    assert category is not None  # the category names above are all in pydicom's dictionary (tested)
    type_name, modifier_name = _TYPE_OVERRIDES.get(entry.key, (_camel(entry.key), None))
    type_code = _sct(type_name)
    modifier = _sct(modifier_name) if modifier_name else None
    if type_code is None:
        generic = _sct(_GENERIC_TYPE[category_name])
        assert generic is not None
        return SegmentCodes(category, generic, None, precise=False)
    return SegmentCodes(category, type_code, modifier, precise=True)


def codes_for_name(name: str) -> SegmentCodes:
    """Category, type and modifier codes of a segment named ``name`` (a key, name or alias of our terminology).

    Parameters
    ----------
    name : str
        Segment name such as ``"Liver"``, ``"Vessels"`` or ``"kidney_left"``; a trailing plural ``s`` is tolerated
        (``"Vessels"`` -> vessel).  Unknown names give the generic *Tissue* codes with ``precise=False``.

    Returns
    -------
    SegmentCodes
    """
    entry = find_terminology(name)
    if entry is None and name.lower().endswith("s"):
        entry = find_terminology(name[:-1])
    if entry is None and name.strip().lower() in ("vessel", "vessels", "contrast vessels", "blood vessel"):
        # The threshold presets' contrast-filled vessels are arteries and veins together.
        anatomical, vessel = _sct("AnatomicalStructure"), _sct("BloodVessel")
        assert anatomical is not None
        assert vessel is not None
        return SegmentCodes(anatomical, vessel)
    if entry is None:
        tissue = _sct("Tissue")
        assert tissue is not None
        return SegmentCodes(tissue, tissue, None, precise=False)
    return _codes_for_entry(entry)
