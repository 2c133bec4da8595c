"""The real-space winding number as a tensor network.

With ``Q`` the flat-band A->B block (polar factor of ``h``), the bulk-averaged winding number is

.. math:: W = \\sum_{a, c} R_a \\, X_{ac} \\, Q_{ac} \\, Q^*_{ac}, \\qquad X_{ac} = x_a - x_c,

a network of four tensors -- ``Q[b, a, c]``, ``Q*[b, a, c]``, the position kernel ``X[a, c]`` and
the bulk window ``R[a]`` -- sharing the hyper-indices ``a`` (A cell) and ``c`` (B cell) and a
batch index ``b``. Written through eigenvector amplitudes (``Q_ac = sum_n s_n psi_n(a) psi_n(c)^*``)
it becomes the 4th-order network used by :class:`tntopo.nn.TopoNet`.

The network is built with quimb and contracted with cotengra's ``array_contract``, whose own
cache keeps one contraction expression per structure (the equation, the shapes and the path
optimizer): the path is searched the first time a structure is seen, repeated calls do no path
search. tntopo kept its own ``lru_cache`` of ``opt_einsum.contract_expression`` objects before;
``python benchmarks/bench_invariant.py --quick`` compares the two in one run (own / cotengra time
per call, 2 shared cores): 0.87-0.88 for one 40-cell network (about 190 us each: the quimb
network build dominates), 1.0-1.1 for 64 x 40, 1.2-2.7 for 400 x 20 and 1.5-1.9 for 8 x 400 cells.
Ours was faster only for single tiny networks, by about 20 us, so cotengra's cache is used.
Through TopoNet (torch, forward + backward, one thread) the two are within the noise of a shared
machine: own / cotengra 0.81-1.0 for 32 chains x 10 cells, 1.0-1.02 for 256 x 20.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Sequence, Union

import cotengra as ctg
import numpy as np

from .._typing import strict_keywords

__all__ = ["rswn_network", "contract_network", "contract_rswn", "expression_cache_info"]

#: Contraction path optimizer: an opt_einsum optimizer name (networks of a few tensors: the
#: optimal path), a cotengra preset name prefixed ``"ctg:"``, or an explicit path.
DEFAULT_OPTIMIZE = "auto"

CacheInfo = namedtuple("CacheInfo", ["currsize"])


@strict_keywords
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


@strict_keywords
def expression_cache_info() -> CacheInfo:
    """Size of cotengra's cache of contraction expressions (one path search per entry).

    ``currsize`` does not grow when a network of an already seen structure is contracted.
    """
    from cotengra import interface

    return CacheInfo(currsize=len(getattr(interface, "_CONTRACT_EXPR_CACHE", ())))


@strict_keywords
def contract_network(tn, output_inds: Sequence[str], optimize: Union[str, Sequence] = DEFAULT_OPTIMIZE):
    """Contract a tensor network, reusing cotengra's cached contraction expression.

    Parameters
    ----------
    tn : quimb.tensor.TensorNetwork
    output_inds : sequence of str
        Indices left open, in this order.
    optimize : str or path
        An opt_einsum path optimizer name (``"auto"``, ``"auto-hq"``, ``"optimal"``...), a
        cotengra preset prefixed ``"ctg:"`` (e.g. ``"ctg:auto-hq"``), or an explicit path such
        as ``((0, 1), (0, 1))``.

    Works for any array backend cotengra supports through autoray (numpy, torch: gradients
    flow through the contraction).
    """
    if isinstance(optimize, str):
        optimize = optimize[4:] if optimize.startswith("ctg:") else "opt_einsum:" + optimize
    inputs = tuple(tuple(t.inds) for t in tn)
    arrays = [t.data for t in tn]
    return ctg.array_contract(arrays, inputs, tuple(output_inds), optimize=optimize)


@strict_keywords
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
