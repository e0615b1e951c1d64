"""``surgitwin dicom-seg`` and ``surgitwin dicom-import``: label map -> DICOM SEG -> label map, errors on one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.image_io import read_image, write_image
from tests.dicom_outputs.dicom_tools import PhantomSeries


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``surgitwin ARGS`` in this process (the same entry point as the command) and capture its output."""
    from app.cli.main import main

    def run(*args: str) -> _Result:
        capsys.readouterr()
        status = main(list(args))
        out = capsys.readouterr()
        return _Result(status, out.out, out.err)

    return run


def test_label_map_to_seg_and_back(phantom_series: PhantomSeries, tmp_path: Path, cli) -> None:
    labels = np.where(phantom_series.labels == 5, 3, np.where(phantom_series.labels == 10, 7, 0)).astype(np.uint8)
    write_image(phantom_series.volume.with_array(labels), tmp_path / "organs.nrrd")
    result = cli("dicom-seg", str(tmp_path / "organs.nrrd"), "--source", str(phantom_series.folder),
                  "--out", str(tmp_path / "organs.dcm"), "--name", "3=Liver", "--name", "7=Spleen")
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(tmp_path / "organs.dcm")
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["Liver", "Spleen"]
    assert ds.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "78961009"  # SNOMED CT spleen

    result = cli("dicom-import", str(tmp_path / "organs.dcm"), "--source", str(phantom_series.folder),
                  "--out", str(tmp_path / "back.nrrd"))
    assert result.returncode == 0, result.stderr
    assert "1: Liver" in result.stdout
    assert "2: Spleen" in result.stdout
    back = read_image(tmp_path / "back.nrrd")
    assert back.geometry.is_close(phantom_series.volume.geometry)
    assert np.array_equal(back.array == 1, labels == 3)
    assert np.array_equal(back.array == 2, labels == 7)


def test_bad_arguments_give_one_line(phantom_series: PhantomSeries, tmp_path: Path, cli) -> None:
    write_image(phantom_series.volume.with_array(np.zeros(phantom_series.labels.shape, np.uint8)),
                tmp_path / "empty.nrrd")
    for args, message in [
        (("dicom-seg", str(tmp_path / "empty.nrrd"), "--source", str(phantom_series.folder), "--out",
          str(tmp_path / "x.dcm")), "is empty"),
        (("dicom-seg", str(tmp_path / "missing.nrrd"), "--source", str(phantom_series.folder), "--out",
          str(tmp_path / "x.dcm")), "no such file"),
        (("dicom-import", str(next(phantom_series.folder.glob("*.dcm"))), "--source", str(phantom_series.folder),
          "--out", str(tmp_path / "x.nrrd")), "neither a DICOM SEG nor an RTSTRUCT"),
        (("dicom-import", str(tmp_path / "empty.nrrd"), "--source", str(tmp_path), "--out", str(tmp_path / "x.nrrd")),
         "no DICOM series"),
    ]:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_mesh_screenshot_and_report_wrapped_in_the_study(phantom_series: PhantomSeries, tmp_path: Path, cli) -> None:
    from PIL import Image

    from imaging.mesh_io import write_mesh
    from imaging.meshing import mesh_from_mask

    source_study = pydicom.dcmread(next(phantom_series.folder.glob("*.dcm"))).StudyInstanceUID
    mesh = mesh_from_mask(phantom_series.labels == 5, phantom_series.volume.geometry, smoothing_iterations=3)
    write_mesh(mesh, tmp_path / "liver.stl", coordinates="RAS")  # a RAS file (SPACE=RAS header) comes back in LPS
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(tmp_path / "view.png")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    expected = {"liver.stl": "1.2.840.10008.5.1.4.1.1.104.3", "view.png": "1.2.840.10008.5.1.4.1.1.7",
                "report.pdf": "1.2.840.10008.5.1.4.1.1.104.1"}
    for name, sop_class in expected.items():
        result = cli("dicom-wrap", str(tmp_path / name), "--source", str(phantom_series.folder),
                     "--out", str(tmp_path / f"{name}.dcm"))
        assert result.returncode == 0, result.stderr
        ds = pydicom.dcmread(tmp_path / f"{name}.dcm")
        assert ds.SOPClassUID == sop_class
        assert ds.StudyInstanceUID == source_study
    stl = pydicom.dcmread(tmp_path / "liver.stl.dcm")
    data = bytes(stl.EncapsulatedDocument)
    first_vertex = np.frombuffer(data[84 + 12:84 + 24], "<f4")
    assert np.abs(first_vertex - mesh.points[mesh.faces[0, 0]]).max() < 1e-3  # LPS again
    result = cli("dicom-wrap", str(tmp_path / "report.pdf"), "--source", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "x.dcm"))
    assert result.returncode == 2
