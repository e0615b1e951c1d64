"""Surface mesh files: VTP (VTK XML), STL, PLY, OBJ, glTF/GLB and 3MF, in millimetres, LPS unless asked for RAS.

Exports for 3D printing and viewers carry no patient metadata: only geometry, segment names and colours are written.
RAS export negates x and y, a rotation by 180 degrees about z, so triangle winding (and outward normals) is kept;
any transform with a negative determinant would flip the winding to keep the normals outward.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkTriangleFilter
from vtkmodules.vtkIOGeometry import vtkOBJReader, vtkSTLReader, vtkSTLWriter
from vtkmodules.vtkIOPLY import vtkPLYReader, vtkPLYWriter
from vtkmodules.vtkIOXML import vtkXMLPolyDataReader, vtkXMLPolyDataWriter

from imaging.mesh import SurfaceMesh

__all__ = [
    "MESH_SUFFIXES",
    "MeshIOError",
    "NamedMesh",
    "from_vtk_polydata",
    "read_mesh",
    "to_coordinates",
    "to_vtk_polydata",
    "write_mesh",
    "write_meshes",
]

MESH_SUFFIXES = (".stl", ".obj", ".ply", ".glb", ".gltf", ".3mf", ".vtp")


class MeshIOError(OSError):
    """A mesh file could not be read or written."""


def to_vtk_polydata(mesh: SurfaceMesh) -> vtkPolyData:
    """Convert to ``vtkPolyData`` (coordinates copied, triangles as cells)."""
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.points), deep=True))
    n = mesh.n_faces
    connectivity = numpy_to_vtkIdTypeArray(np.ascontiguousarray(mesh.faces.ravel()), deep=True)
    offsets = numpy_to_vtkIdTypeArray(np.arange(0, 3 * n + 1, 3, dtype=np.int64), deep=True)
    cells = vtkCellArray()
    cells.SetData(offsets, connectivity)
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def from_vtk_polydata(polydata: vtkPolyData, metadata: dict | None = None) -> SurfaceMesh:
    """Convert ``vtkPolyData`` to a :class:`SurfaceMesh`, triangulating polygons and dropping lines and vertices."""
    if polydata.GetNumberOfPolys() and polydata.GetPolys().GetMaxCellSize() > 3:
        tri = vtkTriangleFilter()
        tri.SetInputData(polydata)
        tri.PassLinesOff()
        tri.PassVertsOff()
        tri.Update()
        polydata = tri.GetOutput()
    if polydata.GetNumberOfPoints() == 0:
        return SurfaceMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), dict(metadata or {}))
    points = vtk_to_numpy(polydata.GetPoints().GetData()).astype(np.float64)
    polys = polydata.GetPolys()
    faces = vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64).reshape(-1, 3)
    return SurfaceMesh(points, faces, dict(metadata or {}))


_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def to_coordinates(mesh: SurfaceMesh, coordinates: str = "LPS") -> SurfaceMesh:
    """``mesh`` (LPS) in ``coordinates`` ("LPS" or "RAS"), keeping the triangles' outward orientation."""
    system = coordinates.upper()
    if system == "LPS":
        return mesh
    if system != "RAS":
        raise MeshIOError(f"coordinates must be 'LPS' or 'RAS', got {coordinates!r}")
    faces = mesh.faces if np.linalg.det(_LPS_TO_RAS) > 0 else mesh.faces[:, ::-1]
    return SurfaceMesh(mesh.points @ _LPS_TO_RAS.T, faces.copy(), {**mesh.metadata, "coordinates": "RAS"})


@dataclass
class NamedMesh:
    """A mesh with the segment name and colour (0..1 RGB) that multi-object formats store."""

    mesh: SurfaceMesh
    name: str = "segment"
    color: tuple[float, float, float] = (0.8, 0.8, 0.8)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshIOError(f"{path.name}: unsupported mesh format (use {', '.join(MESH_SUFFIXES)})")
    return suffix


def write_mesh(
    mesh: SurfaceMesh,
    path: str | Path,
    *,
    coordinates: str = "LPS",
    name: str = "segment",
    color: tuple[float, float, float] = (0.8, 0.8, 0.8),
) -> Path:
    """Write ``mesh`` as ``.stl`` (binary), ``.ply`` (binary), ``.obj``, ``.glb``/``.gltf``, ``.3mf`` or ``.vtp``.

    Parameters
    ----------
    mesh : SurfaceMesh
        Surface in LPS millimetres.
    path : str or Path
        Destination; the suffix chooses the format.
    coordinates : {"LPS", "RAS"}
        Coordinate system of the written points (millimetres either way).
    name, color
        Object name and 0..1 RGB colour, for formats that store them (OBJ, glTF, 3MF).
    """
    return write_meshes([NamedMesh(mesh, name, color)], path, coordinates=coordinates)


def write_meshes(items: list[NamedMesh], path: str | Path, *, coordinates: str = "LPS") -> Path:
    """Write several named, coloured meshes to one file (single-object formats get their union)."""
    path = Path(path)
    suffix = _suffix(path)
    if not items:
        raise MeshIOError("nothing to write: no meshes given")
    items = [NamedMesh(to_coordinates(i.mesh, coordinates), i.name, tuple(i.color)) for i in items]
    try:
        if suffix == ".obj":
            _write_obj(items, path)
        elif suffix in (".glb", ".gltf"):
            _write_gltf(items, path)
        elif suffix == ".3mf":
            _write_3mf(items, path)
        else:
            _write_vtk(_merge([i.mesh for i in items]), path, suffix, coordinates)
    except OSError as exc:
        raise MeshIOError(f"could not write {path}: {exc.strerror or exc}") from exc
    return path


def _merge(meshes: list[SurfaceMesh]) -> SurfaceMesh:
    if len(meshes) == 1:
        return meshes[0]
    offsets = np.cumsum([0] + [m.n_points for m in meshes[:-1]])
    return SurfaceMesh(
        np.concatenate([m.points for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets, strict=True)]),
    )


def _write_vtk(mesh: SurfaceMesh, path: Path, suffix: str, coordinates: str = "LPS") -> None:
    writers = {".vtp": vtkXMLPolyDataWriter, ".ply": vtkPLYWriter, ".stl": vtkSTLWriter}
    writer = writers[suffix]()
    writer.SetFileName(str(path))
    writer.SetInputData(to_vtk_polydata(mesh))
    if suffix == ".vtp":
        writer.SetDataModeToAppended()
        writer.SetCompressorTypeToZLib()
    else:
        writer.SetFileTypeToBinary()
        if suffix == ".ply":
            writer.AddComment(f"SPACE={coordinates.upper()}")
        if suffix == ".stl":
            # No patient metadata in the 80-byte header; SPACE= is how 3D Slicer marks an STL's coordinate system.
            writer.SetHeader(f"SurgiTwin surface, millimetres, SPACE={coordinates.upper()}")
    if not writer.Write():
        raise MeshIOError(f"could not write {path}")


def _fmt_rows(array: np.ndarray, prefix: str, fmt: str) -> str:
    buffer = io.StringIO()
    np.savetxt(buffer, array, fmt=f"{prefix} {fmt}")
    return buffer.getvalue()


def _write_obj(items: list[NamedMesh], path: Path) -> None:
    mtl = path.with_suffix(".mtl")
    space = items[0].mesh.metadata.get("coordinates", "LPS") if items else "LPS"
    parts = [f"# SurgiTwin surface, millimetres, SPACE={space}\nmtllib {mtl.name}\n"]
    materials = []
    base = 1
    for n, item in enumerate(items):
        material = f"m{n}_{_safe(item.name)}"
        r, g, b = item.color
        materials.append(f"newmtl {material}\nKd {r:.4f} {g:.4f} {b:.4f}\nKa 0 0 0\nd 1\n")
        parts.append(f"o {_safe(item.name)}\nusemtl {material}\n")
        parts.append(_fmt_rows(item.mesh.points, "v", "%.6f %.6f %.6f"))
        parts.append(_fmt_rows(item.mesh.faces + base, "f", "%d %d %d"))
        base += item.mesh.n_points
    path.write_text("".join(parts), encoding="ascii")
    mtl.write_text("".join(materials), encoding="ascii")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "segment"


def _write_gltf(items: list[NamedMesh], path: Path) -> None:
    import trimesh
    from trimesh.visual.material import PBRMaterial

    scene = trimesh.Scene()
    for item in items:
        rgba = [*(float(c) for c in item.color), 1.0]
        material = PBRMaterial(name=item.name, baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.8)
        tm = trimesh.Trimesh(item.mesh.points, item.mesh.faces, process=False,
                             visual=trimesh.visual.TextureVisuals(material=material))
        scene.add_geometry(tm, node_name=item.name, geom_name=item.name)
    data = scene.export(file_type="glb" if path.suffix.lower() == ".glb" else "gltf", include_normals=True)
    if isinstance(data, dict):  # .gltf: trimesh returns {name: bytes}; embed is simplest for one file
        data = trimesh.exchange.gltf.export_gltf(scene, embed_buffers=True)["model.gltf"]
    path.write_bytes(data)


def _write_3mf(items: list[NamedMesh], path: Path) -> None:
    """3MF core spec: a zip with the model XML (unit millimetre) and one coloured base material per object."""
    from xml.sax.saxutils import quoteattr

    colors = "".join(
        f'<base name={quoteattr(i.name)} displaycolor="#{"".join(f"{round(255 * c):02X}" for c in i.color)}"/>'
        for i in items
    )
    objects, build = [], []
    for n, item in enumerate(items, start=2):
        vertices = _fmt_rows(item.mesh.points, "<vertex", 'x="%.5f" y="%.5f" z="%.5f"/>')
        triangles = _fmt_rows(item.mesh.faces, "<triangle", 'v1="%d" v2="%d" v3="%d"/>')
        objects.append(
            f'<object id="{n}" name={quoteattr(item.name)} type="model" pid="1" pindex="{n - 2}"><mesh>'
            f"<vertices>\n{vertices}</vertices><triangles>\n{triangles}</triangles></mesh></object>"
        )
        build.append(f'<item objectid="{n}"/>')
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<model unit="millimeter" xml:lang="en-US" '
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        f'<resources><basematerials id="1">{colors}</basematerials>{"".join(objects)}</resources>'
        f'<build>{"".join(build)}</build></model>'
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", rels)
        z.writestr("3D/3dmodel.model", model)


def stored_coordinates(path: str | Path) -> str | None:
    """``"LPS"`` or ``"RAS"`` when the file says which (a ``SPACE=`` tag in an STL header or a PLY/OBJ comment, as
    3D Slicer and SurgiTwin write), else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    for space in ("LPS", "RAS"):
        if f"SPACE={space}".encode() in head.upper():
            return space
    return None


def read_mesh_lps(path: str | Path, *, assume: str = "LPS") -> tuple[SurfaceMesh, str]:
    """Read a surface and bring it to LPS millimetres.

    Parameters
    ----------
    path : str or Path
        ``.stl``, ``.obj``, ``.ply`` or ``.vtp`` file.
    assume : {"LPS", "RAS"}
        The coordinate system when the file does not say (see :func:`stored_coordinates`).

    Returns
    -------
    (SurfaceMesh, str)
        The mesh in LPS and the coordinate system the file was read as.
    """
    space = stored_coordinates(path) or assume.upper()
    if space not in ("LPS", "RAS"):
        raise MeshIOError(f"unknown coordinate system {assume!r}: use LPS or RAS")
    mesh = read_mesh(path)
    if space == "RAS":  # negating x and y maps RAS to LPS as it maps LPS to RAS
        mesh = to_coordinates(mesh, "RAS")
    mesh.metadata = {**mesh.metadata, "coordinates": "LPS", "read_as": space}
    return mesh, space


def read_mesh(path: str | Path) -> SurfaceMesh:
    """Read a ``.vtp``, ``.ply``, ``.stl`` or ``.obj`` surface (coordinates as stored)."""
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".vtp": vtkXMLPolyDataReader, ".ply": vtkPLYReader, ".stl": vtkSTLReader, ".obj": vtkOBJReader}
    if suffix not in readers:
        raise MeshIOError(f"{path.name}: unsupported mesh format to read (use .vtp, .ply, .stl or .obj)")
    if not path.is_file():
        raise MeshIOError(f"{path}: no such file")
    reader = readers[suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    output = reader.GetOutput()
    if output is None or (output.GetNumberOfPoints() == 0 and path.stat().st_size > 200):
        raise MeshIOError(f"{path.name} is not a readable {suffix[1:].upper()} mesh")
    return from_vtk_polydata(output)
