"""``surgitwin tissue`` end to end on a small sphere, and its one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.cli import tissue_commands
from imaging.mesh import SurfaceMesh
from imaging.mesh_io import read_mesh, write_mesh


@pytest.fixture(scope="module")
def ball_stl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    s = trimesh.creation.icosphere(3, radius=30.0)
    return write_mesh(SurfaceMesh(np.asarray(s.vertices), np.asarray(s.faces)),
                      tmp_path_factory.mktemp("tissue") / "ball.stl")


def test_fix_pull_and_cut_write_a_surface_and_summary(ball_stl: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "result"
    code = tissue_commands.main(["tissue", str(ball_stl), "--out", str(out), "--material", "kidney",
                                 "--fix", "z<10%", "--pull", "nearest:0,0,30=0,10,5", "--steps", "20",
                                 "--tets", "2000"])
    assert code == 0
    assert "tetrahedra" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["material"]["name"] == "kidney"
    assert summary["fixed_nodes"] > 0
    assert summary["pulled_nodes"] == [1]
    assert summary["max_displacement_mm"] == pytest.approx(np.hypot(10, 5), rel=1e-6)  # the pulled node, held
    assert abs(summary["volume_change"]) < 0.02
    deformed = read_mesh(out / "deformed.stl")
    top = deformed.points[np.argmax(deformed.points[:, 2])]
    assert top[1] == pytest.approx(10.0, abs=0.5)  # the pole went with the pull

    cut_out = tmp_path / "cut"
    assert tissue_commands.main(["tissue", str(ball_stl), "--out", str(cut_out), "--fix", "z<10%",
                                 "--cut", "0,0,5/0,0,1", "--steps", "5", "--tets", "2000"]) == 0
    cut = json.loads((cut_out / "summary.json").read_text())["cut"]
    assert sum(cut["part_volumes_mm3"]) == pytest.approx(cut["volume_before_mm3"], rel=1e-9)
    assert cut["resected_volume_mm3"] > 0

    blade_out = tmp_path / "blade"  # a scalpel edge 60 mm deep drawn half-way across: one piece, opened faces
    assert tissue_commands.main(["tissue", str(ball_stl), "--out", str(blade_out), "--fix", "z<10%",
                                 "--blade", "2,-40,-40:2,-40,40/2,-15,-40:2,-15,40/2,0,-40:2,0,40",
                                 "--steps", "5", "--tets", "2000"]) == 0
    incision = json.loads((blade_out / "summary.json").read_text())["cut"]
    assert incision["opened_faces"] > 0
    assert len(incision["part_volumes_mm3"]) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--material", "bone"], "unknown material 'bone'"),
        (["--fix", "x>500"], "selects no node"),
        (["--fix", "middle"], "cannot read node selection"),
        (["--pull", "z>90%"], "SELECTION=DX,DY,DZ"),
        (["--pull", "z>90%=1,2"], "3 comma-separated numbers"),
        (["--poisson", "0.5"], "Poisson"),
        (["--cut", "0,0,0"], "X,Y,Z/NX,NY,NZ"),
        (["--cut", "0,0,500/0,0,1"], "does not cross"),
        (["--blade", "0,0,0:0,0,1"], "two or more edge positions"),
        (["--blade", "90,0,0:90,0,9/90,9,0:90,9,9"], "passes through no tissue"),
        (["--fix", "z<50%", "--pull", "z<10%=0,0,1"], "overlaps"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(ball_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  extra: list[str], message: str) -> None:
    code = tissue_commands.main(["tissue", str(ball_stl), "--out", str(tmp_path), "--steps", "1", "--tets", "500",
                                 "--fix", "z<10%",
                                 *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_missing_open_or_unsupported_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert tissue_commands.main(["tissue", str(tmp_path / "none.stl"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    s = trimesh.creation.icosphere(2, radius=10.0)
    open_path = write_mesh(SurfaceMesh(np.asarray(s.vertices), np.asarray(s.faces)[:-4]), tmp_path / "open.stl")
    assert tissue_commands.main(["tissue", str(open_path), "--out", str(tmp_path)]) == 2
    assert "not watertight" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert tissue_commands.main(["tissue", str(tmp_path / "notes.txt"), "--out", str(tmp_path)]) == 2
    assert "use a surface" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        tissue_commands.main(["tissue", str(tmp_path / "notes.txt"), "--out", str(tmp_path), "--steps", "0"])
    assert exc.value.code == 2


def test_label_map_input_meshes_the_organ(tmp_path: Path) -> None:
    from imaging.image_io import write_image
    from imaging.phantom import generate_abdomen

    phantom = generate_abdomen((64, 64, 48), seed=1)
    kidney = next(k for k, v in phantom.label_names.items() if v == "kidney_left")
    seg = write_image(phantom.ct.with_array(phantom.labels), tmp_path / "seg.nii.gz")
    out = tmp_path / "kidney"
    assert tissue_commands.main(["tissue", str(seg), "--label", str(kidney), "--material", "kidney", "--out",
                                 str(out), "--fix", "x<30%", "--gravity", "0,9.81,0", "--steps", "10",
                                 "--tets", "800"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 400 < summary["mesh"]["n_tets"] < 2000
    left_kidney_ml = float((phantom.labels == kidney).sum() * np.prod(phantom.ct.spacing)) / 1000
    assert summary["mesh"]["volume_mm3"] / 1000 == pytest.approx(left_kidney_ml, rel=0.15)
    assert summary["max_displacement_mm"] > 0.01  # it sagged under gravity (+y: posterior, supine)
    assert tissue_commands.main(["tissue", str(seg), "--out", str(out)]) == 2  # a label map needs --label
