"""Volume meshing: watertight surfaces (or one label of a segmentation) to quality tetrahedra with tetgen.

tetgen keeps every input surface triangle, so the element count is bounded below by the surface resolution: the
``coarse`` option decimates the surface first (the physics then runs coarse while the fine surface is embedded in
the tetrahedra for display, see :mod:`simulation.tissue.embedding`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from imaging.mesh import SurfaceMesh
from simulation.tissue.tetmesh import TetMesh, TissueInputError

__all__ = ["box_mesh", "check_watertight", "mesh_label", "spatial_order", "tetrahedralize"]

# Radius-edge ratio bound and minimum dihedral angle handed to tetgen's quality refinement ("-q1.5/10"): the
# tetgen manual's recommended quality setting, which removes slivers without exploding the element count.
MIN_RATIO = 1.5
MIN_DIHEDRAL_DEG = 10.0
# tetgen's mesh optimisation flips/smooths away dihedral angles above this (default 177): on an icosphere, 165 raised
# the smallest dihedral angle from 1.7 to 5 degrees and removed every radius ratio under 0.1, at no extra cost.
OPT_MAX_DIHEDRAL_DEG = 165.0


def check_watertight(surface: SurfaceMesh) -> None:
    """Raise :class:`TissueInputError` unless every edge of ``surface`` is shared by exactly two triangles."""
    if surface.n_faces < 4:
        raise TissueInputError(f"the surface has {surface.n_faces} triangles; a closed surface needs at least 4")
    edges = np.sort(surface.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    open_edges = int((counts != 2).sum())
    if open_edges:
        raise TissueInputError(
            f"the surface is not watertight: {open_edges} edges are not shared by exactly two triangles "
            "(repair it first, e.g. imaging.meshing.repair_mesh)"
        )


def _enclosed_volume(surface: SurfaceMesh) -> float:
    a, b, c = (surface.points[surface.faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _tetgen_worker(connection, points, faces, kwargs) -> None:
    import tetgen

    try:
        nodes, elems, *_ = tetgen.TetGen(points, faces).tetrahedralize(**kwargs)
        connection.send((np.asarray(nodes, np.float64), np.asarray(elems, np.int64)[:, :4]))
    except RuntimeError as exc:  # tetgen reports self-intersections and the like this way
        connection.send(TissueInputError(f"tetgen could not mesh the surface: {exc}"))
    finally:
        connection.close()


def _tetgen_in_child(
    points: npt.NDArray[np.float64], faces: npt.NDArray[np.int32], kwargs: dict, timeout_s: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """tetgen in a forkserver child (cheap to start, safe beside Qt and VTK threads), stopped after ``timeout_s``."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_tetgen_worker, args=(send, points, faces, kwargs), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise TissueInputError(
                f"tetgen did not finish within {timeout_s:g} s: the surface probably has nearly coincident or "
                "sliver faces; smooth the segment or use the coarse option")
        try:
            result = receive.recv()
        except EOFError:
            raise TissueInputError("tetgen stopped without a result (it crashed on this surface)") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if isinstance(result, Exception):
        raise result
    return result


def tetrahedralize(
    surface: SurfaceMesh,
    *,
    target_tets: int | None = None,
    coarse: bool = False,
    min_dihedral_deg: float = MIN_DIHEDRAL_DEG,
    timeout_s: float = 120.0,
) -> TetMesh:
    """Quality tetrahedra filling a closed surface.

    Parameters
    ----------
    surface : SurfaceMesh
        Watertight triangle surface (mm).
    target_tets : int, optional
        Approximate number of tetrahedra wanted (>= 10); the maximum element volume is tuned in up to three
        tetgen runs to land within about 25 %.  Default: tetgen's quality mesh of the surface as is.
    coarse : bool, default False
        Decimate the surface first (to about ``target_tets / 4`` triangles, or 2000 without a target) so that a
        fine segmentation surface gives a coarse simulation mesh.
    min_dihedral_deg : float, default 10
        tetgen's minimum dihedral angle bound.
    timeout_s : float, default 120
        tetgen runs in a child process that is stopped after this long: on some nearly degenerate surfaces its
        quality refinement never ends, and a thread cannot be interrupted.

    Returns
    -------
    TetMesh
        Positively oriented tetrahedra; ``metadata`` holds the tetgen parameters.

    Raises
    ------
    TissueInputError
        Empty or open surface, impossible target, tetgen failing on the input or not finishing in time.
    """
    if surface.n_faces == 0:
        raise TissueInputError("cannot tetrahedralise an empty surface")
    if target_tets is not None and target_tets < 10:
        raise TissueInputError(f"the target number of tetrahedra must be at least 10, got {target_tets}")
    if not 0 <= min_dihedral_deg < 30:
        raise TissueInputError(f"the minimum dihedral angle must be in [0, 30) degrees, got {min_dihedral_deg}")
    check_watertight(surface)
    if coarse:
        from imaging.meshing import decimate_mesh

        faces = max(200, (target_tets or 8000) // 4)
        surface = decimate_mesh(surface, target_faces=faces)
        check_watertight(surface)
    volume = abs(_enclosed_volume(surface))
    if volume <= 0:
        raise TissueInputError("the surface encloses no volume")
    options = {"quality": True, "minratio": MIN_RATIO, "mindihedral": min_dihedral_deg,
               "optmaxdihedral": OPT_MAX_DIHEDRAL_DEG, "quiet": True}

    def run(max_volume: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        kwargs = {**options, "maxvolume": max_volume, "fixedvolume": max_volume > 0}
        return _tetgen_in_child(surface.points, surface.faces.astype(np.int32), kwargs, timeout_s)

    if target_tets is None:
        nodes, elems = run(-1.0)
    else:
        # tetgen's maximum-volume bound is an upper bound, so the mean element ends up smaller than it: start from
        # 1.5 x the mean volume wanted and correct by the observed ratio.
        max_volume = 1.5 * volume / target_tets
        for _ in range(3):
            nodes, elems = run(max_volume)
            ratio = len(elems) / target_tets
            if 0.8 <= ratio <= 1.25:
                break
            max_volume *= ratio
    if not len(elems):
        raise TissueInputError("tetgen produced no tetrahedra (is the surface self-intersecting?)")
    # drop nodes no tetrahedron uses (duplicate input vertices): massless, they would make the solver singular
    used, elems = np.unique(elems, return_inverse=True)
    nodes, elems = spatial_order(nodes[used], elems.reshape(-1, 4))
    meta = {
        **surface.metadata,
        "tetgen": {"minratio": MIN_RATIO, "mindihedral": min_dihedral_deg, "target_tets": target_tets},
        "coarse": coarse,
    }
    return TetMesh(nodes, elems, meta)


def _morton_order(points: npt.NDArray[np.float64], bits: int = 10) -> npt.NDArray[np.int64]:
    span = max(float(np.ptp(points, axis=0).max()), 1e-300)
    q = ((points - points.min(axis=0)) / span * (2**bits - 1)).astype(np.int64)
    code = np.zeros(len(points), np.int64)
    for b in range(bits):
        for axis in range(3):
            code |= ((q[:, axis] >> b) & 1) << (3 * b + axis)
    return np.argsort(code, kind="stable")


def spatial_order(
    nodes: npt.NDArray[np.float64], tets: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Renumber nodes and tetrahedra along a Morton (Z-order) curve.

    tetgen numbers its Steiner points in refinement order, scattered through space; the solver's gathers and scatters
    (sparse products between nodes and elements) then miss the cache on large meshes.  Space-filling-curve order
    keeps neighbours close in memory.
    """
    node_order = _morton_order(nodes)
    rank = np.empty_like(node_order)
    rank[node_order] = np.arange(len(node_order))
    tets = rank[tets]
    nodes = nodes[node_order]
    return nodes, tets[_morton_order(nodes[tets].mean(axis=1))]


def mesh_label(
    labels: npt.NDArray[np.integer],
    geometry: object,
    label: int,
    *,
    target_tets: int | None = 5000,
    smoothing_iterations: int = 20,
    surface_faces: int | None = None,
) -> tuple[TetMesh, SurfaceMesh]:
    """Tetrahedralise one label of a segmentation.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(z, y, x)`` label map.
    geometry : imaging.volume.VolumeGeometry
        Its grid.
    label : int
        The structure to mesh.
    target_tets : int, optional
        Approximate element count (default 5000).
    smoothing_iterations : int
        Windowed-sinc iterations of the surface.
    surface_faces : int, optional
        Decimate the surface to this many triangles before meshing (default: ``target_tets / 9``, which leaves
        tetgen room to meet the target).

    Returns
    -------
    (TetMesh, SurfaceMesh)
        The tetrahedra and the full-resolution surface (for embedding).
    """
    from imaging.meshing import decimate_mesh, mesh_from_mask, repair_mesh

    mask = np.asarray(labels) == label
    if not mask.any():
        raise TissueInputError(f"label {label} is absent from the segmentation")
    fine = mesh_from_mask(mask, geometry, smoothing_iterations=smoothing_iterations)  # type: ignore[arg-type]
    fine = repair_mesh(fine)
    faces = surface_faces or max(300, (target_tets or 5000) // 9)
    coarse = repair_mesh(decimate_mesh(fine, target_faces=faces)) if fine.n_faces > faces else fine
    return tetrahedralize(coarse, target_tets=target_tets), fine


def box_mesh(
    size: Sequence[float], cells: Sequence[int], origin: Sequence[float] = (0.0, 0.0, 0.0)
) -> TetMesh:
    """Structured box of ``cells`` hexahedra, each split into six tetrahedra around its main diagonal.

    The Kuhn split (every tetrahedron contains the diagonal from the cell's lowest to highest corner) makes the
    faces of neighbouring cells match, so the mesh is conforming; used for validation beams and slabs.
    """
    nx, ny, nz = (int(c) for c in cells)
    if min(nx, ny, nz) < 1 or min(size) <= 0:
        raise TissueInputError(f"a box mesh needs positive size and cell counts, got {tuple(size)}, {tuple(cells)}")
    axes = [np.linspace(o, o + s, n + 1) for o, s, n in zip(origin, size, (nx, ny, nz), strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])

    def node(i: npt.NDArray[np.int64], j: npt.NDArray[np.int64], k: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return (i * (ny + 1) + j) * (nz + 1) + k

    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"))
    corners = [node(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)) for c in range(8)]
    # Six paths from corner 0 to corner 7 along the cube edges (one per permutation of the axes).
    paths = ((1, 3), (1, 5), (2, 3), (2, 6), (4, 5), (4, 6))
    tets = np.concatenate([np.column_stack([corners[0], corners[a], corners[b], corners[7]]) for a, b in paths])
    return TetMesh(points, tets, {"box": {"size": list(map(float, size)), "cells": [nx, ny, nz]}})
