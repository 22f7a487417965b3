import os

# The suite's time is mostly XLA compiling small programs once each (the adaptive loop of
# `quad` above all); LLVM's optimisation of the generated CPU code is a third of that and
# buys nothing for problems this small. Tests therefore compile at backend optimisation
# level 0 (the HLO passes, fusion included, are unchanged; the numerics are IEEE either
# way). Set before JAX creates its CPU backend; a flag given by the caller wins.
# (Measured and not used: --xla_cpu_use_fusion_emitters=false compiles quad's programs
# with ~40% less CPU time, but changes results: minimize's reverse-mode derivative of
# `Solution.value` in test_minimize.py becomes NaN.)
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
import pytest  # noqa: E402

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
_FIRST = (  # by wall time per file, measured in a full run (slowest first)
    "test_quad.py",
    "test_quad_weights.py",
    "test_problems.py",
    "test_funm.py",
    "test_quadosc.py",
    "test_cache.py",
    "test_cubature.py",
    "test_sharding.py",
    "test_svd.py",
    "test_minimize.py",
    "test_eig.py",
    "test_svd_funm.py",
    "test_iterated.py",
    "test_eigh.py",
    "test_quad_modes.py",
    "test_eigsh.py",
    "test_docstrings.py",
    "test_getting_started.py",
    "test_cache_optimize.py",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _FIRST.index(name) if name in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: the order inside a file is kept
