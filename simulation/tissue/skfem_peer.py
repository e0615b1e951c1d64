"""Cook's membrane (linear) solved by scikit-fem on the same mesh: the independent peer for static accuracy.

Optional: scikit-fem is a test/benchmark extra, imported here only.
"""

from __future__ import annotations

import numpy as np

from simulation.tissue.validation import cooks_membrane, lame

__all__ = ["skfem_cooks_membrane_tip"]


def skfem_cooks_membrane_tip(n: int, order: int = 1) -> float:
    """Tip (48, 60) vertical displacement (mm) of linear Cook's membrane with scikit-fem P1 or P2 triangles."""
    from skfem import (
        Basis,
        ElementTriP1,
        ElementTriP2,
        ElementVector,
        FacetBasis,
        LinearForm,
        MeshTri,
        asm,
        condense,
        solve,
    )
    from skfem.models.elasticity import linear_elasticity

    pts, tri = cooks_membrane(n)
    mesh = MeshTri(pts.T.copy(), tri.T.copy()).with_boundaries(
        {"left": lambda x: np.isclose(x[0], 0.0), "right": lambda x: np.isclose(x[0], 48.0)}
    )
    element = ElementVector(ElementTriP1() if order == 1 else ElementTriP2())
    basis = Basis(mesh, element)
    mu, lam = lame(70.0, 1.0 / 3.0)
    stiffness = asm(linear_elasticity(lam, mu), basis)  # 2-D small strain with 3-D Lamé constants: plane strain

    @LinearForm
    def traction(v, w):  # scikit-fem form signature: test function, parameters
        return 6.25e-3 * v[1]

    load = asm(traction, FacetBasis(mesh, element, facets="right"))
    u = solve(*condense(stiffness, load, D=basis.get_dofs("left")))
    tip = int(np.argmin(np.linalg.norm(pts - (48.0, 60.0), axis=1)))
    return float(u[basis.nodal_dofs[1, tip]])
