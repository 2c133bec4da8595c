r"""
The winding number as a tensor network
======================================

The real-space winding number of an open chain is a bulk average of local markers,

.. math::

   W = \sum_{a \in A,\, c \in B} R_a \,(x_a - x_c)\, Q_{ac}\, Q^*_{ac},

with ``Q`` the flat-band A->B block, ``R`` the bulk window and ``x`` the cell position. This
example draws the network tntopo contracts (:func:`tntopo.tn.rswn_network`), then expands ``Q``
into eigenvector amplitudes to draw the fourth-order network that makes the winding number
learnable, and checks that both contract to the same number.
"""

# %%
# The network tntopo contracts
# ----------------------------
# Four tensors share the hyper-indices ``a`` (A cell) and ``c`` (B cell) and a batch index
# ``b``: the flat-band block ``Q[b, a, c]``, its conjugate, the position kernel
# ``X[a, c] = x_a - x_c`` and the bulk window ``R[a]``.
import matplotlib.pyplot as plt
import numpy as np
import quimb.tensor as qtn

import tntopo
from tntopo.invariants import bulk_window, polar_factor, position_kernel
from tntopo.tn import contract_network, rswn_network

chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=20)
N = chain.n_cells
Q = polar_factor(chain.hopping_block()[None])  # (1, N, N): one chain in the batch
X = position_kernel(N)
R = bulk_window(N)
tn_q = rswn_network(Q, X, R)
print(tn_q)
W_q = contract_network(tn_q, ("b",)).real[0]

# %%
# The same number from eigenvector amplitudes
# -------------------------------------------
# Writing ``Q_ac = sum_n s_n psi_n(a) psi_n(c)^*`` over the ``2N`` eigenstates ``psi_n`` of
# ``H`` with band signs ``s_n = sign(E_n)`` turns the two ``Q`` tensors into six: the winding
# number is a polynomial of fourth order in the amplitudes ``psi``, with a geometric kernel
# ``D[a, c] = R_a (x_a - x_c)`` and two copies of the sign vector. ``s`` and ``D`` are what a
# hybrid tensor-neural network can learn.
E, psi = np.linalg.eigh(chain.hamiltonian())
s = np.where(E >= 0, 1.0, -1.0)
psi_A, psi_B = psi[:N], psi[N:]
D = R[:, None] * X
tn_psi = qtn.TensorNetwork([
    qtn.Tensor(psi_A, inds=("a", "n"), tags={"psi_A"}),
    qtn.Tensor(s, inds=("n",), tags={"s"}),
    qtn.Tensor(psi_B.conj(), inds=("c", "n"), tags={"psi_B*"}),
    qtn.Tensor(D, inds=("a", "c"), tags={"D"}),
    qtn.Tensor(psi_B, inds=("c", "m"), tags={"psi_B"}),
    qtn.Tensor(s, inds=("m",), tags={"s"}),
    qtn.Tensor(psi_A.conj(), inds=("a", "m"), tags={"psi_A*"}),
])
W_psi = tn_psi.contract(output_inds=()).real

W = tntopo.winding_number(chain, method="dense")
print(f"Q network:          W = {W_q:.10f}")
print(f"eigenvector network W = {W_psi:.10f}")
print(f"winding_number      W = {W:.10f}")

# %%
# Drawing both networks
# ---------------------
# Small grey dots are hyper-indices: ``a`` and ``c`` join three tensors each, ``n`` and ``m`` join an
# eigenvector, its conjugate and the sign vector.
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
tn_q.draw(color=["Q", "Qc", "X", "R"], show_inds="all", ax=axes[0], title="Q, Q*, X, R")
tn_psi.draw(color=["psi_A", "psi_A*", "psi_B", "psi_B*", "s", "D"], show_inds="all", ax=axes[1],
            title="psi_A s psi_B* D psi_B s psi_A*")
fig.suptitle(f"Real-space winding network of {chain!r}", fontsize=9)
plt.show()
