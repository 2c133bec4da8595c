"""The local Chern marker as a tensor network.

With ``P`` the occupied projector (``Q = 1 - P``) and ``X``, ``Y`` the diagonal position
operators, the marker of basis state ``a`` is ``4 pi Im [P X Q Y P]_aa``. Because
``[P X Y P]_aa = sum_c |P_ac|^2 x_c y_c`` is real, only the three-projector term survives:

.. math:: c_a = -4\\pi \\, \\mathrm{Im} \\sum_{c, d} P_{ac} \\, x_c \\, P_{cd} \\, y_d \\, P_{da},

a triangle of three projector blocks ``P[b, a, c]``, ``P[b, c, d]``, ``P[b, d, a]`` and two
position kernels ``x[c]``, ``y[d]`` sharing a batch hyper-index ``b``. The network is built with
quimb and contracted by :func:`tntopo.tn.contract_network` (cotengra's cached contraction
expression: one path search per structure).

With ``P = V_o V_o^dag`` (``V_o``: the ``k`` occupied eigenvectors) the triangle becomes a ring of
six eigenvector tensors; :func:`contract_chern_marker_occupied` contracts it in the order
``A = V_o^dag X V_o``, ``B = V_o^dag Y V_o`` (``k x k``), ``W = V_o (A B)``,
``c_a = -4 pi Im sum_i W_ai conj(V_o)_ai``: ``3 n k^2 + k^3`` multiply-adds per sample instead
of the ``2 n^3`` of the projector triangle (and ``P`` is never formed).
"""
from __future__ import annotations

import numpy as np

from .network import contract_network

__all__ = ["chern_marker_network", "contract_chern_marker", "contract_chern_marker_occupied"]


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


def contract_chern_marker_occupied(V, n_occ, x, y) -> np.ndarray:
    """Marker ``c_a = -4 pi Im sum_{cd} P_ac x_c P_cd y_d P_da`` from eigenvectors, ``P`` never formed.

    Parameters
    ----------
    V : ndarray, shape (B, n, m) or (n, m)
        Eigenvectors in the columns, occupied ones first (ascending energies, as ``eigh``).
    n_occ : int or array of int, shape (B,)
        Number of occupied states of each sample (``P = V[:, :n_occ] V[:, :n_occ]^dag``).
    x, y : ndarray, shape (n,)
        Position kernels. The marker does not depend on their origin (``P Q = 0``).

    Returns
    -------
    ndarray, shape (B, n) or (n,)
        Equal to :func:`contract_chern_marker` of ``P`` up to rounding (zero for real ``V``:
        a real projector has a real ``P X Q Y P``).

    Notes
    -----
    Samples with the same number of occupied states ``k`` are contracted together by stacked
    ``numpy.matmul`` (which releases the GIL, so chunks of a batch contract in parallel
    threads): ``A = V_o^dag X V_o``, ``B = V_o^dag Y V_o``, ``W = V_o (A B)``, and
    ``c_a = -4 pi Im sum_i W_ai conj(V_o)_ai``.
    """
    V = np.asarray(V)
    single = V.ndim == 2
    Vb = V[None] if single else V
    occ = np.broadcast_to(np.asarray(n_occ, dtype=int), (Vb.shape[0],))
    out = np.zeros(Vb.shape[:2])
    if np.iscomplexobj(Vb):
        Vb = Vb.astype(np.complex128, copy=False)
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        # centred kernels: smaller entries, less rounding in A and B (the marker is origin-free)
        cx = (x - 0.5 * (x.min() + x.max()))[:, None]
        cy = (y - 0.5 * (y.min() + y.max()))[:, None]
        for k in np.unique(occ):
            if k == 0:
                continue
            idx = np.flatnonzero(occ == k)
            Vo = Vb[idx, :, :k] if len(idx) < Vb.shape[0] or k < Vb.shape[2] else Vb
            Vh = Vo.conj().transpose(0, 2, 1)
            W = Vo @ ((Vh @ (cx * Vo)) @ (Vh @ (cy * Vo)))
            out[idx] = (-4 * np.pi) * (W.imag * Vo.real - W.real * Vo.imag).sum(-1)
    return out[0] if single else out
