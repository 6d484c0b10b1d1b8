"""`lanes run FILE|plan.json` and `lanes resume [RUN_ID]` (SPEC section 7)."""
from __future__ import annotations

import os
import secrets
import sys
import time

from lanes.compiler.planfile import to_json, from_json
from lanes.inputs import read_input
from lanes.runtime.driver import Driver, Options, prepare_resume, runtime_alive
from lanes.runtime.progress import LiveProgress, PlainProgress, summary
from lanes.runtime.scheduler import Scheduler
from lanes.runtime.store import Store, StoreError


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _common(p, state_help: str) -> None:
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="job slots (default: the number of CPUs)")
    p.add_argument("--state", metavar="DIR", help=state_help)
    p.add_argument("--keep-going", action="store_true", help="run every branch that does not depend on a failure")
    p.add_argument("--stages", action="store_true", help="run stage by stage with a barrier")
    p.add_argument("--yes", action="store_true", help="approve every approval gate")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (tcp://HOST:PORT)")
    p.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")


def register(sub) -> None:
    p = sub.add_parser("run", help="run a workflow or a plan in parallel")
    p.add_argument("file", metavar="FILE|plan.json")
    p.add_argument("--run-id", metavar="ID")
    _common(p, "state directory (default: .lanes/ in the workdir)")
    p.set_defaults(func=run)
    r = sub.add_parser("resume", help="finish a run: keep what succeeded, rerun the rest")
    r.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest unfinished run")
    _common(r, "state directory (default: .lanes/ in the current directory)")
    r.set_defaults(func=resume)


def _executor(args, driver_cb):
    if args.executor == "dask":
        from lanes.runtime.dask_executor import DaskExecutor
        return DaskExecutor(args.scheduler, on_started=driver_cb)
    from lanes.runtime.local import LocalExecutor
    return LocalExecutor(on_started=driver_cb)


def _progress(plan, args):
    if sys.stdout.isatty() and not args.no_progress:
        return LiveProgress(plan)
    return PlainProgress()


def execute(plan, store: Store, run_id: str, args, states=None) -> int:
    if args.jobs < 1:
        print("lanes: --jobs must be at least 1", file=sys.stderr)
        return 2
    opts = Options(jobs=args.jobs, stages=args.stages, keep_going=args.keep_going, yes=args.yes)
    sched = Scheduler(plan, opts.jobs, opts.stages, opts.keep_going, status=dict(states or {}))
    progress = _progress(plan, args)
    holder = {}
    executor = _executor(args, lambda n, a, pgid: holder["driver"].on_started(n, a, pgid))
    driver = Driver(plan, store, run_id, opts, executor, progress)
    holder["driver"] = driver
    try:
        ok = driver.run(sched)
    finally:
        executor.close()
    summary(plan, store, run_id, driver.wall, sys.stdout)
    if driver.interrupted:
        print(f"run {run_id} interrupted; resume with: lanes resume {run_id}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def run(args) -> int:
    inp = read_input(args.file)
    if inp.plan is None:
        return inp.status
    plan = inp.plan
    state = args.state or os.path.join(plan.workdir, ".lanes")
    if not os.path.isdir(plan.workdir):
        print(f"lanes: workdir {plan.workdir} does not exist", file=sys.stderr)
        return 2
    store = Store(state)
    run_id = args.run_id or new_run_id()
    try:
        store.create_run(run_id, plan, to_json(plan), inp.source_path, "run",
                         {"jobs": args.jobs, "stages": args.stages, "keep_going": args.keep_going})
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"run {run_id}", flush=True)
    return execute(plan, store, run_id, args)


def resume(args) -> int:
    store = Store(args.state or ".lanes")
    run_id = args.run_id or store.latest_run(unfinished=True)
    if run_id is None:
        print(f"lanes: no unfinished run in {store.dir}", file=sys.stderr)
        return 1
    try:
        row = store.run(run_id)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    if runtime_alive(row):
        print(f"lanes: run {run_id} is in progress (runtime pid {row['pid']})", file=sys.stderr)
        return 1
    if row["mode"] != "run":
        print(f"lanes: run {run_id} is a pull-mode run; its agents claim tasks with `lanes claim`",
              file=sys.stderr)
        return 1
    plan = from_json(row["plan_json"])
    source = row["source_path"]
    if source and os.path.exists(source):      # a changed workflow: changed nodes rerun
        inp = read_input(source)
        if inp.plan is None:
            return inp.status
        plan = inp.plan
    print(f"run {run_id}", flush=True)
    states = prepare_resume(store, run_id, plan)
    store.set_run(run_id, status="running", pid=os.getpid(), plan_json=to_json(plan), finished_at=None)
    return execute(plan, store, run_id, args, states)
