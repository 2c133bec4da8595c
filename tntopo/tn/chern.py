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
six eigenvector tensors; :func:`contract_chern_marker_rows` contracts it on the rows
``U = V_o^dag`` in the order ``A = U X U^dag``, ``B = U Y U^dag`` (``k x k``, each one real
``syrk``-shaped product of ``[Re U; Im U]``), ``W = (A B)^T conj(U)``,
``c_a = -4 pi Im sum_i W_ia U_ia``: about ``2 n k^2 + k^3`` complex multiply-adds per sample
instead of the ``2 n^3`` of the projector triangle (and ``P`` is never formed);
:func:`contract_chern_marker_occupied` takes the eigenvectors as columns.
"""
from __future__ import annotations

import numpy as np

from .._scratch import Scratch, ThreadScratch
from .network import contract_network

__all__ = ["chern_marker_network", "contract_chern_marker", "contract_chern_marker_occupied",
           "contract_chern_marker_rows"]


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
    Contracted by :func:`contract_chern_marker_rows` on ``U = V_o^dag``.
    """
    V = np.asarray(V)
    single = V.ndim == 2
    Vb = V[None] if single else V
    occ = np.broadcast_to(np.asarray(n_occ, dtype=int), (Vb.shape[0],))
    if not np.iscomplexobj(Vb):
        out = np.zeros(Vb.shape[:2])
    else:
        m = max(1, int(occ.max())) if Vb.shape[0] else 1
        U = np.conj(Vb[:, :, :m].transpose(0, 2, 1))
        U[np.arange(U.shape[1])[None, :] >= occ[:, None]] = 0
        out = contract_chern_marker_rows(U, x, y)
    return out[0] if single else out


def contract_chern_marker_rows(U, x, y) -> np.ndarray:
    """The marker of every basis state from the occupied eigenvectors as rows, ``U = V_o^dag``.

    Parameters
    ----------
    U : ndarray, shape (B, m, n), complex
        ``U[b]``'s rows are the conjugated occupied eigenvectors of sample ``b`` (the layout
        LAPACK leaves them in, :func:`tntopo._lapack.eigh_occupied_rows`); samples with fewer
        than ``m`` occupied states fill the rest with zero rows, which contribute exactly zero.
    x, y : ndarray, shape (n,)
        Position kernels (origin-free, as in :func:`contract_chern_marker_occupied`).

    Returns
    -------
    ndarray, shape (B, n)

    Notes
    -----
    One stacked ``numpy.matmul`` per stage over the whole block (GIL released, so chunks of a
    batch contract in parallel threads): ``A = U X U^dag``, ``B = U Y U^dag`` (``m x m``, each as
    one real ``syrk``-shaped product, :func:`_position_block`), ``W = (A B)^T conj(U)``,
    ``c_a = -4 pi Im sum_i W_ia U_ia``.
    """
    return _contract_rows(np.asarray(U, dtype=np.complex128), x, y)


#: the work arrays of :func:`_contract_rows`, per thread (reused over a dense batch's chunks)
_CONTRACT_WORK = ThreadScratch("tntopo.tn.chern._contract_rows")


def _contract_rows(U: np.ndarray, x, y, reuse: bool = False) -> np.ndarray:
    """:func:`contract_chern_marker_rows`; ``reuse``: work arrays kept by this thread from call to
    call (a batch's chunks: fresh arrays of this size cost page faults), else fresh ones."""
    ws = _CONTRACT_WORK.get() if reuse else Scratch()
    B, m, n = U.shape
    A = _position_block(U, np.asarray(x, dtype=float), ws, "A")
    Bm = _position_block(U, np.asarray(y, dtype=float), ws, "B")
    C = np.matmul(A, Bm, out=ws.get("C", (B, m, m), np.complex128))
    Uc = np.conjugate(U, out=ws.get("Uc", (B, m, n), np.complex128))
    W = np.matmul(C.transpose(0, 2, 1), Uc, out=ws.get("W", (B, m, n), np.complex128))
    t = np.multiply(W.real, U.imag, out=ws.get("t", (B, m, n)))
    t += np.multiply(W.imag, U.real, out=ws.get("t2", (B, m, n)))
    return (-4 * np.pi) * t.sum(1)


def _position_block(U: np.ndarray, t: np.ndarray, ws: Scratch, name: str) -> np.ndarray:
    """``U T U^dag`` for the diagonal position kernel ``T = diag(t - min t)`` (``t`` shifted to
    be non-negative: the marker is origin-free) as one real symmetric rank-``n`` product:
    ``G = sqrt(t) [Re U; Im U]`` and ``G G^T`` (``numpy.matmul`` runs it as BLAS ``syrk``, half
    the multiply-adds of the complex product), whose blocks give the real part
    ``Re Re + Im Im`` and the imaginary part ``Im Re - Re Im``. The result lives in ``ws``
    under ``name``."""
    B, m, n = U.shape
    s = np.sqrt(t - t.min())
    G = ws.get("G", (B, 2 * m, n))
    np.multiply(U.real, s, out=G[:, :m])
    np.multiply(U.imag, s, out=G[:, m:])
    M = np.matmul(G, G.transpose(0, 2, 1), out=ws.get("M", (B, 2 * m, 2 * m)))
    out = ws.get(name, (B, m, m), np.complex128)
    np.add(M[:, :m, :m], M[:, m:, m:], out=out.real)
    np.subtract(M[:, m:, :m], M[:, :m, m:], out=out.imag)
    return out
