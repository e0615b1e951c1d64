"""Reading and writing research image formats (NRRD, NIfTI, MetaImage) with their geometry intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from imaging.volume import Volume

__all__ = ["ImageIOError", "read_image", "write_image"]

_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


class ImageIOError(OSError):
    """An image file could not be read or written."""


def _check_suffix(path: Path) -> None:
    name = path.name.lower()
    if not name.endswith(_SUFFIXES):
        raise ImageIOError(f"{path.name}: unsupported image format (use one of {', '.join(_SUFFIXES)})")


def write_image(volume: Volume, path: str | Path, *, compress: bool | None = None) -> Path:
    """Write ``volume`` to NRRD, NIfTI or MetaImage, chosen by the file suffix.

    Parameters
    ----------
    volume : Volume
        Image to write; its LPS geometry is stored in the file (NIfTI converts it to RAS as the format requires).
    path : str or Path
        Destination.
    compress : bool, optional
        gzip the voxel data. By default only ``.nii.gz`` is compressed (its name says so); NRRD and MetaImage are
        written raw, which is several times faster (as SimpleITK and dcm2niix do by default).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    _check_suffix(path)
    if compress is None:
        compress = path.name.lower().endswith(".gz")
    if path.suffix.lower() == ".nrrd":
        from imaging.nrrd_writer import write_nrrd

        try:
            return write_nrrd(volume, path, compress=compress)
        except (OSError, ValueError) as exc:
            raise ImageIOError(f"could not write {path.name}: {exc}") from exc
    if not _is_orthonormal(volume.direction):
        # A sheared grid (an uncorrected gantry tilt): ITK would silently square the axes up and misplace voxels.
        if path.name.lower().endswith((".nii", ".nii.gz")):
            return _write_nifti_affine(volume, path)
        raise ImageIOError(
            f"{path.name}: this grid is sheared (uncorrected gantry tilt) and MetaImage cannot store it; "
            "write NRRD or NIfTI, or correct the tilt first"
        )
    import SimpleITK as sitk

    try:
        sitk.WriteImage(volume.to_simpleitk(), str(path), useCompression=compress)
    except RuntimeError as exc:
        raise ImageIOError(f"could not write {path.name}: {str(exc).strip().splitlines()[-1]}") from exc
    return path


def _is_orthonormal(direction: np.ndarray, tolerance: float = 1e-6) -> bool:
    return bool(np.abs(direction.T @ direction - np.eye(3)).max() <= tolerance)


def _write_nifti_affine(volume: Volume, path: Path) -> Path:
    """NIfTI with the exact (possibly sheared) voxel-to-RAS affine in the sform, written atomically with nibabel."""
    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(volume.array).transpose(2, 1, 0), volume.geometry.index_to_ras)
    image.set_sform(volume.geometry.index_to_ras, code=1)  # scanner coordinates, exact
    image.set_qform(None, code=0)  # a quaternion cannot hold a shear: leave it unset rather than wrong
    temporary = path.with_name(f".partial-{path.name}")  # same suffix: nibabel compresses by the name
    try:
        nib.save(image, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ImageIOError(f"could not write {path.name}: {exc}") from exc
    return path


def read_image(path: str | Path, *, metadata: dict[str, Any] | None = None) -> Volume:
    """Read a 3-D NRRD, NIfTI or MetaImage file into a :class:`Volume` (LPS).

    Raises
    ------
    ImageIOError
        The file is missing, of an unknown format, corrupt, or not a 3-D scalar image.
    """
    import SimpleITK as sitk

    path = Path(path)
    _check_suffix(path)
    if not path.is_file():
        raise ImageIOError(f"{path}: no such file")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageIOError(f"{path.name} is not a readable image: {str(exc).strip().splitlines()[-1]}") from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageIOError(
            f"{path.name}: expected a 3-D scalar image, found {image.GetDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    return Volume.from_simpleitk(image, metadata)
