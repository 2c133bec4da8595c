"""Findings checked against the data, and the ``results.md`` report.

Nothing here is a hard-coded conclusion: :func:`findings` evaluates each claim of the study from
the numbers in ``results`` (with the thresholds written next to it), so a run can show each one
either way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..ensemble import TAI_WINDOW  # re-exported: the window is physics, shared with tntopo.plot
from .config import QUANTIZED_TOL

__all__ = ["findings", "write_report", "render_report", "GENERIC_MODELS", "TAI_WINDOW", "GOAL"]

#: Conventional networks of the study.
GENERIC_MODELS = ("mlp", "cnn", "symmetric", "shallow_svd")
#: The bar for a physics-structured variant (issue 5).
GOAL = {"trainability": 0.9, "size_generalization_accuracy": 0.95, "unseen_winding_accuracy": 0.95,
        "disorder_agreement_quantized": 0.95}
#: A drop larger than this counts as "hurts".
HURT = 0.05
#: Disorder and ablation can only hurt a network that learned the task: those with this test accuracy.
LEARNED = 0.9


def _fmt(x, digits=3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _tai(d: Dict[str, Optional[float]]) -> Optional[float]:
    vals = [v for k, v in d.items() if TAI_WINDOW[0] <= float(k) <= TAI_WINDOW[1] and v is not None]
    return float(np.mean(vals)) if vals else None


def _finding(fid, claim, holds, evidence) -> Dict[str, Any]:
    return {"id": fid, "claim": claim, "holds": holds, "evidence": evidence}


def findings(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each claim of the study with ``holds`` (True/False, None when the run lacks the data) and the evidence.

    Parameters
    ----------
    results : dict
        The content of ``results.json`` (``models``, ``exact_topo``, ``pruning``). Each model entry
        also receives its distance to the variant goal under ``"goal"``.

    Returns
    -------
    list of dict
        ``{"id", "claim", "holds", "evidence"}`` per claim.
    """
    M = results["models"]
    out = []
    err = results.get("exact_topo", {}).get("max_abs_error")
    out.append(_finding(
        "exact_topo_precise", "TopoNet with exact weights reproduces the invariant (max |error| < 1e-6)",
        None if err is None else bool(err < 1e-6), f"max |W_TopoNet - W| = {_fmt(err, 2) if err is None else f'{err:.2e}'}",
    ))
    generic = [m for m in GENERIC_MODELS if m in M]
    if "topo" in M and generic:
        g = float(np.mean([M[m]["trainability"] for m in generic]))
        out.append(_finding(
            "topo_harder_to_train",
            "TopoNet from random init is harder to train than generic networks (lower trainability)",
            bool(M["topo"]["trainability"] < g),
            f"trainability topo = {_fmt(M['topo']['trainability'], 2)} vs generic mean {g:.2f} ("
            + ", ".join(f"{m} {M[m]['trainability']:.2f}" for m in generic) + ")",
        ))
    else:
        out.append(_finding("topo_harder_to_train", "TopoNet from random init is harder to train than generic networks", None, "topo or generic models not run"))
    if generic:
        best = max(generic, key=lambda m: M[m]["test_accuracy"] or 0)
        out.append(_finding(
            "generic_high_accuracy", "Generic networks reach high in-distribution accuracy (best >= 0.95)",
            bool((M[best]["test_accuracy"] or 0) >= 0.95),
            ", ".join(f"{m} {_fmt(M[m]['test_accuracy'])}" for m in generic),
        ))
    pr = results.get("pruning")
    if pr and pr.get("ranks"):
        r = pr.get("smallest_rank_within_1pct")
        out.append(_finding(
            "few_singular_values",
            "A few singular values of the shallow net's first layer suffice (rank within 1% of the unpruned "
            "accuracy <= 10% of the full rank)",
            bool(r is not None and r <= 0.1 * pr["full_rank"]),
            f"smallest rank within 1% of {pr['unpruned_accuracy']:.3f}: {r} of {pr['full_rank']}; accuracy at rank "
            + ", ".join(f"{k}: {pr['accuracy'][str(k)]:.3f}" for k in pr["ranks"][:4]),
        ))
    else:
        out.append(_finding("few_singular_values", "A few singular values suffice", None, "no shallow_svd run"))
    learned = [m for m in generic if (M[m]["test_accuracy"] or 0) >= LEARNED]
    skipped = [m for m in generic if m not in learned]
    note = f" (not counted, test accuracy < {LEARNED:g}: {', '.join(skipped)})" if skipped else ""
    if not learned:
        for fid in ("disorder_hurts_generic", "edge_ablation_hurts_generic"):
            out.append(_finding(fid, f"{fid.replace('_', ' ')}", None, f"no generic network reached test accuracy {LEARNED:g}"))
    else:
        rows, hurt = [], 0
        for m in learned:
            tai_acc, tai_agr = _tai(M[m]["disorder_accuracy"]), _tai(M[m]["disorder_agreement"])
            drop = (M[m]["test_accuracy"] or 0) - (tai_agr if tai_agr is not None else 0)
            hurt += drop > HURT
            rows.append(f"{m}: test {_fmt(M[m]['test_accuracy'])} -> TAI accuracy {_fmt(tai_acc)}, agreement with the "
                        f"exact invariant {_fmt(tai_agr)}")
        ex = results["exact_topo"]["accuracy"]
        ex_tai = [ex[k] for k in ex if k.startswith("disorder/") and TAI_WINDOW[0] <= float(k.split("/")[1]) <= TAI_WINDOW[1]]
        out.append(_finding(
            "disorder_hurts_generic",
            f"Disorder hurts generic networks (in the TAI window W in [{TAI_WINDOW[0]:g}, {TAI_WINDOW[1]:g}] a majority "
            f"of those that learned the task agree with the exact invariant {HURT:g} less often than their test accuracy)",
            bool(hurt > len(learned) / 2),
            "; ".join(rows) + (f"; exact invariant's own accuracy there {np.mean(ex_tai):.3f} (the finite open chain does not determine the label near the transitions)" if ex_tai else "")
            + note,
        ))
        rows, hurt = [], 0
        for m in learned:
            a = M[m]["edge_ablation_accuracy"]
            hurt += (M[m]["test_accuracy"] or 0) - (a or 0) > HURT
            rows.append(f"{m}: {_fmt(M[m]['test_accuracy'])} -> {_fmt(a)}")
        out.append(_finding(
            "edge_ablation_hurts_generic",
            f"Removing the in-gap edge states from the input hurts generic networks (a majority of those that learned "
            f"the task lose > {HURT:g})",
            bool(hurt > len(learned) / 2),
            "; ".join(rows) + f"; exact TopoNet {_fmt(results['exact_topo']['accuracy'].get('ablation'))}" + note,
        ))
    met = []
    for m, e in M.items():
        checks = {
            "trainability": e["trainability"],
            "size_generalization_accuracy": e["size_generalization_accuracy"],
            "unseen_winding_accuracy": e["unseen_winding_accuracy"],
            # up to the TAI window, on the samples whose invariant the finite chain determines
            "disorder_agreement_quantized": min(
                [v for k, v in e["disorder_agreement_quantized"].items() if v is not None and float(k) <= TAI_WINDOW[1]],
                default=None),
        }
        ok = all(v is not None and v >= GOAL[k] for k, v in checks.items())
        e_goal = {k: {"value": v, "target": GOAL[k], "met": bool(v is not None and v >= GOAL[k])} for k, v in checks.items()}
        e["goal"] = e_goal
        if ok:
            met.append(m)
    out.append(_finding(
        "structured_variant_goal",
        "A model trains from random init in >= 90% of seeds and keeps >= 95% on 4x longer chains, unseen windings "
        "and disorder up to the TAI window (agreement with the exact invariant on the chains where it is quantized)",
        bool(met),
        ("met by " + ", ".join(met)) if met else "met by no model: " + "; ".join(
            f"{m}: " + ", ".join(f"{k.split('_')[0]} {_fmt(v['value'], 2)}" for k, v in e["goal"].items()) for m, e in M.items()
        ),
    ))
    return out


def render_report(results: Dict[str, Any]) -> str:
    """``results.md``: the tables, the findings and the figures of a study, as Markdown."""
    cfg = results["config"]
    M = results["models"]
    N = cfg["n_cells"]
    L = []
    L.append(f"# tntopo study: why is topology hard to learn? (preset `{cfg['name']}`)\n")
    L.append(
        f"Chains of N = {N} cells, hoppings over ranges {tuple(cfg['ranges'])} (amplitudes in "
        f"[-{cfg['amplitude']:g}, {cfg['amplitude']:g}], Bloch gap >= {cfg['min_gap']:g}), trained on windings "
        f"{tuple(cfg['train_windings'])} ({cfg['n_train']} chains), {cfg['seeds']} seeds per model, "
        f"{cfg['epochs']} epochs (Adam, MSE on W, best validation loss kept). Input: the eigenvector amplitudes "
        "(2N x 2N, columns by energy). Accuracy = round(prediction) == label. Generated by "
        "`tntopo reproduce`; every conclusion below is computed from these numbers.\n"
    )
    L.append("## Results\n")
    L.append(f"| model | params | seeds | test acc | trainability | size {cfg['size_factor']}N={cfg['size_factor'] * N} "
             f"| unseen W {tuple(cfg['unseen_windings'])} | disorder acc (TAI) | disorder agreement (TAI, all / quantized) "
             "| edge ablation | train s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, e in M.items():
        L.append(
            f"| `{m}` | {e['parameters']} | {e['seeds']} | {_fmt(e['test_accuracy'])} ± {_fmt(e['test_accuracy_std'], 3)} "
            f"| {_fmt(e['trainability'], 2)} | {_fmt(e['size_generalization_accuracy'])} | {_fmt(e['unseen_winding_accuracy'])} "
            f"| {_fmt(_tai(e['disorder_accuracy']))} | {_fmt(_tai(e['disorder_agreement']))} / "
            f"{_fmt(_tai(e['disorder_agreement_quantized']))} | {_fmt(e['edge_ablation_accuracy'])} "
            f"| {_fmt(e['train_seconds'], 1)} |"
        )
    ex = results["exact_topo"]
    acc = ex["accuracy"]
    def disorder_part(d):
        return {k.split("/")[1]: v for k, v in (d or {}).items() if k.startswith("disorder/")}

    dis = disorder_part(acc)
    agr, agr_q = disorder_part(ex.get("agreement")), disorder_part(ex.get("agreement_quantized"))
    L.append(
        f"| exact TopoNet (reference) | 0 | - | {_fmt(acc.get('test'))} | - | {_fmt(acc.get('size'))} | {_fmt(acc.get('unseen'))} "
        f"| {_fmt(_tai(dis))} | {_fmt(_tai(agr))} / {_fmt(_tai(agr_q))} "
        f"| {_fmt(acc.get('ablation'))} | - |"
    )
    L.append("")
    L.append("TAI = mean over disorder strengths in the topological Anderson insulator window "
             f"W in [{TAI_WINDOW[0]:g}, {TAI_WINDOW[1]:g}]. *Agreement* counts predictions equal to the rounded "
             "real-space invariant of the same input chain (what a model that computes the invariant gets); "
             f"*quantized* restricts it to the chains whose invariant lies within {QUANTIZED_TOL:g} of an integer (the others, "
             "near a transition, are undetermined at this length: their fraction is in the disorder table); "
             "*accuracy* compares with the exact twisted-boundary integer of the periodic chain, which a finite open "
             "chain near a transition does not determine (see the exact reference row).\n")
    for m, e in M.items():
        if e.get("size_generalization_note"):
            L.append(f"- `{m}` size generalization: n/a ({e['size_generalization_note']}).")
    L.append("")
    L.append("### Models\n")
    for m, e in M.items():
        spec = cfg["models"].get(m, {})
        budget = f" ({spec.get('epochs') or cfg['epochs']} epochs, lr {spec.get('lr')})" if spec else ""
        L.append(f"- `{m}`: {e['description']}{budget}")
    L.append("")
    L.append("## Accuracy vs disorder (NN SSH, t_0 ~ U"
             f"[{cfg['disorder_t0'][0]:g}, {cfg['disorder_t0'][1]:g}], t_1 = {cfg['disorder_t1']:g}, disorder {{0: W, 1: W/2}})\n")
    Ws = list(next(iter(M.values()))["disorder_accuracy"].keys()) if M else []
    L.append("| model | " + " | ".join(f"W={w}" for w in Ws) + " |")
    L.append("|---|" + "---:|" * len(Ws))
    L.append("| exact invariant of the input chain | " + " | ".join(_fmt(dis.get(w)) for w in Ws) + " |")
    data = results.get("data", {})

    def majority(w):
        labels = data.get(f"disorder/{w}", {}).get("labels")
        return max(labels.values()) / sum(labels.values()) if labels else None

    L.append("| majority label (a constant guess) | " + " | ".join(_fmt(majority(w)) for w in Ws) + " |")
    for m, e in M.items():
        L.append(f"| `{m}` accuracy | " + " | ".join(_fmt(e["disorder_accuracy"][w]) for w in Ws) + " |")
    for m, e in M.items():
        L.append(f"| `{m}` agreement | " + " | ".join(_fmt(e["disorder_agreement"][w]) for w in Ws) + " |")
    for m, e in M.items():
        L.append(f"| `{m}` agreement (quantized) | " + " | ".join(_fmt(e["disorder_agreement_quantized"][w]) for w in Ws) + " |")
    L.append("| fraction of quantized chains | " + " | ".join(
        _fmt(data.get(f"disorder/{w}", {}).get("exact_quantized_fraction")) for w in Ws) + " |")
    L.append("")
    L.append("## Exact TopoNet\n")
    L.append(f"TopoNet(init=\"exact\") vs `tntopo.winding_number` on {ex['n_checked']} chains (clean, unseen windings, "
             f"{cfg['size_factor']}N cells, disordered): max |error| = {ex['max_abs_error']:.2e}.\n")
    pr = results.get("pruning")
    if pr:
        L.append("## SVD pruning of the shallow network\n")
        L.append("| rank | " + " | ".join(str(r) for r in pr["ranks"]) + f" | full ({pr['full_rank']}) |")
        L.append("|---|" + "---:|" * (len(pr["ranks"]) + 1))
        L.append("| test accuracy | " + " | ".join(_fmt(pr["accuracy"][str(r)]) for r in pr["ranks"])
                 + f" | {_fmt(pr['unpruned_accuracy'])} |")
        sv = pr["singular_values_mean_normalized"]
        L.append("\nSingular values (normalized to the largest, mean over seeds): "
                 + ", ".join(f"{v:.3f}" for v in sv[:8]) + (" ..." if len(sv) > 8 else "")
                 + f". Smallest rank within 1% of the unpruned accuracy: {pr['smallest_rank_within_1pct']}.\n")
    L.append("## Findings (computed from the numbers above)\n")
    for f in results.get("findings", []):
        mark = {True: "**holds**", False: "**does not hold**", None: "**not measured**"}[f["holds"]]
        L.append(f"- {f['claim']}: {mark}. {f['evidence']}.")
    L.append("")
    L.append("### Goal for a physics-structured variant\n")
    L.append("| model | trainability >= 0.9 | size >= 0.95 | unseen >= 0.95 | min disorder agreement (quantized, W <= "
             f"{TAI_WINDOW[1]:g}) >= 0.95 |")
    L.append("|---|---|---|---|---|")
    for m, e in M.items():
        g = e.get("goal", {})
        cells = [f"{_fmt(g[k]['value'], 3)} {'yes' if g[k]['met'] else 'no'}" for k in
                 ("trainability", "size_generalization_accuracy", "unseen_winding_accuracy", "disorder_agreement_quantized")] if g else ["n/a"] * 4
        L.append(f"| `{m}` | " + " | ".join(cells) + " |")
    L.append("")
    figs = results.get("figures") or {}
    if figs:
        L.append("## Figures\n")
        for name, path in figs.items():
            if str(path).startswith("skipped"):
                L.append(f"- {name}: {path}")
            else:
                L.append(f"![{name}]({path})\n")
    t = results.get("timings", {})
    L.append("## Timings and versions\n")
    L.append(", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in t.items()) + "\n")
    L.append(", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items()) + "\n")
    if results.get("failures"):
        L.append("## Failed runs\n")
        for k, v in results["failures"].items():
            L.append(f"- {k}: {v}")
    return "\n".join(L) + "\n"


def write_report(results: Dict[str, Any], path) -> None:
    """Write :func:`render_report` to ``path`` atomically."""
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(render_report(results))
