"""Matplotlib figures of plain results (phase diagrams, local markers) and the checks a publishable
figure passes. Computation and plotting are kept apart: every function takes ``ax=None`` (a new
figure is made when omitted) and returns the figure.

The study's figures, which read its ``results.json``, live with the study in
:mod:`tntopo.study.figures`; their old names here still work for one release, with a
:class:`FutureWarning` naming the new place.
"""
from __future__ import annotations

import importlib
import re

import numpy as np

from ._moved import warn_moved
from ._typing import strict_keywords

__all__ = [
    "plot_phase_diagram",
    "plot_local_marker",
    "display_name",
    "hoppings_label",
    "param_label",
    "MODEL_NAMES",
    "HEAD_NAMES",
    "figure_problems",
    "looks_like_repr",
    "integer_axis",
]


def _axes(ax, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


#: Display names of the study's models (figures use these instead of the internal keys).
MODEL_NAMES = {
    "topo": "TopoNet",
    "topo_ti": "TopoNet, structured",
    "topo_commutator": "TopoNet, commutator kernel",
    "topo_ti_plain": "TopoNet, unconstrained",
    "mlp": "MLP",
    "cnn": "CNN",
    "symmetric": "chiral DeepSets",
    "shallow_svd": "shallow net (SVD-pruned)",
    "exact": "exact invariant",
}


#: Display names of the heads a study row name may carry after ``+`` (``"mlp+ce"``).
HEAD_NAMES = {"ce": "classifier", "mse": "regression"}


@strict_keywords
def display_name(model: str) -> str:
    """Readable name of a model key for figures.

    ``"topo_ti"`` -> ``"TopoNet, structured"``; a row with a head suffix is named after its base
    model and head: ``"mlp+ce"`` -> ``"MLP (classifier)"``.

    Parameters
    ----------
    model : str

    Returns
    -------
    str
    """
    if model in MODEL_NAMES:
        return MODEL_NAMES[model]
    base, plus, head = model.rpartition("+")
    if plus and base:
        name, head = display_name(base), HEAD_NAMES.get(head, head.replace("_", " "))
        return f"{name[:-1]}, {head})" if name.endswith(")") else f"{name} ({head})"
    return model.replace("_", " ")


def _number(v) -> str:
    v = complex(v)
    if v.imag == 0:
        return f"{v.real:g}"
    return f"{v.real:g} {'+' if v.imag >= 0 else '-'} {abs(v.imag):g}i"


@strict_keywords
def hoppings_label(hoppings, disorder=None) -> str:
    """Mathtext of hoppings (and disorder) for a legend: ``{0: 0.5, 1: 1}`` -> ``$t_0 = 0.5,\\ t_1 = 1$``.

    Parameters
    ----------
    hoppings : dict {m: t_m}
    disorder : dict {m: W_m}, optional

    Returns
    -------
    str
    """
    parts = [f"t_{{{m}}} = {_number(t)}" for m, t in sorted(hoppings.items())]
    if disorder:
        parts += [f"W_{{{m}}} = {_number(w)}" for m, w in sorted(disorder.items())]
    return "$" + r",\ ".join(parts) + "$"


def _unit(result) -> str:
    """`` / t_m`` for the first base hopping of modulus 1 that is not swept (the energy unit)."""
    swept = {result.x_param, result.y_param}
    for m, t in sorted(getattr(result, "hoppings", {}).items(), key=lambda kv: (kv[0] != 1, kv[0])):
        if f"t{m}" not in swept and abs(complex(t)) == 1:
            return f" / t_{{{m}}}"
    return ""


@strict_keywords
def param_label(name: str, unit: str = "") -> str:
    """Axis label of a phase-diagram parameter (``"t0"``, ``"W1"``, ``"W"``) in mathtext."""
    import re

    m = re.fullmatch(r"(t|W)(-?\d+)?", name)
    if not m:
        return name
    kind, rng = m.groups()
    if kind == "t":
        what = {"0": "intracell hopping", "1": "intercell hopping"}.get(rng, f"range-{rng} hopping")
        return f"{what} $t_{{{rng}}}{unit}$"
    if rng is None:
        return f"disorder strength $W{unit}$"
    return f"disorder strength $W_{{{rng}}}{unit}$ (range {rng})"


_METHOD_WORDS = {"twisted": "twisted-boundary invariant", "dense": "real-space invariant",
                 "local": "real-space invariant (local markers)", "bloch": "Bloch invariant", "auto": ""}


_MATH = re.compile(r"(?<!\\)\$.*?(?<!\\)\$")
_REPR = re.compile(r"[{}\[\]'\"]|\bnp\.|\barray\(|\bdtype\b|\bobject at 0x|\b(None|True|False)\b|\w+=\S")


@strict_keywords
def looks_like_repr(text: str) -> bool:
    """Whether a legend entry looks like a Python repr (``{0: 0.5, 1: 1}``, ``'a'``, ``np.float64(...)``).

    Mathtext (``$...$``) is ignored: braces and brackets are fine inside math.
    """
    return bool(_REPR.search(_MATH.sub("", text)))


_MEAN_WORDS = re.compile(r"\b(mean|means|average|averages|averaged)\b", re.I)
_NO_SPREAD = re.compile(r"\b(one seed|single seed|no spread|exact)\b", re.I)


def _series(ax):
    """``[(label, style key)]`` of the labelled data series of ``ax`` (lines and error-bar plots).

    The style key is what tells series apart to a reader: colour, line style (``"None"`` when the
    line is not drawn) and marker.
    """
    from matplotlib.colors import to_hex
    from matplotlib.container import ErrorbarContainer

    def key(line):
        ls = line.get_linestyle() if line.get_linewidth() > 0 else "None"
        return (to_hex(line.get_color(), keep_alpha=False), ls, str(line.get_marker()))

    out, in_containers = [], set()
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer) and c.lines and c.lines[0] is not None:
            in_containers.add(id(c.lines[0]))
            if not c.get_label().startswith("_"):
                out.append((c.get_label(), key(c.lines[0])))
    for line in ax.get_lines():
        label = line.get_label()
        if id(line) in in_containers or label.startswith("_") or len(line.get_xdata()) < 2:
            continue  # unlabelled helper lines and single points are not series
        out.append((label, key(line)))
    return out


def _has_spread(ax) -> bool:
    """Whether ``ax`` shows a spread: error bars, a filled band (fill_between) or vertical ranges."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.container import ErrorbarContainer

    return (any(isinstance(c, ErrorbarContainer) for c in ax.containers)
            or any(isinstance(c, (PolyCollection, LineCollection)) for c in ax.collections))


@strict_keywords
def figure_problems(fig) -> list:
    """What keeps a figure from being publishable, as a list of sentences (empty: none found).

    Checked, on every visible axes (colour bars and axes with the axis switched off, such as
    network drawings, excepted):

    * it has an x and a y label;
    * no legend entry looks like a Python repr (:func:`looks_like_repr`);
    * distinct labelled series are drawn distinctly: two series with different labels and the
      same colour, line style and marker (e.g. a colour cycle that wrapped around) are reported;
    * a plotted mean shows its spread: an axes whose y label, title or series labels say
      "mean"/"average" must carry error bars or a band (``errorbar``, ``fill_between``,
      ``vlines``), unless its text says why there is none ("single seed", "exact").

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    list of str
    """
    problems = []
    legends = list(getattr(fig, "legends", []))
    for i, ax in enumerate(fig.axes):
        if ax.get_label() == "<colorbar>" or not ax.axison or not ax.get_visible():
            continue
        name = f"axes {i}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        if not ax.get_xlabel().strip():
            problems.append(f"{name} has no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{name} has no y label")
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
        series = _series(ax)
        by_style = {}
        for label, style in series:
            by_style.setdefault(style, [])
            if label not in by_style[style]:
                by_style[style].append(label)
        for style, labels in by_style.items():
            if len(labels) > 1:
                shown = ", ".join(repr(t) for t in labels[:4]) + (", ..." if len(labels) > 4 else "")
                problems.append(f"{name}: the series {shown} are drawn alike (colour {style[0]}, line style "
                                f"{style[1]!r}, marker {style[2]!r}); give each its own colour or style")
        if series:
            text = " ".join([ax.get_ylabel(), ax.get_title()] + [label for label, _ in series])
            if _MEAN_WORDS.search(text) and not _NO_SPREAD.search(text) and not _has_spread(ax):
                problems.append(f"{name} plots a mean without error bars or a band; show the spread (errorbar, "
                                "fill_between) or say why there is none")
    for leg in legends:
        for t in leg.get_texts():
            if looks_like_repr(t.get_text()):
                problems.append(f"legend entry {t.get_text()!r} looks like a Python repr; write it as text or math")
    return problems


@strict_keywords
def integer_axis(axis) -> None:
    """Put integer ticks only on ``axis`` (``ax.xaxis``/``ax.yaxis``): cell and site indices."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


@strict_keywords
def plot_phase_diagram(result, ax=None, *, boundary: bool = True, colorbar: bool = True, cmap: str = "viridis",
                       mark=None, title=None):
    """Disorder-averaged winding number over two parameters, with the analytic boundary.

    Parameters
    ----------
    result : tntopo.invariants.winding.ensemble.PhaseDiagram
        From :func:`tntopo.phase_diagram`.
    ax : matplotlib Axes, optional
    boundary : bool
        Overlay the exact boundary of the nearest-neighbour disordered SSH chain
        (``E ln|t1| = E ln|t0|``, dashed) when it applies.
    colorbar : bool
    cmap : str
    mark : sequence of (x, y, label), optional
        Points to annotate, e.g. ``[(1.1, 2.5, "TAI")]``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    fig, ax = _axes(ax)
    x, y = np.asarray(result.x), np.asarray(result.y)
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")  # no finite value: gapless or failed
    mean = np.ma.masked_invalid(np.asarray(result.mean, dtype=float))
    vmax = max(1.0, float(mean.max())) if mean.count() else 1.0
    mesh = ax.pcolormesh(x, y, mean, shading="nearest", cmap=cm, vmin=0.0, vmax=vmax)
    if colorbar:
        fig.colorbar(mesh, ax=ax, label="disorder-averaged winding number")
    handles = []
    if boundary and getattr(result, "is_nearest_neighbour", False):
        xf = np.linspace(x.min(), x.max(), max(200, 4 * len(x)))
        yf = np.linspace(y.min(), y.max(), max(200, 4 * len(y)))
        g = result.gap(xf, yf)
        if np.nanmin(g) < 0 < np.nanmax(g):
            ax.contour(xf, yf, g, levels=[0.0], colors="red", linestyles="--", linewidths=1.5)
            handles += ax.plot([], [], "r--", label=r"analytic boundary $\langle\ln|t_1|\rangle = \langle\ln|t_0|\rangle$")
    if np.ma.count_masked(mean):
        handles.append(Patch(facecolor="lightgrey", edgecolor="0.5", label="no value (gapless or failed)"))
    for item in mark or ():
        mx, my, label = item
        ax.plot([mx], [my], marker="*", color="white", markeredgecolor="black", markersize=12)
        ax.annotate(label, (mx, my), textcoords="offset points", xytext=(6, 6), color="white")
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize="small")
    unit = _unit(result)
    ax.set_xlabel(param_label(result.x_param, unit))
    ax.set_ylabel(param_label(result.y_param, unit))
    sw = result.sweep
    if title is None:
        kind = "rings" if getattr(sw, "boundary", "periodic") == "periodic" else "open chains"
        how = _METHOD_WORDS.get(sw.method, sw.method)
        title = f"{sw.n_cells}-cell {kind}, {sw.n_realizations} disorder realizations" + (f"\n{how}" if how else "")
    ax.set_title(title)
    return fig


@strict_keywords
def plot_local_marker(markers, cells=None, ax=None, *, winding=None, label=None, clip=None, marker=None,
                      markersize=None, color=None):
    """Local winding marker ``w(n)`` along a chain (e.g. from ``local_winding_marker``).

    Parameters
    ----------
    markers : array_like, shape (n,)
    cells : array_like, optional
        Cell indices of ``markers`` (default ``0..n-1``).
    ax : matplotlib Axes, optional
    winding : float, optional
        Draw the bulk winding number as a horizontal line (with a legend entry).
    label : str or dict, optional
        Legend entry; a hoppings dict ``{m: t_m}`` is written as math (:func:`hoppings_label`).
    clip : float, optional
        Draw values with ``|w| > clip`` at ``±clip``, marked with triangles and a legend entry
        (the edge cells of an open chain carry large compensating markers); the y range is set
        to fit. Nothing is clipped silently.
    marker, markersize, color : optional
        Marker style, marker size and colour of the line (matplotlib's defaults when omitted).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(6.0, 3.0))
    w = np.asarray(markers, dtype=float)
    n = np.arange(len(w)) if cells is None else np.asarray(cells)
    if isinstance(label, dict):
        label = hoppings_label(label)
    shown = w if clip is None else np.clip(w, -clip, clip)
    style = {k: v for k, v in (("marker", marker), ("markersize", markersize), ("color", color)) if v is not None}
    (line,) = ax.plot(n, shown, lw=1, label=label, **style)
    if clip is not None:
        out = np.abs(w) > clip
        if out.any():
            legend_text = f"clipped at $\\pm{clip:g}$ (true value beyond)"
            have = {t.get_label() for t in ax.lines}
            up, down = out & (w > 0), out & (w < 0)
            for mask, mk in ((up, "^"), (down, "v")):
                if mask.any():
                    ax.plot(n[mask], shown[mask], mk, color=line.get_color(), ms=7, mec="k", mew=0.5,
                            label=legend_text if legend_text not in have else "_nolegend_")
                    have.add(legend_text)
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, -clip * 1.15), max(hi, clip * 1.15))
    if winding is not None:
        ax.axhline(winding, color="k", ls=":", lw=1, label=f"bulk winding number {winding:g}")
    ax.set_xlabel("cell $n$")
    integer_axis(ax.xaxis)
    ax.set_ylabel("local winding marker $w(n)$")
    if label or winding is not None or clip is not None:
        ax.legend(fontsize="small")
    return fig


@strict_keywords
def plot_chern_marker(marker, ax=None, *, vmax=None, cmap: str = "RdBu_r", colorbar: bool = True,
                      title=None, positions=None):
    """Map of the local Chern marker ``c(x, y)`` (from :func:`tntopo.local_chern_marker`).

    Parameters
    ----------
    marker : array, shape (Lx, Ly)
    ax : matplotlib Axes, optional
    vmax : float, optional
        Symmetric color range ``[-vmax, vmax]`` (default: 1.5, or the largest ``|c|`` of the bulk
        if bigger, capped at 3: edge values of open samples are large and of both signs).
    cmap : str
        A diverging colormap (0 is white).
    colorbar : bool
    title : str, optional
    positions : array, shape (Lx * Ly, 2), optional
        Site positions (amorphous or deformed samples): drawn as a scatter plot.

    Returns
    -------
    matplotlib.figure.Figure
    """
    c = np.asarray(marker, dtype=float)
    if c.ndim != 2:
        raise ValueError(f"marker must be an (Lx, Ly) map, got shape {c.shape}; plot one sample at a time")
    fig, ax = _axes(ax, figsize=(4.6, 4.0))
    if vmax is None:
        Lx, Ly = c.shape
        bulk = c[Lx // 4: Lx - Lx // 4, Ly // 4: Ly - Ly // 4]
        vmax = float(min(3.0, max(1.5, np.nanmax(np.abs(bulk)) if bulk.size else 1.5)))
    if positions is not None:
        p = np.asarray(positions, dtype=float).reshape(-1, 2)
        im = ax.scatter(p[:, 0], p[:, 1], c=c.ravel(), cmap=cmap, vmin=-vmax, vmax=vmax, s=12)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$x$ (lattice units)")
        ax.set_ylabel(r"$y$ (lattice units)")
    else:
        im = ax.imshow(c.T, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_xlabel(r"cell $x$ (lattice units)")
        ax.set_ylabel(r"cell $y$ (lattice units)")
        integer_axis(ax.xaxis)
        integer_axis(ax.yaxis)
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(im, ax=ax, label=r"local Chern marker $c(\mathbf{r})$ (dimensionless)")
    return fig


@strict_keywords
def plot_chern_phase_diagram(result, ax=None, *, colorbar: bool = True, cmap: str = "RdBu_r", clean_lines: bool = True):
    """Disorder-averaged Chern number of QWZ over ``(m, W)`` (from
    :func:`tntopo.invariants.chern.ensemble.chern_phase_diagram`).

    Parameters
    ----------
    result : dict
        With ``"m"``, ``"W"``, ``"mean"`` (``(len(m), len(W))``) and ``"method"``.
    ax : matplotlib Axes, optional
    colorbar : bool
    cmap : str
    clean_lines : bool
        Mark the clean transitions ``m = 0, +-2``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = np.asarray(result["m"], dtype=float)
    W = np.asarray(result["W"], dtype=float)
    mean = np.asarray(result["mean"], dtype=float)
    if mean.shape != (len(m), len(W)):
        raise ValueError(f"result['mean'] has shape {mean.shape}, expected (len(m), len(W)) = {(len(m), len(W))}")
    fig, ax = _axes(ax, figsize=(5.2, 4.0))
    im = ax.pcolormesh(m, W, mean.T, cmap=cmap, vmin=-1, vmax=1, shading="nearest")
    if clean_lines:
        for x in (-2.0, 0.0, 2.0):
            if m.min() <= x <= m.max():
                ax.axvline(x, color="k", lw=0.8, ls="--")
    ax.set_xlabel(r"mass $m$ (units of the hopping)")
    ax.set_ylabel(r"disorder $W$ (units of the hopping)")
    what = {"bott": "Bott index", "marker": "bulk marker"}.get(result.get("method"), "Chern number")
    if colorbar:
        fig.colorbar(im, ax=ax, label=rf"$\langle C \rangle$ ({what}, disorder mean)")
    return fig


__all__ += ["plot_chern_marker", "plot_chern_phase_diagram"]


#: The study's figures, moved to :mod:`tntopo.study.figures` (issue 20): name -> new module. The old
#: names are served by :func:`__getattr__` until the release after next. The new module is named by
#: a string and imported only when an old name is read, so that this module, a layer below the
#: study, never imports it (tests/test_imports.py).
_MOVED = dict.fromkeys(("plot_disorder_accuracy", "plot_trainability", "plot_trainability_map", "plot_landscape",
                       "plot_pruning", "plot_toponet_weights", "plot_training_curves"), "tntopo.study.figures")


def __getattr__(name):
    if name in _MOVED:
        # warn_moved <- __getattr__ <- the reading line (``from tntopo.plot import x`` or ``plot.x``)
        warn_moved(f"{__name__}.{name}", f"{_MOVED[name]}.{name}", stacklevel=3)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
