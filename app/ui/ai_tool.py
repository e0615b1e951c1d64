"""AI segmentation in the Segment Editor: LiteMedSAM box prompts with propagation, MeshNet brain labels, plug-ins.

With the "AI box" tool a left drag on any slice view draws a box; on release LiteMedSAM segments the structure in it
on that slice into the selected segment (one undoable command). "Propagate" carries the last box through the
neighbouring slices (:func:`imaging.ai.propagate.propagate_box`) in the background, with progress and Cancel, and
adds the result as one command. While the tool is active the image embeddings of the slices around the one shown
are computed ahead in a background thread, so a box on a nearby slice answers in a fraction of a second.

The brain models (MeshNet) run on the displayed T1 and add a new segmentation layer with named, coloured segments.
TotalSegmentator and nnU-Net v2 are offered when their command-line tools are installed.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QWidget

from app.case import Segment, SegmentationNode
from imaging.ai import AIInputError, ModelError
from imaging.ai.litemedsam import LiteMedSAM, get_slice, slice_count
from imaging.ai.plugins import available_plugins
from imaging.ai.prompts import SliceBox, slice_box_from_points

__all__ = ["BRAIN_MODELS", "AIBoxTool", "install_ai_tool"]

log = logging.getLogger(__name__)

BRAIN_MODELS = (
    ("Brain tissue (white / grey matter)", "brain-tissue"),
    ("Subcortical structures (18 labels)", "brain-subcortical"),
    ("Brain mask (skull stripping)", "brain-mask"),
)
PREFETCH_RADIUS = 3  # slices each side of the one shown


class AIBoxTool(QObject):
    """The Segment Editor's "AI box" tool page and its mouse handling.

    Parameters
    ----------
    editor : SegmentEditor
        The editor it extends (its case, task runner, undo stack and lasso overlays).
    """

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self.editor = editor
        self.window = editor.window
        self._model: LiteMedSAM | None = None
        self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litemedsam-prefetch")
        self._queued: set[tuple[int, str, int]] = set()
        self._drag: dict[str, Any] | None = None
        self.last_box: SliceBox | None = None
        self.page = self._build_page()
        editor.panel.add_page("ai", self.page)
        for panel in self.window.slice_panels:
            with contextlib.suppress(AttributeError):
                panel.slider.valueChanged.connect(lambda _v, panel=panel: self._on_slice_shown(panel))
        self.window.destroyed.connect(lambda *_: self._prefetcher.shutdown(wait=False, cancel_futures=True))

    # --- page -------------------------------------------------------------------------------------------------------
    def _build_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.box_label = QLabel("No box yet.")
        self.box_label.setWordWrap(True)
        form.addRow("Box:", self.box_label)
        self.propagate_button = QPushButton("Propagate through slices")
        self.propagate_button.setObjectName("Primary")
        self.propagate_button.setToolTip("Carry the last box through the neighbouring slices until the structure ends")
        self.propagate_button.setEnabled(False)
        self.propagate_button.clicked.connect(self.propagate)
        form.addRow(self.propagate_button)
        self.brain_combo = QComboBox()
        for text, key in BRAIN_MODELS:
            self.brain_combo.addItem(text, key)
        form.addRow("Brain MRI:", self.brain_combo)
        self.brain_button = QPushButton("Label the brain (T1)")
        self.brain_button.clicked.connect(lambda: self.run_brain_model(self.brain_combo.currentData()))
        form.addRow(self.brain_button)
        plugins = available_plugins()
        found = [p.name for p in plugins if p.available]
        text = (", ".join(found) + " found") if found else (
            "TotalSegmentator and nnU-Net v2 are not installed; install them with pip to run them from here")
        self.plugin_label = QLabel(text)
        self.plugin_label.setWordWrap(True)
        self.plugin_label.setProperty("role", "hint")
        form.addRow("Plug-ins:", self.plugin_label)
        return page

    # --- model ------------------------------------------------------------------------------------------------------
    def model(self) -> LiteMedSAM | None:
        """The LiteMedSAM model, loaded on first use (None, with a message, when its files are missing or corrupt)."""
        if self._model is None:
            try:
                self._model = LiteMedSAM()
            except (ModelError, OSError) as exc:
                self.editor._say(f"LiteMedSAM is not available: {exc}")
                return None
        return self._model

    def _on_slice_shown(self, panel) -> None:
        """Compute ahead around the slice the user scrolled to (on the axis of the last box)."""
        volume, prompt = self.editor.volume, self.last_box
        if self.editor.tool != "ai" or self._model is None or volume is None or prompt is None:
            return
        widget = panel.vtk_widget
        ijk = volume.geometry.point_to_index(panel.pick(QPoint(widget.width() // 2, widget.height() // 2)))
        along = {"axial": 2, "coronal": 1, "sagittal": 0}[prompt.axis]
        self.prefetch(prompt.axis, round(float(ijk[along])))

    def prefetch(self, axis: str, index: int, radius: int = PREFETCH_RADIUS) -> int:
        """Queue the embeddings of the slices within ``radius`` of ``index`` (nearest first); returns how many."""
        model, volume = self._model, self.editor.volume
        if model is None or volume is None:
            return 0
        n = slice_count(volume.array.shape, axis)
        queued = 0
        for k in sorted(range(index - radius, index + radius + 1), key=lambda k: abs(k - index)):
            key = (id(volume), axis, k)
            if not 0 <= k < n or key in self._queued or model.has_embedding(volume, axis, k):
                continue
            self._queued.add(key)
            self._prefetcher.submit(self._embed, model, volume, axis, k, key)
            queued += 1
        return queued

    def _embed(self, model: LiteMedSAM, volume, axis: str, k: int, key) -> None:
        try:
            model.embedding(volume, axis, k)
        except Exception:  # a background nicety: never disturb the user; the box path reports real errors
            log.debug("embedding prefetch failed", exc_info=True)
        finally:
            self._queued.discard(key)

    # --- mouse --------------------------------------------------------------------------------------------------------
    def box_event(self, panel, event: QEvent) -> bool:
        """Left drag on a slice view: draw the box; on release, segment it."""
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        pos = event.position().toPoint()
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                return False
            panel.vtk_widget.setFocus()
            self._drag = {"panel": panel, "start": pos}
            return True
        if self._drag is None or self._drag["panel"] is not panel:
            return False
        lasso = self.editor.lassos[panel]
        corners = self._display_rectangle(panel, self._drag["start"], pos)
        if kind == QEvent.Type.MouseMove:
            lasso.set_points(corners)
            panel.render()
            return True
        start = self._drag["start"]
        self._drag = None
        lasso.clear()
        panel.render()
        if (pos - start).manhattanLength() < 4:
            self.editor._say("Drag a rectangle around the structure.")
            return True
        self.segment_box(panel.pick(start), panel.pick(pos), panel.view.orientation.axes.normal)
        return True

    @staticmethod
    def _display_rectangle(panel, a: QPoint, b: QPoint) -> list[tuple[float, float]]:
        (x0, y0), (x1, y1) = panel._display_xy(a), panel._display_xy(b)
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]

    # --- actions ------------------------------------------------------------------------------------------------------
    def _image_and_segment(self):
        """``(volume, (node, label_value))`` to work on, or None after telling the user what is missing."""
        volume = self.editor.volume
        if volume is None:
            self.editor._say("Open an image first.")
            return None
        target = self.editor._target()
        return None if target is None else (volume, target)

    def segment_box(self, p1_lps, p2_lps, normal_lps) -> None:
        """Segment the structure in the box with corners ``p1_lps``/``p2_lps`` on the view plane of ``normal_lps``."""
        inputs = self._image_and_segment()
        if inputs is None:
            return
        volume, (node, value) = inputs
        try:
            prompt = slice_box_from_points(volume.geometry, p1_lps, p2_lps, normal_lps)
        except AIInputError as exc:
            self.editor._say(str(exc))
            return
        model = self.model()
        if model is None:
            return

        def compute(progress, cancel):
            progress(0.1, "LiteMedSAM")
            return model.segment_slice(volume, prompt.box, prompt.index, prompt.axis)

        def apply(result) -> None:
            mask = np.zeros(volume.array.shape, bool)
            get_slice(mask, prompt.axis, prompt.index)[...] = result.mask
            description = f"AI box on {prompt.axis} slice {prompt.index}"
            self.editor._paint_full((node, value), mask, description)
            self.last_box = prompt
            x0, y0, x1, y1 = prompt.box
            self.box_label.setText(f"{prompt.axis} slice {prompt.index}: columns {x0}-{x1}, rows {y0}-{y1} "
                                   f"({int(result.mask.sum())} voxels, predicted IoU {result.iou_pred:.2f})")
            self.propagate_button.setEnabled(True)
            self.prefetch(prompt.axis, prompt.index)

        self.editor._run(compute, apply, "AI box")

    def propagate(self) -> None:
        """Propagate the last box through the volume into the selected segment (one undoable command)."""
        from imaging.ai.propagate import propagate_box

        prompt = self.last_box
        if prompt is None:
            self.editor._say("Draw a box first.")
            return
        inputs = self._image_and_segment()
        model = None if inputs is None else self.model()
        if model is None:
            return
        volume, (node, value) = inputs

        def compute(progress, cancel):
            return propagate_box(model, volume, prompt.box, prompt.index, prompt.axis, progress=progress,
                                 cancel=cancel)

        def apply(result) -> None:
            self.editor._paint_full((node, value), result.mask, f"AI propagate from {prompt.axis} slice {prompt.index}")
            cuts = ""
            if result.cuts.names():
                inside = f" ({result.cuts.margin} px inside it, the margin you drew)" if result.cuts.margin else ""
                cuts = f", cut at the box's {' and '.join(result.cuts.names())} side{inside}"
            self.editor._say(f"Propagated over {len(result.slices)} {prompt.axis} slices "
                             f"{min(result.slices)}–{max(result.slices)}{cuts}.")
            self.propagate_button.setToolTip("Last run: " + "; ".join(f"{k}: {v}" for k, v in result.stopped.items()))

        self.editor._run(compute, apply, "AI propagation")

    def run_brain_model(self, key: str) -> None:
        """Run a MeshNet brain model on the displayed image and add its labels as a new segmentation layer."""
        from imaging.ai.manifests import load_manifest
        from imaging.ai.meshnet import check_t1, run_meshnet

        case, volume_node = self.editor.case, self.editor.volume_node
        if case is None or volume_node is None:
            self.editor._say("Open a T1 MR first.")
            return
        volume = volume_node.volume
        try:
            check_t1(volume)
            manifest = load_manifest(key)
        except (ModelError, OSError, AIInputError) as exc:
            self.editor._say(str(exc))
            return

        def compute(progress, cancel):
            progress(0.05, f"{key}: conforming and running MeshNet")
            return run_meshnet(volume, key, manifest=manifest)

        def apply(result) -> None:
            colours = manifest.colors
            segments = []
            present = set(np.unique(result.labels.array).tolist())
            for value, name in enumerate(result.names):
                if value == 0 or value not in present:
                    continue
                rgb = colours[value] if value < len(colours) else (200, 200, 200)
                segments.append(Segment(name, tuple(c / 255.0 for c in rgb), value))
            title = dict((k, t) for t, k in BRAIN_MODELS).get(key, key)
            node = case.add(SegmentationNode(result.labels, segments, f"{title} (MeshNet)",
                                             reference_volume_id=volume_node.id))
            self.editor.set_segmentation(node)
            self.editor._say(f"{title}: {len(segments)} segments in {sum(result.seconds.values()):.1f} s.")

        self.editor._run(compute, apply, f"MeshNet {key}")


def install_ai_tool(editor) -> AIBoxTool:
    """Add the AI page to ``editor`` (once)."""
    tool = getattr(editor, "ai_tool", None)
    if tool is None:
        tool = AIBoxTool(editor)
        editor.ai_tool = tool
    return tool
