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


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread and one BLAS thread for a test module (``pytestmark = pytest.mark.usefixtures("one_thread")``).

    Small complex matrix products with 2 OpenMP threads on a loaded 2-core machine are ~1000x slower.
    """
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # numpy's BLAS too
        yield
    torch.set_num_threads(n)


@pytest.fixture
def without_seconds():
    """A causal-test result (``results["why"]``) with the per-seed wall times dropped: the rest is
    deterministic, so two runs of the same tasks compare equal."""
    import json

    def strip(r):
        r = json.loads(json.dumps(r))
        for c in r["cells"]:
            for s in c["seeds"]:
                s.pop("seconds")
        return r

    return strip
