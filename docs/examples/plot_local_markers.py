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

n_cells = 60
disordered = tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells, disorder={0: 1.0, 1: 0.5}, seed=0)
chains = {
    "topological {0: 0.5, 1: 1}": tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells),
    "trivial {0: 1, 1: 0.5}": tntopo.SSHChain({0: 1.0, 1: 0.5}, n_cells),
    "disordered {0: 0.6, 1: 1} + {0: 1, 1: 0.5}": disordered,
}
bulk = bulk_region(n_cells)
markers = {}
for name, chain in chains.items():
    w = tntopo.local_winding_marker(chain)
    markers[name] = w
    print(f"{name:44s} bulk mean {w[bulk].mean():+.4f}   sum over all cells {w.sum():+.1e}")

# %%
# The bulk mean is the real-space winding number; closing the disordered chain into a ring
# gives the exact integer from twisted boundary conditions.
ring = disordered.with_boundary("periodic")  # same bonds, plus those closing the ring
print("real space, open chain:", tntopo.winding_number(disordered, method="dense"))
print("twisted boundary, ring:", tntopo.winding_number(ring, method="twisted"))

# %%
# The figure
# ----------
# The bulk window is shaded; the markers of the edge cells are far outside the plotted range
# (they carry the compensating weight), so the axis is clipped.
fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
cells = np.arange(n_cells)
ax.axvspan(bulk.argmax() - 0.5, n_cells - bulk[::-1].argmax() - 0.5, color="0.92",
           label="bulk window")
for (name, w), marker in zip(markers.items(), "osd"):
    ax.plot(cells, w, marker=marker, ms=3, lw=1, label=name)
ax.axhline(0, color="k", lw=0.5)
ax.axhline(1, color="k", lw=0.5, ls=":")
ax.set(xlabel="cell n", ylabel="local marker w(n)", ylim=(-1.5, 2.5),
       title=f"Local winding markers of open chains, N = {n_cells}")
ax.legend(fontsize=8, loc="upper center", ncol=2)
plt.show()
