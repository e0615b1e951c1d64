"""Import a DICOM SEG or RTSTRUCT into the case as a segmentation of one of its volumes.

The headless reading lives in :mod:`imaging.dicom_outputs.importing`; this module only turns the result into a
:class:`~app.case.nodes.SegmentationNode` on the chosen volume's grid, and describes a node's segments for export.
"""

from __future__ import annotations

import os
from pathlib import Path

from imaging.dicom_outputs import SegmentInfo, import_dicom_segmentation

from .case import Case
from .nodes import Segment, SegmentationNode, VolumeNode

__all__ = ["import_dicom_segmentation_node", "segment_infos"]


def import_dicom_segmentation_node(
    case: Case, volume_node: VolumeNode, path: str | os.PathLike[str], *, name: str | None = None
) -> tuple[SegmentationNode, list[str]]:
    """Read a DICOM SEG or RTSTRUCT onto ``volume_node``'s grid and add it to ``case``.

    Parameters
    ----------
    case : Case
        The case that receives the segmentation.
    volume_node : VolumeNode
        The image the segments belong to (its grid and FrameOfReferenceUID are used).
    path : path-like
        The SEG or RTSTRUCT file.
    name : str, optional
        Node name; the file name by default.

    Returns
    -------
    (SegmentationNode, list of str)
        The added node and the import's warnings (other frame of reference, overlaps, frames outside the image).

    Raises
    ------
    imaging.dicom_outputs.DicomImportError
        The file is not a SEG/RTSTRUCT or cannot be placed on the volume's grid.
    """
    volume = volume_node.volume
    imported = import_dicom_segmentation(
        path, volume.geometry, frame_of_reference_uid=volume.metadata.get("frame_of_reference_uid")
    )
    segments = [Segment(s.name, s.color, s.label_value) for s in imported.segments]
    node = SegmentationNode(imported.labelmap, segments, name or Path(path).stem,
                            reference_volume_id=volume_node.id)
    case.add(node)
    return node, imported.warnings


def segment_infos(node: SegmentationNode, *, algorithm: str | None = None) -> list[SegmentInfo]:
    """The node's segments as :class:`~imaging.dicom_outputs.SegmentInfo` for a DICOM SEG export."""
    return [SegmentInfo(s.label_value, s.name, s.color, algorithm) for s in node.segments]
