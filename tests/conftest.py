import os

# The suite's time is mostly XLA compiling small programs once each (the adaptive loop of
# `quad` above all); LLVM's optimisation of the generated CPU code is a third of that and
# buys nothing for problems this small. Tests therefore compile at backend optimisation
# level 0 (the HLO passes, fusion included, are unchanged; the numerics are IEEE either
# way). Set before JAX creates its CPU backend; a flag given by the caller wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

# Tests run in float64 unless a test asks for float32 explicitly.
jax.config.update("jax_enable_x64", True)
