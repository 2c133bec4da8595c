"""Winding-number routes: real-space (dense tensor network, local windows), Bloch, twisted."""
from .api import as_blocks, local_winding_marker, winding_number
from .bloch import bloch_winding, twisted_determinants, twisted_winding
from .chern import bott_index, chern_number, fhs_chern, local_chern_marker, reference_chern_marker
from .realspace import (
    bulk_region,
    bulk_window,
    polar_factor,
    position_kernel,
    reference_winding_number,
)

__all__ = [
    "winding_number",
    "local_winding_marker",
    "as_blocks",
    "bloch_winding",
    "twisted_winding",
    "twisted_determinants",
    "polar_factor",
    "position_kernel",
    "bulk_region",
    "bulk_window",
    "reference_winding_number",
    "chern_number",
    "local_chern_marker",
    "fhs_chern",
    "bott_index",
    "reference_chern_marker",
]
