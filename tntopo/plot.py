"""Matplotlib figures. Computation and plotting are kept apart: every function takes ``ax=None``
(a new figure is made when omitted) and returns the figure.
"""
from __future__ import annotations

import re

import numpy as np

from ._typing import strict_keywords

__all__ = [
    "plot_phase_diagram",
    "plot_local_marker",
    "plot_disorder_accuracy",
    "plot_trainability",
    "plot_trainability_map",
    "plot_landscape",
    "plot_pruning",
    "plot_toponet_weights",
    "plot_training_curves",
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
    result : tntopo.phase.PhaseDiagram
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


# ----------------------------------------------------------------------------- study figures
# Each takes the ``results`` dict of :func:`tntopo.study.reproduce` (the content of results.json).
def _model_colors(names):
    """One distinct colour per name: the colour cycle while it lasts, else evenly spaced colours of
    a colormap (tab20 up to 20 names, turbo beyond) -- never a wrapped-around cycle."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    names = list(dict.fromkeys(names))
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    if len(names) <= len(cycle):
        return {m: cycle[i] for i, m in enumerate(names)}
    if len(names) <= 20:
        cmap = matplotlib.colormaps["tab20"]
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))  # dark shades first, then light ones
        return {m: to_hex(cmap(order[i])) for i, m in enumerate(names)}
    cmap = matplotlib.colormaps["turbo"]
    return {m: to_hex(cmap(0.05 + 0.9 * i / (len(names) - 1))) for i, m in enumerate(names)}


def _row_style(name, entry, colors):
    """Colour (per base model) and line style (solid: regression head, dashed: classifier) of a row."""
    base = (entry or {}).get("base_model") or name.split("+")[0]
    classifier = (entry or {}).get("head") == "classification" or name.endswith("+ce")
    return colors.get(base, "C0"), ("--" if classifier else "-")


def _base_colors(models):
    bases = []
    for m, e in models.items():
        b = (e or {}).get("base_model") or m.split("+")[0]
        if b not in bases:
            bases.append(b)
    return _model_colors(bases)


def _num(v):
    """Float of a results.json value; NaN for ``None``, ``"n/a"`` and other non-numbers."""
    if v is None or isinstance(v, str):
        return np.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _curve(d):
    """Sorted ``(W, value)`` arrays of a ``{W: value}`` dict (string keys), NaN where ``"n/a"``."""
    pts = sorted((float(k), _num(v)) for k, v in (d or {}).items())
    if not pts:
        return np.array([]), np.array([])
    W, a = zip(*pts)
    return np.array(W), np.array(a)


def _seed_band(per_seed, W):
    """``mean -/+ standard error`` over seeds at disorder strengths ``W`` of a ``{W: [value per seed]}``
    dict (string keys; ``"n/a"`` or None entries skipped), or ``(None, None)`` where fewer than two
    seeds were measured at some ``W``."""
    if not per_seed:
        return None, None
    by_w = {float(k): [x for x in (_num(v) for v in (vals or [])) if np.isfinite(x)] for k, vals in per_seed.items()}
    lo, hi = [], []
    for w in W:
        vals = by_w.get(float(w), [])
        if len(vals) < 2:
            return None, None
        m, se = float(np.mean(vals)), float(np.std(vals, ddof=1) / np.sqrt(len(vals)))
        lo.append(m - se)
        hi.append(m + se)
    return np.array(lo), np.array(hi)


def _panels(ax, n, figsize, **kw):
    """``n`` axes: from ``ax`` (one Axes or a sequence) or a new one-row figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axs = plt.subplots(1, n, figsize=figsize, squeeze=False, constrained_layout=True, **kw)
        return fig, list(axs[0])
    axs = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axs) != n:
        raise ValueError(f"need {n} axes (one per panel), got {len(axs)}")
    return axs[0].figure, axs


def _disorder_family(results) -> str:
    """``"bond disorder $W_0 = W$, $W_1 = W/2$"`` from the disorder family of the results ("" if unknown)."""
    ratios = ((results.get("disorder") or {}).get("family") or {}).get("ratios")
    if not ratios or len(ratios) != 2:
        return ""

    def times(r):
        return "W" if r == 1 else ("0" if r == 0 else f"{r:g} W")

    w0, w1 = times(float(ratios[0])), times(float(ratios[1]))
    if float(ratios[1]) == 0.5:
        w1 = "W/2"
    return rf"bond disorder $W_0 = {w0}$, $W_1 = {w1}$"


@strict_keywords
def plot_disorder_accuracy(results, ax=None):
    """Accuracy against the phase label vs disorder strength, one panel per chain length.

    Every model row is a line (colour: base model; solid: regression head, dashed: classifier
    head ``+ce``); lengths a row cannot take (``"n/a"``) are left out. Beside them: the bond
    estimator (black, thick: the best accuracy the input allows), the majority guess (grey,
    dotted) and the exact TopoNet, i.e. the invariant of the open input chain (black, dashed).
    The topological Anderson insulator window is shaded.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its
        ``disorder`` section).
    ax : matplotlib Axes or sequence of Axes, optional
        One per chain length of ``results["disorder"]["n_cells"]``; the default makes the figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the results hold no disorder section.
    """
    from .invariants.winding.ensemble import TAI_WINDOW

    dis = results.get("disorder")
    if not dis or not dis.get("by_length"):
        raise ValueError("results hold no disorder section")
    by = dis["by_length"]
    lengths = [N for N in (dis.get("n_cells") or by) if str(N) in by]
    if not lengths:
        raise ValueError("results hold no disorder section")
    models = results.get("models") or {}
    fig, axs = _panels(ax, len(lengths), (3.6 * len(lengths) + 3.4, max(3.8, 0.6 + 0.2 * (len(models) + 4))),
                       sharey=True)
    colors = _base_colors(models)
    family = _disorder_family(results)
    handles = {}

    def keep(lines):
        for ln in lines:
            if not ln.get_label().startswith("_"):
                handles.setdefault(ln.get_label(), ln)

    for a, N in zip(axs, lengths):
        row = by[str(N)]
        rows = row.get("models") or {m: (e.get("disorder_accuracy") or {}).get(str(N)) for m, e in models.items()}
        for m, d in rows.items():
            W, acc = _curve(d)
            ok = np.isfinite(acc)
            if not ok.any():
                continue
            c, ls = _row_style(m, models.get(m), colors)
            keep(a.plot(W[ok], acc[ok], marker="o", ms=4, ls=ls, color=c, lw=1.2, label=display_name(m)))
            lo, hi = _seed_band((((models.get(m) or {}).get("per_seed") or {}).get("disorder_accuracy") or {}).get(str(N)),
                                W[ok])
            if lo is not None:
                a.fill_between(W[ok], lo, hi, color=c, alpha=0.15, lw=0)
        for key, style, label in (
            ("estimator_accuracy", dict(color="k", ls="-", lw=2.8), "bond estimator (best the input allows)"),
            ("majority_accuracy", dict(color="0.5", ls=":", lw=1.8), "majority guess"),
            ("open_invariant_accuracy", dict(color="k", ls="--", lw=1.5),
             "exact TopoNet (invariant of the open chain)"),
        ):
            W, acc = _curve(row.get(key))
            ok = np.isfinite(acc)
            if ok.any():
                keep(a.plot(W[ok], acc[ok], zorder=3, label=label, **style))
        keep([a.axvspan(*TAI_WINDOW, color="0.9", zorder=0, label="topological Anderson insulator window")])
        a.set_title(f"{N}-cell chains")
        a.set_xlabel(r"disorder strength $W / t_1$" + (f"  ({family})" if family and len(lengths) == 1 else ""))
        a.set_ylabel("accuracy against the phase label\n(seed mean, band \u00b1 1 s.e.)")
        a.set_ylim(-0.02, 1.02)
    if family and len(lengths) > 1:
        fig.suptitle(f"disorder strength $W$: {family}", fontsize="medium")
    axs[-1].legend(handles=list(handles.values()), fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                   borderaxespad=0.0)
    return fig


@strict_keywords
def plot_trainability(results, ax=None):
    """Whether each model learns the invariant (left) and its test accuracy (right), per row.

    Left: ``learns_invariant``, the fraction of seeds that reach the threshold on the held-out
    criteria (unseen windings, counterfactual chains), with its binomial standard error
    ``sqrt(p (1 - p) / n)``; the first edition's measure (validation accuracy above the
    threshold, which saturates) is drawn as hollow markers for comparison. Rows where the
    criterion does not apply read "n/a". Right: the test accuracy, mean and standard deviation
    over seeds, each seed a dot. Tick labels give the model (display name) and its number of
    seeds ``n``; classifier rows (``+ce``) are hatched.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce`.
    ax : pair of matplotlib Axes, optional
        The default makes a figure with two panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    models = results["models"]
    if not models:
        raise ValueError("results hold no model")
    own = ax is None
    if own:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11.0, 0.45 * len(models) + 2.2), sharey=True,
                                     constrained_layout=True)
    else:
        a1, a2 = ax
        fig = a1.figure
    names = list(models)
    y = np.arange(len(names))[::-1]  # first model on top
    base_colors = _base_colors(models)
    styles = [_row_style(m, models[m], base_colors) for m in names]
    colors = [c for c, _ in styles]
    hatches = ["//" if ls == "--" else None for _, ls in styles]
    seeds = [int(models[m].get("seeds") or len(models[m].get("per_seed", {}).get("seed", [])) or 1) for m in names]
    thr = results.get("config", {}).get("trainability_threshold")

    li = np.array([_num(models[m].get("learns_invariant")) for m in names])
    ok = np.isfinite(li)
    if ok.any():
        err = np.sqrt(li[ok] * (1 - li[ok]) / np.array(seeds)[ok])
        bars = a1.barh(y[ok], li[ok], 0.6, xerr=err, capsize=3, color=np.array(colors, dtype=object)[ok].tolist(),
                       label="learns the invariant ($\\pm$ binomial s.e.)")
        for b, h in zip(bars.patches, np.array(hatches, dtype=object)[ok]):
            if h:
                b.set_hatch(h)
                b.set_edgecolor("white")
    for yi in y[~ok]:
        a1.text(0.02, yi, "n/a", va="center", ha="left", color="0.3")
    vt = np.array([_num(models[m].get("val_trainability")) for m in names])
    if np.isfinite(vt).any():
        a1.plot(vt[np.isfinite(vt)], y[np.isfinite(vt)], "o", mfc="none", mec="k", ms=7, mew=1.2, zorder=4,
                label="validation accuracy >= threshold (first edition, saturates)")
    crit = next((c for c in (models[m].get("learns_invariant_criteria") for m in names) if c), None)
    words = {"unseen": "unseen windings", "counterfactual": "counterfactual chains", "long": "longer chains"}
    on = " and ".join(words.get(c, c) for c in crit) if crit else "held-out criteria"
    a1.set_xlabel("fraction of seeds that learn the invariant\n(accuracy on " + on
                  + (f" $\\geq {thr:g}$)" if thr is not None else " above the threshold)"))
    a1.set_title("learns the invariant ($\\pm$ binomial s.e.)")
    a1.set_yticks(y)
    a1.set_yticklabels([f"{display_name(m)} (n = {n})" for m, n in zip(names, seeds)])
    a1.set_ylabel("model (n = number of seeds)")
    if a1.get_legend_handles_labels()[0]:
        if own:  # below the panels, out of the bars' way
            fig.legend(*a1.get_legend_handles_labels(), loc="outside lower left", fontsize="small", ncols=2)
        else:
            a1.legend(fontsize="small", loc="best")

    te, sd = [], []
    for i, m in enumerate(names):
        per = [_num(v) for v in models[m].get("per_seed", {}).get("test_accuracy", [])]
        per = [v for v in per if np.isfinite(v)]
        mean = _num(models[m].get("test_accuracy"))
        te.append(mean)
        s = _num(models[m].get("test_accuracy_std"))
        sd.append(s if np.isfinite(s) else (float(np.std(per)) if per else 0.0))
        if per:
            a2.plot(per, np.full(len(per), y[i]) + np.linspace(-0.18, 0.18, len(per)), ".", color="k", ms=3,
                    alpha=0.5, label="single seeds" if i == 0 else "_nolegend_")
    bars = a2.barh(y, np.nan_to_num(te), 0.6, xerr=sd, capsize=3, color=colors, alpha=0.8,
                   label="mean $\\pm$ s.d. over seeds")
    for b, h in zip(bars.patches, hatches):
        if h:
            b.set_hatch(h)
            b.set_edgecolor("white")
    a2.set_xlabel("test accuracy")
    a2.set_ylabel("model")
    a2.set_title("accuracy on the test set")
    a2.tick_params(labelleft=False)
    for a in (a1, a2):
        a.set_xlim(0, 1.05)
    a2.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


def _init_label(name: str) -> str:
    """Tick label of an initialization name: ``"exact(eps=0.01)"`` -> ``"exact\\n($\\varepsilon = 0.01$)"``."""
    m = re.fullmatch(r"\s*([^()]+?)\s*\((.*)\)\s*", str(name))
    if not m:
        return str(name).replace("_", " ")
    head, args = m.groups()
    parts = []
    for arg in filter(None, (a.strip() for a in args.split(","))):
        k, _, v = arg.partition("=")
        k, v = k.strip(), v.strip()
        sym = {"eps": r"\varepsilon", "sigma": r"\sigma"}.get(k)
        parts.append(f"${sym} = {v}$" if sym and v else f"{k.replace('_', ' ')} {v}".strip())
    return head.replace("_", " ") + ("\n(" + ", ".join(parts) + ")" if parts else "")


@strict_keywords
def plot_trainability_map(results, ax=None, *, cmap: str = "viridis"):
    """Map of ``learns_invariant`` over chain length (rows) and initialization (columns).

    One panel per training diversity (the set of windings in the training data). Each cell is
    annotated with its value, "n/a" where the criterion does not apply or the cell was not run;
    a cross marks cells where even the exact weights fail the criterion.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its
        ``trainability_map``).
    ax : matplotlib Axes or sequence of Axes, optional
        One per training diversity; the default makes the figure.
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the results hold no trainability map.
    """
    import matplotlib

    tm = results.get("trainability_map")
    if not tm or not tm.get("cells"):
        raise ValueError("results hold no trainability map")
    grid, cells = tm.get("grid") or {}, tm["cells"]
    lengths = list(grid.get("n_cells") or sorted({c["n_cells"] for c in cells}))
    inits = list(grid.get("inits") or list(dict.fromkeys(c["init"] for c in cells)))
    def panel(c):  # one panel per model (third edition) or per training diversity (second edition)
        return ("model", c["model"]) if c.get("model") else ("windings", tuple(c["train_windings"]))

    divs = list(dict.fromkeys(panel(c) for c in cells))
    fig, axs = _panels(ax, len(divs), (2.0 + 1.7 * len(inits) * len(divs), 1.2 + 0.65 * len(lengths)))
    cm = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")
    thr, epochs, n_seeds = grid.get("threshold"), grid.get("epochs"), grid.get("seeds")
    im = None
    for a, div in zip(axs, divs):
        val = np.full((len(lengths), len(inits)), np.nan)
        ref_fails = np.zeros(val.shape, bool)
        for c in cells:
            if panel(c) != div or c["n_cells"] not in lengths or c["init"] not in inits:
                continue
            i, j = lengths.index(c["n_cells"]), inits.index(c["init"])
            val[i, j] = _num(c.get("learns_invariant"))
            ref_fails[i, j] = (c.get("reference") or {}).get("learns_invariant") is False
        im = a.imshow(np.ma.masked_invalid(val), cmap=cm, vmin=0.0, vmax=1.0, aspect="auto", origin="lower")
        for i in range(len(lengths)):
            for j in range(len(inits)):
                v = val[i, j]
                text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
                if ref_fails[i, j]:
                    text += "\n(exact fails)"
                a.text(j, i, text, ha="center", va="center", fontsize="small",
                       color="white" if np.isfinite(v) and v < 0.6 else "black")
        a.set_xticks(range(len(inits)))
        a.set_xticklabels([_init_label(s) for s in inits], fontsize="small")
        a.set_yticks(range(len(lengths)))
        a.set_yticklabels([str(n) for n in lengths])
        a.set_xlabel("initialization")
        a.set_ylabel("chain length $N$ (cells)")
        a.set_title(f"model {div[1]}" if div[0] == "model" else
                    "trained on windings " + ", ".join(str(w) for w in div[1]), fontsize="medium")
    how = []
    if n_seeds:
        how.append(f"{n_seeds} seed{'s' if n_seeds != 1 else ''} per cell")
    if epochs:
        how.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    fig.colorbar(im, ax=axs, label="fraction of seeds that learn the invariant"
                 + (f"\n(held-out accuracy $\\geq {thr:g}$)" if thr is not None else ""))
    if how:
        fig.suptitle("learns the invariant: " + ", ".join(how), fontsize="medium")
    return fig


@strict_keywords
def plot_landscape(results, ax=None):
    """Loss landscape of the TopoNet: where training ends (left) and gradients at initialization (right).

    Left: each seed's distance to the exact weights (modulo the network's symmetries) against its
    accuracy on unseen windings, one colour per model, with Spearman's rank correlation in the
    legend. Right: the median gradient norm at initialization against the chain length (log-log),
    with its min-max band over initializations.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its
        ``landscape``).
    ax : pair of matplotlib Axes, optional
        The default makes a figure with two panels.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the results hold no landscape.
    """
    import matplotlib.pyplot as plt

    ls = results.get("landscape")
    if not ls:
        raise ValueError("results hold no landscape")
    if ax is None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11.0, 4.0), constrained_layout=True)
    else:
        a1, a2 = ax
        fig = a1.figure
    colors = _model_colors(ls)
    grads, lengths_seen = False, set()
    for m, e in ls.items():
        e = e or {}
        pts = [(_num(s.get("distance")), _num(s.get("unseen"))) for s in e.get("seeds") or []]
        pts = np.array([p for p in pts if np.all(np.isfinite(p))], dtype=float).reshape(-1, 2)
        rho = _num((e.get("rank_correlation") or {}).get("unseen"))
        r = f"Spearman $\\rho = {rho:.2f}$" if np.isfinite(rho) else "Spearman $\\rho$: n/a"
        a1.plot(pts[:, 0], pts[:, 1], "o", color=colors[m], alpha=0.75,
                label=f"{display_name(m)}, {len(pts)} seeds ({r})")
        g = e.get("gradient_norms") or {}
        if g.get("n_cells") and g.get("median"):
            N = np.array(g["n_cells"], dtype=float)
            lengths_seen.update(N.tolist())
            med = np.array([_num(v) for v in g["median"]])
            a2.plot(N, med, "o-", color=colors[m], label=f"{display_name(m)} (median)")
            if g.get("min") and g.get("max"):
                a2.fill_between(N, [_num(v) for v in g["min"]], [_num(v) for v in g["max"]], color=colors[m],
                                alpha=0.2, label=f"{display_name(m)} (min-max over initializations)")
            grads = True
    a1.set_xlabel("distance to the exact weights (modulo symmetries)")
    a1.set_ylabel("accuracy on unseen windings")
    a1.set_ylim(-0.05, 1.05)
    a1.set_title("where training ends")
    a1.legend(fontsize="small")
    if grads:
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

        a2.set_xscale("log")
        a2.set_yscale("log")
        a2.xaxis.set_major_locator(FixedLocator(sorted(lengths_seen)))
        a2.xaxis.set_major_formatter(ScalarFormatter())
        a2.xaxis.set_minor_formatter(NullFormatter())
        a2.legend(fontsize="small")
    else:
        a2.text(0.5, 0.5, "no gradient norms measured", ha="center", va="center", transform=a2.transAxes)
    a2.set_xlabel("chain length $N$ (cells)")
    a2.set_ylabel("gradient norm at initialization")
    a2.set_title("gradients at initialization")
    return fig


@strict_keywords
def plot_pruning(results, ax=None):
    """Accuracy of the SVD-pruned shallow network vs rank (left) and its singular values (right).

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce`.
    ax : pair of matplotlib Axes, optional
        The default makes a figure with two panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    pr = results.get("pruning")
    if not pr:
        raise ValueError("results hold no pruning data (no shallow_svd model was run)")
    if ax is None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.5), constrained_layout=True)
    else:
        a1, a2 = ax
        fig = a1.figure
    r = np.array(pr["ranks"])
    acc = np.array([pr["accuracy"][str(k)] for k in r])
    std = np.array([pr["accuracy_std"][str(k)] for k in r])
    n_seeds = results.get("models", {}).get(pr.get("model"), {}).get("seeds")
    a1.errorbar(r, acc, yerr=std, fmt="o-", capsize=3,
                label="pruned, mean $\\pm$ s.d." + (f" over {n_seeds} seeds" if n_seeds else " over seeds"))
    a1.axhline(pr["unpruned_accuracy"], color="k", ls=":", lw=1, label="unpruned")
    a1.set_xscale("log")
    a1.set_xlabel("rank $r$ kept in the first layer")
    a1.set_ylabel("test accuracy")
    a1.legend(fontsize="small")
    sv = np.array(pr["singular_values_mean_normalized"])
    a2.semilogy(np.arange(1, len(sv) + 1), sv, ".-")
    a2.set_xlabel("index $i$ of the singular value")
    a2.set_ylabel(r"$\sigma_i / \sigma_1$")
    a2.set_title("first-layer singular values")
    return fig


@strict_keywords
def plot_toponet_weights(results, ax=None, *, models=None):
    """Learned TopoNet weights next to the exact ones: state weights s, kernel X, window R.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its
        ``toponet_weights``: seed 0 of every TopoNet-family model, and the exact weights).
    ax : array of matplotlib Axes, shape (rows, 3), optional
        One row per model, ``"exact"`` first; the default makes the figure.
    models : sequence of str, optional
        Rows to draw (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    tw = results.get("toponet_weights") or {}
    names = [m for m in (models or tw) if m in tw]
    if len(names) < 2:
        raise ValueError("results hold no learned TopoNet weights")
    if ax is None:
        fig, axs = plt.subplots(len(names), 3, figsize=(11.0, 2.6 * len(names)), squeeze=False, constrained_layout=True)
    else:
        axs = np.asarray(ax).reshape(len(names), 3)
        fig = axs[0, 0].figure
    for i, m in enumerate(names):
        w = tw[m]
        s, X, R = np.asarray(w["s"]), np.asarray(w["X"]), np.asarray(w["R"])
        axs[i, 0].plot(s, ".-")
        axs[i, 0].axhline(0, color="k", lw=0.5)
        axs[i, 0].set_ylabel(f"{display_name(m)}\n$s$")
        axs[i, 0].set_xlabel("state (energy rank)")
        lim = np.abs(X).max() or 1.0
        im = axs[i, 1].imshow(X, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, ax=axs[i, 1], fraction=0.046, label="$X_{ac}$")
        axs[i, 1].set_xlabel("site $c$")
        axs[i, 1].set_ylabel("site $a$")
        axs[i, 2].plot(R, ".-")
        axs[i, 2].set_xlabel("site $a$")
        axs[i, 2].set_ylabel("$R_a$")
        if i == 0:
            axs[i, 0].set_title("state weights $s$")
            axs[i, 1].set_title("position kernel $X_{ac}$")
            axs[i, 2].set_title("bulk window $R_a$")
    return fig


@strict_keywords
def plot_training_curves(results, ax=None, *, key: str = "val_accuracy"):
    """Validation accuracy (or ``key="train_loss"``) per epoch: mean over seeds, min-max band.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce`.
    ax : matplotlib Axes, optional
    key : {"val_accuracy", "train_loss"}

    Returns
    -------
    matplotlib.figure.Figure
    """
    models = {m: e for m, e in results["models"].items() if key in e.get("curves", {})}
    if not models:
        raise ValueError(f"results hold no {key} curves")
    fig, ax = _axes(ax, figsize=(6.0, 4.0))
    colors = _base_colors(results["models"])  # one colour per base model, line style per head
    for m, e in models.items():
        c = e["curves"][key]
        ep = np.arange(1, len(c["mean"]) + 1)
        color, ls = _row_style(m, e, colors)
        ax.plot(ep, c["mean"], color=color, ls=ls, label=display_name(m))
        ax.fill_between(ep, c["min"], c["max"], color=color, alpha=0.12)
    integer_axis(ax.xaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel({"val_accuracy": "validation accuracy (mean, min-max band)",
                   "train_loss": "training loss (mean, min-max band)"}.get(key, key.replace("_", " ")))
    if key == "train_loss":
        ax.set_yscale("log")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
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
