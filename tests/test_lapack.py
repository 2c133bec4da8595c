"""tntopo._lapack: the LAPACK capsules' C signatures are checked before any call."""
import ctypes

import numpy as np
import pytest

from tntopo import _lapack

scipy_lapack = pytest.importorskip("scipy.linalg.cython_lapack")


def _capsule_name(name):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get_name(scipy_lapack.__pyx_capi__[name]).decode()


@pytest.mark.parametrize("name", sorted(_lapack.SIGNATURES))
def test_scipy_capsules_have_the_expected_signatures(name):
    assert _lapack.signature_kinds(_capsule_name(name)) == _lapack.SIGNATURES[name]


@pytest.mark.parametrize("sig, kinds", [
    ("void (char *, int *, double *)", "cid"),
    ("void (char *, int *, __pyx_t_double_complex *, __pyx_t_5scipy_6linalg_13cython_lapack_d *)", "cizd"),
    ("void (char *, long *, double *)", None),  # 64-bit integers (ILP64)
    ("void (char *, int64_t *, double *)", None),
    ("void (char *, npy_int64 *, double *)", None),
    ("int (char *, int *)", None),
    ("void (char, int *)", None),
    ("garbage", None),
])
def test_signature_kinds(sig, kinds):
    assert _lapack.signature_kinds(sig) == kinds


def _hermitian(B, n, seed=0):
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((B, n, n)) + 1j * rng.standard_normal((B, n, n))
    return H + np.conj(np.swapaxes(H, -1, -2))


def test_unexpected_signature_falls_back_to_numpy(monkeypatch):
    H = _hermitian(4, 24)
    E0, V0 = _lapack.eigh_occupied(H, 0.0)
    assert _lapack._routines() is not None
    monkeypatch.setattr(_lapack, "_ROUTINES", {})
    monkeypatch.setattr(_lapack, "SIGNATURES", dict(_lapack.SIGNATURES, zhetrd="cjzjddzzjj"))
    assert _lapack._routines() is None  # never called with the wrong integer width
    E1, V1 = _lapack.eigh_occupied(H, 0.0)
    np.testing.assert_allclose(E1, E0, atol=1e-12)
    k = (E0 < 0).sum(-1)
    for b in range(4):
        P0 = V0[b, :, :k[b]] @ V0[b, :, :k[b]].conj().T
        P1 = V1[b, :, :k[b]] @ V1[b, :, :k[b]].conj().T
        np.testing.assert_allclose(P1, P0, atol=1e-10)


def test_occupied_pairs_match_numpy():
    H = _hermitian(6, 40, seed=1)
    E, V = _lapack.eigh_occupied(H, 0.5)
    E2, V2 = np.linalg.eigh(H)
    np.testing.assert_allclose(E, E2, atol=1e-10)
    for b in range(6):
        k = int((E2[b] < 0.5).sum())
        np.testing.assert_allclose(np.abs(np.conj(V[b, :, :k]).T @ V2[b, :, :k]), np.eye(k), atol=1e-8)
        assert not V[b, :, k:].any()
