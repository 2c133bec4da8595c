"""The real-space winding number as a tensor network.

With ``Q`` the flat-band A->B block (polar factor of ``h``), the bulk-averaged winding number is

.. math:: W = \\sum_{a, c} R_a \\, X_{ac} \\, Q_{ac} \\, Q^*_{ac}, \\qquad X_{ac} = x_a - x_c,

a network of four tensors -- ``Q[b, a, c]``, ``Q*[b, a, c]``, the position kernel ``X[a, c]`` and
the bulk window ``R[a]`` -- sharing the hyper-indices ``a`` (A cell) and ``c`` (B cell) and a
batch index ``b``. Written through eigenvector amplitudes (``Q_ac = sum_n s_n psi_n(a) psi_n(c)^*``)
it becomes the 4th-order network used by :class:`tntopo.nn.TopoNet`.

The network is built with quimb; its contraction path is searched once per structure (the
equation and shapes) with opt_einsum and the compiled expression is cached, so repeated calls do
no path search.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence, Tuple

import numpy as np
import opt_einsum as oe

__all__ = ["rswn_network", "contract_network", "contract_rswn", "expression_cache_info"]


def rswn_network(Q, kernel, window=None, batch: bool = True):
    """Build the real-space winding-number tensor network with quimb.

    Parameters
    ----------
    Q : array, shape (B, N, N) or (N, N)
        Flat-band A->B blocks (numpy or torch).
    kernel : array, shape (N, N)
        Position kernel ``X[a, c] = x_a - x_c``.
    window : array, shape (N,), optional
        Bulk weights ``R[a]`` (``1/|R|`` on the bulk region). Omit it to keep index ``a`` open
        and get the local marker of every cell.
    batch : bool
        Whether ``Q`` carries a leading batch index ``b``.

    Returns
    -------
    quimb.tensor.TensorNetwork
        Tensors tagged ``"Q"``, ``"Qc"``, ``"X"`` and ``"R"``.
    """
    import quimb.tensor as qtn

    qi = ("b", "a", "c") if batch else ("a", "c")
    conj = Q.conj() if hasattr(Q, "conj") else np.conj(Q)
    ts = [
        qtn.Tensor(Q, inds=qi, tags={"Q"}),
        qtn.Tensor(conj, inds=qi, tags={"Qc"}),
        qtn.Tensor(kernel, inds=("a", "c"), tags={"X"}),
    ]
    if window is not None:
        ts.append(qtn.Tensor(window, inds=("a",), tags={"R"}))
    return qtn.TensorNetwork(ts, virtual=True)


@lru_cache(maxsize=256)
def _expression(eq: str, shapes: Tuple[Tuple[int, ...], ...], optimize: str):
    return oe.contract_expression(eq, *shapes, optimize=optimize)


def expression_cache_info():
    """Hits/misses of the cached contraction expressions (one path search per miss)."""
    return _expression.cache_info()


def contract_network(tn, output_inds: Sequence[str], optimize: str = "auto-hq"):
    """Contract a tensor network with a cached opt_einsum expression.

    The equation and shapes of ``tn`` key a cache of ``opt_einsum.contract_expression``
    objects: the contraction path is searched the first time a structure is seen and reused
    afterwards. Works for any array backend opt_einsum supports (numpy, torch).
    """
    eq = tn.get_equation(output_inds=tuple(output_inds))
    arrays = [t.data for t in tn]
    shapes = tuple(tuple(int(s) for s in a.shape) for a in arrays)
    return _expression(eq, shapes, optimize)(*arrays)


def contract_rswn(Q, kernel, window=None):
    """Contract the winding network: ``(B,)`` windings with a window, ``(B, N)`` markers without.

    ``Q`` may be ``(N, N)`` (then the batch axis is dropped from the result).
    """
    batch = Q.ndim == 3
    tn = rswn_network(Q, kernel, window, batch=batch)
    out = ("b",) if batch else ()
    if window is None:
        out = out + ("a",)
    res = contract_network(tn, out)
    return res.real if hasattr(res, "real") and not isinstance(res, float) else res
