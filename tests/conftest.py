"""Shared test configuration: deterministic seeds, a headless matplotlib backend."""
import os
import random

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # hypothesis profile: CI runs a fixed, moderate number of examples, derandomized
    from hypothesis import settings

    settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
    settings.register_profile("dev", max_examples=40, deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed the global RNGs before every test (library code takes explicit seeds anyway)."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield
