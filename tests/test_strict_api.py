"""One strict API: every public callable rejects an unknown keyword with a ``TypeError`` naming the valid ones.

The public callables are walked, not listed: everything callable in ``tntopo.__all__`` and in the
``__all__`` of every subpackage (and of the modules those export, such as ``tntopo.nn.functional``).
A new public function or class is checked the day it is exported. The check runs before any work
(``tntopo._typing.strict_keywords`` looks at the keywords before calling), so no arguments are
needed, except for the functions that take ``**kwargs`` to pass on: those get the positional
arguments of :data:`VARKW_ARGS` and must reject the unknown keyword themselves.

Inapplicable options (a real option that the chosen method does not use) are checked in
:func:`test_inapplicable_options_name_the_valid_ones`, in one and two dimensions.
"""
import importlib
import inspect
import string
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tntopo

BOGUS = "zz_not_an_option"


def _public_callables():
    """``{qualified export name: object}``, each object once (the first name it is exported under)."""
    modules = ["tntopo"] + [f"tntopo.{m}" for m in tntopo._LAZY_SUBPACKAGES]
    # public modules that their package imports on use only (not in its __all__)
    modules += ["tntopo.invariants.winding.ensemble", "tntopo.invariants.chern.ensemble"]
    found, seen, i = {}, set(), 0
    while i < len(modules):
        mod = importlib.import_module(modules[i])
        i += 1
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                if obj.__name__.startswith("tntopo.") and obj.__name__ not in modules:
                    modules.append(obj.__name__)
                continue
            if callable(obj) and id(obj) not in seen:
                seen.add(id(obj))
                found[f"{mod.__name__}.{name}"] = obj
    return found


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    PUBLIC = _public_callables()


def _build_mlp():
    from tntopo.nn import build_model

    return build_model("mlp", 8)


#: callables taking ``**kwargs`` that they pass on: the positional arguments that reach the check
VARKW_ARGS = {
    "tntopo.nn.build_model": ("mlp", 8),
    "tntopo.nn.select_lr": (_build_mlp, None, None),
    "tntopo.data.make_arrays": (2, 8),
    "tntopo.data.make_dataset": (2, 8),
    "tntopo.data.make_lattice_arrays": (2,),
    "tntopo.nn.History": (),
    "tntopo.study.get_config": ("quick",),
}
#: required keyword-only arguments of those (given so that the bogus one is the only problem)
VARKW_KWARGS = {"tntopo.nn.select_lr": {"epochs": 1}}

#: callables whose keyword arguments are open by design, and why (each still has its own check below)
OPEN = {
    # its keywords name per-sample data columns of the caller's choosing (tests below: a value
    # that is not per-sample is rejected)
    "tntopo.data.ArrayDataset": "per-sample extra arrays",
}


def _is_exempt(obj):
    import torch

    # torch.autograd.Function subclasses are called through .apply (their public entry points,
    # sign_h and sign_hermitian, are checked); exceptions take a message
    return inspect.isclass(obj) and (issubclass(obj, torch.autograd.Function) or issubclass(obj, BaseException))


CHECKED = {k: v for k, v in PUBLIC.items() if k not in OPEN and not _is_exempt(v)}


def _keyword_names(obj):
    sig = inspect.signature(obj)
    return [n for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "cls")]


def _call_with(name, obj, keyword):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj(*VARKW_ARGS.get(name, ()), **VARKW_KWARGS.get(name, {}), **{keyword: 1})


def _assert_names_valid(name, obj, message, keyword):
    assert keyword in message, message
    if "takes no keyword arguments" in message:
        assert not _keyword_names(obj) or name in VARKW_ARGS, message
        return
    assert "valid keywords:" in message, message
    listed = message.split("valid keywords:", 1)[1]
    if name not in VARKW_ARGS:  # a **kwargs function names what it passes on, not its own signature
        missing = [n for n in _keyword_names(obj) if n not in listed]
        assert not missing, f"{name}: the message does not name {missing}: {message}"
    else:
        assert listed.strip(), message


def test_walk_finds_the_public_api():
    # the walk must see both dimensions and every layer; a broken walk would pass vacuously
    for must in ("tntopo.winding_number", "tntopo.chern_number", "tntopo.Lattice2D", "tntopo.SSHChain",
                 "tntopo.invariants.fhs_chern", "tntopo.nn.train", "tntopo.nn.functional.sign_h",
                 "tntopo.data.make_arrays", "tntopo.plot.plot_chern_marker", "tntopo.parallel.get_executor",
                 "tntopo.LocalOptions", "tntopo.ChernLocalOptions"):
        assert must in PUBLIC, must
    assert len(CHECKED) > 100
    assert set(VARKW_ARGS) <= set(PUBLIC) and set(OPEN) <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_unknown_keyword_names_the_valid_ones(name):
    obj = CHECKED[name]
    with pytest.raises(TypeError) as err:
        _call_with(name, obj, BOGUS)
    _assert_names_valid(name, obj, str(err.value), BOGUS)


_identifiers = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(str.isidentifier)
_STRICT = sorted(CHECKED)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(_STRICT), keyword=_identifiers)
def test_any_unknown_keyword_is_rejected(name, keyword):
    """Property: whatever the misspelling, a keyword the callable does not take is a TypeError naming
    it and the valid ones (never silently swallowed, never Python's bare message)."""
    obj = CHECKED[name]
    if keyword in _keyword_names(obj) or keyword in VARKW_KWARGS.get(name, {}):
        return  # a real option: not the property's business
    if keyword in getattr(obj, "__deprecated_keywords__", ()):
        return  # a former keyword, still served for one release (test_deprecated_keywords_warn_and_name_the_object)
    if name in ("tntopo.data.make_arrays", "tntopo.data.make_dataset", "tntopo.data.make_lattice_arrays"):
        opts = [importlib.import_module(f"tntopo.data.{m}")._DEFAULTS for m in ("generate", "lattice2d")]
        if any(keyword in o for o in opts):
            return
    if name == "tntopo.nn.History" and keyword in tntopo.nn.History.ALL_KEYS:
        return
    if name == "tntopo.nn.select_lr" and keyword in _keyword_names(tntopo.nn.train):
        return
    if name == "tntopo.nn.build_model" and keyword in ("hidden", "activation", "dtype"):
        return
    with pytest.raises(TypeError) as err:
        _call_with(name, obj, keyword)
    _assert_names_valid(name, obj, str(err.value), keyword)


def test_near_miss_gets_a_suggestion():
    with pytest.raises(TypeError, match=r"did you mean 'n_cells'\?.*valid keywords: hoppings, n_cells"):
        tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cell=10)
    with pytest.raises(TypeError, match=r"did you mean 'n_k'\?"):
        tntopo.invariants.fhs_chern(tntopo.Lattice2D.qwz(1.0, (6, 6)), nk=12)


def test_array_dataset_extras_must_be_per_sample():
    from tntopo.data import ArrayDataset

    ds = ArrayDataset(np.zeros((3, 2)), np.zeros(3), label=np.ones(3))
    assert ds.label.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="per-sample"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(3), labl=1)
    with pytest.raises(ValueError, match="length 2"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(3), label=np.ones(2))


def test_history_accepts_its_keys_only():
    from tntopo.nn import History

    h = History({"epoch": [0, 1]}, best_epoch=1)
    assert h.completed_epochs == 2 and h.best_epoch == 1 and h["train_loss"] == []
    with pytest.raises(TypeError, match="'best_epch'.*valid keywords: epoch"):
        History(best_epch=1)


# --- inapplicable options: a real option that the chosen route does not use -----------------------

_CHAIN = dict(hoppings={0: 0.5, 1: 1.0}, n_cells=40)
_INAPPLICABLE_1D = [
    ("winding_number", dict(method="dense", local=tntopo.LocalOptions(buffer=3))),
    ("winding_number", dict(method="bloch", region=slice(5, 10))),
    ("winding_number", dict(method="twisted", local=tntopo.LocalOptions(tol=1e-3))),
    ("local_winding_marker", dict(method="dense", local=tntopo.LocalOptions(core=4))),
    ("disorder_average", dict(method="twisted", local=tntopo.LocalOptions(buffer=3))),
    ("disorder_sweep", dict(method="twisted", local=tntopo.LocalOptions(check=False))),
    ("phase_diagram", dict(method="twisted", local=tntopo.LocalOptions(max_buffer=30))),
]
_INAPPLICABLE_2D = [
    ("chern_number", dict(method="marker", local=tntopo.ChernLocalOptions(buffer=3))),
    ("chern_number", dict(method="fhs", local=tntopo.ChernLocalOptions(buffer=3, tol=0.5))),
    ("chern_number", dict(method="bott", local=tntopo.ChernLocalOptions(solver="eigh"))),
    ("chern_number", dict(method="marker", n_k=12)),
    ("chern_number", dict(method="fhs", region=(slice(1, 3), slice(1, 3)))),
    ("local_chern_marker", dict(method="dense", local=tntopo.ChernLocalOptions(tol=0.1))),
    ("local_chern_marker", dict(method="dense", local=tntopo.ChernLocalOptions(solver="chebyshev"))),
]


def _run_1d(fn, kw):
    if fn == "disorder_average":
        return tntopo.disorder_average({0: 0.5, 1: 1.0}, {0: 1.0}, 20, 2, executor="serial", **kw)
    if fn == "disorder_sweep":
        return tntopo.disorder_sweep([({0: 0.5, 1: 1.0}, {0: 1.0})], 20, 2, executor="serial", **kw)
    if fn == "phase_diagram":
        return tntopo.phase_diagram([0.5], [1.0], n_cells=20, n_realizations=2, executor="serial",
                                    progress=False, **kw)
    boundary = "periodic" if kw.get("method") in ("bloch", "twisted") else "open"
    return getattr(tntopo, fn)(tntopo.SSHChain(**_CHAIN, boundary=boundary), **kw)


@pytest.mark.parametrize("fn, kw", _INAPPLICABLE_1D + _INAPPLICABLE_2D, ids=lambda v: str(v))
def test_inapplicable_options_name_the_valid_ones(fn, kw):
    if fn in ("chern_number", "local_chern_marker"):
        lattice = tntopo.Lattice2D.qwz(1.0, (8, 8), boundary="periodic" if kw["method"] == "bott" else "open")
        call = lambda: getattr(tntopo, fn)(lattice, **kw)  # noqa: E731
    else:
        call = lambda: _run_1d(fn, kw)  # noqa: E731
    with pytest.raises(TypeError, match="inapplicable") as err:
        call()
    message = str(err.value)
    assert f"{fn}()" in message, message  # names the function called, not a helper
    assert any(f"{k}=" in message for k in kw if k != "method"), message
    assert "method=" in message or "use " in message, message  # says where the option does apply


# --- closed option sets: checked against their tntopo._typing Literal, the message lists the choices --------
def _option_cases():
    import torch

    from tntopo.data import lattice_dataset, make_arrays, make_lattice_arrays
    from tntopo.nn import functional as F
    from tntopo.nn.training import best_lr

    return [
        (lambda: lattice_dataset({}, target="C"), "target", "'label', 'c_real', 'exact'"),
        (lambda: make_arrays(2, 8, dtype="float16"), "dtype", "'float64', 'float32'"),
        (lambda: make_lattice_arrays(2, dtype="half"), "dtype", "'float64', 'float32'"),
        (lambda: make_lattice_arrays(2, boundary="torus"), "boundary", "'open', 'periodic'"),
        (lambda: F.winding_number(torch.eye(6, dtype=torch.float64), boundary="ring"), "boundary", "'open', 'periodic'"),
        (lambda: best_lr({0.1: {"accuracy": 1.0, "loss": 0.0}}, metric="acc"), "metric", "'accuracy', 'loss'"),
        (lambda: tntopo.phase_diagram([0.5], [1.0], boundary="opne", progress=False), "boundary", "'open', 'periodic'"),
    ]


def test_closed_option_sets_name_their_choices():
    for call, name, listed in _option_cases():
        with pytest.raises(ValueError, match=f"unknown {name} .*; choose one of {listed}"):
            call()


# --- the local routes' options objects, and the keywords they replaced -----------------------------
#: function -> (options class, how to call it on a small system with the given keywords)
_DEPRECATED = {
    "winding_number": lambda **kw: tntopo.winding_number(tntopo.SSHChain(**_CHAIN), "local", **kw),
    "local_winding_marker": lambda **kw: tntopo.local_winding_marker(tntopo.SSHChain(**_CHAIN), [20], "local", **kw),
    "disorder_sweep": lambda **kw: tntopo.disorder_sweep([({0: 0.5, 1: 1.0}, {0: 1.0})], 40, 1, boundary="open",
                                                         method="local", executor="serial", **kw),
    "disorder_average": lambda **kw: tntopo.disorder_average({0: 0.5, 1: 1.0}, {0: 1.0}, 40, 1, boundary="open",
                                                             method="local", executor="serial", **kw),
    "phase_diagram": lambda **kw: tntopo.phase_diagram([0.5], [1.0], n_cells=40, n_realizations=1, boundary="open",
                                                       method="local", executor="serial", progress=False, **kw),
    "chern_number": lambda **kw: tntopo.chern_number(tntopo.Lattice2D.qwz(1.0, (12, 12)), "local", warn=False, **kw),
    "local_chern_marker": lambda **kw: tntopo.local_chern_marker(tntopo.Lattice2D.qwz(1.0, (12, 12)), "local",
                                                                 warn=False, **kw),
}


def test_every_function_with_former_keywords_is_checked():
    have = {n.rsplit(".", 1)[1] for n, o in PUBLIC.items() if getattr(o, "__deprecated_keywords__", ())}
    assert {"winding_number", "local_winding_marker", "disorder_sweep", "disorder_average", "phase_diagram",
            "chern_number", "local_chern_marker"} <= have
    assert have - {"local_markers", "winding_number_local", "realization_windings", "local_marker_windows"} \
        <= set(_DEPRECATED)


@pytest.mark.parametrize("fn", sorted(_DEPRECATED))
def test_deprecated_keywords_warn_and_name_the_object(fn):
    """Each former keyword still works for one release: a FutureWarning naming local=<Options>(...), and the
    same result as the object; both at once is a TypeError."""
    obj = getattr(tntopo, fn)
    cls = tntopo.ChernLocalOptions if fn.startswith(("chern", "local_chern")) else tntopo.LocalOptions
    kw = {"buffer": 3}
    with pytest.warns(FutureWarning, match=rf"{fn}\(\): the keyword buffer= is deprecated: pass "
                      rf"local=tntopo.{cls.__name__}\(buffer=3\)"):
        old = _DEPRECATED[fn](**kw)
    new = _DEPRECATED[fn](local=cls(**kw))
    def values(r):  # a number, a marker map, or an ensemble's values (a phase diagram's means)
        return r if isinstance(r, (float, int, np.ndarray)) else r.values if hasattr(r, "values") else r.mean

    np.testing.assert_array_equal(np.asarray(values(old), dtype=float), np.asarray(values(new), dtype=float))
    assert "buffer" in obj.__deprecated_keywords__ and "buffer" not in _keyword_names(obj)
    with pytest.raises(TypeError, match="not also as buffer="):
        _DEPRECATED[fn](buffer=3, local=cls(core=2))


@pytest.mark.parametrize("cls", ["LocalOptions", "ChernLocalOptions"])
def test_options_objects_are_strict(cls):
    cls = getattr(tntopo, cls)
    with pytest.raises(TypeError, match=r"'bufer'.*did you mean 'buffer'.*valid keywords: buffer, core, tol"):
        cls(bufer=3)
    with pytest.raises(TypeError):
        cls(3)  # keyword-only
    with pytest.raises(ValueError, match="buffer"):
        cls(buffer=0)
    with pytest.raises(ValueError, match="tol"):
        cls(tol=1.5)
    assert cls(buffer=3) == cls(buffer=3) and hash(cls(buffer=3)) == hash(cls(buffer=3))  # frozen: a value
