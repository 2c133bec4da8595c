"""Tensor networks of the invariants: built with quimb, contracted with cotengra (cached expressions)."""
from .network import contract_network, contract_rswn, expression_cache_info, rswn_network

__all__ = ["rswn_network", "contract_network", "contract_rswn", "expression_cache_info"]
