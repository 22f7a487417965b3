"""XLA's two CPU code generators: compile and steady-state time of the same programs.

Run: `python bench/emitters.py [--only NAME ...] [--markdown bench/RESULTS.md]` (float64).

XLA compiles CPU fusions with MLIR-based emitters by default; the classic emitters stay
available (`XLA_FLAGS=--xla_cpu_use_fusion_emitters=false`, or per program through
`jax.jit(..., compiler_options={"xla_cpu_use_fusion_emitters": False})`, which is what
this script uses so that both run in one process). The test suite and `python -m jaxgrad
demo` compile with the classic emitters; this table is the evidence for that choice and
for the advice in docs/performance.md.

For each case of `bench/compile.py` (every public function, its `grad`, `quad` under
`jacfwd(jacrev)` and `vmap`, and the anchors quadax and optimistix beside `quad` and
`minimize`): the XLA compile seconds of `jax.jit(fn).lower(...).compile()` (tracing and
lowering do not depend on the emitters, so they are not repeated) and the steady-state
median of the compiled call, with the two settings alternating `--pairs` times; the
table gives the median of each. Ratio = classic / default (below 1: the classic
emitters are quicker).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    steady_median,
    text_table,
    write_markdown_section,
)
from compile import all_cases  # noqa: E402

SETTINGS = {"default": None, "classic": {"xla_cpu_use_fusion_emitters": False}}
HEADER = [
    "program",
    "compile s default",
    "compile s classic",
    "compile ratio",
    "run ms default",
    "run ms classic",
    "run ratio",
]


def measure(fn, args, options, repeats):
    """(XLA compile seconds, steady-state milliseconds) of `fn` compiled with `options`."""
    jax.clear_caches()
    lowered = jax.jit(fn, compiler_options=options).lower(*args)
    t0 = time.perf_counter()
    compiled = lowered.compile()
    seconds = time.perf_counter() - t0
    return seconds, 1e3 * steady_median(compiled, *args, repeats=repeats)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="program names starting with one of these")
    p.add_argument("--pairs", type=int, default=3, help="alternations of the two settings")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--markdown", metavar="FILE", help="write the table into FILE (section 'emitters')")
    args = p.parse_args(argv)
    info = machine_info()
    programs = []
    for name, f, anchor, fargs in all_cases():
        programs.append((name, f, fargs))
        if anchor is not None and name.split(" ")[0] in ("quad", "minimize"):
            programs.append((name + " [anchor]", anchor, fargs))
    rows = []
    totals = {k: 0.0 for k in SETTINGS}
    for name, f, fargs in programs:
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        got = {k: [] for k in SETTINGS}
        for i in range(args.pairs):
            order = list(SETTINGS) if i % 2 == 0 else list(reversed(SETTINGS))
            for k in order:
                got[k].append(measure(f, fargs, SETTINGS[k], args.repeats))
        c = {k: statistics.median(t[0] for t in got[k]) for k in SETTINGS}
        r = {k: statistics.median(t[1] for t in got[k]) for k in SETTINGS}
        for k in SETTINGS:
            totals[k] += c[k]
        row = [
            name,
            f"{c['default']:.2f}",
            f"{c['classic']:.2f}",
            f"{c['classic'] / c['default']:.2f}",
            f"{r['default']:.3f}",
            f"{r['classic']:.3f}",
            f"{r['classic'] / r['default']:.2f}",
        ]
        rows.append(row)
        print(text_table(HEADER, [row]).splitlines()[-1], flush=True)
    total_row = [
        "all of the above",
        f"{totals['default']:.2f}",
        f"{totals['classic']:.2f}",
        f"{totals['classic'] / totals['default']:.2f}",
        "",
        "",
        "",
    ]
    rows.append(total_row)
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## XLA's CPU code generators: default against classic emitters (`python bench/emitters.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            "The programs of `bench/compile.py` (float64), each compiled with XLA's default "
            "(MLIR-based) fusion emitters and with the classic ones "
            "(`compiler_options={\"xla_cpu_use_fusion_emitters\": False}`), alternating "
            f"{args.pairs} times in one process, at XLA's default optimisation level; medians. "
            "Compile = XLA compile only (tracing and lowering do not depend on the emitters). "
            "Run = steady-state median of the compiled call. Ratio = classic / default.\n\n"
            f"{markdown_table(HEADER, rows)}\n"
        )
        print(write_markdown_section(args.markdown, "emitters", body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
