import os

from hypothesis import HealthCheck, settings

# numba compiles on first use: no per-example deadline. In CI the examples are
# derandomized so that a run is reproducible; locally each run explores anew.
settings.register_profile("cnnlab", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow],
                          derandomize=bool(os.environ.get("CI")))
settings.load_profile("cnnlab")
