"""
SVD pruning of a shallow network
================================

How much of its input does a network that learned the winding number actually use? Train a
network with one hidden layer (:class:`tntopo.nn.ShallowNet`) and replace its first layer
``W1 = U S V^T`` by the best rank-``r`` approximation (:func:`tntopo.nn.prune_svd`): the
accuracy as a function of ``r`` shows how many directions of the ``(2N)^2``-dimensional input the
network reads, and the singular values of ``W1`` (:func:`tntopo.nn.singular_values`) show how the
weight is spread over them.

Small sizes keep this page fast; ``tntopo reproduce`` runs the same measurement over many seeds.
"""

# %%
# Train a shallow network
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from tntopo.data import make_dataset
from tntopo.nn import ShallowNet, prune_svd, singular_values
from tntopo.nn import evaluate, train

torch.set_num_threads(1)
N = 10
train_set = make_dataset(600, N, ranges=(0, 1, 2), min_gap=0.3, seed=0)
test_set = make_dataset(300, N, ranges=(0, 1, 2), min_gap=0.3, seed=1)
model = ShallowNet(N, hidden=64, seed=0)
history = train(model, train_set, test_set, epochs=60, batch_size=32, lr=1e-3, seed=0, progress=False)
full = evaluate(model, test_set)["accuracy"]
print(history)
print(f"first layer {tuple(model.first_layer.weight.shape)}, test accuracy {full:.3f}")

# %%
# Prune the first layer
# ---------------------
# ``prune_svd`` returns a pruned copy; the trained model is unchanged.
sv = singular_values(model).numpy()
ranks = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
accuracy = [evaluate(prune_svd(model, r), test_set)["accuracy"] for r in ranks]
within = [r for r, a in zip(ranks, accuracy) if a >= full - 0.01]
for r, a in zip(ranks, accuracy):
    print(f"rank {r:2d}: test accuracy {a:.3f}")
print("smallest rank within 1% of the unpruned accuracy:", within[0] if within else None)

# %%
# The pruning curve and the spectrum
# ----------------------------------
# Left: test accuracy of the pruned network against the rank it keeps (dashed: unpruned; the
# chance level of three balanced classes is 1/3). Right: the singular values of the first
# layer, normalized to the largest.
fig, (ax_acc, ax_sv) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
ax_acc.plot(ranks, accuracy, "o-")
ax_acc.axhline(full, color="k", ls="--", lw=1, label=f"unpruned ({full:.3f})")
ax_acc.axhline(1 / 3, color="0.6", ls=":", lw=1, label="chance")
ax_acc.set(xscale="log", xlabel="rank $r$ kept in the first layer", ylabel="test accuracy", ylim=(0, 1.02))
ax_acc.set_xticks([1, 2, 4, 8, 16, 32, 64], labels=["1", "2", "4", "8", "16", "32", "64"])
ax_acc.minorticks_off()
ax_acc.legend(fontsize="small", loc="lower right")
ax_sv.semilogy(np.arange(1, len(sv) + 1), sv / sv[0], ".-")
ax_sv.set(xlabel="index $i$ of the singular value", ylabel=r"$\sigma_i / \sigma_1$",
          title="first layer of ShallowNet")
fig.suptitle(f"SVD pruning: chains of {N} cells, input dimension {(2 * N) ** 2}")
plt.show()
