"""Enhanced multi-frame objects: one :class:`~.headers.SliceHeader` per frame from the functional groups.

In an Enhanced CT/MR object the geometry and rescale of each frame live in the Per-frame Functional Groups Sequence,
with values common to all frames factored out into the Shared Functional Groups Sequence; the top-level
ImagePositionPatient, PixelSpacing and RescaleSlope are usually absent.  Each frame becomes a header of its own
(``frame`` set), so that slice ordering, gap/tilt detection and series splitting work exactly as for single-frame
series.  Frames that differ in stack, frame type, echo time or temporal position get different ``split_extra`` keys
and so end up in different candidate volumes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .headers import SliceHeader, _float, _floats, _int

__all__ = ["frame_functional_values", "frame_headers"]


def _item(group: Any, sequence: str) -> Any:
    if group is None or sequence not in group:
        return None
    value = group[sequence].value
    return value[0] if value else None


def _lookup(per_frame: Any, shared: Any, sequence: str, keyword: str) -> Any:
    """``keyword`` from ``sequence`` in the per-frame group, else in the shared group, else None."""
    for group in (per_frame, shared):
        item = _item(group, sequence)
        if item is not None and keyword in item:
            return item[keyword].value
    return None


def frame_functional_values(ds: Any) -> list[dict[str, Any]]:
    """Per-frame geometry, rescale and grouping values of a multi-frame dataset (header only is enough).

    Returns
    -------
    list of dict
        One dict per frame with ``ipp``, ``iop``, ``pixel_spacing``, ``slope``, ``intercept`` (top-level values as
        fallback) and ``split_extra``.
    """
    frames = _int(ds.get("NumberOfFrames"), 1) or 1
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence") or []
    top_slope = _float(ds.get("RescaleSlope"), 1.0) or 1.0
    top_intercept = _float(ds.get("RescaleIntercept"), 0.0) or 0.0
    out = []
    for k in range(frames):
        pf = per_frame_seq[k] if k < len(per_frame_seq) else None
        ipp = _floats(_lookup(pf, shared, "PlanePositionSequence", "ImagePositionPatient"), 3)
        iop = _floats(_lookup(pf, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        spacing = _floats(_lookup(pf, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if ipp is None and k == 0:
            ipp = _floats(ds.get("ImagePositionPatient"), 3)
        if iop is None:
            iop = _floats(ds.get("ImageOrientationPatient"), 6)
        if spacing is None:
            spacing = _floats(ds.get("PixelSpacing"), 2)
        slope = _float(_lookup(pf, shared, "PixelValueTransformationSequence", "RescaleSlope"), top_slope)
        intercept = _float(_lookup(pf, shared, "PixelValueTransformationSequence", "RescaleIntercept"), top_intercept)
        frame_type = _lookup(pf, shared, "MRImageFrameTypeSequence", "FrameType") or _lookup(
            pf, shared, "CTImageFrameTypeSequence", "FrameType"
        )
        echo_time = _float(_lookup(pf, shared, "MREchoSequence", "EffectiveEchoTime"))
        stack = _lookup(pf, shared, "FrameContentSequence", "StackID")
        temporal = _int(_lookup(pf, shared, "FrameContentSequence", "TemporalPositionIndex"))
        b_value = _float(_lookup(pf, shared, "MRDiffusionSequence", "DiffusionBValue"))
        extra = (
            str(stack).strip() if stack is not None else None,
            tuple(str(v) for v in frame_type) if frame_type is not None and not isinstance(frame_type, str)
            else frame_type,
            round(echo_time, 3) if echo_time is not None else None,
            temporal,
            b_value,
        )
        out.append(
            {
                "ipp": ipp,
                "iop": iop,
                "pixel_spacing": (spacing[0], spacing[1]) if spacing else None,
                "slope": slope if slope else 1.0,
                "intercept": intercept or 0.0,
                "split_extra": extra,
            }
        )
    return out


def frame_headers(header: SliceHeader, ds: Any) -> list[SliceHeader]:
    """Expand the header of a multi-frame file into one header per frame."""
    values = frame_functional_values(ds)
    return [
        replace(
            header,
            frame=k,
            ipp=v["ipp"],
            iop=v["iop"],
            pixel_spacing=v["pixel_spacing"],
            slope=v["slope"],
            intercept=v["intercept"],
            split_extra=v["split_extra"],
        )
        for k, v in enumerate(values)
    ]
