"""A matrix with NaN or inf entries gives NaN derivatives, not zeros (issue #11, item 4).

The value is NaN for such a matrix; its derivatives must be NaN too, in forward and in
reverse mode, while the other matrices of the batch keep finite derivatives. (Before,
the non-finite matrix was replaced by zeros through a `where`, whose constant branch
has a zero derivative, so `jax.grad` returned a silent 0.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgrad import linalg

SPD = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])


def _real(x):
    return jnp.sum(jnp.abs(x) ** 2) if jnp.iscomplexobj(x) else jnp.sum(x)


# One scalar readout per public function, each through a different output.
FUNCTIONS = {
    "eigh": lambda a: linalg.eigh(a).eigenvectors ** 2,
    "eigvalsh": linalg.eigvalsh,
    "eigh_generalized_a": lambda a: linalg.eigh_generalized(a, SPD).eigenvalues,
    "eigh_generalized_b": lambda b: linalg.eigh_generalized(SPD, b).eigenvalues,
    "svd": lambda a: linalg.svd(a).U ** 2,
    "svd_hermitian": lambda a: linalg.svd(a, hermitian=True).S,
    "svdvals": linalg.svdvals,
    "eig": lambda a: linalg.eig(a).eigenvalues,
    "eigvals": linalg.eigvals,
    "funm": lambda a: linalg.funm(a, jnp.sin),
    "expm": linalg.expm,
    "logm": linalg.logm,
    "sqrtm": linalg.sqrtm,
    "inv_sqrtm": linalg.inv_sqrtm,
    "powm": lambda a: linalg.powm(a, 0.5),
    "trace_function": lambda a: linalg.trace_function(a, jnp.exp),
    "projector": lambda a: linalg.projector(a, 1),
    "polar": lambda a: linalg.polar(a).P,
    "svd_funm": lambda a: linalg.svd_funm(a, jnp.tanh),
    "svd_trace_function": lambda a: linalg.svd_trace_function(a, jnp.square),
    "nuclear_norm": linalg.nuclear_norm,
    "svt": lambda a: linalg.svt(a, 0.5),
    "eigsh": jax.vmap(lambda a: linalg.eigsh(a, 1).eigenvalues),
}


def test_every_public_function_is_covered():
    public = {
        name
        for name, obj in vars(linalg).items()
        if not name.startswith("_") and callable(obj) and not isinstance(obj, type)
    }
    covered = {name.removesuffix("_a").removesuffix("_b").removesuffix("_hermitian") for name in FUNCTIONS}
    assert public <= covered, sorted(public - covered)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_nonfinite_input_gives_nan_derivatives(name):
    f = FUNCTIONS[name]
    a = np.stack([SPD.copy(), SPD.copy(), SPD + np.eye(3)])
    a[0, 1, 2] = a[0, 2, 1] = np.nan
    a[1, 0, 0] = np.inf

    def per_matrix(x):
        out = f(x)
        return jax.vmap(_real)(out) if out.ndim > 1 else out

    @jax.jit  # one compilation for both modes
    def derivatives(x):
        return jax.grad(lambda x: jnp.sum(per_matrix(x)))(x), jax.jvp(per_matrix, (x,), (jnp.ones_like(x),))[1]

    grad, tangent = derivatives(a)
    assert np.all(np.isnan(grad[:2])), grad[:2]
    assert np.all(np.isnan(tangent[:2])), tangent
    assert np.all(np.isfinite(grad[2])) and np.isfinite(tangent[2])
