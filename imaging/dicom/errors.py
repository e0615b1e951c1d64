"""Exceptions raised by the DICOM reader.

Every message says what was found, where (a file *name*, never patient identity) and what the user can do, because
these messages end up verbatim in the application's error dialogs and logs.
"""

from __future__ import annotations

__all__ = [
    "DicomError",
    "DicomPathNotFoundError",
    "DicomReadCancelled",
    "NoDicomFoundError",
    "SeriesGeometryError",
]


class DicomError(Exception):
    """Base class of every error raised while reading DICOM data."""


class NoDicomFoundError(DicomError):
    """The given path holds no readable DICOM image (or no image series that forms a volume)."""


class DicomPathNotFoundError(NoDicomFoundError, FileNotFoundError):
    """The given path does not exist or is neither a file nor a folder.

    Also a :class:`FileNotFoundError`, so callers that handle plain file errors catch it too.
    """


class SeriesGeometryError(DicomError):
    """A series cannot be stacked into a 3-D volume (single image, duplicated positions, no position tags...)."""


class DicomReadCancelled(DicomError):
    """The caller's cancel event was set while scanning or loading."""
