"""`lanes run FILE|plan.json` and `lanes resume [RUN_ID]` (SPEC section 7).

Exit status: 0 when every task succeeded and no gate with on_fail stop or
rollback failed (a failed `continue` gate is reported, the run still succeeds);
1 when the run failed, was interrupted (Ctrl-C, SIGTERM: resumable), or the
workflow has errors (then nothing runs); 2 for bad usage or unreadable input.
"""
from __future__ import annotations

import os
import sys
import time


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()   # (secrets: 3 ms of imports)


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


def _usage_error(args) -> str | None:
    if args.jobs < 1:
        return "--jobs must be at least 1"
    if args.scheduler and args.executor != "dask":
        return "--scheduler needs --executor dask"
    return None


def _briefs(plan, store, run_id: str) -> bool:
    """Every agent's brief, written before anything runs (False after printing why not)."""
    from lanes.compiler.brief import BriefError
    from lanes.runtime.driver import write_briefs
    try:
        write_briefs(plan, os.path.join(store.run_dir(run_id), "briefs"))
    except BriefError as exc:
        print(f"lanes: cannot render the agent briefs: {exc}", file=sys.stderr)
        return False
    return True


def _executor(args, on_started):
    if args.executor == "dask":
        from lanes.runtime.dask_executor import DaskExecutor
        return DaskExecutor(args.scheduler, on_started=on_started)
    from lanes.runtime.local import LocalExecutor
    return LocalExecutor(on_started=on_started)


def _progress(plan, args):
    from lanes.runtime.progress import LiveProgress, PlainProgress
    if sys.stdout.isatty() and not args.no_progress:
        return LiveProgress(plan)
    return PlainProgress()


def execute(plan, store, run_id: str, args) -> int:
    """Run (or go on running) a run that exists in the store, to its end."""
    from lanes.runtime.driver import Driver, Options
    from lanes.runtime.progress import summary
    from lanes.runtime.scheduler import PENDING, SUCCEEDED, Scheduler
    opts = Options(jobs=args.jobs, stages=args.stages, keep_going=args.keep_going, yes=args.yes)
    os.chdir(plan.workdir)       # tasks run here: the local executor spawns without changing directory
    rows = store.nodes(run_id)
    states = {nid: (SUCCEEDED if r["status"] == SUCCEEDED else PENDING) for nid, r in rows.items()}
    attempts = {nid: r["attempts"] for nid, r in rows.items()}
    sched = Scheduler(plan, opts.jobs, opts.stages, opts.keep_going, status=states, attempts=attempts,
                      tries_before=dict(attempts))
    driver = Driver(plan, store, run_id, opts, None, _progress(plan, args))
    try:
        driver.executor = _executor(args, driver.on_started)
    except Exception as exc:   # noqa: BLE001 (a cluster that cannot be reached, a missing package)
        print(f"lanes: cannot start the {args.executor} executor: {exc}", file=sys.stderr)
        store.set_run(run_id, status="failed", finished_at=time.time())
        return 1
    try:
        ok = driver.run(sched)
    finally:
        driver.executor.close()
    summary(plan, driver.view, driver.wall, driver.busy_s, sys.stdout)
    if driver.interrupted:
        print(f"lanes: run {run_id} interrupted; continue with: lanes resume {run_id}"
              + (f" --state {store.dir}" if args.state else ""), file=sys.stderr)
        return 1
    return 0 if ok else 1


def run(args) -> int:
    from lanes.compiler.planfile import to_json
    from lanes.inputs import read_input
    from lanes.runtime.store import Store, StoreError
    problem = _usage_error(args)
    if problem:
        print(f"lanes: {problem}", file=sys.stderr)
        return 2
    inp = read_input(args.file)
    if inp.plan is None:
        return inp.status
    plan = inp.plan
    if not os.path.isdir(plan.workdir):
        print(f"lanes: workdir {plan.workdir} does not exist", file=sys.stderr)
        return 2
    store = Store(args.state or os.path.join(plan.workdir, ".lanes"))
    run_id = args.run_id or new_run_id()
    if store.has_run(run_id):
        print(f"lanes: run '{run_id}' already exists (use `lanes resume {run_id}`)", file=sys.stderr)
        return 1
    if not _briefs(plan, store, run_id):
        return 1
    try:
        store.create_run(run_id, plan, inp.plan_text or to_json(plan), inp.source_path, "run",
                         {"jobs": args.jobs, "stages": args.stages, "keep_going": args.keep_going})
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"run {run_id}", flush=True)
    return execute(plan, store, run_id, args)


def resume(args) -> int:
    from lanes.compiler.planfile import PlanError, from_json, to_json
    from lanes.inputs import read_input
    from lanes.runtime.resume import prepare_resume, runtime_alive
    from lanes.runtime.store import Store, StoreError
    problem = _usage_error(args)
    if problem:
        print(f"lanes: {problem}", file=sys.stderr)
        return 2
    state = args.state or ".lanes"
    if not os.path.exists(os.path.join(state, "state.db")):
        print(f"lanes: no lanes state in {state} (use --state DIR)", file=sys.stderr)
        return 1
    store = Store(state)
    run_id = args.run_id or store.latest_run(unfinished=True)
    if run_id is None:
        print(f"lanes: no unfinished run in {store.dir}", file=sys.stderr)
        return 1
    try:
        row = store.run(run_id)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    if row["mode"] != "run":
        print(f"lanes: run {run_id} is a pull-mode run; its agents claim tasks with `lanes claim`",
              file=sys.stderr)
        return 1
    if runtime_alive(row):
        print(f"lanes: run {run_id} is in progress (runtime pid {row['pid']})", file=sys.stderr)
        return 1
    source = row["source_path"]
    if source and os.path.exists(source):      # reread: a changed node reruns with its downstream
        inp = read_input(source)
        if inp.plan is None:
            return inp.status
        plan = inp.plan
    else:
        try:
            plan = from_json(row["plan_json"])
        except PlanError as exc:
            print(f"lanes: run {run_id}: stored plan unreadable: {exc}", file=sys.stderr)
            return 1
    if row["status"] == "succeeded" and all(
            r["status"] == "succeeded" and r["digest"] == plan.node_by_id[nid].digest
            for nid, r in store.nodes(run_id).items() if nid in plan.node_by_id) \
            and set(store.nodes(run_id)) == set(plan.node_by_id):
        print(f"run {run_id}\nlanes: run {run_id} already succeeded; nothing to do")
        return 0
    busy = store.take_over(run_id, runtime_alive)
    if busy is not None:
        print(f"lanes: run {run_id} is in progress (runtime pid {busy['pid']})", file=sys.stderr)
        return 1
    if not _briefs(plan, store, run_id):
        store.set_run(run_id, status="failed", finished_at=time.time())
        return 1
    print(f"run {run_id}", flush=True)
    prepare_resume(store, run_id, plan)
    store.set_run(run_id, plan_json=to_json(plan))
    return execute(plan, store, run_id, args)
