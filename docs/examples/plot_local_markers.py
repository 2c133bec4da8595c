"""
Local winding markers along an open chain
=========================================

The local marker ``w(n) = sum_j |Q_nj|^2 (x_n - x_j)`` (:func:`tntopo.local_winding_marker`)
is the winding number resolved cell by cell. Deep in the bulk of an open chain it equals the
winding number; near the ends it swings away, and over the whole chain it sums to zero -- which
is why tntopo averages it over the bulk window ``N//4 <= n < N - N//4`` only.
"""

# %%
# Markers of a topological, a trivial and a disordered chain
# ----------------------------------------------------------
# The disordered chain uses the convention of Mondragon-Shem et al. (2014): intracell
# disorder ``W`` and intercell disorder ``W/2`` (``disorder={0: W, 1: W/2}``), each bond
# drawn from ``seed``.
import matplotlib.pyplot as plt
import numpy as np

import tntopo
from tntopo.invariants import bulk_region
from tntopo.plot import hoppings_label, plot_local_marker

n_cells = 60
disordered = tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells, disorder={0: 1.0, 1: 0.5}, seed=0)
chains = {
    "topological": tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells),
    "trivial": tntopo.SSHChain({0: 1.0, 1: 0.5}, n_cells),
    "disordered": disordered,
}
bulk = bulk_region(n_cells)
markers = {}
for name, chain in chains.items():
    w = tntopo.local_winding_marker(chain)
    markers[name] = w
    print(f"{name:12s} bulk mean {w[bulk].mean():+.4f}   sum over all cells {w.sum():+.1e}")

# %%
# The bulk mean is the real-space winding number; closing the disordered chain into a ring
# gives the exact integer from twisted boundary conditions.
ring = disordered.with_boundary("periodic")  # same bonds, plus those closing the ring
print("real space, open chain:", tntopo.winding_number(disordered, method="dense"))
print("twisted boundary, ring:", tntopo.winding_number(ring, method="twisted"))

# %%
# The figure
# ----------
# The bulk window is shaded. The markers of the edge cells are far outside the plotted range
# (they carry the compensating weight): :func:`tntopo.plot.plot_local_marker` draws them at
# the clip value ``clip=2`` and marks them with triangles.
fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
ax.axvspan(bulk.argmax() - 0.5, n_cells - bulk[::-1].argmax() - 0.5, color="0.92", label="bulk window")
for (name, chain), marker in zip(chains.items(), "osd"):
    label = f"{name}: " + hoppings_label(chain.hoppings, chain.disorder)
    plot_local_marker(markers[name], ax=ax, label=label, clip=2.0, marker=marker, markersize=3)
ax.axhline(0, color="k", lw=0.5)
ax.axhline(1, color="k", lw=0.5, ls=":")
ax.set_title(f"Local winding markers of open chains, $N = {n_cells}$")
ax.legend(fontsize=8, loc="upper center", ncol=2)
plt.show()
