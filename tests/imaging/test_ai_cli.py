"""``surgitwin segment --model``: one slice from a box, bad boxes and missing models (one line, exit 2)."""

from __future__ import annotations

import numpy as np

from app.cli.segment_commands import main
from tests.conftest import require_data


def _aorta():
    return require_data("anatomy-vmtk-aorta") / "image" / "aorta.mha"


def test_litemedsam_one_slice(tmp_path, capsys) -> None:
    from imaging.image_io import read_image

    require_data("models/litemedsam.json")
    out = tmp_path / "seg.nii.gz"
    args = ["segment", str(_aorta()), "--model", "litemedsam", "--box", "61,121,86,182", "--slice", "12"]
    assert main([*args, "--out", str(out)]) == 0
    seg = read_image(out).array
    assert set(np.nonzero(seg.any(axis=(1, 2)))[0]) == {12}
    assert 700 < np.count_nonzero(seg) < 900  # reference: 806 pixels
    assert "litemedsam" in capsys.readouterr().out


def test_bad_box_and_missing_model(tmp_path, capsys, monkeypatch) -> None:
    require_data("models/litemedsam.json")
    out = str(tmp_path / "seg.nii.gz")
    base = ["segment", str(_aorta()), "--model", "litemedsam", "--slice", "12", "--out", out]
    assert main([*base, "--box", "61,121,61,182"]) == 2
    err = capsys.readouterr().err.strip()
    assert "zero size" in err
    assert len(err.splitlines()) == 1
    assert main([*base, "--box", "61,121,86,999"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(base) == 2
    assert "--box" in capsys.readouterr().err
    monkeypatch.setenv("SURGITWIN_MODELS", str(tmp_path / "none"))
    assert main([*base, "--box", "61,121,86,182"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SURGITWIN_MODELS" in err
    assert len(err.splitlines()) == 1


def test_preset_threshold_or_model_required(tmp_path, capsys) -> None:
    assert main(["segment", str(_aorta()), "--out", str(tmp_path / "s.nii.gz")]) == 2
    assert "--model" in capsys.readouterr().err


def test_meshnet_refuses_ct(tmp_path, capsys, small_phantom_dir) -> None:
    require_data("models/meshnet_model5_gw_ae.json")
    out = str(tmp_path / "s.nii.gz")
    assert main(["segment", str(small_phantom_dir), "--model", "brain-tissue", "--out", out]) == 2
    assert "MR" in capsys.readouterr().err
