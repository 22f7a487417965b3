"""Draw the figures of the documentation from measured data: `python bench/figures.py`.

Every figure in docs/figures/ is drawn here from a JSON file of measured numbers in
bench/results/, written by the benchmark script named in FIGURES (the scripts also keep
their tables in bench/RESULTS.md). By default the figures are drawn from the recorded
data, and a measurement is run only when its data file is missing:

    python bench/figures.py                       # every figure
    python bench/figures.py ties quadrature       # some of them (names: --list)
    python bench/figures.py --remeasure ties      # measure again first (also: all)
    python bench/figures.py --list                # names, data files, measuring commands

The demo's convergence plot is drawn by the demo itself (`python -m jaxgrad demo
--plot FILE`, which records the loss histories while it runs); it is run when the PNG is
missing or when asked for with --remeasure. Needs matplotlib (`pip install -e ".[plot]"`);
re-measuring needs the anchors too (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "figures"
DPI = 110

COLORS = {"jaxgrad": "#3f51b5", "anchor": "#9e9e9e", "quadax": "#ef6c00", "scipy": "#2e7d32",
          "jnp": "#c62828", "other": "#6d4c41"}


def load(name):
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def stamp(fig, *datasets):
    """Footnote: where the numbers come from and when they were measured."""
    parts = []
    for d in datasets:
        m = d.get("machine", {})
        when = m.get("date", "date not recorded")
        parts.append(f"bench/results/{d['name']}.json ({when}; {m.get('cpu', '?')}, {m.get('cores', '?')})")
    fig.text(0.005, 0.005, "data: " + "; ".join(parts), fontsize=6.5, color="#666666", ha="left", va="bottom")


# ------------------------------------------------------------------ the figures
def quadrature_error_vs_evals(plt):
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    data = load("quadrature_error_vs_evals")
    integrals = data["integrals"]
    fig, axes = plt.subplots(1, len(integrals), figsize=(3.6 * len(integrals), 3.5), sharey=True)
    styles = {"jaxgrad": ("o-", COLORS["jaxgrad"]),
              "quadax": ("s--", COLORS["quadax"]),
              "scipy": ("^:", COLORS["scipy"])}
    for ax, item in zip(axes, integrals):
        for lib, (marker, color) in styles.items():
            pts = item["points"][lib]
            ax.loglog([p["neval"] for p in pts], [max(p["rel_err"], 1e-17) for p in pts], marker,
                      color=color, ms=4, label=lib if lib != "quadax" else f"quadax {data['versions']['quadax']}")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{item['integral']} on [{item['a']:g}, {item['b']:g}]", fontsize=9)
        ax.set_xlabel("integrand evaluations")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("relative error (floored at 1e-17)")
    axes[0].legend(fontsize=8)
    fig.suptitle("quad: accuracy against cost, epsrel swept from 1e-3 to 1e-12 (lower left is better)", fontsize=10)
    stamp(fig, data)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def compile_time(plt):
    import numpy as np

    data = load("compile")
    rows = data["rows"]
    names = [r["function"] for r in rows]
    y = np.arange(len(rows))[::-1]
    first = lambda t: t["trace"] + t["lower"] + t["compile"]  # noqa: E731
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.24 * len(rows) + 1.6), sharey=True)
    h = 0.38
    for ax, key, label in ((ax1, first, "first call under jax.jit: trace + lower + compile (s)"),
                           (ax2, lambda t: t["run"], "steady state, compiled call (ms)")):
        ours = [key(r["jaxgrad"]) for r in rows]
        theirs = [key(r["anchor"]) if r["anchor"] else np.nan for r in rows]
        ax.barh(y + h / 2, ours, h, color=COLORS["jaxgrad"], label="jaxgrad")
        ax.barh(y - h / 2, theirs, h, color=COLORS["anchor"], label="anchor")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    ax1.set_yticks(y)
    ax1.set_yticklabels([f"{n}  (vs {r['anchor_name']})" for n, r in zip(names, rows)], fontsize=7.5)
    ax1.legend(fontsize=8, loc="lower right")
    fig.suptitle("Every public function beside its anchor: first call and repeat call\n"
                 "(float64; 8×8 matrices, eigsh 200×200)", fontsize=10)
    stamp(fig, data)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def batch_scaling(plt):
    import numpy as np

    het, bat = load("quadrature_heterogeneity"), load("batching")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
    methods = [r["method"] for r in het["rows"]]
    x = np.arange(len(methods))
    w = 0.38
    easy = [r["all_easy_ms"] for r in het["rows"]]
    hard = [r["one_hard_ms"] for r in het["rows"]]
    ax1.bar(x - w / 2, easy, w, color="#90caf9", label="all lanes easy")
    ax1.bar(x + w / 2, hard, w, color="#c62828", label="one lane singular")
    for i, (e, hh) in enumerate(zip(easy, hard)):
        ax1.annotate(f"{hh / e:.1f}×", (i + w / 2, hh), ha="center", va="bottom", fontsize=8)
    ax1.set_yscale("log")
    ax1.set_xticks(x)
    ax1.set_xticklabels([m.replace(" (", "\n(").replace(", ", ",\n") for m in methods], fontsize=8)
    ax1.set_ylabel("ms per batch")
    ax1.set_title(f"vmap over {het['lanes']:,} integrals: one hard lane", fontsize=9)
    ax1.legend(fontsize=8)
    ax1.grid(True, axis="y", which="both", alpha=0.3)

    loads = [r["workload"] for r in bat["rows"]]
    x = np.arange(len(loads))
    ax2.bar(x - w / 2, [r["jaxgrad"]["ns_per_eval"] for r in bat["rows"]], w, color=COLORS["jaxgrad"], label="jaxgrad")
    ax2.bar(x + w / 2, [r["quadax"]["ns_per_eval"] for r in bat["rows"]], w, color=COLORS["quadax"], label="quadax")
    ax2.set_yscale("log")
    ax2.set_xticks(x)
    ax2.set_xticklabels([s.replace(", ", ",\n").replace(" (", "\n(") for s in loads], fontsize=8)
    ax2.set_ylabel("ns per integrand evaluation")
    ax2.set_title("cost per evaluation, scalar and batched", fontsize=9)
    ax2.legend(fontsize=8)
    ax2.grid(True, axis="y", which="both", alpha=0.3)
    stamp(fig, het, bat)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def device_scaling(plt):
    data = load("devices")
    rows = data["rows"]
    devices = [r["devices"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    for name, marker in zip(rows[0]["ms"], "os^v"):
        base = rows[0]["ms"][name]
        ax.plot(devices, [base / r["ms"][name] for r in rows], marker + "-", label=name)
    ax.axhline(1.0, color="#999999", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(devices)
    ax.set_xticklabels([str(d) for d in devices])
    ax.set_xlabel("devices (XLA host devices on a 2-core CPU)")
    ax.set_ylabel("speed-up over one device")
    ax.set_title(f"Batch of {data['batch']} sharded along its first axis", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    stamp(fig, data)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def tie_gradient_error(plt):
    import numpy as np

    data = load("ties")
    gaps = np.array(data["gaps"])
    zero_at = gaps[gaps > 0].min() / 10 ** 1.5  # where the exact tie is drawn
    x = np.where(gaps > 0, gaps, zero_at)
    nan_level = 3.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    panels = [
        ("projector", "⟨C, P⟩, P the projector onto the tied pair"),
        ("expm", "⟨C, exp(A)⟩"),
    ]
    styles = {
        "jaxgrad.linalg.eigh": ("o-", COLORS["jaxgrad"]),
        "jaxgrad.linalg.projector": ("s--", "#00838f"),
        "jnp.linalg.eigh": ("^-", COLORS["jnp"]),
        "jaxgrad.linalg.funm": ("o-", COLORS["jaxgrad"]),
        "jax.scipy.linalg.expm": ("s--", COLORS["scipy"]),
        "V exp(Λ) Vᵀ, jaxgrad.linalg.eigh": ("D:", COLORS["other"]),
        "V exp(Λ) Vᵀ, jnp.linalg.eigh": ("^-", COLORS["jnp"]),
    }
    for ax, (key, title) in zip(axes, panels):
        for name, errs in data[key].items():
            marker, color = styles.get(name, ("x-", None))
            e = np.array([nan_level if v is None else max(v, 1e-17) for v in errs])
            ax.loglog(x, e, marker, color=color, ms=3.5, lw=1.2, label=name)
            nans = np.array([v is None for v in errs])
            if nans.any():
                ax.plot(x[nans], e[nans], "x", color=color, ms=7, mew=2)
        ax.axvline(data["tie_rtol"], color="#999999", ls=":", lw=1)
        ax.text(data["tie_rtol"], 2e-17, " default tie_rtol", fontsize=7, color="#666666", rotation=90,
                va="bottom", ha="right")
        ax.axhline(nan_level, color="#cccccc", lw=0.8)
        ax.text(0.99, nan_level * 1.3, "NaN (×)", fontsize=7, color="#666666", ha="right",
                transform=ax.get_yaxis_transform())
        ticks = [1e-1, 1e-4, 1e-7, 1e-10, 1e-13, zero_at]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["1e-1", "1e-4", "1e-7", "1e-10", "1e-13", "0\n(tie)"])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("gap between the two smallest eigenvalues (‖A‖ ≈ 3)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7.5, loc="center left")
    axes[0].set_ylabel("relative gradient error (floored at 1e-17)")
    axes[0].set_ylim(1e-17, 30)
    fig.suptitle("Gradient error as two eigenvalues merge, A = R diag(1, 1 + gap, 2, 3) Rᵀ (float64); "
                 "truth from the construction", fontsize=10)
    stamp(fig, data)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


FIGURES = {
    # name: (draw function or None, data files, command that measures them)
    "quadrature_error_vs_evals": (quadrature_error_vs_evals, ["quadrature_error_vs_evals"],
                                  ["bench/quadrature.py", "--only", "sweep"]),
    "compile_time": (compile_time, ["compile"], ["bench/compile.py", "--markdown", "bench/RESULTS.md"]),
    "batch_scaling": (batch_scaling, ["quadrature_heterogeneity", "batching"],
                      ["bench/quadrature.py", "--only", "heterogeneity"],
                      ["bench/batching.py", "--markdown", "bench/RESULTS.md"]),
    "device_scaling": (device_scaling, ["devices"], ["bench/devices.py", "--devices", "8"]),
    "tie_gradient_error": (tie_gradient_error, ["ties"], ["bench/ties.py"]),
    "demo_convergence": (None, [], ["-m", "jaxgrad", "demo", "--jobs", "1", "--plot",
                                    str(OUT.relative_to(ROOT) / "demo_convergence.png")]),
}


def measure(name):
    _, _, *commands = FIGURES[name]
    for cmd in commands:
        print("$ python", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="figures to draw (default: all)")
    p.add_argument("--remeasure", nargs="+", metavar="NAME", default=[],
                   help="run these figures' measurements first ('all' for every one)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    args = p.parse_args(argv)
    if args.list:
        for name, (_, files, *commands) in FIGURES.items():
            data = ", ".join(f"bench/results/{f}.json" for f in files) or "(recorded by the demo itself)"
            print(f"{name}\n  data: {data}\n  measured by: " + "; ".join("python " + " ".join(c) for c in commands))
        return 0
    unknown = set(args.names + args.remeasure) - set(FIGURES) - {"all"}
    if unknown:
        p.error(f"unknown figure(s) {sorted(unknown)}; known: {', '.join(FIGURES)}")
    names = args.names or list(FIGURES)
    remeasure = set(FIGURES) if "all" in args.remeasure else set(args.remeasure)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "figure.dpi": DPI})
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        draw, files, *_ = FIGURES[name]
        missing = [f for f in files if not (RESULTS / f"{f}.json").exists()]
        if draw is None:  # the demo draws its own figure
            if name in remeasure or not (OUT / f"{name}.png").exists():
                measure(name)
            print(f"{OUT / name}.png (drawn by the demo)")
            continue
        if name in remeasure or missing:
            measure(name)
        fig = draw(plt)
        out = OUT / f"{name}.png"
        fig.savefig(out, dpi=DPI)
        plt.close(fig)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
