"""The local Chern marker as a tensor network.

With ``P`` the occupied projector (``Q = 1 - P``) and ``X``, ``Y`` the diagonal position
operators, the marker of basis state ``a`` is ``4 pi Im [P X Q Y P]_aa``. Because
``[P X Y P]_aa = sum_c |P_ac|^2 x_c y_c`` is real, only the three-projector term survives:

.. math:: c_a = -4\\pi \\, \\mathrm{Im} \\sum_{c, d} P_{ac} \\, x_c \\, P_{cd} \\, y_d \\, P_{da},

a triangle of three projector blocks ``P[b, a, c]``, ``P[b, c, d]``, ``P[b, d, a]`` and two
position kernels ``x[c]``, ``y[d]`` sharing a batch hyper-index ``b``. The network is built with
quimb and contracted by :func:`tntopo.tn.contract_network` (cotengra's cached contraction
expression: one path search per structure).
"""
from __future__ import annotations

import numpy as np

from .network import contract_network

__all__ = ["chern_marker_network", "contract_chern_marker"]


def chern_marker_network(P, x, y, batch: bool = True):
    """Build the local-Chern-marker tensor network with quimb.

    Parameters
    ----------
    P : array, shape (B, n, n) or (n, n)
        Occupied projectors (numpy or torch).
    x, y : array, shape (n,)
        Position kernels (the coordinates of every basis state).
    batch : bool
        Whether ``P`` carries a leading batch index ``b``.

    Returns
    -------
    quimb.tensor.TensorNetwork
        Tensors tagged ``"P1"``, ``"P2"``, ``"P3"``, ``"X"``, ``"Y"``; contracting it with
        output ``("b", "a")`` gives ``sum_{cd} P_ac x_c P_cd y_d P_da``.
    """
    import quimb.tensor as qtn

    b = ("b",) if batch else ()
    ts = [
        qtn.Tensor(P, inds=b + ("a", "c"), tags={"P1"}),
        qtn.Tensor(x, inds=("c",), tags={"X"}),
        qtn.Tensor(P, inds=b + ("c", "d"), tags={"P2"}),
        qtn.Tensor(y, inds=("d",), tags={"Y"}),
        qtn.Tensor(P, inds=b + ("d", "a"), tags={"P3"}),
    ]
    return qtn.TensorNetwork(ts, virtual=True)


def contract_chern_marker(P, x, y) -> np.ndarray:
    """Marker ``c_a = -4 pi Im sum_{cd} P_ac x_c P_cd y_d P_da`` of every basis state.

    ``P`` of shape ``(B, n, n)`` gives ``(B, n)``; ``(n, n)`` gives ``(n,)``. Divide by the cell
    area and sum over the orbitals of a site to get the site marker.
    """
    batch = P.ndim == 3
    tn = chern_marker_network(P, x, y, batch=batch)
    out = ("b", "a") if batch else ("a",)
    res = contract_network(tn, out)
    return -4 * np.pi * res.imag
