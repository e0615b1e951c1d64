"""File > Export: view screenshots, turntable movies and the plan report, made from the real demo case."""

from __future__ import annotations

import base64
import itertools
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.case import PlanNode, SegmentationNode
from rendering.turntable import MovieError, turntable_frames, write_movie

pytestmark = pytest.mark.gui


def test_screenshot_of_the_active_view_is_the_view(demo_window, qtbot, tmp_path: Path) -> None:
    window = demo_window
    window.coronal.activated.emit()
    path = window.exports.save_screenshot(tmp_path / "shot")
    assert path.suffix == ".png"
    image = np.asarray(Image.open(path).convert("RGB"))
    height, width = image.shape[:2]
    ratio = window.coronal.vtk_widget.devicePixelRatioF()
    assert (width, height) == (round(window.coronal.vtk_widget.width() * ratio),
                               round(window.coronal.vtk_widget.height() * ratio))
    assert image.std() > 10  # the slice, not a black frame
    assert "coronal" in window.status_label.text().lower()


def test_turntable_movie_turns_once_and_puts_the_camera_back(demo_window, tmp_path: Path) -> None:
    window = demo_window
    camera = window.three_d.scene.renderer.GetActiveCamera()
    before = np.array(camera.GetPosition())
    movie = window.exports.save_turntable(tmp_path / "turn.png", frames=12, fps=12)
    assert np.allclose(camera.GetPosition(), before)
    with Image.open(movie) as apng:
        assert apng.n_frames == 12
        frames = []
        for i in range(apng.n_frames):
            apng.seek(i)
            frames.append(np.asarray(apng.convert("RGB"), dtype=np.int16))
    assert all(np.abs(b - a).mean() > 0.5 for a, b in itertools.pairwise(frames))  # it moves

    # Each frame looks from 30 degrees further round the focal point, in the plane normal to the view-up.
    renderer = window.three_d.scene.renderer
    up = np.array(camera.GetViewUp())
    directions = []
    for _ in turntable_frames(renderer, window.three_d.render_window, frames=12):
        d = np.array(camera.GetPosition()) - np.array(camera.GetFocalPoint())
        directions.append(d - up * (d @ up))
    angles = [np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
              for a, b in itertools.pairwise(directions)]
    assert np.allclose(angles, 30.0, atol=0.01)
    assert np.allclose(camera.GetPosition(), before)

    mp4 = window.exports.save_turntable(tmp_path / "turn.mp4", frames=8, fps=8)
    import imageio_ffmpeg

    count, seconds = imageio_ffmpeg.count_frames_and_secs(str(mp4))
    assert count == 8
    assert seconds == pytest.approx(1.0, abs=0.15)


def test_bad_movie_requests_get_plain_errors(tmp_path: Path) -> None:
    frame = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(MovieError, match=r"not \.avi"):
        write_movie([frame], tmp_path / "x.avi")
    with pytest.raises(MovieError, match="no frames"):
        write_movie([], tmp_path / "x.png")
    with pytest.raises(MovieError, match="same size"):
        write_movie([frame, np.zeros((8, 8, 3), np.uint8)], tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if data.strip():
            self.cells.append(data.strip())


def test_plan_report_holds_views_volumes_and_measurements(demo_window, tmp_path: Path) -> None:
    window = demo_window
    ruler = {"length_mm": 80.0, "p1_lps": [0.0, 0.0, 0.0], "p2_lps": [80.0, 0.0, 0.0]}
    window.case.add(PlanNode("Ruler 1", "ruler", ruler))
    html_path = window.exports.save_report(tmp_path / "plan.html")
    parser = _Collect()
    parser.feed(html_path.read_text(encoding="utf-8"))
    assert len(parser.images) == 4  # the 3-D view and the three slice views
    for src in parser.images:
        image = Image.open(BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.size[0] > 100
        assert np.asarray(image.convert("L")).std() > 5
    segmentation = window.case.of_kind(SegmentationNode)[0]
    for segment in segmentation.segments:
        i = parser.cells.index(segment.name)
        assert float(parser.cells[i + 2]) == pytest.approx(segmentation.volume_ml(segment.label_value), abs=0.05)
    i = parser.cells.index("Ruler 1")
    assert parser.cells[i + 1: i + 3] == ["Ruler", "80.0 mm"]

    pdf = window.exports.save_report(tmp_path / "plan.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= 4
    with pytest.raises(ValueError, match=r"a report is \.pdf or \.html"):
        window.exports.save_report(tmp_path / "plan.docx")
