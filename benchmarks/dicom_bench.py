"""DICOM benchmarks: folder -> volume against SimpleITK and a naive pydicom loop, peak memory, header indexing
(cold and warm) against pydicom headers-only, the index cache, and ``surgitwin convert`` against a SimpleITK script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Table, drop_page_cache, interleave, median

_TMP = Path(os.environ.get("TMPDIR") or "/tmp")
_REPO = Path(__file__).resolve().parents[1]
_SURGITWIN = Path(sys.executable).with_name("surgitwin")


# ------------------------------------------------------------------------------------------------ inputs
def phantom_folder(quick: bool) -> Path:
    """The 512x512x300 phantom (shared with ../shared/checks) or, quick, a 256x256x100 one; made once."""
    from imaging.phantom import write_phantom_series

    size = (256, 256, 100) if quick else (512, 512, 300)
    folder = _TMP / ("surgitwin-bench-phantom-256" if quick else "surgitwin-check-phantom-512")
    if not (folder / ".done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"  writing the {'x'.join(map(str, size))} phantom to {folder} (once)", flush=True)
        write_phantom_series(folder, size)
        (folder / ".done").touch()
    return folder


def many_files_folder(quick: bool) -> Path:
    """50 series x 100 single-slice 64x64 CT files (quick: 10 x 100) and 25 non-DICOM files; made once."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    n_series = 10 if quick else 50
    folder = _TMP / f"surgitwin-bench-many-{n_series}x100"
    if (folder / ".done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"  writing {n_series * 100} small DICOM files to {folder} (once)", flush=True)
    pixels = (np.arange(64 * 64, dtype="<u2") % 2000).tobytes()
    study = generate_uid()
    for s in range(n_series):
        sub = folder / f"series{s:03d}"
        sub.mkdir(parents=True)
        series_uid = generate_uid()
        for k in range(100):
            ds = Dataset()
            ds.SpecificCharacterSet = "ISO_IR 100"
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.SOPClassUID = CTImageStorage
            ds.SOPInstanceUID = generate_uid()
            ds.StudyDate = "20250101"
            ds.Modality = "CT"
            ds.Manufacturer = "Bench"
            ds.SeriesDescription = f"series {s}"
            ds.PatientName = "Bench^Patient"
            ds.PatientID = "BENCH"
            ds.SliceThickness = "1"
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = s + 1
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = ["0", "0", str(k)]
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.FrameOfReferenceUID = study
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows = ds.Columns = 64
            ds.PixelSpacing = ["0.5", "0.5"]
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.RescaleIntercept = "-1024"
            ds.RescaleSlope = "1"
            ds.PixelData = pixels
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            pydicom.dcmwrite(sub / f"IM{k:04d}.dcm", ds, enforce_file_format=True)
    extra = folder / "other"
    extra.mkdir()
    rng = np.random.default_rng(0)
    for i in range(25):
        (extra / f"file{i}.{('txt', 'bin', 'xml', 'dat', 'json')[i % 5]}").write_bytes(
            rng.integers(0, 256, 2000 * (i % 3), dtype=np.uint8).tobytes()
        )
    (folder / ".done").touch()
    return folder


def _files(folder: Path) -> list[str]:
    from imaging.dicom.scanner import iter_files

    return [str(p) for p in iter_files(folder)]


# ------------------------------------------------------------------------------------------------ peers
def _sitk_read(folder: Path) -> object:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _naive_read(files: list[str]) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(f) for f in files]
    datasets.sort(key=lambda d: int(d.InstanceNumber))
    return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets])


def _pydicom_headers(files: list[str]) -> int:
    import pydicom

    n = 0
    for f in files:
        try:
            pydicom.dcmread(f, stop_before_pixels=True)
            n += 1
        except Exception:
            pass
    return n


# ------------------------------------------------------------------------------------------------ groups
def bench_folder_to_volume(table: Table, folder: Path, reps: int) -> None:
    import tempfile

    from imaging.dicom import read_dicom_volume
    from imaging.dicom.index_cache import IndexCache

    files = sorted(str(p) for p in folder.glob("*.dcm"))
    cache = IndexCache.open(Path(tempfile.mkdtemp(prefix="surgitwin-bench-")) / "index.sqlite3")
    vol = read_dicom_volume(folder, cache=cache)
    ref = _naive_read(files)
    assert np.array_equal(vol.array.astype(np.float64), ref), "ours and the naive loop disagree"
    del ref
    label = "x".join(map(str, vol.array.shape[::-1]))
    print(f"  folder -> volume, {label}, page cache warm, interleaved", flush=True)
    times = interleave(
        {
            "ours": lambda: read_dicom_volume(folder, cache=None),
            "ours_cached": lambda: read_dicom_volume(folder, cache=cache),
            "sitk": lambda: _sitk_read(folder),
            "naive": lambda: _naive_read(files),
        },
        reps,
    )
    ours = median(times["ours"])
    table.add(
        f"folder->volume {label}",
        ours,
        median(times["sitk"]),
        peer_name="SimpleITK+GDCM sort",
        note="goal ratio <= 0.5",
    )
    table.add(
        f"folder->volume {label}",
        ours,
        median(times["naive"]),
        peer_name="naive pydicom loop",
        note="goal ratio <= 1.0",
    )
    table.add(
        f"folder->volume {label}, index cache warm",
        median(times["ours_cached"]),
        median(times["sitk"]),
        peer_name="SimpleITK+GDCM sort",
        note="reopening a folder already seen",
    )
    cache.close()


_MEM_SCRIPT = r"""
import sys
which, folder = sys.argv[1], sys.argv[2]
if which == "ours":
    from imaging.dicom import read_dicom_volume as read
else:
    import SimpleITK as sitk
    def read(folder):
        r = sitk.ImageSeriesReader(); r.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
        return r.Execute()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
base = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS, after the imports
vol = read(folder)
nbytes = vol.array.nbytes if which == "ours" else vol.GetNumberOfPixels() * vol.GetSizeOfPixelComponent()
print(status("VmHWM:") - base, nbytes)
"""


def bench_peak_memory(table: Table, folder: Path) -> None:
    results = {}
    for which in ("ours", "sitk"):
        out = subprocess.run(
            [sys.executable, "-c", _MEM_SCRIPT, which, str(folder)],
            capture_output=True,
            text=True,
            cwd=_REPO,
            check=True,
            timeout=300,
        ).stdout.split()
        delta, nbytes = int(out[0]), int(out[1])
        results[which] = delta / nbytes
    table.add(
        "peak RSS growth / volume bytes",
        results["ours"],
        results["sitk"],
        unit="x",
        peer_name="SimpleITK",
        note="subprocess VmHWM - VmRSS after imports (peak reset); goal ours <= 1.3",
    )


def bench_headers(table: Table, label: str, folder: Path, reps: int, *, scanner: bool = False) -> None:
    from imaging.dicom.fast_header import read_headers_fast
    from imaging.dicom.index_cache import IndexCache

    files = _files(folder)
    n = len(files)
    cold_ok = drop_page_cache(files)
    how = "posix_fadvise(DONTNEED) on every file before each run" if cold_ok else "page cache could NOT be dropped"
    print(f"  headers of {label} ({n} files); cold = {how}", flush=True)

    def drop() -> None:
        drop_page_cache(files)

    cold = interleave(
        {
            "ours": lambda: read_headers_fast(files),
            "ours1": lambda: read_headers_fast(files, workers=1),
            "pydicom": lambda: _pydicom_headers(files),
        },
        reps,
        before=drop,
    )
    table.add(
        f"header index {label}, cold, no index cache",
        n / median(cold["ours"]),
        n / median(cold["pydicom"]),
        unit="files/s",
        peer_name="pydicom stop_before_pixels",
        higher_is_better=True,
        note="goal >= 5,000/s",
    )
    table.add(
        f"header index {label}, cold, 1 thread",
        n / median(cold["ours1"]),
        n / median(cold["pydicom"]),
        unit="files/s",
        peer_name="pydicom stop_before_pixels",
        higher_is_better=True,
    )
    candidates = {
        "ours": lambda: read_headers_fast(files),
        "pydicom": lambda: _pydicom_headers(files),
    }
    if n >= 2000:
        candidates["ours2"] = lambda: read_headers_fast(files, workers=2, processes=True)
    if scanner:
        from imaging.dicom import scan_folder

        candidates["scan"] = lambda: scan_folder(folder, cache=None)
    warm = interleave(candidates, reps)
    peer = n / median(warm["pydicom"])
    table.add(
        f"header index {label}, page cache warm",
        n / median(warm["ours"]),
        peer,
        unit="files/s",
        peer_name="pydicom stop_before_pixels",
        higher_is_better=True,
    )
    if "ours2" in warm:
        table.add(
            f"header index {label}, warm, 2 processes",
            n / median(warm["ours2"]),
            peer,
            unit="files/s",
            peer_name="pydicom stop_before_pixels",
            higher_is_better=True,
            note="forkserver pool, incl. start",
        )
    if "scan" in warm:
        table.add(
            f"scan_folder (headers + series grouping, no index cache) {label}",
            n / median(warm["scan"]),
            peer,
            unit="files/s",
            peer_name="pydicom stop_before_pixels",
            higher_is_better=True,
            note="what opening a folder costs the first time",
        )

    with tempfile.TemporaryDirectory() as tmp:
        cache = IndexCache.open(Path(tmp) / "index.sqlite3")
        t = time.perf_counter()
        read_headers_fast(files, cache=cache, workers=1)
        fill = time.perf_counter() - t
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            out = read_headers_fast(files, cache=cache)
            times.append(time.perf_counter() - t)
        assert len(out) == n
        cache.close()
        reopen = []
        for _ in range(reps):  # a new process would also open the database: include that
            t = time.perf_counter()
            with IndexCache.open(Path(tmp) / "index.sqlite3") as again:
                read_headers_fast(files, cache=again)
            reopen.append(time.perf_counter() - t)
    table.add(
        f"header index {label}, index cache warm (incl. stat)",
        median(reopen),
        median(warm["pydicom"]),
        peer_name="pydicom warm page cache",
        note=f"open db + lookup; filling it took {fill:.2f} s",
    )
    table.add(
        f"header index {label}, index cache warm",
        n / median(times),
        peer,
        unit="files/s",
        peer_name="pydicom stop_before_pixels",
        higher_is_better=True,
    )


def _has_convert() -> bool:
    if not _SURGITWIN.exists():
        return False
    p = subprocess.run([str(_SURGITWIN), "convert", "--help"], capture_output=True, text=True)
    return p.returncode == 0


_SITK_CONVERT = (
    "import sys, SimpleITK as s; r=s.ImageSeriesReader(); ids=s.ImageSeriesReader.GetGDCMSeriesIDs(sys.argv[1]);"
    "r.SetFileNames(s.ImageSeriesReader.GetGDCMSeriesFileNames(sys.argv[1], ids[0]));"
    "s.WriteImage(r.Execute(), sys.argv[2])"
)


def bench_convert(table: Table, folder: Path, reps: int) -> None:
    if not _has_convert():
        print("  surgitwin convert: not available yet (`surgitwin convert --help` fails): skipped", flush=True)
        table.add("surgitwin convert (whole process)", float("nan"), None, note="skipped: no `surgitwin convert`")
        return
    with tempfile.TemporaryDirectory() as out:
        a = [str(_SURGITWIN), "convert", str(folder), os.path.join(out, "a.nrrd")]
        b = [sys.executable, "-c", _SITK_CONVERT, str(folder), os.path.join(out, "b.nrrd")]

        def run(cmd: list[str]) -> None:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        times = interleave({"ours": lambda: run(a), "sitk": lambda: run(b)}, reps)
    table.add(
        "surgitwin convert -> NRRD (whole process)",
        median(times["ours"]),
        median(times["sitk"]),
        peer_name="SimpleITK script",
        note="warm page cache",
    )


def run(table: Table, *, quick: bool, reps: int) -> None:
    """All DICOM benchmarks; one that fails (e.g. a module mid-edit) is reported and the others still run."""
    big = phantom_folder(quick)
    many = many_files_folder(quick)
    steps = [
        ("folder->volume", lambda: bench_folder_to_volume(table, big, reps)),
        ("peak memory", lambda: bench_peak_memory(table, big)),
        ("header index phantom", lambda: bench_headers(table, "phantom series", big, reps, scanner=True)),
        (
            "header index many files",
            lambda: bench_headers(table, f"{'1,000' if quick else '5,000'}-file folder", many, reps, scanner=True),
        ),
        ("convert", lambda: bench_convert(table, big, reps)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # report and go on
            detail = getattr(exc, "stderr", None) or str(exc)
            last = str(detail).strip().splitlines()[-1:] or [type(exc).__name__]
            print(f"  {name}: FAILED ({type(exc).__name__}: {last[0]})", flush=True)
            table.add(name, float("nan"), None, note=f"FAILED: {type(exc).__name__}: {last[0]}"[:100])
