"""`computed_once(*arrays)`: the arrays as they are, computed once in the compiled program.

XLA's CPU instruction fusion copies a cheap producer (additions, multiplications,
comparisons, selects: anything but a few "expensive" operations such as divisions,
transcendental functions and gathers) into every fusion that consumes it, so that no
intermediate array is written to memory. For small elementwise chains that is what
makes a kernel fast. In `quad`'s loop body it is what makes the program large: the
21 nodes of each piece (the double-exponential map, ~250 instructions) were copied into
every operation of the integrand that reads x and into every test that reads the nodes;
the Gauss–Kronrod sums and error estimates into both rows of the interval pool (the
float row and the integer row) and into each test that reads them. Optimized, the value
program of `quad` held 13,037 fused instructions for 4,706 operations before XLA's
passes, and XLA compile time follows the fused instructions (LLVM compiles each fusion's
code separately).

Here the arrays are packed side by side along their last axis and read back through a
gather with constant indices (the identity): a gather is one of the operations the
fusion does not copy, so the arrays are computed in one fusion and written once, and
every consumer reads them. The values are exactly the inputs (a gather moves bits;
booleans travel as 0/1 in the floating dtype). Where XLA's boundaries between fusions
move, its code may round differently in the last bit (of the 36 integrals of the test
battery, one value moved by an ulp and two error estimates in their fifth digit).

With it at the places `quad`'s loop reads many times (`jaxgrad/integrate/_adaptive.py`:
the map's arguments, the nodes and weights, the integrand's values, the rule's results,
the tests between halves, the flags and decisions both rows of the pool read, the
extrapolation's record) the value program holds 6,285 fused instructions instead of
13,037. XLA compile time of `f = exp(-px)/√x` on [0, 1], one process per version, two
alternating pairs (bench/RESULTS.md, "suite"):

| program | test flags (classic emitters, level 0) | XLA's defaults |
|---|---|---|
| value | 0.72–0.75 s against 1.02–1.08 s | 2.73–2.75 s against 3.77–3.84 s |
| gradient | 0.82–0.83 against 1.10–1.11 | 3.01 against 4.11–4.20 |
| vmap over 8 | 0.96–0.99 against 1.33–1.37 | 3.41–3.51 against 4.64–4.85 |
| hessian | 0.86–0.87 against 1.09–1.11 | 3.18 against 4.20–4.49 |

Where the arrays are large (the first pass of `quad` over a batch of thousands of
lanes, `jaxgrad/integrate/_batch.py`) writing and reading them costs more than the
copies' arithmetic: 4,000 easy lanes took 18–21 ms instead of 8 ms. That pass does
without it.

A packed width of one is left alone: XLA removes a gather that takes the whole array,
and the program is then what it would be without this. Where a later XLA removes the
identity gather too, the program is again what it would be without it (larger, same
values).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def computed_once(*arrays):
    """`arrays` unchanged, each computed once (see the module docstring).

    Each array has shape (n, ...) with the same n; all floating arrays share one dtype,
    and booleans are carried in it as 0 and 1. Returns a tuple in the same order with
    the same shapes and dtypes.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad._computed_once import computed_once
        >>> x, flag = computed_once(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([True, False]))
        >>> x.tolist(), flag.tolist()
        ([[1.0, 2.0], [3.0, 4.0]], [True, False])
    """
    dtype = next(a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating))
    if any(a.dtype not in (dtype, jnp.bool_) for a in arrays):
        raise TypeError(f"computed_once takes arrays of one real floating dtype and booleans, got "
                        f"{[str(a.dtype) for a in arrays]}")
    n = arrays[0].shape[0]
    cols = [a.reshape(n, -1) for a in arrays]
    widths = [c.shape[1] for c in cols]
    width = sum(widths)
    if width < 2:
        return tuple(arrays)
    packed = jnp.concatenate([c.astype(dtype) for c in cols], axis=1)[:, np.arange(width)]
    out, start = [], 0
    for a, w in zip(arrays, widths):
        part = packed[:, start : start + w].reshape(a.shape)
        out.append(part != 0 if a.dtype == jnp.bool_ else part)
        start += w
    return tuple(out)
