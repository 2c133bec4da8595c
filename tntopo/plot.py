"""Matplotlib figures. Computation and plotting are kept apart: every function takes ``ax=None``
(a new figure is made when omitted) and returns the figure.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "plot_phase_diagram",
    "plot_local_marker",
    "plot_disorder_accuracy",
    "plot_trainability",
    "plot_pruning",
    "plot_toponet_weights",
    "plot_training_curves",
]


def _axes(ax, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


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
    fig, ax = _axes(ax)
    x, y = np.asarray(result.x), np.asarray(result.y)
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")  # no finite value: gapless or failed
    mean = np.ma.masked_invalid(np.asarray(result.mean, dtype=float))
    vmax = max(1.0, float(mean.max())) if mean.count() else 1.0
    mesh = ax.pcolormesh(x, y, mean, shading="nearest", cmap=cm, vmin=0.0, vmax=vmax)
    if colorbar:
        fig.colorbar(mesh, ax=ax, label="disorder-averaged winding number")
    if boundary and getattr(result, "is_nearest_neighbour", False):
        xf = np.linspace(x.min(), x.max(), max(200, 4 * len(x)))
        yf = np.linspace(y.min(), y.max(), max(200, 4 * len(y)))
        g = result.gap(xf, yf)
        if np.nanmin(g) < 0 < np.nanmax(g):
            ax.contour(xf, yf, g, levels=[0.0], colors="red", linestyles="--", linewidths=1.5)
            ax.plot([], [], "r--", label=r"analytic $E\ln|t_1|=E\ln|t_0|$")
            ax.legend(loc="upper right", fontsize="small")
    for item in mark or ():
        mx, my, label = item
        ax.plot([mx], [my], marker="*", color="white", markeredgecolor="black", markersize=12)
        ax.annotate(label, (mx, my), textcoords="offset points", xytext=(6, 6), color="white")
    ax.set_xlabel(result.x_param)
    ax.set_ylabel(result.y_param)
    sw = result.sweep
    ax.set_title(title or f"N={sw.n_cells}, {sw.n_realizations} realizations, {sw.method}")
    return fig


def plot_local_marker(markers, cells=None, ax=None, *, winding=None, label=None):
    """Local winding marker ``w(n)`` along a chain (e.g. from ``local_winding_marker``).

    Parameters
    ----------
    markers : array_like, shape (n,)
    cells : array_like, optional
        Cell indices of ``markers`` (default ``0..n-1``).
    ax : matplotlib Axes, optional
    winding : float, optional
        Draw the bulk winding number as a horizontal line.
    label : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(6.0, 3.0))
    w = np.asarray(markers, dtype=float)
    n = np.arange(len(w)) if cells is None else np.asarray(cells)
    ax.plot(n, w, lw=1, label=label)
    if winding is not None:
        ax.axhline(winding, color="k", ls=":", lw=1)
    ax.set_xlabel("cell n")
    ax.set_ylabel("local marker w(n)")
    if label:
        ax.legend()
    return fig


# ----------------------------------------------------------------------------- study figures
# Each takes the ``results`` dict of :func:`tntopo.study.reproduce` (the content of results.json).
def _model_colors(names):
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return {m: cycle[i % len(cycle)] for i, m in enumerate(names)}


def plot_disorder_accuracy(results, ax=None, *, metric: str = "accuracy"):
    """Accuracy vs disorder strength, per model.

    ``metric``: ``"accuracy"`` (against the exact twisted-boundary label), ``"agreement"`` (with the
    rounded real-space invariant of the same chain) or ``"agreement_quantized"`` (the same, on the
    chains whose invariant is quantized).

    The exact TopoNet's accuracy (the invariant of the finite input chain) is drawn dashed, and the topological
    Anderson insulator window is shaded.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce`.
    ax : matplotlib Axes, optional
    metric : {"accuracy", "agreement", "agreement_quantized"}

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = {"accuracy": "disorder_accuracy", "agreement": "disorder_agreement",
            "agreement_quantized": "disorder_agreement_quantized"}
    if metric not in keys:
        raise ValueError(f"unknown metric {metric!r}; choose one of {set(keys)}")
    models = results["models"]
    if not models:
        raise ValueError("results hold no model")
    fig, ax = _axes(ax, figsize=(6.0, 4.0))
    colors = _model_colors(models)
    for m, e in models.items():
        d = e.get(keys[metric])
        if not d:
            continue
        W = np.array([float(k) for k in d])
        a = np.array([np.nan if v is None else v for v in d.values()], dtype=float)
        ax.plot(W, a, "o-", color=colors[m], label=m)
    if metric == "accuracy":
        ex = results.get("exact_topo", {}).get("accuracy", {})
        pts = sorted((float(k.split("/")[1]), v) for k, v in ex.items() if k.startswith("disorder/"))
        if pts:
            ax.plot(*zip(*pts), "k--", lw=1.5, label="exact invariant")
    try:
        from .study.report import TAI_WINDOW

        ax.axvspan(*TAI_WINDOW, color="0.9", zorder=0, label="TAI window")
    except ImportError:  # pragma: no cover
        pass
    ax.set_xlabel("disorder strength W  ({0: W, 1: W/2})")
    ax.set_ylabel({"accuracy": "accuracy (twisted-boundary label)", "agreement": "agreement with the exact invariant",
                   "agreement_quantized": "agreement with the exact invariant\n(chains where it is quantized)"}[metric])
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", ncol=2)
    return fig


def plot_trainability(results, ax=None):
    """Fraction of seeds reaching the validation-accuracy threshold, per model (bars), with test accuracy.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` written by :func:`tntopo.study.reproduce`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    models = results["models"]
    if not models:
        raise ValueError("results hold no model")
    fig, ax = _axes(ax, figsize=(6.0, 3.5))
    names = list(models)
    x = np.arange(len(names))
    tr = [models[m]["trainability"] for m in names]
    te = [models[m]["test_accuracy"] or 0.0 for m in names]
    ax.bar(x - 0.2, tr, 0.4, label="trainability")
    ax.bar(x + 0.2, te, 0.4, label="test accuracy (mean)")
    thr = results.get("config", {}).get("trainability_threshold")
    if thr is not None:
        ax.axhline(thr, color="k", ls=":", lw=1)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title("seeds reaching >= %s val. accuracy" % (f"{thr:g}" if thr is not None else "threshold"))
    ax.legend(fontsize="small", loc="lower right")
    return fig


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
    a1.errorbar(r, acc, yerr=std, fmt="o-", capsize=3)
    a1.axhline(pr["unpruned_accuracy"], color="k", ls=":", lw=1, label="unpruned")
    a1.set_xscale("log")
    a1.set_xlabel("rank kept")
    a1.set_ylabel("test accuracy")
    a1.legend(fontsize="small")
    sv = np.array(pr["singular_values_mean_normalized"])
    a2.semilogy(np.arange(1, len(sv) + 1), sv, ".-")
    a2.set_xlabel("index")
    a2.set_ylabel("singular value / largest")
    a2.set_title("first-layer spectrum")
    return fig


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
        axs[i, 0].set_ylabel(m)
        lim = np.abs(X).max() or 1.0
        im = axs[i, 1].imshow(X, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, ax=axs[i, 1], fraction=0.046)
        axs[i, 2].plot(R, ".-")
        if i == 0:
            axs[i, 0].set_title("state weights s (by energy rank)")
            axs[i, 1].set_title("position kernel X[a, c]")
            axs[i, 2].set_title("bulk window R[a]")
    return fig


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
    colors = _model_colors(results["models"])
    for m, e in models.items():
        c = e["curves"][key]
        ep = np.arange(1, len(c["mean"]) + 1)
        ax.plot(ep, c["mean"], color=colors[m], label=m)
        ax.fill_between(ep, c["min"], c["max"], color=colors[m], alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    if key == "train_loss":
        ax.set_yscale("log")
    ax.legend(fontsize="small", ncol=2)
    return fig
