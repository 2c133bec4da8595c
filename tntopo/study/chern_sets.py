"""The evaluation sets of the Chern study (issue 22): clean, unseen, larger, counterfactual and disordered 2D lattices.

Every set is a :class:`tntopo.data.EvalSet` with the conventions of the 1D study:

``x`` (float32, ``(n, C, L, L)``)
    the **lattice layout** of the sample's Hamiltonian, :func:`tntopo.systems.lattice_layout`
    (``C = 2 (2R + 1)^2 n_orb^2`` channels, ``n_orb = 2``, stencil ``R = 2`` by default): the
    Hamiltonian itself laid out on the cell grid, a function of ``H`` alone (a perturbation of
    ``H`` moves it by as much; tested). ``n_cells = L`` (square ``L x L`` samples).
``label`` (int64)
    the exact integer: the certified Fukui-Hatsugai-Suzuki Chern number of the clean bulk
    (:func:`tntopo.invariants.chern.exact.fhs_chern`) for clean samples, the phase of the ensemble
    for disordered ones (below).
``w_real`` (float64)
    the bulk local Chern marker of the input's **own** Hamiltonian,
    ``layout_hamiltonian(x[i].astype(float64), 2, R)`` with the sample's boundary and the default
    bulk region ``L//4 <= x < L - L//4`` (``tntopo.chern_number(H, "marker", lattice=...)``): what
    the exact TopoNet2D computes from ``x``.
``aux``
    ``"family"`` (str) and ``"quantized"`` (``|w_real - label| < 0.25``: the sample determines its
    label) for every set, plus the per-set arrays below.

Every random draw comes from :func:`tntopo.parallel.task_seed` ``(seed, key...)`` with a key per set,
family, sector and sample: sample ``i`` of a set is a pure function of the seed and its key, so the
sets are byte-identical wherever and however they are built.

Clean families (:func:`chern_clean_set`)
----------------------------------------
Class-A two-band lattices (:class:`tntopo.Lattice2D`, open boundaries unless said), each with a Bloch
gap of at least ``min_gap`` at ``E_F = 0`` (the distance from ``E_F`` to the nearest band, measured
on a ``48 x 48`` k grid) and a certified FHS Chern number equal to the sector asked for
(candidates that miss either are redrawn; the acceptance rates are returned by
:func:`family_acceptance`):

``"qwz"`` (sectors -1, 0, 1)
    ``h(k) = sin kx sx + sin ky sy + (m + cos kx + cos ky) sz``: ``C = sign(m)``, ``|m|`` drawn in
    ``[min_gap, 2 - min_gap]``, ``C = 0`` for ``|m|`` in ``[2 + min_gap, 4]`` (either sign).
``"haldane"`` (sectors -1, 0, 1)
    :meth:`tntopo.Lattice2D.haldane` with ``t1 = 1``, ``t2 ~ U[0.15, 0.35]``, ``|phi| ~ U[pi/6, 5pi/6]``
    with both signs of ``phi`` and ``M`` on both sides of ``M_c = 3 sqrt(3) t2 |sin phi|``:
    ``|M| < M_c`` (``C = -sign(t2 sin phi)``) or ``M_c < |M| < M_c + 1.5`` (``C = 0``).
``"random"`` (sectors -4 .. 4)
    d-vector models ``h(k) = d0(k) + d(k).sigma`` with harmonics up to the stencil range 2, built as
    explicit :class:`~tntopo.Lattice2D` hoppings: ``d = Rot (sin(p kx), s sin(q ky), dz) +
    noise``, ``(p, q)`` one of ``(1, 1), (2, 1), (1, 2)`` (the zeros of ``dx + i dy`` sit on a
    ``2p x 2q`` grid with windings ``w = +-1``), ``dz = sum_zeros s_z v_z delta_z(k)`` a
    trigonometric interpolant (range <= 2) taking the value ``s_z v_z`` (``v_z ~ U[0.5, 1.5]``) at
    zero ``z``: the Chern number is ``+-(1/2) sum_z w_z s_z``, so choosing how many ``s_z`` agree
    with ``w_z`` aims at a sector; a Haar rotation ``Rot`` of SO(3) mixes the Pauli components, and
    random harmonics of every displacement up to range 2 (std 0.05, on ``d0`` too) make the model
    generic; the energy scale is drawn so that ``max_k |E| ~ U[2, 4]``. The certified FHS integer
    decides (the noise can move a candidate to another sector or close its gap: it is redrawn).

A sector is split evenly among the families that reach it (so ``|C| >= 2`` comes from ``"random"`` only).

Counterfactual sets (:func:`chern_counterfactual_set`, :func:`chern_matched_controls`)
------------------------------------------------------------------------------------
Where the edge-state proxy (:func:`edge_proxy_predict_2d`) and the bulk **disagree**, with matched
controls (the same perturbation) where they **agree**:

``"torus"`` (label ``C = +-1``) / ``"torus/control"`` (label 0)
    clean Chern insulators (trivial insulators for the control) of the clean families on an
    ``L x L`` torus (periodic boundaries): no edge, no state inside the bulk gap, proxy 0.
``"decorated"`` (label 0) / ``"decorated/control"`` (label ``C = +-1``)
    clean trivial insulators (Chern insulators for the control) with open boundaries whose outer
    ring of cells carries a **metallic chain** in the same two orbitals: along the ``4 (L - 1)``
    ring cells a hopping ``t e^{i theta} |u><u|`` between consecutive cells (``t ~ U[0.8, 1.5]``,
    ``theta ~ U[0, 2 pi)``, ``u`` a random unit spinor) and an on-site term that puts the chain's
    band centre ``mu ~ U[-0.3, 0.3] t`` near ``E_F`` (``(mu - <u|onsite|u>) |u><u|``). The chain's
    states at ``E_F`` lie in the bulk gap, so they are localized on the boundary: in-gap edge states
    without a Chern number. Sample ``i`` of a clean family in ``"decorated"`` and in each sector of
    ``"decorated/control"`` carry the **same** decoration (drawn from the pair's key; a candidate
    redrawn because of the proxy gets the next decoration of the pair). The bulk is untouched: the
    label is the certified FHS integer of the undecorated clean lattice (``aux["fhs"]``); ``w_real``
    is the marker of the decorated sample.

Samples are kept only where the proxy disagrees (counterfactual) or agrees (control) with the label
(``require_proxy``), never because of a marker value; the draws per kept sample are in
``aux["draws"]``.

The edge-state proxy (:func:`edge_proxy_predict_2d`)
----------------------------------------------------
From the input alone: rebuild ``H`` from ``x``, diagonalize, take the **in-gap states**
``|E - E_F| < window`` (``window`` = the data's ``min_gap``: inside the Bloch gap of every bulk of
the set, so only boundary states can be there). The proxy is ``0`` if there are none or if their
mean weight on the boundary ring (the outermost cells, ``ring = 1``) is below 1/2; otherwise it is
``+-1``, the sign of their summed circulation ``sum_n <n| L_z |n>``, ``L_z = (X - x_c) V_y -
(Y - y_c) V_x``, ``V = i [H, R]`` (the Streda response: the orbital magnetization added by the
states between two Fermi levels in the gap is ``C / 2 pi`` per unit energy, carried by the edge),
oriented so that it is ``+1`` for the chiral edge of clean open QWZ with ``m = 1`` (``C = +1``); a
circulation of exactly zero (a time-reversal-symmetric edge) counts as ``+1``.

Disorder (:func:`chern_disorder_set`)
-------------------------------------
QWZ with Anderson disorder ``W`` (``Lattice2D.qwz(m, (L, L), disorder=W, seed=...)``), ``m`` on a fixed
grid ``+-m_grid`` (default :data:`DEFAULT_M_GRID`: both sides of the clean transitions and the
topological Anderson insulator (TAI) region ``m = 2.2 - 2.5`` of ``docs/guide/chern.rst``), samples
spread evenly over the grid. The label is the **phase of the ensemble**: the mean Bott index
(:func:`tntopo.invariants.chern.ensemble.chern_ensemble`) of ``n_realizations`` periodic samples of
``ensemble_shape`` (default ``3L x 3L``), rounded; computed once per grid point of a set (the grid
points as tasks on ``executor=``, the same bytes for any executor), at ``|m|``
only: ``H(-m, eps) = -U H(m, -eps) U^dag`` (``U = (-1)^(x + y)``) and the disorder distribution is
even, so the ensemble at ``-m`` is minus the one at ``m`` (tested on single realizations). Per sample:
``aux["m"]``, ``aux["ensemble_mean"]``, ``aux["ensemble_sem"]`` (standard error over the certified
realizations), ``aux["ensemble_failed"]`` (realizations whose Bott index could not be certified: no
mobility gap on that sample size), ``aux["determined"]`` (at least half certified and
``mean +- 2 sem`` inside ``(label - 1/2, label + 1/2)``), ``aux["clean_label"]`` (FHS of the clean
``m``), ``aux["tai"]`` (trivial when clean, topological in the ensemble), ``aux["estimator"]``
(``round(w_real)``, the best estimator a sample allows: its own bulk marker) and
``aux["majority"]`` (the set's majority label).
"""
from __future__ import annotations

import numbers
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._typing import strict_keywords
from ..data.evalsets import EvalSet
from .._blas import single_threaded_blas
from ..errors import GaplessError, PrecisionError
from ..parallel import task_seed
from ..systems.lattice2d import Lattice2D
from ..systems.layout2d import lattice_layout, layout_channels, layout_hamiltonian

__all__ = [
    "CLEAN_FAMILIES",
    "FAMILY_SECTORS",
    "COUNTERFACTUAL_FAMILIES",
    "DEFAULT_MIN_GAP",
    "DEFAULT_M_GRID",
    "chern_clean_set",
    "chern_counterfactual_set",
    "chern_matched_controls",
    "edge_proxy_predict_2d",
    "edge_proxy_features_2d",
    "chern_disorder_set",
    "build_chern_sets",
    "family_acceptance",
    "disorder_set_name",
    "size_set_name",
]

#: The clean families and the Chern sectors each reaches.
FAMILY_SECTORS: Dict[str, Tuple[int, ...]] = {"qwz": (-1, 0, 1), "haldane": (-1, 0, 1), "random": tuple(range(-4, 5))}
CLEAN_FAMILIES = tuple(FAMILY_SECTORS)
#: Counterfactual families and their labels (the controls: ``"torus/control"`` 0, ``"decorated/control"`` +-1).
COUNTERFACTUAL_FAMILIES = {"torus": (-1, 1), "decorated": (0,)}
CONTROL = "/control"
#: Default minimum Bloch gap at ``E_F = 0`` (distance to the nearest band), as in the 1D study.
DEFAULT_MIN_GAP = 0.4
#: Default ``|m|`` grid of the disorder sets (both signs are used): the clean topological side,
#: the TAI region 2.2-2.5 and the trivial side.
DEFAULT_M_GRID = (0.5, 1.0, 1.5, 2.2, 2.5, 3.0)
N_ORB = 2
_QUANT_TOL = 0.25
_GAP_NK = 48
_MAX_TRIES = 2000
_KEYS = {"train": 1, "val": 2, "test": 3, "size": 4, "unseen": 5, "counterfactual": 11, "disorder": 12}
_FAM_KEY = {"qwz": 1, "haldane": 2, "random": 3}
_CF_KEY = {"torus": 21, "decorated": 22, "decoration": 23, "order": 24}
_DIS_KEY = {"sample": 31, "ensemble": 32, "order": 33}

# acceptance bookkeeping of the last draws: {(family, sector): [accepted, tried]}
_ACCEPT: Dict[Tuple[str, int], List[int]] = {}

_SX = np.array([[0, 1], [1, 0]], complex)
_SY = np.array([[0, -1j], [1j, 0]])
_SZ = np.diag([1.0, -1.0]).astype(complex)
_PAULI = np.stack([np.eye(2, dtype=complex), _SX, _SY, _SZ])


# ----------------------------------------------------------------------------- argument checks
def _check_int(name: str, v, lo: int = 1) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_gap(min_gap) -> float:
    try:
        g = float(min_gap)
    except (TypeError, ValueError):
        raise ValueError(f"min_gap must be a number in (0, 1), got {min_gap!r}") from None
    if not (0 < g < 1):
        raise ValueError(f"min_gap must lie in (0, 1) (QWZ's Chern sectors need |m| in [min_gap, 2 - min_gap]), "
                         f"got {min_gap!r}")
    return g


def _check_L(L, stencil: int) -> int:
    L = _check_int("L", L, 1)
    if L <= 2 * stencil or L < 4:
        raise ValueError(f"L = {L} is too small: the layout needs L > 2 * stencil = {2 * stencil} and the bulk marker "
                         "L >= 4; use L >= 8")
    return L


def _check_stencil(stencil) -> int:
    s = _check_int("stencil", stencil, 0)
    if s < 2:
        raise ValueError(f"stencil must be >= 2 (the random family hops up to 2 cells), got {stencil!r}")
    return s


def _check_sectors(cherns, families) -> Tuple[Tuple[int, ...], Tuple[str, ...]]:
    fams = tuple(families) if not isinstance(families, str) else (families,)
    bad = [f for f in fams if f not in FAMILY_SECTORS]
    if bad or not fams:
        raise ValueError(f"unknown families {bad or list(fams)}; choose from {set(CLEAN_FAMILIES)}")
    try:
        cs = tuple(int(c) for c in cherns)
    except (TypeError, ValueError):
        raise ValueError(f"cherns must be a sequence of integers, got {cherns!r}") from None
    if not cs or any(not float(c).is_integer() for c in cherns):
        raise ValueError(f"cherns must be a non-empty sequence of integers, got {cherns!r}")
    if len(set(cs)) != len(cs):
        raise ValueError(f"cherns has repeated sectors: {cherns!r}")
    for c in cs:
        if not any(c in FAMILY_SECTORS[f] for f in fams):
            raise ValueError(f"no family among {list(fams)} reaches Chern sector {c}: "
                             + "; ".join(f"{f} reaches {list(FAMILY_SECTORS[f])}" for f in CLEAN_FAMILIES)
                             + " (use families including 'random' for |C| >= 2)")
    return cs, fams


def _boundary(boundary) -> str:
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    return boundary


# ----------------------------------------------------------------------------- clean families
def _band_energies(lat: Lattice2D, nk: int = _GAP_NK) -> np.ndarray:
    """Both band energies ``(2, nk, nk)`` of a clean two-band lattice on an ``nk x nk`` k grid.

    ``h(k)`` from one FFT of its Fourier blocks (``h(k) = sum_d A_d exp(-i k.d)``, the convention of
    :meth:`tntopo.Lattice2D.bloch`), eigenvalues of the 2 x 2 blocks in closed form.
    """
    A = np.zeros((N_ORB, N_ORB, nk, nk), complex)
    A[:, :, 0, 0] += lat.onsite
    for (dx, dy), T in lat.hoppings.items():
        A[:, :, dx % nk, dy % nk] += T
        A[:, :, -dx % nk, -dy % nk] += T.conj().T
    h = np.fft.fft2(A, axes=(2, 3))
    a, d, b = h[0, 0].real, h[1, 1].real, h[0, 1]
    r = np.sqrt(((a - d) / 2) ** 2 + np.abs(b) ** 2)
    c = (a + d) / 2
    return np.stack([c - r, c + r])


def _bloch_gap(lat: Lattice2D) -> float:
    """Distance from ``E_F = 0`` to the nearest band on a ``48 x 48`` k grid (0 if a band crosses it)."""
    E = _band_energies(lat)
    n_occ = (E < 0).sum(0)
    if n_occ.min() != n_occ.max():  # a band crosses the Fermi level
        return 0.0
    return float(np.abs(E).min())


def _draw_qwz(rng, c: int, min_gap: float, shape, boundary):
    if c == 0:
        m = rng.choice([-1.0, 1.0]) * rng.uniform(2 + min_gap, 4.0)
    else:
        m = float(np.sign(c)) * rng.uniform(min_gap, 2 - min_gap)
    return Lattice2D.qwz(float(m), shape, boundary), {"m": float(m)}


def _draw_haldane(rng, c: int, min_gap: float, shape, boundary):
    t2 = rng.uniform(0.15, 0.35)
    sphi = (-np.sign(c) if c != 0 else rng.choice([-1.0, 1.0]))  # C = -sign(t2 sin phi), t2 > 0
    phi = float(sphi * rng.uniform(np.pi / 6, 5 * np.pi / 6))
    Mc = 3 * np.sqrt(3) * t2 * abs(np.sin(phi))
    M = rng.uniform(-Mc, Mc) if c != 0 else rng.choice([-1.0, 1.0]) * rng.uniform(Mc, Mc + 1.5)
    return Lattice2D.haldane(1.0, float(t2), phi, float(M), shape, boundary), {"t2": float(t2), "phi": phi, "M": float(M)}


# the random family's trigonometric polynomials: arrays F[dx + 2, dy + 2], f(k) = sum_d F[d] exp(-i k.d)
def _poly_cos(n: int, axis: int, shift: float = 0.0) -> np.ndarray:
    """``cos(n (k_axis - shift))``."""
    F = np.zeros((5, 5), complex)
    for sgn in (1, -1):
        d = [2, 2]
        d[axis] += -sgn * n  # exp(+i n k) is the term d = -n
        F[tuple(d)] += np.exp(-1j * sgn * n * shift) / 2
    return F


def _poly_sin(n: int, axis: int) -> np.ndarray:
    """``sin(n k_axis) = (exp(i n k) - exp(-i n k)) / 2i``."""
    F = np.zeros((5, 5), complex)
    d = [2, 2]
    d[axis] -= n
    F[tuple(d)] += 1 / 2j
    d = [2, 2]
    d[axis] += n
    F[tuple(d)] -= 1 / 2j
    return F


def _one() -> np.ndarray:
    F = np.zeros((5, 5), complex)
    F[2, 2] = 1.0
    return F


def _mul(F: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Product of two polynomials (a 2D convolution), checked to stay within range 2."""
    out = np.zeros((9, 9), complex)
    for i, j in zip(*np.nonzero(F)):
        out[i:i + 5, j:j + 5] += F[i, j] * G
    if np.any(np.abs(out[:2]) > 1e-14) or np.any(np.abs(out[-2:]) > 1e-14) or np.any(np.abs(out[:, :2]) > 1e-14) \
            or np.any(np.abs(out[:, -2:]) > 1e-14):
        raise AssertionError("a random-family polynomial reaches beyond range 2")
    return out[2:7, 2:7]


def _delta(p: int, j: int, axis: int) -> np.ndarray:
    """Trigonometric interpolant equal to 1 at ``k = j pi / p`` and 0 at the other ``2p - 1`` points ``l pi / p``."""
    a = j * np.pi / p
    if p == 1:
        return (_one() + _poly_cos(1, axis, a)) / 2
    return (_one() + 2 * _poly_cos(1, axis, a) + _poly_cos(2, axis, a)) / 4


def _haar_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _random_noise(rng, std: float) -> np.ndarray:
    """A real trigonometric polynomial with Gaussian coefficients on every displacement up to range 2."""
    F = np.zeros((5, 5), complex)
    for dx in range(0, 3):
        for dy in range(-2, 3):
            if (dx, dy) > (0, 0):
                z = complex(rng.normal(), rng.normal()) * std / 2
                F[dx + 2, dy + 2] += z
                F[-dx + 2, -dy + 2] += np.conj(z)
    F[2, 2] += rng.normal() * std
    return F


def _lattice_from_polys(polys: np.ndarray, shape, boundary) -> Lattice2D:
    """``h(k) = sum_a f_a(k) sigma_a`` (``polys`` ``(4, 5, 5)``: ``sigma_0, x, y, z``) as a Lattice2D."""
    onsite = np.einsum("a,aij->ij", polys[:, 2, 2], _PAULI)
    hops = {}
    for dx in range(0, 3):
        for dy in range(-2, 3):
            if (dx, dy) > (0, 0):
                T = np.einsum("a,aij->ij", polys[:, dx + 2, dy + 2], _PAULI)
                if np.any(T != 0):
                    hops[(dx, dy)] = T
    onsite = (onsite + onsite.conj().T) / 2
    return Lattice2D(onsite, hops, shape, boundary)


def _draw_random(rng, c: int, min_gap: float, shape, boundary):
    choices = [(1, 1), (2, 1), (1, 2)] if abs(c) <= 2 else [(2, 1), (1, 2)]
    p, q = choices[int(rng.integers(len(choices)))]
    s = float(rng.choice([-1.0, 1.0]))
    # zeros of dx + i dy = sin(p kx) + i s sin(q ky): (j pi / p, l pi / q), winding (-1)^(j + l) s
    zeros = [(j, l) for j in range(2 * p) for l in range(2 * q)]
    w = np.array([(-1) ** (j + l) * s for j, l in zeros])
    # C = -(sign c)(1/2) sum_z w_z s_z in tntopo's orientation (FHS, kx then ky): `agree` signs s_z
    # equal to -sign(c) w_z and the others opposite give |C| = agree - (number of zeros) / 2
    agree = len(zeros) // 2 + abs(c)
    sc = -1.0 if c >= 0 else 1.0
    signs = -sc * w
    signs[rng.permutation(len(zeros))[:agree]] *= -1
    v = rng.uniform(0.5, 1.5, len(zeros))
    dz = np.zeros((5, 5), complex)
    for (j, l), sg, vv in zip(zeros, signs, v):
        dz += sg * vv * _mul(_delta(p, j, 0), _delta(q, l, 1))
    d = np.stack([_poly_sin(p, 0), s * _poly_sin(q, 1), dz])
    d = np.einsum("ab,bxy->axy", _haar_rotation(rng), d)
    polys = np.concatenate([np.zeros((1, 5, 5), complex), d]) + np.stack([_random_noise(rng, 0.05) for _ in range(4)])
    emax = float(np.abs(_band_energies(_lattice_from_polys(polys, shape, boundary))).max())
    scale = rng.uniform(2.0, 4.0) / emax
    lat = _lattice_from_polys(polys * scale, shape, boundary)
    return lat, {"p": p, "q": q, "scale": float(scale)}


_DRAW = {"qwz": _draw_qwz, "haldane": _draw_haldane, "random": _draw_random}


def _fhs(lat: Lattice2D) -> Optional[int]:
    from ..invariants.chern.exact import fhs_chern

    try:
        return int(fhs_chern(lat))
    except (GaplessError, PrecisionError):
        return None


def _draw_clean(family: str, c: int, min_gap: float, L: int, boundary: str, ss) -> Tuple[Lattice2D, float, int]:
    """One clean lattice of ``family`` in sector ``c`` with gap >= ``min_gap``: ``(lattice, gap, tries)``."""
    rng = np.random.default_rng(ss)
    rec = _ACCEPT.setdefault((family, c), [0, 0])
    for tries in range(1, _MAX_TRIES + 1):
        lat, _ = _DRAW[family](rng, c, min_gap, (L, L), boundary)
        rec[1] += 1
        gap = _bloch_gap(lat)
        if gap < min_gap:
            continue
        if _fhs(lat) != c:
            continue
        rec[0] += 1
        return lat, gap, tries
    raise ValueError(f"could not draw a {family!r} lattice in Chern sector {c} with gap >= {min_gap} in {_MAX_TRIES} "
                     "tries; use a smaller min_gap")


@strict_keywords
def family_acceptance(reset: bool = False) -> Dict[str, Dict[str, float]]:
    """Acceptance rates of the clean families' draws since the last reset, per ``"family/C"``.

    Returns ``{"qwz/1": {"accepted": a, "tried": t, "rate": a / t}, ...}`` (a candidate is accepted
    when its Bloch gap is at least ``min_gap`` and its certified FHS integer is the sector asked for).
    """
    out = {f"{f}/{c}": {"accepted": a, "tried": t, "rate": a / t if t else float("nan")}
           for (f, c), (a, t) in sorted(_ACCEPT.items())}
    if reset:
        _ACCEPT.clear()
    return out


# ----------------------------------------------------------------------------- features and markers
def _lattice_layout_fast(lat: Lattice2D, stencil: int) -> np.ndarray:
    """:func:`tntopo.systems.lattice_layout` of a square lattice with default positions, without
    forming ``H``: the block ``<r|H|r + d>`` is ``onsite`` (``d = 0``, plus the disorder energy),
    ``T_d^dag`` and ``T_{-d}`` of the hoppings, present where ``r + d`` lies in the sample (always on
    a torus). Equal to ``lattice_layout(lat, stencil, dtype=np.float64)`` (tested)."""
    Lx, Ly = lat.shape
    R = stencil
    nd = 2 * R + 1
    blocks = np.zeros((nd, nd, N_ORB, N_ORB), complex)
    blocks[R, R] += lat.onsite
    for (hx, hy), T in lat.hoppings.items():
        if max(abs(hx), abs(hy)) > R:
            raise ValueError(f"hopping {(hx, hy)} beyond the stencil {R}")
        blocks[R + hx, R + hy] += T.conj().T      # <r|H|r + h> = <r + h|H|r>^dag
        blocks[R - hx, R - hy] += T               # <r|H|r - h> = T_h
    ix = np.arange(Lx)
    iy = np.arange(Ly)
    out = np.zeros((2, nd, nd, N_ORB, N_ORB, Lx, Ly))
    periodic = [b == "periodic" for b in lat.boundary]
    for a in range(nd):
        mx = np.ones(Lx, bool) if periodic[0] else ((ix + a - R >= 0) & (ix + a - R < Lx))
        for b in range(nd):
            my = np.ones(Ly, bool) if periodic[1] else ((iy + b - R >= 0) & (iy + b - R < Ly))
            blk = blocks[a, b]
            if not np.any(blk):
                continue
            mask = (mx[:, None] & my[None, :]).astype(float)
            out[0, a, b] = blk.real[:, :, None, None] * mask
            out[1, a, b] = blk.imag[:, :, None, None] * mask
    if lat.disorder > 0:
        e = lat.onsite_energies
        for o in range(N_ORB):
            out[0, R, R, o, o] += e
    return out.reshape(2 * nd * nd * N_ORB * N_ORB, Lx, Ly)


def _layouts(items, L: int, stencil: int) -> np.ndarray:
    C = layout_channels(N_ORB, stencil)
    x = np.empty((len(items), C, L, L), np.float32)
    for i, it in enumerate(items):
        if isinstance(it, Lattice2D):
            x[i] = _lattice_layout_fast(it, stencil)
        else:
            x[i] = lattice_layout(it, stencil, shape=(L, L), n_orb=N_ORB, dtype=np.float32)
    return x


def _markers(x: np.ndarray, boundary: str, stencil: int, max_bytes: float = 2.5e8) -> np.ndarray:
    """Bulk marker of each input's own Hamiltonian (float64 of the float32 layout), default bulk region.

    In chunks of at most 64 samples whose dense Hamiltonians take at most ``max_bytes`` (one 32 x 32
    sample is 67 MB).
    """
    from ..invariants.chern.api import chern_number

    L = x.shape[-1]
    dim = L * L * N_ORB
    chunk = int(max(1, min(64, max_bytes // (16 * dim * dim))))
    geo = Lattice2D(np.zeros((N_ORB, N_ORB)), {}, (L, L), boundary)
    out = np.empty(len(x))
    for s in range(0, len(x), chunk):
        H = layout_hamiltonian(x[s:s + chunk].astype(np.float64), N_ORB, stencil)
        out[s:s + chunk] = np.atleast_1d(chern_number(H, "marker", lattice=geo, warn=False))
    return out


def _quantized(w_real: np.ndarray, label: np.ndarray) -> np.ndarray:
    return np.abs(w_real - label) < _QUANT_TOL


def _sector_counts(n: int, cherns: Sequence[int]) -> List[int]:
    k = len(cherns)
    return [n // k + (i < n % k) for i in range(k)]


def _fam_counts(n: int, fams: Sequence[str]) -> List[int]:
    return [n // len(fams) + (i < n % len(fams)) for i in range(len(fams))]


def _clean_lattices(n: int, L: int, cherns, families, min_gap: float, boundary: str, seed: int, key: int):
    """``(lattices, labels, family names, gaps)`` balanced over sectors, then families; in a seeded order."""
    lats, labels, fams, gaps = [], [], [], []
    for c, nc in zip(cherns, _sector_counts(n, cherns)):
        reach = [f for f in families if c in FAMILY_SECTORS[f]]
        for f, nf in zip(reach, _fam_counts(nc, reach)):
            for i in range(nf):
                lat, gap, _ = _draw_clean(f, c, min_gap, L, boundary, task_seed(seed, key, c + 1000, _FAM_KEY[f], i))
                lats.append(lat); labels.append(c); fams.append(f); gaps.append(gap)
    order = np.random.default_rng(task_seed(seed, key, 999)).permutation(len(lats))
    return [lats[i] for i in order], np.asarray(labels, np.int64)[order], np.asarray(fams)[order], np.asarray(gaps)[order]


@strict_keywords
def chern_clean_set(n: int, L: int, cherns: Sequence[int], *, seed: int,
                    families: Sequence[str] = CLEAN_FAMILIES, min_gap: float = DEFAULT_MIN_GAP,
                    stencil: int = 2, boundary: str = "open") -> EvalSet:
    """Clean two-band lattices balanced over Chern sectors (see the module docstring).

    Parameters
    ----------
    n : int
        Number of samples (split evenly over ``cherns``, then over the families reaching each).
    L : int
        Side of the square ``L x L`` samples (``L > 2 stencil``).
    cherns : sequence of int
        Chern sectors.
    seed : int
    families : sequence of {"qwz", "haldane", "random"}
    min_gap : float
        Minimum Bloch gap at ``E_F = 0`` (distance to the nearest band).
    stencil : int
        Range of the layout (>= 2, the random family's range).
    boundary : {"open", "periodic"}

    Returns
    -------
    EvalSet
        ``aux``: ``family``, ``quantized``, ``gap`` (the Bloch gap).
    """
    n = _check_int("n", n)
    stencil = _check_stencil(stencil)
    L = _check_L(L, stencil)
    cherns, families = _check_sectors(cherns, families)
    min_gap, seed, boundary = _check_gap(min_gap), _check_seed(seed), _boundary(boundary)
    with single_threaded_blas():  # many 2 x 2 problems: threadpoolctl once, not per FHS call
        lats, y, fams, gaps = _clean_lattices(n, L, cherns, families, min_gap, boundary, seed, 1)
    x = _layouts(lats, L, stencil)
    w = _markers(x, boundary, stencil)
    return EvalSet(x, y, w, L, aux={"family": fams.astype(str), "quantized": _quantized(w, y), "gap": gaps})


# ----------------------------------------------------------------------------- the edge-state proxy
def _as_layouts(x, stencil: int) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    C = layout_channels(N_ORB, stencil)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != C or x.shape[2] != x.shape[3]:
        raise ValueError(f"layouts must have shape (n, {C}, L, L) (n_orb = 2, stencil = {stencil}), got {x.shape}; "
                         "use tntopo.systems.lattice_layout")
    return x


@strict_keywords
def edge_proxy_features_2d(x, stencil: int = 2, *, window: float = DEFAULT_MIN_GAP, ring: int = 1) -> Dict[str, np.ndarray]:
    """What the edge-state proxy reads from each layout (see :func:`edge_proxy_predict_2d`).

    Returns
    -------
    dict
        ``"n_in_gap"`` (int: states with ``|E| < window``), ``"ring_weight"`` (their mean weight on
        the outer ``ring`` cells; 0 without in-gap states) and ``"circulation"`` (their summed
        ``<L_z>``, oriented: positive for clean open QWZ with ``m = 1``).
    """
    stencil = _check_int("stencil", stencil, 0)
    x = _as_layouts(x, stencil)
    try:
        window = float(window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a positive number, got {window!r}") from None
    if not window > 0:
        raise ValueError(f"window must be a positive number, got {window!r}")
    L = x.shape[-1]
    ring = _check_int("ring", ring, 1)
    if 2 * ring >= L:
        raise ValueError(f"ring = {ring} must be below L/2 = {L / 2}")
    cell = np.arange(L * L * N_ORB) // N_ORB
    cx, cy = (cell // L).astype(float), (cell % L).astype(float)
    on_ring = (np.minimum(cx, L - 1 - cx) < ring) | (np.minimum(cy, L - 1 - cy) < ring)
    # minimum-image displacements (the layout's own displacement of each entry)
    ddx = (cx[None, :] - cx[:, None] + L // 2) % L - L // 2
    ddy = (cy[None, :] - cy[:, None] + L // 2) % L - L // 2
    xc = yc = (L - 1) / 2
    n_in = np.zeros(len(x), np.int64)
    rw = np.zeros(len(x))
    circ = np.zeros(len(x))
    with single_threaded_blas():  # small matrices: multi-threaded BLAS is many times slower
        for b in range(len(x)):
            _proxy_one(x[b], stencil, window, on_ring, ddx, ddy, cx - xc, cy - yc, b, n_in, rw, circ)
    return {"n_in_gap": n_in, "ring_weight": rw, "circulation": circ}


def _proxy_one(xb, stencil, window, on_ring, ddx, ddy, rx, ry, b, n_in, rw, circ) -> None:
    """The proxy's three numbers for one layout, written into ``n_in[b]``, ``rw[b]``, ``circ[b]``."""
    H = layout_hamiltonian(xb.astype(np.float64), N_ORB, stencil)
    H = (H + H.conj().T) / 2
    E, V = np.linalg.eigh(H)
    sel = np.abs(E) < window
    n_in[b] = int(sel.sum())
    if not n_in[b]:
        return
    Vg = V[:, sel]
    rw[b] = float((np.abs(Vg[on_ring]) ** 2).sum() / n_in[b])
    vx = 1j * H * ddx  # (V_x)_ij = i H_ij (x_j - x_i)
    vy = 1j * H * ddy
    Lz = rx[:, None] * vy - ry[:, None] * vx
    Lz = (Lz + Lz.conj().T) / 2
    circ[b] = _PROXY_SIGN * float(np.real(np.sum(Vg.conj() * (Lz @ Vg))))


#: Orientation of the circulation: +1 on the chiral edge of clean open QWZ with m = 1 (C = +1).
_PROXY_SIGN = 1.0


@strict_keywords
def edge_proxy_predict_2d(x, stencil: int = 2, *, window: float = DEFAULT_MIN_GAP, ring: int = 1,
                          threshold: float = 0.5) -> np.ndarray:
    """The edge-state proxy's Chern number from the input alone: 0, +1 or -1 per sample.

    ``0`` if the layout's Hamiltonian has no state with ``|E| < window`` or their mean weight on
    the outer ``ring`` cells is at most ``threshold``; otherwise the sign of their summed
    circulation (``+1`` where it is exactly zero). See the module docstring.

    Parameters
    ----------
    x : array ``(n, C, L, L)`` or ``(C, L, L)``
        Lattice layouts (:func:`tntopo.systems.lattice_layout`, ``n_orb = 2``).
    stencil : int
        Their stencil range.
    window : float
        Half-width of the in-gap window around ``E_F = 0`` (the data's ``min_gap``).
    ring : int
        Cells of the boundary ring.
    threshold : float
        Mean ring weight above which the in-gap states count as edge states.
    """
    f = edge_proxy_features_2d(x, stencil, window=window, ring=ring)
    edge = (f["n_in_gap"] > 0) & (f["ring_weight"] > threshold)
    return np.where(edge, np.where(f["circulation"] >= 0, 1, -1), 0).astype(np.int64)


# ----------------------------------------------------------------------------- counterfactuals
def _ring_cells(L: int) -> List[Tuple[int, int]]:
    """The outer ring of an ``L x L`` sample in cyclic order."""
    cells = [(x, 0) for x in range(L)] + [(L - 1, y) for y in range(1, L)]
    cells += [(x, L - 1) for x in range(L - 2, -1, -1)] + [(0, y) for y in range(L - 2, 0, -1)]
    return cells


def _decoration(ss) -> Dict[str, object]:
    rng = np.random.default_rng(ss)
    u = rng.normal(size=2) + 1j * rng.normal(size=2)
    u /= np.linalg.norm(u)
    t = rng.uniform(0.8, 1.5)
    return {"u": u, "t": float(t), "theta": float(rng.uniform(0, 2 * np.pi)), "mu": float(rng.uniform(-0.3, 0.3) * t)}


def _decorate(lat: Lattice2D, dec) -> np.ndarray:
    """The dense Hamiltonian of an open lattice with a metallic chain on its outer ring (module docstring)."""
    H = lat.hamiltonian().astype(complex)
    L = lat.Lx
    u = dec["u"]
    Pu = np.outer(u, u.conj())
    V = (dec["mu"] - float(np.real(u.conj() @ lat.onsite @ u))) * Pu
    T = dec["t"] * np.exp(1j * dec["theta"]) * Pu
    cells = _ring_cells(L)
    for a, (cx, cy) in enumerate(cells):
        i = (cx * L + cy) * N_ORB
        H[i:i + 2, i:i + 2] += V
        nx, ny = cells[(a + 1) % len(cells)]
        j = (nx * L + ny) * N_ORB
        H[j:j + 2, i:i + 2] += T
        H[i:i + 2, j:j + 2] += T.conj().T
    return H


def _cf_parts(family: str, control: bool) -> Tuple[int, ...]:
    if family == "torus":
        return (0,) if control else (-1, 1)
    return (-1, 1) if control else (0,)


def _draw_cf(family: str, control: bool, n: int, L: int, families, min_gap: float, seed: int, stencil: int,
             require_proxy: bool):
    """``n`` samples of one counterfactual family (or its control): ``(x, labels, fams, models, draws)``."""
    xs, ys, models, draws = [], [], [], []
    labels = _cf_parts(family, control)
    counts = _sector_counts(n, labels)
    boundary = "periodic" if family == "torus" else "open"
    for c, nc in zip(labels, counts):
        reach = [f for f in families if c in FAMILY_SECTORS[f]]
        fcounts = _fam_counts(nc, reach)
        for f, nf in zip(reach, fcounts):
            for i in range(nf):
                for attempt in range(_MAX_TRIES):
                    key = (_CF_KEY[family], int(control), c + 1000, _FAM_KEY[f], i, attempt)
                    lat, _, tries = _draw_clean(f, c, min_gap, L, boundary, task_seed(seed, *key))
                    if family == "torus":
                        x = _layouts([lat], L, stencil)
                    else:  # the same decoration for pair i of the counterfactual and the control
                        dec = _decoration(task_seed(seed, _CF_KEY["decoration"], _FAM_KEY[f], i, attempt))
                        x = _layouts([_decorate(lat, dec)], L, stencil)
                    proxy = int(edge_proxy_predict_2d(x, stencil, window=min_gap)[0])
                    if not require_proxy or ((proxy == c) if control else (proxy != c)):
                        break
                else:
                    raise ValueError(f"could not draw a {family}{CONTROL if control else ''} sample (label {c}) whose edge "
                                     f"proxy {'agrees' if control else 'disagrees'} in {_MAX_TRIES} attempts; use a "
                                     "larger L or require_proxy=False")
                xs.append(x[0]); ys.append(c); models.append(f); draws.append(attempt + 1)
    return xs, ys, models, draws


def _cf_set(n: int, L: int, control: bool, *, seed, families, cf_families, min_gap, stencil, require_proxy) -> EvalSet:
    n = _check_int("n", n)
    stencil = _check_stencil(stencil)
    L = _check_L(L, stencil)
    min_gap, seed = _check_gap(min_gap), _check_seed(seed)
    fams = tuple(cf_families) if not isinstance(cf_families, str) else (cf_families,)
    bad = [f for f in fams if f not in COUNTERFACTUAL_FAMILIES]
    if bad or not fams:
        raise ValueError(f"unknown counterfactual families {bad or list(fams)}; choose from {set(COUNTERFACTUAL_FAMILIES)}"
                         + (" (controls: call chern_matched_controls with the base names)"
                            if any(CONTROL in str(b) for b in bad) else ""))
    _, families = _check_sectors((-1, 0, 1), families)
    X, Y, F, M, D = [], [], [], [], []
    for fam, k in zip(fams, _fam_counts(n, fams)):
        if k == 0:
            continue
        with single_threaded_blas():
            xs, ys, models, draws = _draw_cf(fam, control, k, L, families, min_gap, seed, stencil, require_proxy)
        X += xs; Y += ys; M += models; D += draws
        F += [fam + (CONTROL if control else "")] * len(ys)
    order = np.random.default_rng(task_seed(seed, _CF_KEY["order"], int(control))).permutation(len(Y))
    x = np.stack(X)[order]
    y = np.asarray(Y, np.int64)[order]
    fam = np.asarray(F)[order].astype(str)
    w = np.empty(len(y))
    torus = np.char.startswith(fam, "torus")
    for mask, bnd in ((torus, "periodic"), (~torus, "open")):
        if mask.any():
            w[mask] = _markers(x[mask], bnd, stencil)
    proxy = edge_proxy_predict_2d(x, stencil, window=min_gap)
    return EvalSet(x, y, w, L, aux={"family": fam, "model": np.asarray(M)[order].astype(str), "edge_proxy": proxy,
                                    "fhs": y.copy(), "quantized": _quantized(w, y),
                                    "draws": np.asarray(D, np.int64)[order]})


@strict_keywords
def chern_counterfactual_set(n: int, L: int, *, seed: int, families: Sequence[str] = CLEAN_FAMILIES,
                             cf_families: Sequence[str] = ("torus", "decorated"), min_gap: float = DEFAULT_MIN_GAP,
                             stencil: int = 2, require_proxy: bool = True) -> EvalSet:
    """Samples where the edge-state proxy and the bulk Chern number disagree (module docstring).

    Half ``"torus"`` (Chern insulators on a torus, label ``+-1``), half ``"decorated"`` (trivial
    insulators with a metallic boundary chain, label 0), drawn from the clean ``families`` of the
    training sectors with gap >= ``min_gap``; ``aux``: ``family``, ``model`` (the clean family),
    ``edge_proxy`` (:func:`edge_proxy_predict_2d` with ``window=min_gap``), ``fhs``, ``quantized``,
    ``draws`` (candidates drawn per kept sample). ``require_proxy=True`` keeps only samples where
    the proxy disagrees with the label.
    """
    return _cf_set(n, L, False, seed=seed, families=families, cf_families=cf_families, min_gap=min_gap,
                   stencil=stencil, require_proxy=require_proxy)


@strict_keywords
def chern_matched_controls(n: int, L: int, *, seed: int, families: Sequence[str] = CLEAN_FAMILIES,
                           cf_families: Sequence[str] = ("torus", "decorated"), min_gap: float = DEFAULT_MIN_GAP,
                           stencil: int = 2, require_proxy: bool = True) -> EvalSet:
    """The matched controls: the same perturbations where the proxy agrees with the bulk.

    ``"torus/control"``: trivial insulators on a torus (label 0); ``"decorated/control"``: Chern
    insulators (``+-1``) with the same boundary chains as the counterfactual set of the same seed
    (pair ``i`` of a clean family carries the same decoration). ``require_proxy=True`` keeps only
    samples where the proxy agrees with the label.
    """
    return _cf_set(n, L, True, seed=seed, families=families, cf_families=cf_families, min_gap=min_gap,
                   stencil=stencil, require_proxy=require_proxy)


# ----------------------------------------------------------------------------- disorder
def _ensembles(ms: Sequence[float], W: float, shape, R: int, seed: int,
               executor=None) -> Dict[float, Tuple[float, float, int]]:
    """``{m: (mean, sem, failed)}``: the Bott index over ``R`` periodic realizations at each ``(m >= 0, W)``.

    One task per grid point of :func:`tntopo.invariants.chern.ensemble.chern_phase_diagram` (realization
    ``s`` has the seed ``task_seed(seed, s)`` at every point): the same numbers for any executor.
    """
    from ..invariants.chern.ensemble import chern_phase_diagram

    pd = chern_phase_diagram(list(ms), [W], shape, R, seed, method="bott",
                             executor="serial" if executor is None else executor)
    out = {}
    for i, m in enumerate(ms):
        values = pd["values"][i, 0]
        failed = int(np.isnan(values).sum())
        ok = values[~np.isnan(values)]
        if len(ok) == 0:
            out[m] = (float("nan"), float("nan"), failed)
        else:
            sem = float(np.std(ok, ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else float("inf")
            out[m] = (float(ok.mean()), sem, failed)
    return out


def _ensemble(m: float, W: float, shape, R: int, seed: int) -> Tuple[float, float, int]:
    """``(mean, sem, failed)`` at one point (see :func:`_ensembles`)."""
    return _ensembles([m], W, shape, R, seed)[m]


def _w_key(W: float) -> int:
    return int(round(W * 1000))


def _clean_qwz_label(m: float) -> int:
    return int(np.sign(m)) if 0 < abs(m) < 2 else 0


@strict_keywords
def chern_disorder_set(W: float, L: int, n: int, *, seed: int, ensemble_shape=None, n_realizations: int = 16,
                       m_grid: Sequence[float] = DEFAULT_M_GRID, stencil: int = 2, executor=None,
                       _cache=None) -> EvalSet:
    """Disordered QWZ samples labelled by the phase of their ensemble (module docstring).

    Parameters
    ----------
    W : float
        Anderson disorder strength (``>= 0``).
    L, n : int
        Sample side and number of samples (spread evenly over ``+-m_grid``).
    seed : int
    ensemble_shape : (int, int), optional
        Shape of the periodic samples of the ensemble (default ``(3L, 3L)``).
    n_realizations : int
        Realizations per grid point (the same seeds at every point: common random numbers).
    m_grid : sequence of float
        Positive masses; both signs are used.
    stencil : int
    executor : None, str or concurrent.futures.Executor
        Runs the ensemble's grid points (one task each, :func:`tntopo.parallel.map_tasks`); default
        serial. The sets are the same bytes for any executor (tested).

    Returns
    -------
    EvalSet
        ``aux``: ``family`` (``"qwz"``), ``m``, ``W``, ``ensemble_mean``, ``ensemble_sem``,
        ``ensemble_failed``, ``determined``, ``clean_label``, ``tai``, ``estimator``, ``majority``,
        ``quantized``.

    Raises
    ------
    ValueError
        Bad arguments, or a strength at which every grid point's realizations are all uncertified. (A
        single such point -- at a transition, no label to ask for -- is left out of that strength's set.)
    """
    try:
        W = float(W)
    except (TypeError, ValueError):
        raise ValueError(f"W must be a non-negative number, got {W!r}") from None
    if not (np.isfinite(W) and W >= 0):
        raise ValueError(f"W must be a finite number >= 0, got {W!r}")
    n = _check_int("n", n)
    stencil = _check_stencil(stencil)
    L = _check_L(L, stencil)
    seed = _check_seed(seed)
    R = _check_int("n_realizations", n_realizations, 2)
    shape = (3 * L, 3 * L) if ensemble_shape is None else ensemble_shape
    try:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 4:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"ensemble_shape must be a pair of integers >= 4, got {ensemble_shape!r}") from None
    try:
        grid = sorted({float(m) for m in m_grid})
    except (TypeError, ValueError):
        raise ValueError(f"m_grid must be a sequence of positive numbers, got {m_grid!r}") from None
    if not grid or any(not (np.isfinite(m) and m > 0) for m in grid):
        raise ValueError("m_grid must be a non-empty sequence of positive finite numbers (both signs are used), "
                         f"got {m_grid!r}")
    if any(abs(m - 2) < 1e-9 for m in grid):
        raise ValueError("m_grid contains m = 2, a clean transition (gapless); move the point")
    cache = {} if _cache is None else _cache
    ens_seed = int(task_seed(seed, _DIS_KEY["ensemble"]).generate_state(1)[0])
    stats = {}
    todo = [m for m in grid if (m, W, shape, R, ens_seed) not in cache]
    if todo:
        for m, v in _ensembles(todo, W, shape, R, ens_seed, executor).items():
            cache[(m, W, shape, R, ens_seed)] = v
    for m in grid:
        mean, sem, failed = cache[(m, W, shape, R, ens_seed)]
        if np.isfinite(mean):  # a point none of whose realizations has a certified Bott index (no mobility gap
            stats[m] = (mean, sem, failed)  # at E_F: at a transition) has no label to ask for: left out at this W
    if not stats:
        raise ValueError(f"no grid point of the ensemble at W = {W} on {shape} has a certified Bott index (every point "
                         "is at a transition); move m_grid, or use more realizations or larger ensemble samples")
    grid = [m for m in grid if m in stats]
    ms = np.array([-m for m in reversed(grid)] + grid)
    G = len(ms)
    rng = np.random.default_rng(task_seed(seed, _DIS_KEY["order"], _w_key(W)))
    idx = np.concatenate([rng.permutation(G) for _ in range(-(-n // G))])[:n]
    mi = ms[idx]
    lats = [Lattice2D.qwz(float(m), (L, L), "open", disorder=W, seed=task_seed(seed, _DIS_KEY["sample"], _w_key(W), i))
            for i, m in enumerate(mi)]
    x = _layouts(lats, L, stencil)
    w = _markers(x, "open", stencil)
    sg = np.sign(mi)
    mean = np.array([stats[abs(m)][0] for m in mi]) * sg
    sem = np.array([stats[abs(m)][1] for m in mi])
    failed = np.array([stats[abs(m)][2] for m in mi], np.int64)
    y = np.round(mean).astype(np.int64)
    determined = (failed <= R // 2) & (mean - 2 * sem > y - 0.5) & (mean + 2 * sem < y + 0.5)
    clean = np.array([_clean_qwz_label(m) for m in mi], np.int64)
    vals, cnt = np.unique(y, return_counts=True)
    majority = int(vals[np.lexsort((np.abs(vals), -cnt))[0]])
    return EvalSet(x, y, w, L, aux={
        "family": np.full(n, "qwz"), "m": mi.astype(float), "W": np.full(n, W), "ensemble_mean": mean,
        "ensemble_sem": sem, "ensemble_failed": failed, "determined": determined, "clean_label": clean,
        "tai": (clean == 0) & (y != 0), "estimator": np.round(w).astype(np.int64),
        "majority": np.full(n, majority, np.int64), "quantized": _quantized(w, y)})


# ----------------------------------------------------------------------------- all sets
def disorder_set_name(L: int, W: float) -> str:
    """``"disorder/L8/W4"`` (``W`` with ``%g``): :meth:`tntopo.study.ChernStudyConfig.disorder_set_name`."""
    from .config import ChernStudyConfig

    return ChernStudyConfig.disorder_set_name(L, W)


def size_set_name(L: int) -> str:
    """``"size/L16"``."""
    return f"size/L{int(L)}"


def _sub_seed(seed: int, key: int) -> int:
    return int(task_seed(seed, key).generate_state(1)[0])


@strict_keywords
def build_chern_sets(*, seed: int, L: int, n_train: int, n_val: int, n_test: int, n_size: int, n_unseen: int,
                     n_counterfactual: int, disorder_strengths: Sequence[float], n_disorder: int, min_gap: float,
                     train_cherns: Sequence[int] = (-1, 0, 1), unseen_cherns: Sequence[int] = (-3, -2, 2, 3),
                     size_Ls: Optional[Sequence[int]] = None, families: Sequence[str] = CLEAN_FAMILIES,
                     ensemble_shape=None, n_realizations: int = 16, m_grid: Sequence[float] = DEFAULT_M_GRID,
                     stencil: int = 2, executor=None, progress: bool = False, checkpoint=None) -> Dict[str, EvalSet]:
    """Every evaluation set of the Chern study, deterministic in ``seed``.

    Names: ``"train"``, ``"val"``, ``"test"`` (:func:`chern_clean_set`, ``train_cherns``, ``L x L``),
    ``"size/L<L'>"`` for each ``L'`` of ``size_Ls`` (default ``(2L, 4L)``) and ``"size"`` (the first),
    ``"unseen"`` (``unseen_cherns``), ``"counterfactual"`` and ``"counterfactual_control"``
    (:func:`chern_counterfactual_set`, :func:`chern_matched_controls`), ``"disorder/L<L>/W<W>"``
    for each strength (:func:`chern_disorder_set`; the ensemble of each grid point is computed once,
    its grid points on ``executor``: default serial, the same bytes for any executor).

    ``checkpoint`` (a directory, optional): each set is written there as it is finished
    (``<name>.h5``, atomically, the ``/`` of its name as ``__``) and read back instead of rebuilt, so
    an interrupted build resumes at the first missing set. The directory must belong to these
    arguments alone (the study keys it by its data key): its files are not checked against them.
    """
    from tqdm.auto import tqdm

    seed = _check_seed(seed)
    stencil = _check_stencil(stencil)
    L = _check_L(L, stencil)
    min_gap = _check_gap(min_gap)
    cherns, families = _check_sectors(train_cherns, families)
    _check_sectors(unseen_cherns, families)
    for name, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("n_size", n_size),
                    ("n_unseen", n_unseen), ("n_counterfactual", n_counterfactual), ("n_disorder", n_disorder)):
        _check_int(name, v)
    try:
        sizes = (2 * L, 4 * L) if size_Ls is None else tuple(int(s) for s in size_Ls)
        strengths = tuple(float(W) for W in disorder_strengths)
    except (TypeError, ValueError):
        raise ValueError(f"size_Ls must be a sequence of integers and disorder_strengths of numbers, got {size_Ls!r} "
                         f"and {disorder_strengths!r}") from None
    if not sizes:
        raise ValueError("size_Ls is empty: give at least one larger side, e.g. (2L, 4L)")
    for s in sizes:
        _check_L(s, stencil)
    if any(not (np.isfinite(W) and W >= 0) for W in strengths):
        raise ValueError(f"disorder_strengths must be finite numbers >= 0, got {disorder_strengths!r}")
    kw = dict(families=families, min_gap=min_gap, stencil=stencil)
    jobs = [("train", lambda: chern_clean_set(n_train, L, cherns, seed=_sub_seed(seed, 1), **kw)),
            ("val", lambda: chern_clean_set(n_val, L, cherns, seed=_sub_seed(seed, 2), **kw)),
            ("test", lambda: chern_clean_set(n_test, L, cherns, seed=_sub_seed(seed, 3), **kw))]
    for j, s in enumerate(sizes):
        jobs.append((size_set_name(s),
                     lambda s=s, j=j: chern_clean_set(n_size, s, cherns, seed=_sub_seed(seed, 40 + j), **kw)))
    jobs.append(("unseen", lambda: chern_clean_set(n_unseen, L, unseen_cherns, seed=_sub_seed(seed, 5), **kw)))
    cf_seed = _sub_seed(seed, 11)
    jobs.append(("counterfactual", lambda: chern_counterfactual_set(n_counterfactual, L, seed=cf_seed, **kw)))
    jobs.append(("counterfactual_control", lambda: chern_matched_controls(n_counterfactual, L, seed=cf_seed, **kw)))
    cache: dict = {}
    dseed = _sub_seed(seed, 12)
    for W in strengths:
        jobs.append((disorder_set_name(L, W), lambda W=W: chern_disorder_set(
            W, L, n_disorder, seed=dseed, ensemble_shape=ensemble_shape, n_realizations=n_realizations, m_grid=m_grid,
            stencil=stencil, executor=executor, _cache=cache)))
    out: Dict[str, EvalSet] = {}
    for name, make in tqdm(jobs, desc="chern sets", disable=not progress):
        out[name] = _checkpointed(checkpoint, name, make)
        if name == size_set_name(sizes[0]):
            out["size"] = out[name]
    return out


def _checkpointed(directory, name: str, make) -> EvalSet:
    """``make()``, or the set saved under ``name`` in ``directory`` by an earlier (interrupted) build; a new
    set is saved there atomically before it is returned. Without a directory: ``make()``."""
    if directory is None:
        return make()
    from pathlib import Path

    from ..data.evalsets import load_eval_sets, save_eval_sets

    path = Path(directory) / (name.replace("/", "__") + ".h5")
    if path.exists():
        try:
            return load_eval_sets(path)[name]
        except (ValueError, KeyError):  # damaged, of another format or foreign: rebuilt below
            pass
    s = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_eval_sets({name: s}, path)
    return s
