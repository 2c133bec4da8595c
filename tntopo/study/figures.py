"""The study's figures: each draws a part of the ``results`` dict that :func:`tntopo.study.reproduce`
writes to ``results.json`` (read it back with :func:`json.load`).

Computation and plotting are kept apart as in :mod:`tntopo.plot`: every function takes ``ax=None``
(a new figure is made when omitted; the multi-panel figures take a sequence of axes) and returns
the figure, and raises :class:`ValueError` when the results hold nothing for it to draw (the run
that wrote them skipped that part). The figures of plain results -- phase diagrams, local
markers -- stay in :mod:`tntopo.plot`; these moved here from there (issue 20) and are still served
under their old names, with a :class:`FutureWarning`, for one release.
"""
from __future__ import annotations

import re

import numpy as np

from .._typing import strict_keywords
from ..plot import _axes, display_name, integer_axis

__all__ = [
    "plot_disorder_accuracy",
    "plot_trainability",
    "plot_trainability_map",
    "plot_landscape",
    "plot_pruning",
    "plot_toponet_weights",
    "plot_training_curves",
    "plot_comparison",
]

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


def _section(results, key: str, missing: str, *, part=None):
    """``results[key]``; a ``ValueError(missing)`` where the run wrote none (absent or empty, or
    without its ``part``)."""
    found = results.get(key)
    if not found or (part is not None and not found.get(part)):
        raise ValueError(missing)
    return found


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
        The figure of ``ax``, or the new one; the legend of all panels is right of the last.

    Raises
    ------
    ValueError
        If the results hold no disorder section.
    """
    from ..invariants.winding.ensemble import TAI_WINDOW  # on use: importing the study stays light

    dis = _section(results, "disorder", "results hold no disorder section", part="by_length")
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
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its ``models``
        and ``config["trainability_threshold"]``).
    ax : pair of matplotlib Axes, optional
        For ``learns_invariant`` and the test accuracy; the default makes a figure with the two
        side by side, sharing the model axis.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax`` (the legend inside the first panel), or the new one (legend below).

    Raises
    ------
    ValueError
        If the results hold no model.
    """
    models = _section(results, "models", "results hold no model")
    own = ax is None
    fig, (a1, a2) = _panels(ax, 2, (11.0, 0.45 * len(models) + 2.2), sharey=True)
    names = list(models)
    y = np.arange(len(names))[::-1]  # first model on top
    base_colors = _base_colors(models)
    styles = [_row_style(m, models[m], base_colors) for m in names]
    colors = [c for c, _ in styles]
    hatches = ["//" if ls == "--" else None for _, ls in styles]
    seeds = [int(models[m].get("seeds") or len(models[m].get("per_seed", {}).get("seed", [])) or 1) for m in names]
    _learns_panel(a1, models, names, y, colors, hatches, seeds, results.get("config", {}).get("trainability_threshold"))
    if a1.get_legend_handles_labels()[0]:
        if own:  # below the panels, out of the bars' way
            fig.legend(*a1.get_legend_handles_labels(), loc="outside lower left", fontsize="small", ncols=2)
        else:
            a1.legend(fontsize="small", loc="best")
    _test_accuracy_panel(a2, models, names, y, colors, hatches)
    for a in (a1, a2):
        a.set_xlim(0, 1.05)
    a2.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


def _hatch(bars, hatches) -> None:
    """Hatch the bars of classifier rows (``hatches``: ``"//"`` or None per bar)."""
    for b, h in zip(bars.patches, hatches):
        if h:
            b.set_hatch(h)
            b.set_edgecolor("white")


def _learns_panel(a1, models, names, y, colors, hatches, seeds, thr) -> None:
    """The left panel of :func:`plot_trainability`: ``learns_invariant`` per row, the first edition's
    measure as hollow markers."""
    li = np.array([_num(models[m].get("learns_invariant")) for m in names])
    ok = np.isfinite(li)
    if ok.any():
        err = np.sqrt(li[ok] * (1 - li[ok]) / np.array(seeds)[ok])
        bars = a1.barh(y[ok], li[ok], 0.6, xerr=err, capsize=3, color=np.array(colors, dtype=object)[ok].tolist(),
                       label="learns the invariant ($\\pm$ binomial s.e.)")
        _hatch(bars, np.array(hatches, dtype=object)[ok])
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


def _test_accuracy_panel(a2, models, names, y, colors, hatches) -> None:
    """The right panel of :func:`plot_trainability`: test accuracy per row, mean and s.d., each seed a dot."""
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
    _hatch(bars, hatches)
    a2.set_xlabel("test accuracy")
    a2.set_ylabel("model")
    a2.set_title("accuracy on the test set")
    a2.tick_params(labelleft=False)


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

    One panel per model (a second-edition map: per training diversity, the set of windings in the
    training data). Each cell is
    annotated with its value, "n/a" where the criterion does not apply or the cell was not run;
    a cross marks cells where even the exact weights fail the criterion.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its
        ``trainability_map``).
    ax : matplotlib Axes or sequence of Axes, optional
        One per panel; the default makes the figure.
    cmap : str
        Colormap of the fraction (cells without a value are grey).

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``, or the new one, with one colour bar for all panels.

    Raises
    ------
    ValueError
        If the results hold no trainability map.
    """
    import matplotlib

    tm = _section(results, "trainability_map", "results hold no trainability map", part="cells")
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
        For the trained seeds and the gradient norms; the default makes a figure with the two side by side.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``, or the new one; the right panel is log-log where gradients were measured.

    Raises
    ------
    ValueError
        If the run measured no landscape.
    """
    ls = _section(results, "landscape", "results hold no landscape")
    fig, (a1, a2) = _panels(ax, 2, (11.0, 4.0))
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
        The content of ``results.json`` written by :func:`tntopo.study.reproduce` (its ``pruning``,
        and the seed count of the model row it names).
    ax : pair of matplotlib Axes, optional
        For the accuracy and the singular values; the default makes a figure with the two side by side.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``, or the new one (rank on a log axis, singular values on a log axis).

    Raises
    ------
    ValueError
        If the run wrote no pruning data (no ``shallow_svd`` row was run).
    """
    pr = _section(results, "pruning", "results hold no pruning data (no shallow_svd model was run)")
    fig, (a1, a2) = _panels(ax, 2, (9.0, 3.5))
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
        The figure of ``ax``, or a new one with a row of three panels per model.

    Raises
    ------
    ValueError
        If the results hold no learned TopoNet weights beside the exact ones.
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
        The figure of ``ax``, or a new one with the legend to the right of the axes.

    Raises
    ------
    ValueError
        If no model of the results has curves of ``key``.
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
def plot_comparison(results, ax=None):
    """The 1D and 2D studies side by side: ``learns_invariant`` of each role's row in each study.

    One group per role and head (:data:`tntopo.study.compare.ROLES`, named by the role; "classifier" for
    the ``+ce`` rows), the 1D row (circles) beside the 2D row (squares), each with its Wilson 95%
    interval; the verdict of the Holm-corrected Fisher test is written above the pairs that are not
    inconclusive.

    Parameters
    ----------
    results : dict
        The Chern study's ``results.json`` content with a ``comparison``
        (``tntopo reproduce --study chern --compare-with 1D/results.json``), or the dict of
        :func:`tntopo.study.compare.compare_studies` itself.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If there is no comparison, or it pairs no rows.
    """
    cmp = results if "pairs" in results else _section(results, "comparison", "results hold no comparison of the "
                                                      "1D and 2D studies (reproduce --study chern --compare-with)")
    pairs = cmp.get("pairs") or []
    if not pairs:
        raise ValueError("the comparison pairs no rows (no role ran in both studies)")
    fig, ax = _axes(ax, figsize=(max(5.0, 0.9 * len(pairs) + 1.5), 4.0))
    for i, q in enumerate(pairs):
        for dx, side, marker, label in ((-0.15, "winding", "o", "1D (winding)"), (0.15, "chern", "s", "2D (Chern)")):
            d = q[side]
            if d["learns_invariant"] is None:
                continue
            lo, hi = d["ci"]
            ax.errorbar([i + dx], [d["learns_invariant"]], yerr=[[d["learns_invariant"] - lo], [hi - d["learns_invariant"]]],
                        fmt=marker, color="C0" if side == "winding" else "C3", capsize=3,
                        label=label if i == 0 else None)
        if q["verdict"] not in ("inconclusive", "n/a"):
            ax.annotate(q["verdict"], (i, 1.04), ha="center", fontsize=7)
    ax.set_xticks(range(len(pairs)))
    ax.set_xticklabels([q["role"] + (", classifier" if q["head"] == "classification" else "") for q in pairs],
                       rotation=35, ha="right", fontsize=8)
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(-0.05, 1.12)
    ax.set_ylabel("learns_invariant (fraction of seeds)")
    ax.set_xlabel("role of the row in both studies")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: no point hidden
    ax.set_title("1D and 2D: rows of the same role")
    return fig
