"""Transfer-syntax knowledge: which ones are compressed and which package decodes them.

Kept separate so that codec support (pylibjpeg, GDCM, ...) can be added later in one place.
"""

from __future__ import annotations

__all__ = ["codec_hint", "is_compressed", "syntax_label", "syntax_name"]

#: Uncompressed syntaxes by UID; knowing them here keeps pydicom (0.4 s to import) off the fast native path.
_NATIVE_NAMES: dict[str, str] = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
}

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
    if str(syntax) in _NATIVE_NAMES:
        return False
    from pydicom.uid import UID

    uid = UID(str(syntax))
    return bool(uid.is_transfer_syntax and uid.is_compressed)


def syntax_name(syntax: str) -> str:
    """The transfer syntax's name ("Explicit VR Little Endian"), or the UID itself when unknown."""
    name = _NATIVE_NAMES.get(str(syntax))
    if name is not None:
        return name
    from pydicom.uid import UID

    return UID(str(syntax)).name


def syntax_label(syntax: str | None) -> str:
    """Human-readable ``'name (uid)'`` for messages."""
    if not syntax:
        return "unknown transfer syntax"
    name = syntax_name(str(syntax))
    return f"{name} ({syntax})" if name != str(syntax) else str(syntax)


def codec_hint(syntax: str | None) -> str:
    """Package(s) that let pydicom decode ``syntax``."""
    return _HINTS.get(str(syntax), "pylibjpeg with its plug-ins, or python-gdcm")
