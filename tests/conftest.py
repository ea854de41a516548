import os

import pytest
from hypothesis import HealthCheck, settings

# numba compiles on first use: no per-example deadline. In CI the examples are
# derandomized so that a run is reproducible; locally each run explores anew.
settings.register_profile("cnnlab", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow],
                          derandomize=bool(os.environ.get("CI")))
settings.load_profile("cnnlab")


@pytest.fixture
def torch_one_thread():
    """Small networks and tensors: one torch thread is fastest on a busy 2-core machine, and the
    same everywhere. Use with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
