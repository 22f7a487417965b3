"""Input validation and non-finite input for all six spectral functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgrad.linalg import eig, eigh, eigvals, eigvalsh, svd, svdvals

FUNCTIONS = {
    "eigh": eigh,
    "eigvalsh": eigvalsh,
    "svd": svd,
    "svdvals": svdvals,
    "eig": eig,
    "eigvals": eigvals,
}
SQUARE_ONLY = ["eigh", "eigvalsh", "eig", "eigvals"]
WITH_TIE_RTOL = ["eigh", "eigvalsh", "svd", "eig", "eigvals"]
ARG_NAME = {"svdvals": "x"}

A_INT = np.array([[4, 1, 0], [1, 3, -2], [0, -2, 5]])  # symmetric, distinct eigenvalues


def outputs(x):
    """The output arrays of any of the six functions, as a list."""
    return [np.asarray(y) for y in x] if isinstance(x, tuple) else [np.asarray(x)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape", [(3,), ()])
def test_rank_below_two_raises(name, shape):
    arg = f"`{ARG_NAME.get(name, 'a')}`"
    with pytest.raises(ValueError) as info:
        FUNCTIONS[name](np.ones(shape))
    msg = str(info.value)
    assert arg in msg, msg
    assert str(shape) in msg, msg


def test_rank_check_happens_at_trace_time():
    with pytest.raises(ValueError, match=r"\(4,\)"):
        jax.jit(eigh)(jnp.ones(4))


@pytest.mark.parametrize("name", SQUARE_ONLY)
@pytest.mark.parametrize("shape", [(2, 3), (5, 3, 2)])
def test_non_square_raises(name, shape):
    with pytest.raises(ValueError) as info:
        FUNCTIONS[name](np.ones(shape))
    msg = str(info.value)
    assert "`a`" in msg, msg
    assert str(shape) in msg, msg


def test_svd_hermitian_requires_square():
    with pytest.raises(ValueError) as info:
        svd(np.ones((2, 3)), hermitian=True)
    assert "`a`" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("name", ["svd", "svdvals"])
def test_svd_accepts_non_square(name):
    s = outputs(FUNCTIONS[name](np.arange(6.0).reshape(2, 3)))
    assert all(np.all(np.isfinite(y)) for y in s)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_integer_input_promotes_to_float(name):
    fn = FUNCTIONS[name]
    from_int = outputs(fn(A_INT))
    from_float = outputs(fn(A_INT.astype(np.float64)))
    assert len(from_int) == len(from_float)
    for x, y in zip(from_int, from_float):
        expected_dtype = np.complex128 if name in ("eig", "eigvals") else np.float64
        assert x.dtype == expected_dtype, (name, x.dtype)
        assert y.dtype == x.dtype
        np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-14)
    # and the values are right (eigenvalues / singular values of a symmetric matrix)
    w = np.linalg.eigvalsh(A_INT.astype(float))
    first = from_int[1] if name == "svd" else from_int[0]
    if name in ("eigh", "eigvalsh"):
        np.testing.assert_allclose(first, w, rtol=1e-13)
    elif name in ("svd", "svdvals"):
        np.testing.assert_allclose(first, np.sort(np.abs(w))[::-1], rtol=1e-13)
    else:
        np.testing.assert_allclose(np.sort(first.real), w, rtol=1e-13)
        np.testing.assert_allclose(first.imag, 0, atol=1e-13)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_entry_gives_nan_for_that_batch_element_only(name, bad):
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 3, 3))
    x = (x + np.swapaxes(x, -1, -2)) / 2
    x[1, 2, 0] = bad
    out = outputs(fn(x))
    for y in out:
        assert y.shape[0] == 3
        assert np.all(np.isnan(y[1])), (name, y[1])
    for k in (0, 2):
        alone = outputs(fn(x[k]))
        for y, z in zip(out, alone):
            assert np.all(np.isfinite(y[k]))
            np.testing.assert_allclose(np.abs(y[k]), np.abs(z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_nonfinite_unbatched_under_jit(name):
    x = np.eye(3)
    x[0, 1] = np.nan
    for y in outputs(jax.jit(FUNCTIONS[name])(x)):
        assert np.all(np.isnan(y))


def test_svd_subset_by_index_not_implemented():
    with pytest.raises(NotImplementedError):
        svd(np.eye(3), subset_by_index=(0, 1))


@pytest.mark.parametrize("name", WITH_TIE_RTOL)
@pytest.mark.parametrize("tie_rtol", [-1.0, np.nan, np.inf])
def test_invalid_tie_rtol_raises(name, tie_rtol):
    with pytest.raises(ValueError, match="tie_rtol"):
        FUNCTIONS[name](np.eye(3), tie_rtol=tie_rtol)


@pytest.mark.parametrize("name", WITH_TIE_RTOL)
def test_valid_tie_rtol_accepted(name):
    for tie_rtol in (0.0, 1e-3):
        for y in outputs(FUNCTIONS[name](np.diag([1.0, 2.0, 3.0]), tie_rtol=tie_rtol)):
            assert np.all(np.isfinite(y))


def test_eigh_invalid_uplo_raises():
    with pytest.raises(ValueError, match="UPLO"):
        eigh(np.eye(2), UPLO="X", symmetrize_input=False)


def test_nan_is_caught_before_lapack_sees_it():
    # LAPACK's syevd returns *finite* eigenvalues for this 64x64 matrix with one NaN
    # pair (checked on jax 0.10.2 CPU), so the check must look at the input, not at
    # the output.
    a = np.eye(64)
    a[0, 1] = np.nan
    w, v = eigh(a)
    assert np.all(np.isnan(np.asarray(w))) and np.all(np.isnan(np.asarray(v)))


def test_empty_matrices_give_empty_results_and_gradients():
    # As jax.numpy.linalg does: 0×0 (and m×0, 0×n) matrices and empty batches are valid
    # input with empty output, and derivatives of a loss through them are empty too.
    from jaxgrad import linalg as L

    cases = {  # name: (function, input shapes, expected output shapes)
        "eigh": (L.eigh, [(0, 0), (3, 0, 0)], lambda s: [s[:-1], s]),
        "eigvalsh": (L.eigvalsh, [(0, 0)], lambda s: [s[:-1]]),
        "eig": (L.eig, [(0, 0)], lambda s: [s[:-1], s]),
        "eigvals": (L.eigvals, [(0, 0)], lambda s: [s[:-1]]),
        "svd": (L.svd, [(0, 0)], lambda s: [s, s[:-1], s]),
        "expm": (L.expm, [(0, 0)], lambda s: [s]),
        "sqrtm": (L.sqrtm, [(0, 0)], lambda s: [s]),
        "powm": (lambda a: L.powm(a, 0.5), [(0, 0)], lambda s: [s]),
        "polar": (L.polar, [(0, 0), (3, 0)], lambda s: [s, s[-1:] * 2]),
        "svd_funm": (lambda a: L.svd_funm(a, jnp.tanh), [(0, 3), (3, 0)], lambda s: [s]),
        "svt": (lambda a: L.svt(a, 0.5), [(2, 0)], lambda s: [s]),
        "nuclear_norm": (L.nuclear_norm, [(2, 0)], lambda s: [s[:-2]]),
        "eigh_generalized": (lambda a: L.eigh_generalized(a, a + jnp.eye(a.shape[-1])), [(0, 0)],
                             lambda s: [s[:-1], s]),
    }
    for name, (fn, shapes, expected) in cases.items():
        for shape in shapes:
            out = outputs(fn(np.zeros(shape)))
            assert [y.shape for y in out] == [tuple(e) for e in expected(shape)], (name, shape)

            def loss(a):
                res = fn(a)
                return sum(jnp.sum(jnp.real(y)) for y in (res if isinstance(res, tuple) else (res,)))

            assert jax.grad(loss)(np.zeros(shape)).shape == shape, (name, shape)
    # (Outside probe: these two raised "zero-size array to reduction operation max".)
    assert L.projector(np.zeros((0, 0)), 0).shape == (0, 0)
    assert jax.hessian(lambda a: jnp.sum(L.polar(a).P))(np.zeros((3, 0))).shape == (3, 0, 3, 0)



def test_vmap_over_an_empty_batch_gives_empty_results():
    # As jax.numpy does (and quadosc, qmc_quad and the matrix functions): shape (0,) out.
    # The batching rules of quad, cubature and nquad indexed their first lane
    # (IndexError; ZeroDivisionError for nquad), and minimize's status check reduced
    # the empty batch with a max that has no identity (outside probe).
    from jaxgrad.integrate import cubature, nquad, quad
    from jaxgrad.optimize import minimize

    fns = {
        "quad": lambda p: quad(lambda x, p: jnp.exp(-p * x), 0.0, 1.0, (p,))[0],
        "cubature": lambda p: cubature(lambda x, p: jnp.exp(-p * x[0]), jnp.zeros(2), jnp.ones(2), (p,))[0],
        "nquad": lambda p: nquad(lambda x, y, p: jnp.exp(-p * x * y), [(0.0, 1.0), (0.0, 1.0)], (p,))[0],
        "minimize": lambda p: minimize(lambda x, p: (x - p) ** 2, jnp.zeros(()), (p,)).x,
    }
    z = jnp.zeros((0,))
    for name, fn in fns.items():
        assert jax.vmap(fn)(z).shape == (0,), name
    assert jax.vmap(jax.grad(fns["quad"]))(z).shape == (0,)
    assert jax.vmap(jax.grad(fns["minimize"]))(z).shape == (0,)

def test_entries_above_half_the_largest_float():
    # diag(1e308, 4) is finite and Hermitian; (a + aᵀ)/2 overflowed and every Hermitian
    # matrix function returned NaN. Then the projector's rescaling by 2^1023 (a
    # subnormal reciprocal, flushed on the CPU) zeroed the matrix and picked the wrong
    # eigenvector (outside probe). Closed forms: the functions act on the diagonal.
    from jaxgrad import linalg as L

    d = np.diag([1e308, 4.0])
    np.testing.assert_allclose(np.diag(L.sqrtm(d)), [1e154, 2.0], rtol=1e-14)
    np.testing.assert_allclose(np.diag(L.logm(d)), [np.log(1e308), np.log(4.0)], rtol=1e-14)
    np.testing.assert_array_equal(L.projector(d, 1), np.diag([0.0, 1.0]))
    np.testing.assert_allclose(L.eigh_generalized(d, np.eye(2)).eigenvalues, [4.0, 1e308], rtol=1e-14)
    np.testing.assert_allclose(L.polar(np.diag([1e308, 6e307])).P, np.diag([1e308, 6e307]), rtol=1e-14)
    # ... and not by halving every entry first: 3e-308/2 is subnormal, flushed to 0 on the
    # CPU, and logm(diag(3e-308, 1)) became NaN (outside review).
    np.testing.assert_allclose(np.diag(L.logm(np.diag([3e-308, 1.0]))), [np.log(3e-308), 0.0], rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_is_refused_with_a_clear_message(dtype):
    # Found by an outside probe: half precision failed deep inside JAX
    # ("NotImplementedError: Unsupported dtype float16"), LAPACK having no such routines.
    import jaxgrad.linalg as jl

    a = jnp.eye(4, dtype=dtype) * 2
    for fn in (jl.eigh, jl.svd, jl.eig, jl.expm, jl.polar, lambda m: jl.eigsh(m, 2), lambda m: jl.svt(m, 0.1)):
        with pytest.raises(TypeError, match="cast it to float32"):
            fn(a)
    # Integration limits in half precision likewise (outside probe: quad, quadosc and
    # dblquad failed converting float16 bits deep in the loop; cubature ran in float16).
    import jaxgrad.integrate as ji

    one, h = jnp.asarray(1, dtype), jnp.asarray(0.5, dtype)
    calls = (
        lambda: ji.quad(jnp.exp, 0.0, one),
        lambda: ji.quadosc(jnp.sin, one, jnp.inf, period=2 * np.pi),
        lambda: ji.dblquad(lambda y, x: x * y, 0.0, one, 0.0, 1.0),
        lambda: ji.cubature(lambda x: jnp.sum(x), jnp.zeros(2, dtype), jnp.ones(2, dtype)),
        lambda: ji.qmc_quad(lambda x: jnp.sum(x), jnp.zeros(2, dtype), jnp.full(2, h)),
    )
    for call in calls:
        with pytest.raises(TypeError, match="cast them to float32"):
            call()


def test_flags_must_be_booleans_and_limits_bounded():
    # `throw="no"` was taken as true (raising turned on), and `limit=10**9` allocated
    # its pool up front and hung (outside probe): both are refused before anything is
    # traced or compiled.
    from jaxgrad._options import as_flag
    from jaxgrad.integrate import cubature, nquad, qmc_quad, quadosc
    from jaxgrad.linalg import eigsh
    from jaxgrad.optimize import inverse_by_minimize, minimize

    box = (jnp.zeros(2), jnp.ones(2))
    calls = {
        "cubature": lambda **kw: cubature(lambda x: x[0], *box, **kw),
        "quadosc": lambda **kw: quadosc(lambda t: jnp.sin(t) / (1 + t), 0.0, jnp.inf, period=2 * np.pi, **kw),
        "nquad": lambda **kw: nquad(lambda x, y: x * y, [[0.0, 1.0], [0.0, 1.0]], **kw),
        "qmc_quad": lambda **kw: qmc_quad(lambda x: x[0], *box, **kw),
        "minimize": lambda **kw: minimize(lambda x: jnp.sum(x**2), jnp.ones(2), **kw),
        "eigsh": lambda **kw: eigsh(jnp.eye(10), 2, **kw),
        "inverse_by_minimize": lambda **kw: inverse_by_minimize(jnp.eye(2), **kw),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=f"{name}: `throw` must be True or False"):
            call(throw="no")
    with pytest.raises(TypeError, match="`periodize` must be True or False"):
        calls["qmc_quad"](periodize="yes")
    with pytest.raises(TypeError, match="`has_aux` must be True or False"):
        calls["minimize"](has_aux=None)
    for name in ("cubature", "quadosc"):
        with pytest.raises(ValueError, match=f"{name}: `limit` must be an integer from 1 to 10,000,000"):
            calls[name](limit=10**9)
    # What a flag may be: bools, NumPy bools, concrete 0-d boolean arrays, 0 and 1.
    for ok in (True, np.False_, jnp.array(True), 1, 0):
        assert as_flag("f", "throw", ok) is bool(ok)
    for bad in ("no", 2, None, 1.0, jnp.array([True])):
        with pytest.raises(TypeError, match="f: `throw` must be True or False"):
            as_flag("f", "throw", bad)
