"""MkDocs hook: resolve cross-references to JAX's own API documentation offline.

The docstrings of jaxgrad link to the functions they replace with mkdocs-autorefs
syntax, e.g. [`jax.numpy.linalg.eigh`][]. mkdocstrings would normally resolve such
references by downloading JAX's Sphinx inventory, which needs the network at build
time. Instead this hook registers the few JAX identifiers the documentation refers
to as absolute URLs, so `mkdocs build --strict` works offline and the links still
point at the JAX reference pages.

A reference to an identifier that is neither documented on this site nor listed
here still fails `--strict` (that catches typos); add new JAX names to `JAX_NAMES`.
"""

from __future__ import annotations

from mkdocs.plugins import event_priority

JAX_API_BASE = "https://docs.jax.dev/en/latest/_autosummary/"

JAX_NAMES = (
    # The functions jaxgrad.linalg replaces.
    "jax.numpy.linalg.eigh",
    "jax.numpy.linalg.eigvalsh",
    "jax.numpy.linalg.svd",
    "jax.numpy.linalg.svdvals",
    "jax.numpy.linalg.eig",
    "jax.numpy.linalg.eigvals",
    "jax.lax.linalg.eigh",
    "jax.lax.linalg.svd",
    "jax.lax.linalg.eig",
    # Transformations the documentation mentions.
    "jax.grad",
    "jax.jvp",
    "jax.vjp",
    "jax.jacfwd",
    "jax.jacrev",
    "jax.hessian",
    "jax.vmap",
    "jax.jit",
    "jax.custom_jvp",
    "jax.custom_vjp",
)


@event_priority(50)  # before autorefs applies the cross-references (priority -50)
def on_env(env, config, files, **kwargs):
    autorefs = config.plugins["autorefs"]
    for name in JAX_NAMES:
        autorefs.register_url(name, f"{JAX_API_BASE}{name}.html")
    return env
