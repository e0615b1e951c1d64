"""PACS: retrieving a study from a real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``, started on free loopback
ports) by C-GET, C-MOVE and WADO-RS into the local store, against dcmtk's ``getscu`` (C-GET into a folder) in the
same run, on the 64x64x48 phantom and, when the shared data are present, the real Philips head CT (28 x 512 x 512).

Our times are whole ``imaging.pacs.retrieve`` calls: association, transfer into a staging folder, the atomic commit
into the store and the header index.  ``getscu`` only writes the files.  Each retrieve goes into a fresh folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import Table, interleave, median

REAL_CT = "ct-head-phantom-philips/dicom"


def _series(folder: Path) -> tuple[str, list[Path]]:
    """The study UID and the DICOM files of the one image series in ``folder``."""
    from imaging.dicom import scan_folder

    series = scan_folder(folder, cache=False).volumes[0]
    return series.study_uid, list(series.files)


def _studies(work: Path, quick: bool) -> dict[str, Path]:
    from imaging.phantom import write_phantom_series

    phantom = work / "phantom"
    write_phantom_series(phantom, (64, 64, 48), seed=3)
    studies = {"phantom, 48 x 64 x 64": phantom}
    real = Path(os.environ.get("SURGITWIN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not quick and (real / REAL_CT).is_dir():
        studies["real CT, 28 x 512 x 512"] = real / REAL_CT
    return studies


def run(table: Table, *, quick: bool, reps: int) -> None:
    """Retrieve times by every method against getscu."""
    from imaging.pacs import DicomWebNode, DimseNode, LocalStore, retrieve

    try:
        from tests.hospital.orthanc_server import ORTHANC_AET, OUR_AET, USER, orthanc_binary, start_orthanc

        orthanc_binary()
    except BaseException as exc:  # pytest.skip (a BaseException) when Orthanc is not installed
        table.add("PACS retrieve", float("nan"), None, note=f"skipped: {exc} (make system-deps installs Orthanc)")
        return
    work = Path(tempfile.mkdtemp(prefix="surgitwin-pacs-bench-"))
    server = start_orthanc(work / "orthanc")
    try:
        dimse = DimseNode("bench", ORTHANC_AET, "127.0.0.1", server.dicom_port, calling_ae=OUR_AET,
                          storage_port=server.storage_port, timeout_s=30)
        web = DicomWebNode("bench web", server.dicomweb_url, username=USER, timeout_s=60)
        getscu = shutil.which("getscu")
        counter = iter(range(10**6))

        def fresh() -> Path:
            return work / f"run-{next(counter)}"

        for name, folder in _studies(work, quick).items():
            study, files = _series(folder)
            server.upload(files)
            candidates = {
                "C-GET": lambda s=study: retrieve(dimse, LocalStore(fresh(), cache=False), s, method="get"),
                "C-MOVE": lambda s=study: retrieve(dimse, LocalStore(fresh(), cache=False), s, method="move"),
                "WADO-RS": lambda s=study: retrieve(web, LocalStore(fresh(), cache=False), s, method="wado",
                                                    password=server.password),
            }
            if getscu:
                def peer(s: str = study) -> None:
                    out = fresh()
                    out.mkdir()
                    subprocess.run([getscu, "-aet", OUR_AET, "-aec", ORTHANC_AET, "-S", "-k",
                                    "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={s}", "-od", str(out),
                                    "127.0.0.1", str(server.dicom_port)], check=True, capture_output=True,
                                   env={**os.environ, "TCP_NODELAY": "1"})
                candidates["getscu"] = peer
            times = interleave(candidates, reps)
            peer_time = median(times["getscu"]) if "getscu" in times else None
            for method in ("C-GET", "C-MOVE", "WADO-RS"):
                table.add(f"PACS retrieve {name}, {method}", median(times[method]), peer_time,
                          peer_name="dcmtk getscu (C-GET to a folder)" if peer_time else "",
                          note="into the store: staged, committed, indexed" if peer_time else "getscu not found")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
