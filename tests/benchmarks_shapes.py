"""Make the benchmark's shape table importable by the tests (one place for it)."""
import importlib.util
import pathlib

_path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ref.py"
_spec = importlib.util.spec_from_file_location("bench_ref", _path)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
CONV_SHAPES = _mod.CONV_SHAPES
POOL_SHAPE = _mod.POOL_SHAPE
POOL_CASES = _mod.POOL_CASES
bench_main = _mod.main

_gpu_spec = importlib.util.spec_from_file_location("bench_gpu", _path.with_name("bench_gpu.py"))
_gpu = importlib.util.module_from_spec(_gpu_spec)
_gpu_spec.loader.exec_module(_gpu)
bench_gpu_main = _gpu.main
