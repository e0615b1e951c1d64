"""The :class:`Case`: an ordered collection of nodes that reports every change."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from psygnal import Signal

from app.case.nodes import MeshNode, Node, PlanNode, ResultNode, SegmentationNode, VolumeNode

__all__ = ["Case", "switch_node_handlers"]

N = TypeVar("N", bound=Node)


class Case:
    """One patient's surgical twin: volumes, segmentations, meshes, plans and simulation results.

    Signals
    -------
    node_added(node), node_removed(node)
        Membership changes.
    node_changed(node, what)
        A node's ``changed`` event, forwarded; ``what`` is ``"data"``, ``"display"`` or ``"name"``.
    modified_changed(bool)
        The case started or stopped differing from what is on disk.

    Inside :meth:`batch`, ``node_changed`` events are collected and emitted once per ``(node, what)`` at the end,
    so that a multi-step edit repaints once.
    """

    node_added = Signal(object)
    node_removed = Signal(object)
    node_changed = Signal(object, str)
    modified_changed = Signal(bool)

    def __init__(self, name: str = "Untitled case") -> None:
        self.name = name
        self.path: Path | None = None
        self._nodes: dict[str, Node] = {}
        self._modified = False
        self._batch_depth = 0
        self._pending: dict[tuple[str, str], Node] = {}

    def __repr__(self) -> str:
        return f"Case({self.name!r}, {len(self._nodes)} nodes)"

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes.values()))

    def __contains__(self, node: object) -> bool:
        return isinstance(node, Node) and self._nodes.get(node.id) is node

    # --- membership --------------------------------------------------------------------------------------------
    def add(self, node: N) -> N:
        """Add ``node`` and return it."""
        if not isinstance(node, Node):
            raise TypeError(f"a case holds nodes, not {type(node).__name__}")
        if node.id in self._nodes:
            raise ValueError(f"the case already holds a node with id {node.id}")
        self._nodes[node.id] = node
        node.changed.connect(self._on_node_changed, unique=False)
        self.node_added.emit(node)
        self._set_modified(True)
        return node

    def remove(self, node: Node | str) -> Node:
        """Remove a node (or its id); meshes made from a removed segmentation stay, unlinked."""
        node = self.get(node) if isinstance(node, str) else node
        if node not in self:
            raise KeyError(f"{node!r} is not in this case")
        del self._nodes[node.id]
        node.changed.disconnect(self._on_node_changed)
        self.node_removed.emit(node)
        self._set_modified(True)
        return node

    def clear(self) -> None:
        """Remove every node."""
        for node in list(self._nodes.values()):
            self.remove(node)

    def get(self, node_id: str) -> Node:
        """The node with ``node_id``."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no node with id {node_id!r} in the case") from None

    def of_kind(self, cls: type[N]) -> list[N]:
        """Nodes that are instances of ``cls``, in insertion order."""
        return [n for n in self._nodes.values() if isinstance(n, cls)]

    @property
    def volumes(self) -> list[VolumeNode]:
        """Image volumes."""
        return self.of_kind(VolumeNode)

    @property
    def segmentations(self) -> list[SegmentationNode]:
        """Label maps."""
        return self.of_kind(SegmentationNode)

    @property
    def meshes(self) -> list[MeshNode]:
        """Surface models."""
        return self.of_kind(MeshNode)

    @property
    def plans(self) -> list[PlanNode]:
        """Plan items."""
        return self.of_kind(PlanNode)

    @property
    def results(self) -> list[ResultNode]:
        """Simulation results."""
        return self.of_kind(ResultNode)

    # --- change tracking ---------------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        """True when the case has changes that are not saved."""
        return self._modified

    def mark_saved(self, path: Path | None = None) -> None:
        """Record that the case now matches the bundle at ``path``."""
        if path is not None:
            self.path = Path(path)
        self._set_modified(False)

    def mark_unsaved(self) -> None:
        """Record that the case has changes that no saved bundle holds (e.g. it was recovered from an autosave)."""
        self._set_modified(True)

    def _set_modified(self, value: bool) -> None:
        if value != self._modified:
            self._modified = value
            self.modified_changed.emit(value)

    def _on_node_changed(self, what: str) -> None:
        node = Signal.sender()
        if self._batch_depth:
            self._pending[(node.id, what)] = node
        else:
            self.node_changed.emit(node, what)
        if what != "display":
            self._set_modified(True)
        elif isinstance(node, SegmentationNode):
            self._sync_mesh_colours(node)

    def _sync_mesh_colours(self, segmentation: SegmentationNode) -> None:
        """Models made from a segment wear its colour, so recolouring a segment recolours its model."""
        for mesh in self.meshes:
            if mesh.segmentation_id == segmentation.id and mesh.label_value is not None:
                try:
                    mesh.color = segmentation.segment(mesh.label_value).color
                except KeyError:  # the segment was deleted; the model keeps its last colour
                    continue

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect ``node_changed`` events and emit each distinct one once when the outermost batch ends."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth:
                pending, self._pending = self._pending, {}
                for (_, what), node in pending.items():
                    if node in self:
                        self.node_changed.emit(node, what)


def switch_node_handlers(
    old: Case | None,
    new: Case | None,
    *,
    added: Callable[..., object] | None = None,
    removed: Callable[..., object] | None = None,
    changed: Callable[..., object] | None = None,
) -> None:
    """Move handlers of the node signals from case ``old`` to case ``new`` (either may be None): for views and tools
    that follow "the current case" and must not hear from the one they left."""
    for name, handler in (("node_added", added), ("node_removed", removed), ("node_changed", changed)):
        if handler is None:
            continue
        if old is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):  # not connected: nothing to undo
                getattr(old, name).disconnect(handler)
        if new is not None:
            getattr(new, name).connect(handler)
