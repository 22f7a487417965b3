"""Small helpers shared by the benchmark scripts in ``bench/``.

- `median_time`: steady-state median wall time of a JAX callable, plus its compile time.
- `median_times_interleaved`: the same for several callables timed in alternation, so
  that a burst of load on a shared machine hits all of them alike (fairer ratios).
- `machine_info` / `machine_info_markdown`: what the numbers were measured on.
- `write_markdown_section`: put a block of Markdown between
  ``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers of a shared file (e.g.
  ``bench/RESULTS.md``), replacing the previous block of the same name or appending.
- `markdown_table`: a plain GitHub-flavoured Markdown table.
- `write_results_json`: the measured numbers of a script as ``bench/results/NAME.json``
  (with `machine_info`), the data that ``bench/figures.py`` plots.

Scripts import it as ``from _timing import ...`` (``python bench/foo.py`` puts
``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import jax

__all__ = [
    "block",
    "machine_info",
    "machine_info_markdown",
    "markdown_table",
    "median_time",
    "median_times_interleaved",
    "steady_median",
    "text_table",
    "write_markdown_section",
    "write_results_json",
]


def block(x: Any) -> Any:
    """Wait for every array in the pytree ``x`` to be computed; return ``x``."""
    return jax.block_until_ready(x)


def steady_median(fn: Callable[..., Any], *args: Any, repeats: int) -> float:
    """Median wall time in seconds of ``fn(*args)`` (blocked) after one untimed call."""
    block(fn(*args))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn(*args))
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def median_time(
    fn: Callable[..., Any],
    *args: Any,
    repeats: int,
    warmup: int = 1,
) -> tuple[float, float]:
    """Median wall time of ``fn(*args)`` over ``repeats`` calls, and its compile time.

    Every call is followed by ``block_until_ready`` on the whole output pytree.

    Compile time: if ``fn`` is a ``jax.jit``-wrapped function it is the time of
    ``fn.lower(*args).compile()`` (tracing + lowering + XLA compilation, measured
    directly). Otherwise it is the time of the first call minus the steady-state
    median (clamped at 0). Pass a fresh jitted function for each measurement: a
    function that was already called with the same shapes is served from the cache and
    its compile time will look like ~0.

    Then ``warmup`` further calls are made and discarded (they absorb the jit cache
    lookup and first-touch effects), and ``repeats`` calls are timed.

    Returns:
        ``(median_seconds, compile_seconds)``.
    """
    return median_times_interleaved({"fn": fn}, *args, repeats=repeats, warmup=warmup)["fn"]


def _compile_time(fn, args):
    """``fn.lower(*args).compile()`` wall time, or None if ``fn`` is not jitted."""
    lower = getattr(fn, "lower", None)
    if lower is None:
        return None
    t0 = time.perf_counter()
    lower(*args).compile()
    return time.perf_counter() - t0


def median_times_interleaved(
    fns: dict[str, Callable[..., Any]],
    *args: Any,
    repeats: int,
    warmup: int = 1,
) -> dict[str, tuple[float, float]]:
    """`median_time` for several functions of the same ``args``, timed in alternation.

    Compile times are measured first, one function after the other, exactly as in
    `median_time`. Then each of the ``repeats`` rounds calls every function once
    (in the order of ``fns``), so that load from other processes is spread evenly
    across them.

    Returns:
        ``{name: (median_seconds, compile_seconds)}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    compile_s, first = {}, {}
    for name, fn in fns.items():
        c = _compile_time(fn, args)
        if c is None:
            t0 = time.perf_counter()
            block(fn(*args))
            first[name] = time.perf_counter() - t0
            c = float("nan")
        compile_s[name] = c
    for _ in range(warmup):
        for fn in fns.values():
            block(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            block(fn(*args))
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name in fns:
        median = statistics.median(times[name])
        if name in first:
            compile_s[name] = max(first[name] - median, 0.0)
        out[name] = (median, compile_s[name])
    return out


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine() or "unknown"
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
        if m:
            return m.group(1).strip()
    return platform.machine() or "unknown"


def machine_info() -> dict[str, str]:
    """jax/jaxlib/Python versions, CPU model, core counts, load average and date."""
    import jaxlib

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    devices = jax.devices()
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "backend": f"{jax.default_backend()} ({len(devices)} device{'s' if len(devices) != 1 else ''})",
        "cpu": _cpu_model(),
        "cores": f"{usable} usable / {os.cpu_count()} online",
        "load average (1/5/15 min) at start": load,
    }


def machine_info_markdown(info: dict[str, str] | None = None) -> str:
    """``machine_info()`` as a Markdown bullet list."""
    info = machine_info() if info is None else info
    return "\n".join(f"- {k}: {v}" for k, v in info.items())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; cells are converted with ``str``."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns (for printing to a terminal)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]])


def alternating_runs(measure: Callable[[bool], Any], repeats: int) -> dict[bool, list]:
    """`measure(on)` for `on` = True then False, `repeats` times in turn (so that drift in
    the machine's speed falls on both settings alike); each result of `measure` is
    `(rows, cold seconds)`, and the cold time is printed as it comes."""
    got: dict[bool, list] = {True: [], False: []}
    for _ in range(repeats):
        for on in (True, False):
            got[on].append(measure(on))
            print(f"pass by pass={on}: cold {got[on][-1][1]:.2f} s", flush=True)
    return got


def write_markdown_section(path: str | os.PathLike, name: str, body: str) -> str:
    """Write ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    If ``path`` exists and already holds that section, the old section (markers
    included) is replaced in place; otherwise the section is appended (the file is
    created if needed). Everything outside the markers is left untouched, so several
    scripts can share one results file.

    Returns:
        ``"replaced"``, ``"appended"`` or ``"created"``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"section name must be [A-Za-z0-9_.-]+, got {name!r}")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block_text = f"{start}\n{body.strip()}\n{end}\n"
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block_text)
        return "created"
    text = path.read_text()
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        tail = text[j + len(end):]
        if tail.startswith("\n"):
            tail = tail[1:]
        path.write_text(text[:i] + block_text + tail)
        return "replaced"
    if text and not text.endswith("\n"):
        text += "\n"
    sep = "\n" if text else ""
    path.write_text(text + sep + block_text)
    return "appended"


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results_json(name: str, data: dict[str, Any], info: dict[str, str] | None = None) -> Path:
    """Write ``data`` plus the machine it was measured on to ``bench/results/<name>.json``.

    The JSON files are the measured numbers behind the figures of the documentation
    (``python bench/figures.py`` draws them); ``bench/RESULTS.md`` keeps the tables.
    """
    import json

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"results name must be [A-Za-z0-9_.-]+, got {name!r}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"name": name, "machine": machine_info() if info is None else info, **data}
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", path)
    return path


def spectral_bench_cli(description: str, section: str, sizes: Sequence[str], argv=None):
    """Parse the options shared by the float32/float64 spectral benchmarks.

    Returns ``(args, dtype, section)``; enables x64 when ``--x64`` is given. The
    default section gets an ``-x64`` suffix so both precisions can share one file.
    """
    import argparse

    import numpy as np

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--x64", action="store_true", help="float64 instead of float32")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per measurement (default 30)")
    p.add_argument("--sizes", choices=sorted(sizes), default="all", help="'small' drops 2x384x384")
    p.add_argument("--markdown", metavar="FILE", help="write the tables into FILE (see --section)")
    p.add_argument(
        "--section",
        default=None,
        help=f"Markdown section name (default '{section}', or '{section}-x64' with --x64, "
        "so float32 and float64 results can live in the same file)",
    )
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if args.x64 else np.float32
    return args, dtype, args.section or (section + ("-x64" if args.x64 else ""))
