"""Reading and writing research image formats (NRRD, NIfTI, MetaImage) with their geometry intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    import SimpleITK as sitk

    try:
        sitk.WriteImage(volume.to_simpleitk(), str(path), useCompression=compress)
    except RuntimeError as exc:
        raise ImageIOError(f"could not write {path.name}: {str(exc).strip().splitlines()[-1]}") from exc
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
