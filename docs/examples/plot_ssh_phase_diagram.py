"""
SSH phase diagrams with the analytic boundary
=============================================

The Su-Schrieffer-Heeger chain ``{0: v, 1: w}`` is topological (winding number
``W = +1``) when ``|w| > |v|`` and trivial when ``|w| < |v|``. Here the real-space winding
number of open chains -- a tensor-network contraction over the bulk of each chain -- is
computed for whole grids of chains at once and compared with the analytic phase boundaries.
"""

# %%
# Winding number along ``v / w``
# ------------------------------
# A :class:`~tntopo.ChainBatch` holds many chains with the same hopping ranges; the
# ``"dense"`` route contracts all of them in one batched call. Near the transition the
# localization length exceeds the chain and the real-space value is not quantized, so
# tntopo warns (:class:`~tntopo.GaplessWarning`); we silence the warning for the sweep.
import warnings

import matplotlib.pyplot as plt
import numpy as np

import tntopo

n_cells = 32
ratio = np.linspace(-2, 2, 120)  # v / w, never exactly +-1
line = tntopo.ChainBatch(np.c_[ratio, np.ones_like(ratio)], ranges=(0, 1), n_cells=n_cells)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", tntopo.GaplessWarning)
    W_line = tntopo.winding_number(line, method="dense")
W_bloch = line.bloch_windings()  # exact integers from h(k) = v + w e^{ik}

# %%
# Maps over two hoppings
# ----------------------
# Nearest-neighbour chains ``{0: t_0, 1: t_1}``: the boundary is ``|t_0| = |t_1|``.
# With a next-nearest hopping, ``{0: t_0, 1: 1, 2: t_2}``, the winding number reaches 2 and
# the boundaries are where ``h(k) = t_0 + e^{ik} + t_2 e^{2ik}`` vanishes for some ``k``:
# ``t_0 + t_2 = -1`` (``k = 0``), ``t_0 + t_2 = 1`` (``k = pi``) and ``t_0 = t_2`` with
# ``|t_0| >= 1/2`` (a complex pair of zeros crossing the unit circle).


def real_space_map(make_hoppings, ranges, n_cells):
    """Real-space and Bloch winding numbers of open chains over a grid of two parameters."""
    a, b = np.meshgrid(gx, gy)
    batch = tntopo.ChainBatch(make_hoppings(a.ravel(), b.ravel()), ranges=ranges, n_cells=n_cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tntopo.GaplessWarning)
        W = tntopo.winding_number(batch, method="dense")
    return W.reshape(a.shape), batch.bloch_windings().reshape(a.shape)


# cell centres of 40 x 41 pixels on [-2, 2]^2: no grid point lies on a boundary
gx = -2 + 4 * (np.arange(40) + 0.5) / 40
gy = -2 + 4 * (np.arange(41) + 0.5) / 41
W_nn, B_nn = real_space_map(lambda t0, t1: np.c_[t0, t1], (0, 1), n_cells=24)
W_lr, B_lr = real_space_map(lambda t0, t2: np.c_[t0, np.ones_like(t0), t2], (0, 1, 2), n_cells=32)
for name, W, B in [("nearest-neighbour", W_nn, B_nn), ("long-range", W_lr, B_lr)]:
    agree = np.mean(np.round(W) == B)
    print(f"{name}: real-space rounds to the Bloch integer on {100 * agree:.1f}% of the grid")

# %%
# The figure
# ----------
fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)

ax = axes[0]
ax.plot(ratio, W_line, ".", ms=3, label=f"real space, open chain, $N = {n_cells}$")
ax.step(ratio, W_bloch, where="mid", color="k", lw=1, label="Bloch integer")
for x in (-1, 1):
    ax.axvline(x, color="C3", ls="--", lw=1, label="transition $|v| = |w|$" if x == 1 else None)
ax.set(xlabel="intracell / intercell hopping $v / w$", ylabel="winding number $W$",
       title="SSH chain $t_0 = v,\\ t_1 = w$")
ax.legend(loc="center", fontsize=8)

cmap = plt.get_cmap("viridis", 3)
extent = (-2, 2, -2, 2)
diag = np.array([-2.0, 2.0])
ax = axes[1]
# values beyond [-0.5, 2.5] (none here but near the lines) take the end colours: the colour
# bar's triangles (extend="both") mark that range
im = ax.imshow(W_nn, origin="lower", extent=extent, cmap=cmap, vmin=-0.5, vmax=2.5)
ax.plot(diag, diag, "w--", lw=1.5)
ax.plot(diag, -diag, "w--", lw=1.5, label="$|t_0| = |t_1|$")
ax.set(xlabel="intracell hopping $t_0$", ylabel="intercell hopping $t_1$",
       title="nearest neighbour: $t_0,\\ t_1$")
ax.legend(loc="lower right", fontsize=8, facecolor="0.35", labelcolor="white")

ax = axes[2]
ax.imshow(W_lr, origin="lower", extent=extent, cmap=cmap, vmin=-0.5, vmax=2.5)
ax.plot(diag, -1 - diag, "w--", lw=1.5, label="Bloch gap closes")
ax.plot(diag, 1 - diag, "w--", lw=1.5)
for seg in ([-2, -0.5], [0.5, 2]):
    ax.plot(seg, seg, "w--", lw=1.5)
ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="intracell hopping $t_0 / t_1$",
       ylabel="next-nearest hopping $t_2 / t_1$", title="with next-nearest hopping: $t_0,\\ t_1 = 1,\\ t_2$")
ax.legend(loc="lower right", fontsize=8, facecolor="0.35", labelcolor="white")
fig.colorbar(im, ax=axes[1:], ticks=[0, 1, 2], label="real-space winding number $W$", shrink=0.9, extend="both")
plt.show()
