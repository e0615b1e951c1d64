"""Label maps as DICOM Segmentation objects (highdicom), binary or label-map SEG, referencing the source series.

highdicom builds the object from the source headers: it copies the patient and study, takes the Frame of Reference,
writes one Plane Position per frame (the source slice's ImagePositionPatient), the shared orientation and pixel
measures, and references every source instance (Referenced Series Sequence, Source Image Sequence per frame).  Our
part is the grid check (the label map must lie on the source's own grid), the segment descriptions (label, colour,
SNOMED CT codes from :mod:`.codes`, algorithm) and the de-identification hook.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from imaging.volume import Volume

from .codes import codes_for_name
from .common import MANUFACTURER, MODEL_NAME, OutputOptions, finish_and_save, software_version
from .errors import DicomOutputError
from .source import SourceSeries

__all__ = ["SEG_KINDS", "SegmentInfo", "write_segmentation"]

SEG_KINDS = ("binary", "labelmap")

#: Grid tolerance (mm) between the label map and the source series: float round-off of DS strings, far below a voxel.
GRID_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class SegmentInfo:
    """One segment to write: the voxels equal to ``label_value`` in the label map.

    Parameters
    ----------
    label_value : int
        Value of the segment in the label map.
    name : str
        SegmentLabel; also looked up in our terminology for the property codes.
    color : tuple of float
        Display colour, 0..1 RGB (written as CIELab, as the standard requires).
    algorithm : str, optional
        Name of the algorithm that made it (e.g. ``"SurgiTwin threshold preset bone"``); None for a manual segment.
    algorithm_type : str
        ``"SEMIAUTOMATIC"`` (thresholds, region growing) or ``"AUTOMATIC"`` (AI models), when ``algorithm`` is set.
    """

    label_value: int
    name: str
    color: tuple[float, float, float] = (1.0, 0.0, 0.0)
    algorithm: str | None = None
    algorithm_type: str = "SEMIAUTOMATIC"


def _description(number: int, info: SegmentInfo) -> hd.seg.SegmentDescription:
    coded = codes_for_name(info.name)
    rgb = tuple(round(255 * min(max(float(c), 0.0), 1.0)) for c in info.color)
    if info.algorithm is None:
        algorithm_type, identification = hd.seg.SegmentAlgorithmTypeValues.MANUAL, None
    else:
        algorithm_type = hd.seg.SegmentAlgorithmTypeValues(info.algorithm_type.upper())
        family = codes.cid7162.ArtificialIntelligence if algorithm_type.value == "AUTOMATIC" else (
            codes.cid7162.HistogramAnalysis)
        identification = hd.AlgorithmIdentificationSequence(
            name=info.algorithm[:64], family=family, version=software_version()[:64]
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=info.name[:64],
        segmented_property_category=coded.category,
        segmented_property_type=coded.type,
        algorithm_type=algorithm_type,
        algorithm_identification=identification,
        display_color=hd.color.CIELabColor.from_rgb(*rgb),
    )
    if coded.modifier is not None:
        description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            hd.sr.CodedConcept.from_code(coded.modifier)
        ]
    return description


#: Type 2 patient/study attributes highdicom copies from the first source image (they must exist, possibly empty).
_TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                        "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _with_type2_patient_study(datasets: Sequence[Dataset]) -> list[Dataset]:
    """The source headers, the first completed with empty Type 2 patient/study attributes some vendors leave out."""
    first = datasets[0]
    missing = [k for k in _TYPE2_PATIENT_STUDY if k not in first]
    if not missing:
        return list(datasets)
    first = copy.deepcopy(first)  # a header without pixel data: cheap, and the caller's source stays as it was
    for keyword in missing:
        setattr(first, keyword, "")
    return [first, *datasets[1:]]


def _check_inputs(labels: np.ndarray, segments: Sequence[SegmentInfo]) -> None:
    if not segments:
        raise DicomOutputError("no segments to write: a DICOM SEG needs at least one segment")
    values = [s.label_value for s in segments]
    if len(set(values)) != len(values):
        raise DicomOutputError(f"two segments share a label value ({sorted(values)})")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DicomOutputError(f"a label map holds integers, got {labels.dtype}")
    present = set(np.unique(labels).tolist()) - {0}
    unknown = sorted(present - set(values))
    if unknown:
        raise DicomOutputError(
            f"the label map holds value(s) {unknown[:5]} that no segment describes; name every label or clear it"
        )


def write_segmentation(
    labelmap: Volume,
    segments: Sequence[SegmentInfo],
    source: SourceSeries,
    path: str | os.PathLike[str],
    *,
    kind: str = "binary",
    options: OutputOptions | None = None,
) -> Path:
    """Write a label map as a DICOM SEG that references ``source``.

    Parameters
    ----------
    labelmap : Volume
        Integer labels on the source series' grid (same shape, spacing, origin and direction within 1 µm).
    segments : sequence of SegmentInfo
        The segments, in the order they get segment numbers 1, 2, ...
    source : SourceSeries
        Headers of the series the label map was drawn on (:func:`~.source.read_source_series`).
    path : path-like
        Output file (``.dcm``); written atomically.
    kind : {"binary", "labelmap"}
        ``binary``: Segmentation Storage, one 1-bit frame per segment and slice holding voxels (empty frames
        omitted), read by every SEG reader.  ``labelmap``: Label Map Segmentation Storage (DICOM 2024), one 8/16-bit
        frame per slice whose values are segment numbers; smaller, but newer readers only.
    options : OutputOptions, optional
        Series number/description, reproducible UIDs, content time, de-identification hook.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    DicomOutputError
        The label map is not on the source grid, a label has no segment, or writing failed.

    Examples
    --------
    >>> source = read_source_series("ct/")                                           # doctest: +SKIP
    >>> write_segmentation(labels, [SegmentInfo(1, "Liver", (0.87, 0.51, 0.4))], source, "seg.dcm")  # doctest: +SKIP
    """
    options = options or OutputOptions(series_description="SurgiTwin segmentation")
    if kind not in SEG_KINDS:
        raise DicomOutputError(f"SEG kind must be one of {', '.join(SEG_KINDS)}, got {kind!r}")
    if not labelmap.geometry.is_close(source.geometry, tol_mm=GRID_TOLERANCE_MM):
        raise DicomOutputError(
            f"the label map's grid {labelmap.geometry.size_xyz} does not lie on the source series' grid "
            f"{source.geometry.size_xyz}: a DICOM SEG must share the grid of the images it segments"
        )
    labels = np.asarray(labelmap.array)
    _check_inputs(labels, segments)
    # Segment numbers must run 1..n: map our label values onto them.
    lookup = np.zeros(int(labels.max(initial=0)) + 1, dtype=np.uint16)
    for number, info in enumerate(segments, start=1):
        if info.label_value < lookup.size:
            lookup[info.label_value] = number
    numbered = lookup[labels]
    numbered = numbered.astype(np.uint8) if len(segments) < 256 else numbered
    if source.frame_of_slice is not None:
        # A multi-frame source: highdicom expects the SEG frames in the source's frame order.
        order = np.argsort(source.frame_of_slice)
        numbered = numbered[order]
    descriptions = [_description(n, s) for n, s in enumerate(segments, start=1)]
    seg_type = hd.seg.SegmentationTypeValues.BINARY if kind == "binary" else hd.seg.SegmentationTypeValues.LABELMAP
    try:
        seg = hd.seg.Segmentation(
            source_images=_with_type2_patient_study(source.datasets),
            pixel_array=numbered,
            segmentation_type=seg_type,
            segment_descriptions=descriptions,
            series_instance_uid=options.uid("series"),
            series_number=options.series_number,
            sop_instance_uid=options.uid("instance"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=MODEL_NAME,
            software_versions=software_version(),
            device_serial_number="0",
            content_label="SEGMENTATION",
            content_description=(options.series_description or "SurgiTwin segmentation")[:64],
            omit_empty_frames=kind == "binary",
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomOutputError(f"highdicom refused the segmentation: {str(exc).splitlines()[0]}") from exc
    if options.series_description:
        seg.SeriesDescription = options.series_description[:64]
    when = options.when()
    seg.ContentDate = seg.SeriesDate = seg.InstanceCreationDate = when.strftime("%Y%m%d")
    seg.ContentTime = seg.SeriesTime = seg.InstanceCreationTime = when.strftime("%H%M%S")
    # highdicom stamps its own clock and a random dimension organisation UID: use ours, so that the same inputs,
    # UID seed and content time give a byte-identical file (batch outputs are compared by hash).
    for item in seg.get("ContributingEquipmentSequence", []):
        item.ContributionDateTime = when.strftime("%Y%m%d%H%M%S")
    organisation = options.uid("dimension-organization")
    for keyword in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(keyword, []):
            if "DimensionOrganizationUID" in item:
                item.DimensionOrganizationUID = organisation
    return finish_and_save(seg, path, options)
