"""Run-time errors of eager calls, as one readable exception.

A check that can only be made on values (`throw=True` on a loop that did not converge, a
matrix function's input that is not Hermitian) raises through `equinox.error_if`, a host
callback inside the compiled program. JAX reports a failed callback as a
`jax.errors.JaxRuntimeError` whose text is the callback's whole Python traceback, with
the check's message near its end and, after it, equinox's advice to wrap "your program"
in `equinox.filter_jit` -- advice that makes no sense to someone who called
`jaxgrad.integrate.quad` from a notebook and wrote no program (found in an outside
probe's notes: `expm` of a non-Hermitian matrix). `minimize`, whose core is an
`equinox.filter_jit`, raised `equinox.EquinoxRuntimeError`, but with a stack (of the
call that first traced the check, not necessarily this one) and advice around it.

`readable_errors` gives the public functions one behaviour when they are called
eagerly (directly, or under an eager `jax.grad`/`jax.vmap`, whose programs run inside
the call): the message is taken out of the runtime error's text and raised as
`equinox.EquinoxRuntimeError` (the type `equinox.filter_jit` raises), and the JAX error
is dropped from the chain. Inside a user's `jax.jit` nothing runs during the call; the
program raises when it runs, as JAX's error (or equinox's, under `equinox.filter_jit`).
On a CPU the call waits for its results (a sharded program on several CPU devices ran
on after the call, and its failure surfaced at the first use as JAX's error; review);
on an accelerator it does not (that would end the overlap of Python and device work in a
loop of eager calls; review), and an error may surface only where the result is first
used, as JAX's error. While the call runs, JAX's log record of the failed
callback (the same traceback again, on stderr) is filtered out where the failure is a
check's, as `equinox.filter_jit` does: the exception raised carries the message, and any
other callback failure is re-raised as it is, its traceback in its text. The same holds
for checks that run on concrete values (the Python-driven loops, `minimize`'s
`equinox.filter_jit` core), which equinox raises as its own error with a stack and advice
around the message: the message alone is raised.
"""

from __future__ import annotations

import functools
import logging

import equinox as eqx
import jax

# What equinox's callback raises (its text starts with the check's message) and the
# banner it appends after the message; and what `equinox.filter_jit` raises instead
# (a stack, the message, advice). The latter comes from checks that run on concrete
# values (the Python-driven loops of the iterated integrals and of a Fourier integral,
# `minimize`'s core): equinox compiles a small program for the check and shows the stack
# from when it first traced it, that of an earlier, different call (outside probe).
_MARKS = ("_CheckFailed: ", "_EquinoxRuntimeError: ", "equinox.EquinoxRuntimeError: ")
_BANNER = "\n\n---"  # (the start of either banner)


def _message(text: str) -> str | None:
    """The check's message in a runtime error's text, or None if it holds none."""
    for mark in _MARKS:
        if mark in text:
            return text.rsplit(mark, 1)[1].split(_BANNER, 1)[0].strip()
    return None


class _QuietCallback(logging.Filter):
    """Drops JAX's record of a failed callback whose exception is one of the checks'
    (jaxgrad's or equinox's): any other callback's failure, a user's own or another
    thread's, is logged as JAX logs it (filtering every failed callback hid another
    thread's; outside probe)."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.name in _LOGGERS and type(exc).__name__ in ("_CheckFailed", "_EquinoxRuntimeError"))


# (equinox's checks are pure callbacks, jaxgrad's `throw` a debug callback: `_throw`.)
_LOGGERS = ("jax._src.callback", "jax._src.debugging")


def readable_errors(fun):
    """`fun`, raising a run-time check's failure during the call as
    `equinox.EquinoxRuntimeError(message)` (see the module docstring)."""

    @functools.wraps(fun)
    def call(*args, **kwargs):
        logs, quiet = [logging.getLogger(name) for name in _LOGGERS], _QuietCallback()  # (one per call: calls nest)
        for log in logs:
            log.addFilter(quiet)
        try:
            out = fun(*args, **kwargs)
            if jax.default_backend() == "cpu":
                # (A sharded program on several CPU devices runs on after the call:
                # its failed check surfaced at the first use, as JAX's error; review.)
                concrete = [x for x in jax.tree_util.tree_leaves(out)
                            if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)]
                if concrete:
                    jax.block_until_ready(concrete)
            return out
        # (JAX raises a ValueError where an executable that already ran is called again.)
        except (jax.errors.JaxRuntimeError, ValueError, eqx.EquinoxRuntimeError) as err:
            message = _message(str(err))
            if message is None:
                raise
        finally:
            for log in logs:
                log.removeFilter(quiet)
        raise eqx.EquinoxRuntimeError(message)

    return call
