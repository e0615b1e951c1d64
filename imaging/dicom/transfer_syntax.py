"""Transfer-syntax knowledge: which ones are compressed and which package decodes them.

Kept separate so that codec support (pylibjpeg, GDCM, ...) can be added later in one place.
"""

from __future__ import annotations

from pydicom.uid import UID

__all__ = ["codec_hint", "is_compressed", "syntax_label"]

_JPEG = "pylibjpeg with pylibjpeg-libjpeg (or python-gdcm)"
_J2K = "pylibjpeg with pylibjpeg-openjpeg (or python-gdcm)"

_HINTS: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg with pylibjpeg-libjpeg, or pillow",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": _JPEG,  # JPEG Extended
    "1.2.840.10008.1.2.4.57": _JPEG,  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": _JPEG,  # JPEG Lossless SV1 (most common lossless CT)
    "1.2.840.10008.1.2.4.80": "pylibjpeg with pylibjpeg-libjpeg, or pyjpegls",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg with pylibjpeg-libjpeg, or pyjpegls",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": _J2K,  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": _J2K,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg with pylibjpeg-openjpeg",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg with pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg with pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "pylibjpeg with pylibjpeg-rle (pydicom's own RLE decoder needs nothing)",
}


def is_compressed(syntax: str | None) -> bool:
    """True when pixel data in ``syntax`` is encapsulated (needs a decoder), False when native or unknown."""
    if not syntax:
        return False
    uid = UID(str(syntax))
    return bool(uid.is_transfer_syntax and uid.is_compressed)


def syntax_label(syntax: str | None) -> str:
    """Human-readable ``'name (uid)'`` for messages."""
    if not syntax:
        return "unknown transfer syntax"
    uid = UID(str(syntax))
    return f"{uid.name} ({uid})" if uid.name != str(uid) else str(uid)


def codec_hint(syntax: str | None) -> str:
    """Package(s) that let pydicom decode ``syntax``."""
    return _HINTS.get(str(syntax), "pylibjpeg with its plug-ins, or python-gdcm")
