"""Time `lanes check` on generated workflows of 1k, 10k and 100k tasks, process start
included, against `make -n` on the same graph written as a Makefile, in one run.

    python bench/bench_check.py [--sizes 1000,10000,100000] [--repeat 3]

Goals (issues 3 and 15): 10k tasks within 10x of `make -n`, 100k near-linear
(growth from 10k to 100k about 10x) and under 1 GB; each figure also against a Python
process that only loads the same YAML with PyYAML's C loader. bench_scale.py adds the
hostile shapes and peak memory. Python may cache bytecode (in a temporary directory)
as an installed package does, even where the environment sets PYTHONDONTWRITEBYTECODE
(this sandbox does, which would otherwise add ~40 ms of compiling to every start);
one untimed run fills the cache.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_workflow import generate  # noqa: E402

# the least any checker of the file pays: load the same YAML with PyYAML's C loader
YAML_ONLY = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)"


def best_of(cmd: list[str], repeat: int, cwd: str, env: dict[str, str]) -> tuple[float, int]:
    best, status = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env)
        best = min(best, time.perf_counter() - start)
        status = r.returncode
        if r.returncode not in (0,):
            sys.stderr.write(r.stderr.decode()[-2000:])
    return best, status


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    have_make = shutil.which("make") is not None
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        warmed = False
        for n in sizes:
            wf, mk = generate(n)
            wpath = os.path.join(tmp, f"w{n}.yaml")
            with open(wpath, "w") as f:
                f.write(wf)
            with open(os.path.join(tmp, f"Makefile{n}"), "w") as f:
                f.write(mk)
            check = [sys.executable, "-m", "lanes", "check", wpath]
            if not warmed:
                subprocess.run(check, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                subprocess.run([sys.executable, "-c", YAML_ONLY, wpath], cwd=tmp, env=env, check=False)
                warmed = True
            t_lanes, st = best_of(check, args.repeat, tmp, env)
            t_make = best_of(["make", "-n", "-f", f"Makefile{n}", "all"], args.repeat, tmp, env)[0] \
                if have_make else float("nan")
            t_yaml = best_of([sys.executable, "-c", YAML_ONLY, wpath], args.repeat, tmp, env)[0]
            rows[n] = (t_lanes, t_make)
            print(f"{n:>7} tasks  {len(wf) / 1e6:5.1f} MB  lanes check {t_lanes:6.2f} s (exit {st})  "
                  f"make -n {t_make:6.2f} s  YAML-only {t_yaml:6.2f} s  lanes/make {t_lanes / t_make:5.2f}x  "
                  f"lanes/YAML-only {t_lanes / t_yaml:5.2f}x", flush=True)
    if 10000 in rows and 100000 in rows:
        print(f"growth 10k -> 100k: lanes {rows[100000][0] / rows[10000][0]:.1f}x, "
              f"make -n {rows[100000][1] / rows[10000][1]:.1f}x (linear = 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
