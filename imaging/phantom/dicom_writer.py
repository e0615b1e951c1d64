"""Write a CT :class:`~imaging.volume.Volume` as a DICOM CT Image Storage series (one file per axial slice).

Pixel data are unsigned 16-bit with ``RescaleIntercept -1024`` / ``RescaleSlope 1`` (stored = HU + 1024), which every
reader (SimpleITK/GDCM, pydicom, dcm2niix) maps back to the exact HU values.  UIDs are derived deterministically from
the seed so that regenerating the demo case gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from imaging.phantom.anatomy import AbdomenPhantom, CancelToken, ProgressCallback, generate_abdomen
from imaging.volume import Volume

__all__ = ["write_ct_series", "write_phantom_series"]

RESCALE_INTERCEPT = -1024
STUDY_DATE, STUDY_TIME = "20240101", "120000"
_STORED_MAX = 65535


def _uid(seed: int, *parts: object) -> str:
    # generate_uid hashes the entropy sources (SHA-512) into the pydicom root: same inputs, same UID.
    return generate_uid(entropy_srcs=["SurgiTwin phantom", str(seed), *(str(p) for p in parts)])


def _ds_number(value: float) -> str:
    """Format a decimal string (DS, at most 16 characters) without losing sub-micrometre precision."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text if len(text) <= 16 else f"{value:.10g}"[:16]


def write_ct_series(
    volume: Volume,
    out_dir: str | Path,
    *,
    seed: int = 0,
    series_description: str = "SurgiTwin abdomen phantom",
    progress: ProgressCallback | None = None,
) -> list[Path]:
    """Write ``volume`` (Hounsfield units) as a DICOM CT series, one ``IMnnnnn.dcm`` file per ``z`` slice.

    Parameters
    ----------
    volume : Volume
        CT volume in HU; its geometry gives ImagePositionPatient, ImageOrientationPatient and PixelSpacing.
    out_dir : str or Path
        Destination folder; created if missing, and it must be empty.
    seed : int
        Phantom seed: determines the UIDs (same seed, same UIDs) and the PatientID ``SURGITWIN-PHANTOM-<seed>``.
    series_description : str
        SeriesDescription of the series (also part of the series UID entropy).
    progress : callable, optional
        ``progress(fraction, message)`` after each written file.

    Returns
    -------
    list of Path
        The written files, in slice order (slice 0 = ``IM00001.dcm``).

    Raises
    ------
    ValueError
        If ``out_dir`` exists and contains anything, or is not a folder.

    """
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"DICOM output path {out} exists and is not a folder")
        if any(out.iterdir()):
            raise ValueError(f"DICOM output folder {out} is not empty; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)

    geometry = volume.geometry
    nz, ny, nx = geometry.shape
    sx, sy, sz = geometry.spacing
    direction = geometry.direction
    row_dir, col_dir = direction[:, 0], direction[:, 1]
    normal = np.cross(row_dir, col_dir)

    study_uid = _uid(seed, "study")
    series_uid = _uid(seed, "series", series_description, geometry.to_dict())
    frame_uid = _uid(seed, "frame-of-reference")

    base = Dataset()
    base.SOPClassUID = CTImageStorage
    base.SpecificCharacterSet = "ISO_IR 100"
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.StudyDate = base.SeriesDate = base.AcquisitionDate = base.ContentDate = STUDY_DATE
    base.StudyTime = base.SeriesTime = base.AcquisitionTime = base.ContentTime = STUDY_TIME
    base.AccessionNumber = ""
    base.Modality = "CT"
    base.Manufacturer = "SurgiTwin"
    base.ManufacturerModelName = "Synthetic abdomen phantom"
    base.InstitutionName = "SurgiTwin"
    base.ReferringPhysicianName = ""
    base.StudyDescription = "SurgiTwin synthetic abdomen"
    base.SeriesDescription = series_description
    base.PatientName = "Phantom^Abdomen"
    base.PatientID = f"SURGITWIN-PHANTOM-{seed}"
    base.PatientBirthDate = ""
    base.PatientSex = "O"
    base.BodyPartExamined = "ABDOMEN"
    base.SliceThickness = _ds_number(sz)
    base.SpacingBetweenSlices = _ds_number(sz)
    base.KVP = "120"
    base.ConvolutionKernel = "STANDARD"
    base.PatientPosition = "HFS"
    base.StudyInstanceUID = study_uid
    base.SeriesInstanceUID = series_uid
    base.StudyID = "1"
    base.SeriesNumber = 1
    base.AcquisitionNumber = 1
    base.FrameOfReferenceUID = frame_uid
    base.PositionReferenceIndicator = ""
    base.ImageOrientationPatient = [_ds_number(v) for v in (*row_dir, *col_dir)]
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows = ny
    base.Columns = nx
    base.PixelSpacing = [_ds_number(sy), _ds_number(sx)]  # row spacing (between rows, along y) first
    base.BitsAllocated = 16
    base.BitsStored = 16
    base.HighBit = 15
    base.PixelRepresentation = 0
    base.WindowCenter = "40"
    base.WindowWidth = "400"
    base.RescaleIntercept = str(RESCALE_INTERCEPT)
    base.RescaleSlope = "1"
    base.RescaleType = "HU"
    base.BurnedInAnnotation = "NO"

    written: list[Path] = []
    for k in range(nz):
        hu = np.rint(np.asarray(volume.array[k], dtype=np.float64))
        stored = np.clip(hu - RESCALE_INTERCEPT, 0, _STORED_MAX).astype("<u2")
        position = geometry.index_to_point([0.0, 0.0, float(k)])

        ds = Dataset()
        ds.update(base)
        sop_uid = _uid(seed, "instance", series_uid, k)
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds_number(v) for v in position]
        ds.SliceLocation = _ds_number(float(position @ normal))
        ds.LargestImagePixelValue = int(stored.max())
        ds.SmallestImagePixelValue = int(stored.min())
        ds["LargestImagePixelValue"].VR = ds["SmallestImagePixelValue"].VR = "US"
        ds.PixelData = stored.tobytes()

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "SURGITWIN"
        ds.file_meta = meta

        path = out / f"IM{k + 1:05d}.dcm"
        tmp = out / f".IM{k + 1:05d}.dcm.partial"
        ds.save_as(tmp, enforce_file_format=True)
        tmp.replace(path)  # a reader never sees a half-written slice under its final name
        written.append(path)
        if progress is not None:
            progress((k + 1) / nz, f"DICOM slice {k + 1}/{nz}")
    return written


def write_phantom_series(
    out_dir: str | Path,
    size_xyz: tuple[int, int, int] = (256, 256, 200),
    *,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AbdomenPhantom:
    """Generate the abdomen phantom and write it as a DICOM CT series.

    Parameters
    ----------
    out_dir : str or Path
        Destination folder (created if missing, must be empty).
    size_xyz : tuple of int
        Grid size ``(nx, ny, nz)``, see :func:`~imaging.phantom.generate_abdomen`.
    seed : int
        Phantom seed (anatomy variation, noise and UIDs).
    progress : callable, optional
        ``progress(fraction, message)``; generation reports 0..0.7, writing 0.7..1.
    cancel : object with ``is_set()``, optional
        Cancels generation (raises :class:`~imaging.phantom.PhantomCancelled`) before anything is written.

    Returns
    -------
    AbdomenPhantom
        The generated phantom (volume, labels, landmarks).

    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Fail before spending time on generation.
        raise ValueError(f"DICOM output folder {out} is not an empty folder; choose an empty or new folder")

    def gen_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.7 * fraction, message)

    def write_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.7 + 0.3 * fraction, message)

    phantom = generate_abdomen(size_xyz, seed=seed, progress=gen_progress, cancel=cancel)
    write_ct_series(phantom.ct, out, seed=seed, progress=write_progress)
    return phantom
