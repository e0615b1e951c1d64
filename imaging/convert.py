"""DICOM (or image file) -> NIfTI / NRRD / MetaImage conversion, the engine of ``surgitwin convert``.

Kept light on imports: pydicom and numpy for reading, SimpleITK only when the file is written (see
:func:`imaging.image_io.write_image`); no VTK, Qt or scipy on this path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from imaging.volume import Volume

if TYPE_CHECKING:
    from imaging.dicom import SeriesInfo

__all__ = ["OUTPUT_SUFFIXES", "ConversionError", "ConvertResult", "convert", "select_series"]

OUTPUT_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
_IMAGE_INPUTS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


class ConversionError(ValueError):
    """Bad input for a conversion (nothing to convert, ambiguous series, bad suffix); the message is one line."""


@dataclass
class ConvertResult:
    """What :func:`convert` did."""

    output: Path
    volume: Volume
    series_uid: str | None
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0


def _describe(series) -> str:
    size = "x".join(str(v) for v in series.to_dict()["size"])
    state = "volume" if series.is_volume else f"not a volume: {series.warnings[-1] if series.warnings else '?'}"
    return f"{series.series_uid} (series {series.series_number} '{series.description}', {size}; {state})"


def select_series(series_list: list, selector: str | None):
    """The series to convert: the one matching ``selector`` (UID or unique UID prefix), else the only volume.

    Raises
    ------
    ConversionError
        No match, an ambiguous prefix, no volume, several volumes without a selector, or a selected non-volume.
    """
    if selector:
        exact = [s for s in series_list if s.series_uid == selector]
        matches = exact or [s for s in series_list if s.series_uid.startswith(selector)]
        if not matches:
            listing = "; ".join(_describe(s) for s in series_list) or "none"
            raise ConversionError(f"no series matches --series {selector}; series found: {listing}")
        if len(matches) > 1:
            raise ConversionError(
                f"--series {selector} matches {len(matches)} series, give more of the UID: "
                + "; ".join(_describe(s) for s in matches)
            )
        chosen = matches[0]
        if not chosen.is_volume:
            raise ConversionError(f"series {_describe(chosen)}")
        return chosen
    volumes = [s for s in series_list if s.is_volume]
    if len(volumes) == 1:
        return volumes[0]
    if not volumes:
        listing = "; ".join(_describe(s) for s in series_list[:10])
        more = f" (and {len(series_list) - 10} more)" if len(series_list) > 10 else ""
        raise ConversionError(f"no series forms a 3-D volume: {listing}{more}")
    raise ConversionError(
        f"{len(volumes)} volume series found, choose one with --series UID (or a unique prefix): "
        + "; ".join(_describe(s) for s in volumes)
    )


def _check_output(out: Path) -> None:
    if not out.name.lower().endswith(OUTPUT_SUFFIXES):
        raise ConversionError(f"{out.name}: output must end with one of {', '.join(OUTPUT_SUFFIXES)}")
    if not out.parent.is_dir():
        raise ConversionError(f"{out.parent}: output folder does not exist")


def _load_into_nrrd(series: SeriesInfo, dst: Path) -> Volume:
    """Read ``series`` straight into a memory-mapped raw NRRD (no second copy of the volume), atomically.

    When the volume turns out not to be int16 (rescaled to floats, say), it is written the ordinary way.
    """
    import tempfile

    import numpy as np

    from imaging.dicom import load_series
    from imaging.image_io import write_image
    from imaging.nrrd_writer import open_nrrd_for_writing

    assert series.geometry is not None  # select_series only returns volumes
    handle, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        mapped = open_nrrd_for_writing(temporary, series.geometry, np.dtype(np.int16))
        volume = load_series(series, out=mapped)
        if np.may_share_memory(volume.array, mapped):
            mapped.flush()
            del mapped
            os.replace(temporary, dst)
            volume.array = np.asarray(volume.array)
        else:
            del mapped
            write_image(volume, dst)
    finally:
        temporary.unlink(missing_ok=True)
    return volume


def convert(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    series: str | None = None,
    tilt_correct: bool = False,
    resample_uniform: bool = False,
) -> ConvertResult:
    """Convert a DICOM folder/file (or an image file) to ``out`` (.nii.gz, .nii, .nrrd or .mha).

    Parameters
    ----------
    path : path-like
        DICOM folder or file, or a NIfTI/NRRD/MetaImage file.
    out : path-like
        Output file; the format follows the suffix.  NIfTI is written in RAS as the format requires, NRRD with
        ``space: left-posterior-superior``.
    series : str, optional
        SeriesInstanceUID (with the ``.N`` suffix of a split series) or a unique prefix of it.
    tilt_correct, resample_uniform : bool
        See :func:`imaging.dicom.load_series`.

    Raises
    ------
    ConversionError
        Bad input (see :func:`select_series`); ``imaging.dicom.DicomError`` and ``OSError`` subclasses for
        unreadable data.
    """
    from imaging.image_io import read_image, write_image

    src, dst = Path(path), Path(out)
    if not src.exists():
        raise ConversionError(f"{src}: no such file or folder")
    _check_output(dst)
    if src.is_file() and src.name.lower().endswith(_IMAGE_INPUTS):
        volume = read_image(src)
        write_image(volume, dst)
        return ConvertResult(dst, volume, None, [])

    from imaging.dicom import load_series, scan_folder

    result = scan_folder(src)
    if not result.series:
        reasons = sorted({why for _, why in result.skipped})[:3]
        raise ConversionError(
            f"{src}: no DICOM image found ({len(result.skipped)} file(s) skipped: {'; '.join(reasons) or 'none'})"
        )
    chosen = select_series(result.series, series)
    if dst.suffix.lower() == ".nrrd" and not (tilt_correct or resample_uniform):
        volume = _load_into_nrrd(chosen, dst)
    else:
        volume = load_series(chosen, tilt_correct=tilt_correct, resample_uniform=resample_uniform)
        write_image(volume, dst)
    return ConvertResult(dst, volume, chosen.series_uid, list(volume.metadata.get("warnings", [])),
                         len(result.skipped))
