import os

# The suite's time is mostly XLA compiling small programs once each (the adaptive loop of
# `quad` above all). Tests therefore compile
# - with XLA's classic CPU emitters (--xla_cpu_use_fusion_emitters=false): the MLIR-based
#   fusion emitters, XLA's default, spend most of the compile time on small programs
#   like ours (per fusion, building and running MLIR pass pipelines); the classic ones
#   compile `quad`'s programs with ~60% less CPU time (the HLO passes are the same,
#   fusion differs by a few kernels). Both are code generators XLA supports on the CPU.
# - at backend optimisation level 0: LLVM's optimisation of the generated CPU code buys
#   nothing for problems this small.
# - as one LLVM module (--xla_cpu_parallel_codegen_split_count=1): by default XLA splits
#   a program's code into many modules to compile them on parallel threads; the two test
#   processes already keep both cores busy, and the splitting (llvm::SplitModule) and the
#   per-module work cost more than they save at level 0: quad's value, gradient and
#   vmap programs compile with 26% less CPU time (16% less wall time even in a process
#   alone); a paired suite run 356 s -> 327 s (bench/RESULTS.md, "suite"). The code
#   generated is the same.
# Measured on the 2-core machine: the suite's summed test time 1,088 s -> 596 s (wall
# 9:21 -> 5:11) for the first flag; paired whole runs 536 s -> 320 s (bench/RESULTS.md,
# "suite"). The numerics are IEEE either way (no fast math). The user's code path, XLA's
# defaults, is checked by test_default_codegen.py (a process of its own without these
# flags) and measured by `bench/`. Each flag is added only if the caller did not set it,
# and neither with JAXGRAD_TEST_XLA_DEFAULTS=1 (the whole suite on XLA's defaults).
# (XLA exits on a flag it does not know; all three exist throughout jax 0.10, which
# pyproject.toml pins.)
for _flag, _value in (
    ("xla_cpu_use_fusion_emitters", "false"),
    ("xla_backend_optimization_level", "0"),
    ("xla_cpu_parallel_codegen_split_count", "1"),
):
    if _flag not in os.environ.get("XLA_FLAGS", "") and not os.environ.get("JAXGRAD_TEST_XLA_DEFAULTS"):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --{_flag}={_value}").strip()

import gc  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

# Python's cyclic garbage collector, at its defaults, runs a young-generation pass every
# 700 net allocations; tracing and lowering allocate millions of short-lived objects, and
# the older passes walk a heap that JAX's caches of traced and compiled functions keep
# growing through a test process. Measured with gc.callbacks in a full run at the
# defaults: 28 s of one worker's ~7 minutes inside the collector (13,389 passes).
# Collecting rarely, and never walking again the objects alive once the tests are
# collected (gc.freeze): test_quadosc.py and test_svd_funm.py in one process spent 1.9 s
# in it instead of 5.4 s and ran in 64-71 s against 70-77 s (runs alternating); the
# whole suite, one pair: 342 s against 363 s of wall time (0.94, CPU time alike), the
# largest process's peak memory 5.7 GB against 5.2 GB (cycles are still collected, in
# bigger batches).
gc.set_threshold(50_000, 20, 1000)

# Tests run in float64 unless a test asks for float32 explicitly.
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def float32_default():
    """x64 disabled for the test (as a user sees jaxgrad by default: docstring examples),
    restored afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


# The two test processes (pytest-xdist, one file at a time) finish together when the
# longest files start first: they are handed out in collection order (pyproject's
# --no-loadscope-reorder), so the files that compile the most (the adaptive quadrature
# above all) are moved to the front.
_FIRST = (  # by summed test time per file in a full run, 2026-12-07 (slowest first)
    "test_quad.py",
    "test_quad_weights.py",
    "test_cubature.py",
    "test_eager_loop.py",
    "test_funm.py",
    "test_svd_funm.py",
    "test_problems.py",
    "test_minimize.py",
    "test_iterated.py",
    "test_quadosc.py",
    "test_cache.py",
    "test_sharding.py",
    "test_eigsh.py",
    "test_eigh.py",
    "test_svd.py",
    "test_default_codegen.py",
    "test_eig.py",
    "test_inputs.py",
    "test_quad_modes.py",
    "test_docstrings.py",
    "test_cache_linalg.py",
    "test_nonfinite_derivatives.py",
    "test_qmc.py",
    "test_check_grad.py",
    "test_cache_optimize.py",
    "test_getting_started.py",
)


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _FIRST.index(name) if name in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: the order inside a file is kept
