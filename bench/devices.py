"""Time per batch of a sharded batched study on 1, 2, 4, ... N devices.

Run: `python bench/devices.py [--devices 8]`. The same study as
`python -m jaxgrad bench --devices N` (each device count in a process of its own; on a
CPU the devices are XLA host devices sharing the cores), with the numbers written to
bench/results/devices.json, which `python bench/figures.py` draws into
docs/figures/device_scaling.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _timing import write_results_json


def counts(n):
    d = 1
    while d < n:
        yield d
        d *= 2
    yield n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=8)
    args = p.parse_args(argv)
    rows = []
    for d in counts(args.devices):
        env = dict(os.environ)
        flag = f"--xla_force_host_platform_device_count={args.devices}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
        # The child of `python -m jaxgrad bench --devices N`: prints RESULT{json}.
        proc = subprocess.run([sys.executable, "-m", "jaxgrad._scaling", str(d)], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
        result = json.loads(line[len("RESULT"):])
        rows.append({"devices": d, "ms": {k: v["ms"] for k, v in result.items()},
                     "sharded": {k: v["sharded"] for k, v in result.items()},
                     "all_gather": {k: v["all_gather"] for k, v in result.items()}})
        print(d, {k: round(v["ms"], 2) for k, v in result.items()}, flush=True)
    from jaxgrad._scaling import _BATCH

    write_results_json("devices", {"batch": _BATCH, "host_devices": args.devices, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
