"""Nodes of the case document: data plus its display properties, each emitting ``changed(what)``.

Like 3D Slicer's MRML nodes a node pairs its data with how it is shown; unlike them, display properties are plain
attributes of the same node because SurgiTwin has one display per node. ``what`` is ``"data"`` when the voxels or
vertices change, ``"display"`` for colour/visibility/opacity/window-level and ``"name"`` for renames, so that views
redraw only what they must.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from psygnal import Signal

from imaging.mesh import SurfaceMesh
from imaging.volume import Volume

__all__ = ["MeshNode", "Node", "PlanNode", "ResultNode", "Segment", "SegmentationNode", "VolumeNode"]

RGB = tuple[float, float, float]


def _check_colour(colour: Iterable[float]) -> RGB:
    rgb = tuple(float(c) for c in colour)
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise ValueError(f"a colour is three values between 0 and 1, got {rgb}")
    return rgb  # type: ignore[return-value]


class Node:
    """Base of every item in a case.

    Parameters
    ----------
    name : str
        What the user sees in the data panel.
    node_id : str, optional
        Stable identifier (kept across save/load); generated when omitted.
    """

    kind: ClassVar[str] = "node"
    changed = Signal(str)

    def __init__(self, name: str, *, node_id: str | None = None, visible: bool = True) -> None:
        self.id = node_id or uuid.uuid4().hex[:12]
        self._name = str(name)
        self._visible = bool(visible)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, id={self.id!r})"

    @property
    def name(self) -> str:
        """Display name."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        value = str(value).strip()
        if not value:
            raise ValueError("a node name cannot be empty")
        if value != self._name:
            self._name = value
            self.changed.emit("name")

    @property
    def visible(self) -> bool:
        """Whether views show this node."""
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        if bool(value) != self._visible:
            self._visible = bool(value)
            self.changed.emit("display")


class VolumeNode(Node):
    """A scanned image (CT, MR) with its display window.

    Parameters
    ----------
    volume : imaging.volume.Volume
        Voxels and geometry.
    window_level : tuple of float, optional
        ``(width, centre)`` of the display window; defaults by modality (CT soft tissue 400/40).
    volume_rendering : dict, optional
        How the image is volume rendered (JSON-ready; written by the views, kept with the case): ``visible``,
        ``transfer_function`` (the preset format) and ``shift``.
    """

    kind = "volume"

    def __init__(
        self,
        volume: Volume,
        name: str = "Volume",
        *,
        window_level: tuple[float, float] | None = None,
        volume_rendering: dict[str, Any] | None = None,
        node_id: str | None = None,
        visible: bool = True,
    ) -> None:
        super().__init__(name, node_id=node_id, visible=visible)
        self._volume = volume
        self._window_level = self._check_window(window_level or self.default_window_level(volume))
        self._volume_rendering = self._check_rendering(volume_rendering)

    @staticmethod
    def default_window_level(volume: Volume) -> tuple[float, float]:
        """Soft-tissue window for CT, the 1st-99th percentile range otherwise."""
        if str(volume.metadata.get("modality", "")).upper() == "CT":
            return (400.0, 40.0)
        sample = volume.array[:: max(1, volume.array.shape[0] // 16)]
        lo, hi = (float(v) for v in np.percentile(sample, [1, 99]))
        return (max(hi - lo, 1.0), (hi + lo) / 2)

    @staticmethod
    def _check_window(window_level: tuple[float, float]) -> tuple[float, float]:
        width, centre = (float(v) for v in window_level)
        if not (np.isfinite(width) and np.isfinite(centre)) or width <= 0:
            raise ValueError(f"window width must be positive and finite, got {width}")
        return (width, centre)

    @property
    def volume(self) -> Volume:
        """The image."""
        return self._volume

    @volume.setter
    def volume(self, volume: Volume) -> None:
        self._volume = volume
        self.changed.emit("data")

    @property
    def window_level(self) -> tuple[float, float]:
        """``(width, centre)`` of the display window."""
        return self._window_level

    @window_level.setter
    def window_level(self, value: tuple[float, float]) -> None:
        value = self._check_window(value)
        if value != self._window_level:
            self._window_level = value
            self.changed.emit("display")

    @staticmethod
    def _check_rendering(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"volume rendering settings must be a mapping, got {type(value).__name__}")
        return json.loads(json.dumps(value))  # a JSON-ready copy: what is saved is what was set

    @property
    def volume_rendering(self) -> dict[str, Any] | None:
        """How the image is volume rendered (see the class notes); None until a view sets it."""
        return None if self._volume_rendering is None else dict(self._volume_rendering)

    @volume_rendering.setter
    def volume_rendering(self, value: dict[str, Any] | None) -> None:
        value = self._check_rendering(value)
        if value != self._volume_rendering:
            self._volume_rendering = value
            self.changed.emit("display")


@dataclass
class Segment:
    """One structure of a segmentation: voxels equal to ``label_value`` in the label map."""

    name: str
    color: RGB
    label_value: int
    visible: bool = True
    locked: bool = False
    """Editing tools never overwrite nor erase a locked segment's voxels."""

    def __post_init__(self) -> None:
        self.color = _check_colour(self.color)
        if not 1 <= int(self.label_value) <= 65535:
            raise ValueError(f"segment label values are 1..65535, got {self.label_value}")
        self.label_value = int(self.label_value)


class SegmentationNode(Node):
    """A label map on a reference volume's grid and the segments it holds.

    Parameters
    ----------
    labelmap : imaging.volume.Volume
        Integer label per voxel (0 = background), on the reference volume's geometry.
    segments : iterable of Segment
        Name, colour and label value of each structure.
    reference_volume_id : str, optional
        Id of the :class:`VolumeNode` whose grid the label map shares.
    """

    kind = "segmentation"

    def __init__(
        self,
        labelmap: Volume,
        segments: Iterable[Segment] = (),
        name: str = "Segmentation",
        *,
        reference_volume_id: str | None = None,
        node_id: str | None = None,
        visible: bool = True,
        opacity: float = 0.5,
    ) -> None:
        super().__init__(name, node_id=node_id, visible=visible)
        if not np.issubdtype(labelmap.array.dtype, np.integer):
            raise ValueError(f"a label map holds integers, got {labelmap.array.dtype}")
        self._labelmap = labelmap
        self._segments: list[Segment] = []
        self.reference_volume_id = reference_volume_id
        self._opacity = float(opacity)
        for segment in segments:
            self._insert(segment)

    @classmethod
    def empty_like(cls, volume_node: VolumeNode, name: str = "Segmentation") -> SegmentationNode:
        """An empty segmentation on ``volume_node``'s grid."""
        labels = volume_node.volume.with_array(np.zeros(volume_node.volume.array.shape, np.uint8))
        labels.metadata = {"modality": "SEG"}
        return cls(labels, name=name, reference_volume_id=volume_node.id)

    def _insert(self, segment: Segment) -> None:
        if any(s.label_value == segment.label_value for s in self._segments):
            raise ValueError(f"label value {segment.label_value} is already used by another segment")
        if segment.label_value > np.iinfo(self._labelmap.array.dtype).max:
            self._labelmap = self._labelmap.with_array(self._labelmap.array.astype(np.uint16))
        self._segments.append(segment)

    @property
    def labelmap(self) -> Volume:
        """The label volume."""
        return self._labelmap

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Segments in creation order."""
        return tuple(self._segments)

    @property
    def opacity(self) -> float:
        """Opacity of the slice overlay."""
        return self._opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"opacity is between 0 and 1, got {value}")
        if value != self._opacity:
            self._opacity = value
            self.changed.emit("display")

    def segment(self, label_value: int) -> Segment:
        """The segment drawn with ``label_value``."""
        for segment in self._segments:
            if segment.label_value == label_value:
                return segment
        raise KeyError(f"no segment has label value {label_value}")

    def add_segment(self, name: str, color: Iterable[float], mask: np.ndarray | None = None) -> Segment:
        """Add a segment with the next free label value, optionally painting ``mask`` with it.

        Parameters
        ----------
        name : str
            Structure name.
        color : sequence of 3 floats
            RGB in 0..1.
        mask : numpy.ndarray of bool, optional
            Voxels that belong to it (overwrites other segments there).
        """
        used = {s.label_value for s in self._segments}
        value = next(v for v in range(1, 65536) if v not in used)
        segment = Segment(name, _check_colour(color), value)
        self._insert(segment)
        if mask is not None:
            self.paint(value, mask, emit=False)
        self.changed.emit("data")
        return segment

    def paint(self, label_value: int, mask: np.ndarray, *, emit: bool = True) -> None:
        """Assign ``label_value`` to the voxels where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self._labelmap.array.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the label map {self._labelmap.array.shape}")
        self.segment(label_value)
        self._labelmap.array[mask] = label_value
        if emit:
            self.changed.emit("data")

    def set_segment_visible(self, label_value: int, visible: bool) -> None:
        """Show or hide one segment."""
        segment = self.segment(label_value)
        if segment.visible != bool(visible):
            segment.visible = bool(visible)
            self.changed.emit("display")

    def insert_segment(self, segment: Segment) -> None:
        """Add ``segment`` with its own label value (e.g. to undo its removal); its voxels are not painted."""
        self._insert(segment)
        self.changed.emit("data")

    def remove_segment(self, label_value: int) -> Segment:
        """Remove a segment and clear its voxels."""
        segment = self.segment(label_value)
        self._segments.remove(segment)
        self._labelmap.array[self._labelmap.array == label_value] = 0
        self.changed.emit("data")
        return segment

    def set_segment_locked(self, label_value: int, locked: bool) -> None:
        """Lock or unlock one segment against edits."""
        segment = self.segment(label_value)
        if segment.locked != bool(locked):
            segment.locked = bool(locked)
            self.changed.emit("display")

    @property
    def locked_labels(self) -> tuple[int, ...]:
        """Label values of the locked segments."""
        return tuple(s.label_value for s in self._segments if s.locked)

    def set_segment_color(self, label_value: int, color: Iterable[float]) -> None:
        """Recolour one segment."""
        self.segment(label_value).color = _check_colour(color)
        self.changed.emit("display")

    def voxel_count(self, label_value: int) -> int:
        """Number of voxels of one segment."""
        return int(np.count_nonzero(self._labelmap.array == label_value))

    def volume_ml(self, label_value: int) -> float:
        """Volume of one segment in millilitres."""
        return self.voxel_count(label_value) * float(np.prod(self._labelmap.spacing)) / 1000.0


class MeshNode(Node):
    """A surface model in LPS millimetres, usually made from one segment.

    Parameters
    ----------
    mesh : imaging.mesh.SurfaceMesh
        The triangles.
    color : tuple of float
        RGB in 0..1.
    segmentation_id, label_value : optional
        The segment it was made from, so that remeshing replaces it.
    """

    kind = "mesh"

    def __init__(
        self,
        mesh: SurfaceMesh,
        name: str = "Model",
        *,
        color: Iterable[float] = (0.9, 0.8, 0.7),
        opacity: float = 1.0,
        segmentation_id: str | None = None,
        label_value: int | None = None,
        node_id: str | None = None,
        visible: bool = True,
    ) -> None:
        super().__init__(name, node_id=node_id, visible=visible)
        self._mesh = mesh
        self._color = _check_colour(color)
        self._opacity = float(opacity)
        self.segmentation_id = segmentation_id
        self.label_value = label_value

    @property
    def mesh(self) -> SurfaceMesh:
        """The surface."""
        return self._mesh

    @mesh.setter
    def mesh(self, mesh: SurfaceMesh) -> None:
        self._mesh = mesh
        self.changed.emit("data")

    @property
    def color(self) -> RGB:
        """RGB in 0..1."""
        return self._color

    @color.setter
    def color(self, value: Iterable[float]) -> None:
        value = _check_colour(value)
        if value != self._color:
            self._color = value
            self.changed.emit("display")

    @property
    def opacity(self) -> float:
        """0 (invisible) to 1 (opaque)."""
        return self._opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"opacity is between 0 and 1, got {value}")
        if value != self._opacity:
            self._opacity = value
            self.changed.emit("display")


class PlanNode(Node):
    """A surgical plan item: landmarks, cut planes, clamp positions, measurements (JSON-serialisable ``data``)."""

    kind = "plan"

    def __init__(
        self,
        name: str,
        plan_type: str,
        data: dict[str, Any] | None = None,
        *,
        node_id: str | None = None,
        visible: bool = True,
    ) -> None:
        super().__init__(name, node_id=node_id, visible=visible)
        self.plan_type = str(plan_type)
        self._data = dict(data or {})

    @property
    def data(self) -> dict[str, Any]:
        """A copy of the plan's parameters."""
        return dict(self._data)

    def update(self, **values: Any) -> None:
        """Change plan parameters."""
        self._data.update(values)
        self.changed.emit("data")

    def replace_data(self, data: dict[str, Any]) -> None:
        """Replace all plan parameters at once (undo and redo of a plan edit)."""
        self._data = dict(data)
        self.changed.emit("data")


class ResultNode(Node):
    """Output of a simulation run: scalar summaries (``data``) and named arrays (time series, fields).

    Results are not edited; a new run makes a new node.
    """

    kind = "result"

    def __init__(
        self,
        name: str,
        result_type: str,
        data: dict[str, Any] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        *,
        node_id: str | None = None,
        visible: bool = True,
    ) -> None:
        super().__init__(name, node_id=node_id, visible=visible)
        self.result_type = str(result_type)
        self.data = dict(data or {})
        self.arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
