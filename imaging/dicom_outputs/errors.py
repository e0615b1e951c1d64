"""Exceptions of the DICOM output and import package."""

from __future__ import annotations

from imaging.dicom.errors import DicomError

__all__ = ["DicomImportError", "DicomOutputError"]


class DicomOutputError(DicomError):
    """A DICOM object could not be made: the inputs do not fit together (grid, series, segments) or writing failed."""


class DicomImportError(DicomError):
    """A DICOM SEG or RTSTRUCT cannot be placed on the image grid (wrong object, other frame of reference, geometry)."""
