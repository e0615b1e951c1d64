"""Keeps the VTK views in step with a :class:`~app.case.Case` by listening to its events.

The model knows nothing of views: it emits ``node_added``/``node_removed``/``node_changed`` and this controller
turns them into :class:`~rendering.slice_view.SliceView` and :class:`~rendering.scene3d.Scene3D` calls, then asks
for one repaint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.case import Case, MeshNode, Node, SegmentationNode, VolumeNode, switch_node_handlers
from rendering.scene3d import Scene3D
from rendering.slice_view import SliceView

__all__ = ["CaseController"]


class CaseController:
    """Mirror ``case`` into ``slice_views`` and ``scene``.

    The slice views show the first visible volume and, over it, the first visible segmentation (preferring one
    made on that volume). The 3-D scene shows every mesh.

    Parameters
    ----------
    case : Case
        The document to mirror.
    slice_views : sequence of SliceView
        Axial, coronal and sagittal views.
    scene : Scene3D
        The 3-D view.
    request_render : callable
        Called with no argument after views changed (the window coalesces repaints).
    on_volume_changed : callable, optional
        Called when the displayed volume is replaced (the window refits cameras and sliders).
    """

    def __init__(
        self,
        case: Case,
        slice_views: Sequence[SliceView],
        scene: Scene3D,
        request_render: Callable[[], None],
        on_volume_changed: Callable[[], None] | None = None,
    ) -> None:
        self.case = case
        self.slice_views = list(slice_views)
        self.scene = scene
        self._request_render = request_render
        self._on_volume_changed = on_volume_changed
        self._volume: VolumeNode | None = None
        self._segmentation: SegmentationNode | None = None
        self._shown_labelmap = None
        switch_node_handlers(None, case, added=self._on_added, removed=self._on_removed, changed=self._on_changed)
        self.refresh_all()

    def detach(self) -> None:
        """Stop listening and clear the views."""
        switch_node_handlers(self.case, None, added=self._on_added, removed=self._on_removed, changed=self._on_changed)
        for view in self.slice_views:
            view.set_labelmap(None)
            view.set_volume(None)
        self.scene.clear()
        self._volume = self._segmentation = self._shown_labelmap = None

    @property
    def displayed_volume(self) -> VolumeNode | None:
        """The volume node the slice views show."""
        return self._volume

    # --- events -------------------------------------------------------------------------------------------------
    def _on_added(self, node: Node) -> None:
        self._update(node, "data")

    def _on_removed(self, node: Node) -> None:
        if isinstance(node, MeshNode):
            self.scene.remove(node.id)
            self._request_render()
        else:
            self._update_slices()

    def _on_changed(self, node: Node, what: str) -> None:
        if what != "name":
            self._update(node, what)

    def _update(self, node: Node, what: str) -> None:
        if isinstance(node, MeshNode):
            self._update_mesh(node, what)
            self._request_render()
        elif isinstance(node, VolumeNode | SegmentationNode):
            self._update_slices(force=what == "data")

    # --- views --------------------------------------------------------------------------------------------------
    def refresh_all(self) -> None:
        """Rebuild every view from the case."""
        self.scene.clear()
        for mesh in self.case.meshes:
            self._update_mesh(mesh, "data")
        self._update_slices(force=True)

    def _update_mesh(self, node: MeshNode, what: str) -> None:
        if what == "data" or node.id not in self.scene:
            self.scene.set_mesh(node.id, node.mesh, color=node.color, opacity=node.opacity, visible=node.visible)
        else:
            self.scene.set_display(node.id, color=node.color, opacity=node.opacity, visible=node.visible)

    def _pick_volume(self) -> VolumeNode | None:
        return next((v for v in self.case.volumes if v.visible), None)

    def _pick_segmentation(self, volume: VolumeNode | None) -> SegmentationNode | None:
        visible = [s for s in self.case.segmentations if s.visible]
        if volume is not None:
            on_volume = [s for s in visible if s.reference_volume_id == volume.id]
            if on_volume:
                return on_volume[0]
            shape = volume.volume.array.shape
            visible = [s for s in visible if s.labelmap.array.shape == shape]
        return visible[0] if visible else None

    def _update_slices(self, force: bool = False) -> None:
        volume = self._pick_volume()
        if volume is not self._volume or (force and volume is not None and volume.volume is not self._shown_volume()):
            for view in self.slice_views:
                view.set_volume(volume.volume if volume else None, volume.window_level if volume else None)
            self._volume = volume
            self._shown_labelmap = None
            if self._on_volume_changed is not None:
                self._on_volume_changed()
        elif volume is not None:
            for view in self.slice_views:
                if view.window_level != volume.window_level:
                    view.set_window_level(*volume.window_level)
        segmentation = self._pick_segmentation(volume)
        labelmap = segmentation.labelmap if segmentation is not None and volume is not None else None
        if labelmap is not self._shown_labelmap:
            for view in self.slice_views:
                if labelmap is None:
                    view.set_labelmap(None)
                else:
                    view.set_labelmap(labelmap, self._colours(segmentation), opacity=segmentation.opacity)
            self._shown_labelmap = labelmap
        elif force and segmentation is not None:
            # Same label map edited in place (a brush stroke, a tool, an undo): redraw its voxels, no rebuild.
            for view in self.slice_views:
                view.labelmap_modified()
                view.set_label_colours(self._colours(segmentation), opacity=segmentation.opacity)
        elif segmentation is not None:
            for view in self.slice_views:
                view.set_label_colours(self._colours(segmentation), opacity=segmentation.opacity)
        self._segmentation = segmentation
        self._request_render()

    def _shown_volume(self):
        return self.slice_views[0].volume if self.slice_views else None

    @staticmethod
    def _colours(segmentation: SegmentationNode) -> dict[int, tuple[float, float, float]]:
        return {s.label_value: s.color for s in segmentation.segments if s.visible}
