"""Fixtures for the workstation tests: a small synthetic case that stands in for the demo when needed."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint

from app.case import Case, MeshNode, SegmentationNode, VolumeNode
from imaging.meshing import mesh_from_mask
from imaging.volume import Volume


def synthetic_case(size_xyz: tuple[int, int, int] = (64, 64, 48), progress=None, cancel=None) -> Case:
    """A demo-shaped case without the DICOM pipeline: CT cylinder with a 'bone' and a 'vessel', segmented and meshed."""
    nx, ny, nz = size_xyz
    z, y, x = np.mgrid[:nz, :ny, :nx]
    cx, cy = nx / 2, ny / 2
    ct = np.where((x - cx) ** 2 + (y - cy) ** 2 < (0.44 * nx) ** 2, 40, -1000).astype(np.int16)
    bone = ((x - cx) ** 2 + (y - 0.7 * ny) ** 2 < (0.1 * nx) ** 2) & (z > 2) & (z < nz - 3)
    vessels = ((x - 0.4 * nx) ** 2 + (y - 0.4 * ny) ** 2 < (0.06 * nx) ** 2) & (z > 1) & (z < nz - 2)
    ct[bone], ct[vessels] = 800, 300
    volume = Volume(ct, spacing=(320 / nx, 320 / ny, 288 / nz), origin=(-160, -160, -144), metadata={"modality": "CT"})
    if progress is not None:
        progress(0.3, "Synthetic CT")
    case = Case("Synthetic demo")
    volume_node = case.add(VolumeNode(volume, "Abdomen CT (synthetic)"))
    segmentation = case.add(SegmentationNode.empty_like(volume_node, "Thresholds"))
    for name, colour, mask in (("Bone", (0.95, 0.91, 0.80), bone), ("Vessels", (0.85, 0.12, 0.12), vessels)):
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled")
        segment = segmentation.add_segment(name, colour, mask)
        case.add(MeshNode(mesh_from_mask(mask, volume.geometry), name, color=colour, segmentation_id=segmentation.id,
                          label_value=segment.label_value))
    case.mark_saved(None)
    return case


def demo_available() -> bool:
    """Whether the real demo pipeline (phantom + DICOM reader) can be imported."""
    try:
        import app.pipelines.demo_case  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def demo_builder(monkeypatch):
    """Make ``MainWindow.load_demo`` work: the real demo when importable, else the synthetic case."""
    if not demo_available():
        import app.ui.main_window as main_window

        def build(size, progress, cancel):
            return synthetic_case(tuple(size), progress, cancel)

        monkeypatch.setattr(main_window, "build_demo", build)
    return demo_available()


@pytest.fixture
def make_synthetic_case():
    """The :func:`synthetic_case` builder."""
    return synthetic_case


DEMO_SIZE = (64, 64, 48)
LOAD_TIMEOUT_MS = 30000


@pytest.fixture
def window(qtbot, tmp_path):
    """A shown workstation window with its own settings file, never asking before discarding a case."""
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.ask_before_discard = False
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def demo_window(window, qtbot, demo_builder):
    """The window with the 64x64x48 demo case loaded through its background loader."""
    window.load_demo(DEMO_SIZE)
    qtbot.waitUntil(lambda: len(window.case.meshes) == 2 and not window.tasks.busy, timeout=LOAD_TIMEOUT_MS)
    window.render_all()
    return window


def widget_position(renderer, widget, point_lps) -> QPoint:
    """Where an LPS point appears in a view's Qt widget (the renderer's current camera), for real mouse events."""
    renderer.SetWorldPoint(*point_lps, 1.0)
    renderer.WorldToDisplay()
    x, y, _ = renderer.GetDisplayPoint()
    ratio = widget.devicePixelRatioF()
    return QPoint(round(x / ratio), round(widget.height() - 1 - y / ratio))
