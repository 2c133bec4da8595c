"""Tensor-network form of the real-space winding number (quimb + opt_einsum)."""
from .network import contract_network, contract_rswn, expression_cache_info, rswn_network

__all__ = ["rswn_network", "contract_network", "contract_rswn", "expression_cache_info"]
