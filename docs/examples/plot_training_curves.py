"""
Training curves: TopoNet against an MLP
=======================================

TopoNet (:class:`tntopo.nn.TopoNet`) is the real-space winding number written as a tensor
network whose weights -- state weights ``s``, position kernel ``X``, bulk window ``R`` -- are
learnable: with ``init="exact"`` it *is* the invariant. Here three models learn the winding number
of SSH-family chains from their wavefunctions, from a random initialization:

* TopoNet with free weights (``2N`` state weights, an ``N x N`` kernel, ``N`` window weights);
* a constrained TopoNet: translation-invariant kernel ``f(a - c)``, state weights that are a
  function of the energy rank, the exact bulk window -- a few dozen weights;
* a multilayer perceptron on the flattened wavefunctions, with ~10^5 weights.

The dataset is tiny and the training short, so that this page builds in seconds; the study
(``tntopo reproduce``) does the same over many seeds and larger sets.
"""

# %%
# A small dataset in memory
# -------------------------
# :func:`tntopo.data.make_dataset` samples chains with hoppings of ranges 0, 1, 2 (winding
# numbers 0, 1 and 2, balanced) and computes their wavefunctions; the label is the rounded
# real-space winding number. No files are written.
import matplotlib.pyplot as plt
import numpy as np
import torch

from tntopo.data import make_dataset
from tntopo.nn import MLP, TopoNet
from tntopo.nn import evaluate, train

torch.set_num_threads(1)  # tiny models: one thread is fastest (and reproducible)
N = 12
train_set = make_dataset(400, N, ranges=(0, 1, 2), min_gap=0.3, seed=0)
val_set = make_dataset(200, N, ranges=(0, 1, 2), min_gap=0.3, seed=1)
print(train_set)
print("training labels:", np.bincount(train_set.label))

# %%
# Three models, the same data
# ---------------------------
# All three start from a random initialization drawn from their own ``seed``. The exact
# TopoNet is the reference: it computes the invariant of each input chain.
models = {
    "TopoNet (free weights)": (TopoNet(N, init="random", seed=0), 1e-2),
    "TopoNet (constrained)": (TopoNet(N, init="random", seed=0, kernel="translation_invariant",
                                      state_weights="rank", window="fixed"), 1e-2),
    "MLP": (MLP(N, seed=0), 1e-3),
}
exact = TopoNet(N, init="exact")
print(f"exact TopoNet: validation accuracy {evaluate(exact, val_set)['accuracy']:.3f}")

histories = {}
for name, (model, lr) in models.items():
    n_weights = sum(p.numel() for p in model.parameters())
    histories[name] = train(model, train_set, val_set, epochs=40, batch_size=32, lr=lr, seed=0,
                            progress=False)
    acc = evaluate(model, val_set)["accuracy"]
    print(f"{name:24s} {n_weights:7d} weights, validation accuracy {acc:.3f}")

# %%
# The curves
# ----------
# Left: training loss (mean squared error on the winding number). Right: validation accuracy,
# the fraction of chains whose rounded prediction is the label. Dashed: the exact TopoNet.
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
for name, hist in histories.items():
    epochs = np.arange(1, hist.completed_epochs + 1)
    ax_loss.plot(epochs, hist["train_loss"], label=name)
    ax_acc.plot(epochs, hist["val_accuracy"], label=name)
ax_acc.axhline(evaluate(exact, val_set)["accuracy"], color="k", ls="--", lw=1, label="exact TopoNet")
ax_loss.set(xlabel="epoch", ylabel="training loss (MSE)", yscale="log")
ax_acc.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1.02))
ax_acc.legend(fontsize="small", loc="lower right")
fig.suptitle(f"Learning the winding number: chains of {N} cells, {len(train_set)} training samples")
plt.show()
