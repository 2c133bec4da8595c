"""Is the Chern number harder or easier to learn than the winding number? The two studies side by side.

:func:`compare_studies` reads the ``results.json`` of the winding study (1D) and of the Chern study
(2D) -- the same protocol and schema -- and pairs the rows that play the same role in each:

==========================================  ==================  ======================
role                                        1D row              2D row
==========================================  ==================  ======================
TopoNet, random init                        ``topo``            ``topo2d``
TopoNet, translation-invariant kernels      ``topo_ti_plain``   ``topo2d_ti_plain``
TopoNet, translation-invariant and odd      ``topo_ti``         ``topo2d_ti``
CNN over the real-space input               ``cnn``             ``cnn2d``
MLP on the flattened input                  ``mlp``             ``mlp2d``
==========================================  ==================  ======================

each as a regressor and as a classifier (``+ce``) where both studies ran it.

**What is compared.** ``learns_invariant``: the fraction of a row's seeds that reach the threshold on
every held-out criterion its head can meet (unseen invariants, larger samples, counterfactual samples;
each side lists its criteria, which are the same kinds of test on different systems). For each pair:
the two counts with their Wilson 95% intervals, Fisher's exact test of equal rates (two-sided), and
Holm's correction over all the pairs compared. The verdict of a pair is ``"harder in 2D"`` or
``"easier in 2D"`` only when the Holm-adjusted p-value is below ``alpha``; otherwise
``"inconclusive"`` (no difference that these seeds can resolve: *not* evidence of equal difficulty).
What would refute "harder in 2D" for a role: the 2D row learning in as many seeds as the 1D row, or
more; the test can return that (a 20/20 against 0/20 gives p ~ 1e-11 either way).

**Why.** The causal test (``results["why"]``) of each study changes one cause at a time for its TopoNet
rows. For each TopoNet role the comparison lists, per factor (objective, sample size, freedom,
budget), whether each setting moves the row in each study (from a baseline whose interval lies below
0.5 to a lower bound above 0.5), does not move it, is inconclusive, or does not apply -- and, where
both baselines lie below 0.5, names the factors that move the row in one study and not in the other
(``factors_differ``; ``None`` otherwise). A row whose baseline already learns, or straddles 0.5,
cannot be moved; the comparison says so instead of counting it.

:func:`comparison_markdown` renders it (the Chern report's "1D and 2D" section) and
:func:`tntopo.study.figures.plot_comparison` draws it. ``tntopo reproduce --study chern
--compare-with 1D/results.json`` puts it into ``results["comparison"]``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._typing import strict_keywords
from .stats import FAILS, HOLDS, compare, fisher_p, holm, wilson_interval

__all__ = ["ROLES", "compare_studies", "comparison_markdown", "check_winding_results", "study_of"]

#: ``(role, 1D row, 2D row)``: rows of the two studies that play the same role (base names; ``+ce`` is the
#: classifier of each).
ROLES: Tuple[Tuple[str, str, str], ...] = (
    ("TopoNet, random init", "topo", "topo2d"),
    ("TopoNet, translation-invariant kernels", "topo_ti_plain", "topo2d_ti_plain"),
    ("TopoNet, translation-invariant and odd", "topo_ti", "topo2d_ti"),
    ("CNN over the real-space input", "cnn", "cnn2d"),
    ("MLP on the flattened input", "mlp", "mlp2d"),
)
_HEADS = (("regression", ""), ("classification", "+ce"))
_SCHEMA = "tntopo.study/3"
_SIDES = {HOLDS: "learns", FAILS: "does not learn"}


@strict_keywords
def check_winding_results(results: Any, what: str = "the 1D results") -> Mapping[str, Any]:
    """``results`` if it is the ``results.json`` content of a winding study of this schema, else ValueError."""
    if not isinstance(results, Mapping) or "models" not in results:
        raise ValueError(f"{what} are not the content of a study's results.json (no 'models'); pass the results.json "
                         "that `tntopo reproduce --out DIR` wrote (DIR/results.json)")
    if results.get("schema") != _SCHEMA:
        raise ValueError(f"{what} have schema {results.get('schema')!r}; this tntopo compares {_SCHEMA!r}: rerun "
                         "`tntopo reproduce` with this version (finished runs are reused)")
    kind = study_of(results)
    if kind != "winding":
        raise ValueError(f"{what} are of the {kind!r} study; pass the winding study's results.json "
                         "(`tntopo reproduce --study winding`)")
    return results


def study_of(results: Mapping[str, Any]) -> str:
    """Which study wrote ``results``: ``"winding"`` or ``"chern"`` (its top-level or config ``study``)."""
    return str(results.get("study") or (results.get("config") or {}).get("study") or "winding")


def _side(row: Mapping[str, Any]) -> Dict[str, Any]:
    flags = [bool(v) for v in (row.get("per_seed") or {}).get("learns_invariant", []) if v is not None]
    ci = wilson_interval(sum(flags), len(flags)) if flags else None
    verdict = compare(ci, 0.5) if ci is not None else None
    acc = row.get("test_accuracy")
    return {"k": sum(flags), "n": len(flags), "learns_invariant": (sum(flags) / len(flags)) if flags else None,
            "ci": list(ci) if ci is not None else None,
            "side": _SIDES.get(verdict, "inconclusive") if verdict is not None else "n/a",
            "criteria": list(row.get("learns_invariant_criteria") or []),
            "test_accuracy": acc, "test_accuracy_ci": row.get("test_accuracy_ci")}


def _pairs(w: Mapping[str, Any], c: Mapping[str, Any], alpha: float) -> List[Dict[str, Any]]:
    pairs = []
    for role, m1, m2 in ROLES:
        for head, suffix in _HEADS:
            r1, r2 = w["models"].get(m1 + suffix), c["models"].get(m2 + suffix)
            if r1 is None or r2 is None:
                continue
            a, b = _side(r1), _side(r2)
            p = fisher_p(a["k"], a["n"], b["k"], b["n"])
            pairs.append({"role": role, "head": head, "winding": dict(a, row=m1 + suffix),
                          "chern": dict(b, row=m2 + suffix), "p": p})
    tested = [q for q in pairs if q["p"] is not None]
    for q, adj in zip(tested, holm([q["p"] for q in tested])):
        q["p_holm"] = adj
        if adj >= alpha:
            q["verdict"] = "inconclusive"
        else:
            q["verdict"] = "harder in 2D" if q["chern"]["learns_invariant"] < q["winding"]["learns_invariant"] \
                else "easier in 2D"
    for q in pairs:
        q.setdefault("p_holm", None)
        q.setdefault("verdict", "n/a")
    return pairs


def _status(answer: Mapping[str, Any], setting: str) -> str:
    for key, word in (("moves", "moves"), ("does_not_move", "does not move"), ("inconclusive", "inconclusive"),
                      ("not_applicable", "n/a")):
        if setting in (answer.get(key) or []):
            return word
    return "n/a"


def _why_side(answer: Mapping[str, Any], model: str) -> Dict[str, Any]:
    base = dict(answer.get("baseline") or {})
    settings = list((answer.get("settings") or {}).keys()) + list(answer.get("not_applicable") or [])
    by_factor: Dict[str, List[List[str]]] = {}
    for s in dict.fromkeys(settings):
        by_factor.setdefault(s.split("=")[0], []).append([s, _status(answer, s)])
    return {"model": model, "baseline": base, "factors": by_factor,
            "moves": list(answer.get("moves") or []), "does_not_move": list(answer.get("does_not_move") or []),
            "raises": answer.get("raises"), "lowers": answer.get("lowers")}


def _why(w: Mapping[str, Any], c: Mapping[str, Any]) -> List[Dict[str, Any]]:
    aw = ((w.get("why") or {}).get("answer") or {})
    ac = ((c.get("why") or {}).get("answer") or {})
    out = []
    for role, m1, m2 in ROLES:
        if not isinstance(aw.get(m1), Mapping) or not isinstance(ac.get(m2), Mapping):
            continue
        a, b = _why_side(aw[m1], m1), _why_side(ac[m2], m2)
        differ: Optional[List[str]] = None
        if a["baseline"].get("side") == b["baseline"].get("side") == "<0.5":  # both can be moved: comparable
            differ = []
            for f in sorted(set(a["factors"]) | set(b["factors"])):
                sa = {st for _, st in a["factors"].get(f, [])}
                sb = {st for _, st in b["factors"].get(f, [])}
                if ("moves" in sa) != ("moves" in sb):
                    differ.append(f)
        out.append({"role": role, "winding": a, "chern": b, "factors_differ": differ})
    return out


@strict_keywords
def compare_studies(winding: Mapping[str, Any], chern: Mapping[str, Any], *, alpha: float = 0.05) -> Dict[str, Any]:
    """The two studies side by side: which rows learn the invariant in 1D and in 2D, and why.

    Parameters
    ----------
    winding, chern : dict
        The content of the ``results.json`` of the winding study and of the Chern study (schema
        ``tntopo.study/3``; read them with ``json.load``).
    alpha : float
        Level of the Holm-corrected Fisher tests (a pair's verdict is ``"harder in 2D"`` /
        ``"easier in 2D"`` only below it).

    Returns
    -------
    dict
        ``pairs`` (one per role and head present in both: each side's ``k``, ``n``,
        ``learns_invariant``, Wilson ``ci``, ``side`` (``learns`` / ``does not learn`` /
        ``inconclusive`` against 0.5), ``criteria``, test accuracy; ``p``, ``p_holm``, ``verdict``),
        ``why`` (per TopoNet role: the factors and each setting's status in each study,
        ``factors_differ``, ``None`` unless both baselines lie below 0.5), ``summary`` (counts of verdicts) and ``paragraph`` (the answer in
        sentences, every number from the two results).

    Raises
    ------
    ValueError
        If either input is not a study's results of this schema, or ``winding`` is not the winding
        study's or ``chern`` not the Chern study's.
    """
    if not (0 < float(alpha) < 1):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    check_winding_results(winding)
    if not isinstance(chern, Mapping) or "models" not in chern or chern.get("schema") != _SCHEMA:
        raise ValueError(f"the 2D results are not the content of a Chern study's results.json of schema {_SCHEMA!r}")
    if study_of(chern) != "chern":
        raise ValueError(f"the 2D results are of the {study_of(chern)!r} study, not the Chern study's; pass the "
                         "results.json of `tntopo reproduce --study chern`")
    pairs = _pairs(winding, chern, float(alpha))
    why = _why(winding, chern)
    summary = {v: sum(q["verdict"] == v for q in pairs)
               for v in ("harder in 2D", "easier in 2D", "inconclusive", "n/a")}
    res = {"alpha": float(alpha), "test": "Fisher's exact test of equal learns_invariant rates, Holm-corrected "
                                          "over the pairs", "pairs": pairs, "why": why, "summary": summary}
    res["paragraph"] = _paragraph(res)
    return res


def _count(s: Mapping[str, Any]) -> str:
    if not s["n"]:
        return "n/a"
    lo, hi = s["ci"]
    return f"{s['k']}/{s['n']} seeds [{lo:.2f}, {hi:.2f}]"


def _paragraph(res: Mapping[str, Any]) -> List[str]:
    out = []
    for q in res["pairs"]:
        if q["head"] != "regression":
            continue
        w, c = q["winding"], q["chern"]
        p = "" if q["p"] is None else f" (Fisher p = {q['p']:.2g}, Holm {q['p_holm']:.2g})"
        out.append(f"{q['role']} ({w['row']} / {c['row']}) learns the invariant in {_count(w)} in 1D and "
                   f"{_count(c)} in 2D{p}: {q['verdict']}.")
    s = res["summary"]
    out.append(f"Over the {len(res['pairs'])} pairs (both heads): {s['harder in 2D']} harder in 2D, "
               f"{s['easier in 2D']} easier in 2D, {s['inconclusive']} inconclusive at alpha = {res['alpha']:g}.")
    for y in res["why"]:
        parts = []
        for side, dim in (("winding", "1D"), ("chern", "2D")):
            d = y[side]
            b = d["baseline"]
            if b.get("side") == ">=0.5":
                parts.append(f"in {dim} {d['model']}'s baseline already learns ({_fmt_frac(b)}): no setting can move it")
            elif b.get("side") != "<0.5":
                parts.append(f"in {dim} {d['model']}'s baseline ({_fmt_frac(b)}) straddles 0.5: no setting can be "
                             "said to move it")
            else:
                mv = ", ".join(d["moves"]) or "none"
                parts.append(f"in {dim} the settings that move {d['model']} (baseline {_fmt_frac(b)}) are: {mv}")
            if d.get("raises") is not None:  # results rendered before the threshold-free test have none
                ch = [f"{w} by {', '.join(d[k])}" for k, w in (("raises", "raised"), ("lowers", "lowered")) if d[k]]
                parts[-1] += (f" (its rate significantly {' and '.join(ch)})" if ch else
                              " (no setting changes its rate significantly)")
        if y["factors_differ"] is None:
            tail = "; the factors are compared only where both baselines lie below 0.5"
        elif y["factors_differ"]:
            tail = f"; the factors that move the row in one study and not in the other: {', '.join(y['factors_differ'])}"
        else:
            tail = "; no factor moves the row in one study and not in the other"
        out.append(f"Why ({y['role']}): " + "; ".join(parts) + tail + ".")
    return out


def _fmt_frac(b: Mapping[str, Any]) -> str:
    li, ci = b.get("learns_invariant"), b.get("ci")
    if li is None or not ci:
        return "n/a"
    return f"{li:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


@strict_keywords
def comparison_markdown(res: Mapping[str, Any]) -> List[str]:
    """The "1D and 2D" section of the Chern study's report (markdown lines) from :func:`compare_studies`."""
    lines = ["## 1D and 2D: is the Chern number harder to learn than the winding number?", "",
             f"Rows of the same role in the two studies; `learns_invariant` per seed, Wilson 95% intervals, "
             f"{res['test']} (alpha = {res['alpha']:g}). A verdict other than \"inconclusive\" needs the adjusted "
             "p-value below alpha; \"inconclusive\" is not evidence of equal difficulty.", "",
             "| role | head | 1D row | 1D learns | 2D row | 2D learns | p | Holm p | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for q in res["pairs"]:
        w, c = q["winding"], q["chern"]
        p = "n/a" if q["p"] is None else f"{q['p']:.2g}"
        ph = "n/a" if q["p_holm"] is None else f"{q['p_holm']:.2g}"
        lines.append(f"| {q['role']} | {q['head']} | {w['row']} | {_count(w)} | {c['row']} | {_count(c)} | {p} | "
                     f"{ph} | {q['verdict']} |")
    crit = sorted({(q['winding']['row'], ", ".join(q['winding']['criteria']), ", ".join(q['chern']['criteria']))
                   for q in res["pairs"]})
    if crit:
        lines += ["", "Criteria of `learns_invariant` (1D row: 1D criteria / 2D criteria): "
                  + "; ".join(f"{r}: {a or 'none'} / {b or 'none'}" for r, a, b in crit) + "."]
    if res["why"]:
        lines += ["", "| role | factor | 1D settings | 2D settings |", "|---|---|---|---|"]
        for y in res["why"]:
            for f in sorted(set(y["winding"]["factors"]) | set(y["chern"]["factors"])):
                a = ", ".join(f"{s}: {st}" for s, st in y["winding"]["factors"].get(f, [])) or "not run"
                b = ", ".join(f"{s}: {st}" for s, st in y["chern"]["factors"].get(f, [])) or "not run"
                lines.append(f"| {y['role']} | {f} | {a} | {b} |")
    lines += ["", *res["paragraph"], ""]
    return lines
