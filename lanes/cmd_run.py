"""`lanes run FILE|plan.json` and `lanes resume [RUN_ID]` (SPEC section 7).

Exit status: 0 when every task succeeded and no gate with on_fail stop or
rollback failed (a failed `continue` gate is reported, the run still succeeds);
1 when the run failed or the workflow has errors (then nothing runs); 2 for bad
usage or unreadable input; 128 + the signal when a signal stopped it (130 for
Ctrl-C; 143 SIGTERM, 129 SIGHUP): the run is resumable.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lanes.gcpause import paused
from lanes.state import add_state, new_run_id, open_store, pick_run, run_id_problem, state_dir

if TYPE_CHECKING:
    from lanes.brief_job import BriefJob
    from lanes.compiler.planfile import Plan
    from lanes.runtime.driver import Driver
    from lanes.runtime.executor import Executor
    from lanes.runtime.run import Options, Run
    from lanes.runtime.store import Store


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="job slots (default: no limit beyond the agent lanes)")
    add_state(p)
    p.add_argument("--keep-going", action="store_true", help="run every branch that does not depend on a failure")
    p.add_argument("--stages", action="store_true", help="run stage by stage with a barrier")
    p.add_argument("--yes", action="store_true", help="approve every approval gate")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (tcp://HOST:PORT)")
    p.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")
    p.add_argument("--verbose", "-v", action="store_true", help="a line per node in the summary")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run a workflow or a plan in parallel")
    p.add_argument("file", metavar="FILE|plan.json")
    p.add_argument("--run-id", metavar="ID")
    _common(p)
    p.set_defaults(func=run)
    r = sub.add_parser("resume", help="finish a run: keep what succeeded, rerun the rest")
    r.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest unfinished run")
    _common(r)
    r.set_defaults(func=resume)


def _usage_error(args: argparse.Namespace) -> str | None:
    if getattr(args, "scheduler", None) and args.executor != "dask":
        return "--scheduler needs --executor dask"
    run_id = getattr(args, "run_id", None)
    if run_id is not None:
        return run_id_problem(run_id)
    return None


def _options(args: argparse.Namespace) -> Options:
    from lanes.runtime.run import Options
    return Options(jobs=args.jobs, stages=args.stages, keep_going=args.keep_going, yes=args.yes)


def _start_briefs(plan: Plan, plan_json: str, store: Store, run_id: str) -> BriefJob:
    """Every agent's brief, rendered from the plan beside the set-up of the run (see
    lanes.brief_job); they and the template's bytecode are cached in the state directory."""
    import os

    from lanes.brief_job import BriefJob
    from lanes.runtime.run import briefs_dir
    return BriefJob.start(plan, plan_json, briefs_dir(store.run_dir(run_id)), os.path.join(store.dir, "cache"))


def briefs_written(run: Run, briefs: BriefJob) -> bool:
    """Wait for the briefs (before the first launch); a run without them fails at once."""
    problem = briefs.wait()
    if problem is None:
        return True
    print(f"lanes: cannot render the agent briefs: {problem}", file=sys.stderr)
    run.close("failed")
    return False


def _executor(args: argparse.Namespace, driver: Driver) -> Executor:
    if args.executor == "dask":
        from lanes.runtime.dask_executor import DaskExecutor
        return DaskExecutor(args.scheduler, on_started=driver.on_started)
    from lanes.runtime.local import LocalExecutor
    return LocalExecutor(on_started=driver.on_started)


def _progress(args: argparse.Namespace, plan: Plan) -> object:
    from lanes.runtime.progress import LiveProgress, PlainProgress
    if sys.stdout.isatty() and not args.no_progress:
        return LiveProgress(plan)
    return PlainProgress()


def execute(run: Run, args: argparse.Namespace, briefs: BriefJob) -> int:
    """Drive a run that exists in the store to its end, then print its summary (its
    briefs, being rendered, are waited for before the first task starts)."""
    from lanes.runtime.driver import Driver
    from lanes.runtime.progress import summary
    from lanes.runtime.store import StoreError
    progress = _progress(args, run.plan)
    run.observer = progress                     # type: ignore[assignment]  # has event()
    driver = Driver(run, None, progress)        # type: ignore[arg-type]  # set just below
    try:
        driver.executor = _executor(args, driver)
    except Exception as exc:   # noqa: BLE001 (a cluster that cannot be reached, a missing package)
        briefs.wait()
        print(f"lanes: cannot start the {args.executor} executor: {exc}", file=sys.stderr)
        run.close("failed")
        return 1
    try:
        if not briefs_written(run, briefs):
            return 1
        ok = driver.drive()
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        print(f"lanes: run {run.run_id} stopped; its commands were ended; continue with: "
              f"lanes resume {run.run_id} --state {run.store.dir}", file=sys.stderr)
        return 1
    finally:
        driver.executor.close()
    summary(run, driver.wall, driver.waited, sys.stdout, verbose=args.verbose)
    if driver.signal is not None:
        print(f"lanes: run {run.run_id} interrupted; continue with: lanes resume {run.run_id}"
              + (f" --state {run.store.dir}" if args.state else ""), file=sys.stderr)
        return 128 + driver.signal
    return 0 if ok else 1


def _store(args: argparse.Namespace, create: bool) -> Store | None:
    return open_store(args, create=create)


def create_run(args: argparse.Namespace, mode: str, options: Options) -> tuple[Run, BriefJob] | int:
    """`lanes run` and `lanes open`: read FILE, check that the run can start here, create
    the run (printing `run RUN_ID` and `state DIR`) and start rendering its briefs (wait
    for them before the first launch: `briefs_written`); or the exit status after saying
    why not."""
    import os

    from lanes.compiler.planfile import to_json
    from lanes.enforce import allowed_by
    from lanes.inputs import read_input
    from lanes.runtime.isolation import problem as isolation_problem
    from lanes.runtime.run import Run
    from lanes.runtime.store import StoreError
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
    refused = isolation_problem(plan)
    if refused:
        print(f"lanes: cannot start the run: {refused}", file=sys.stderr)
        return 2
    store = _store(args, create=True)
    if store is None:
        return 2
    run_id = args.run_id or new_run_id()
    plan_json = inp.plan_text or to_json(plan)
    briefs = _start_briefs(plan, plan_json, store, run_id)
    try:
        r = Run.create(store, plan, run_id, plan_json, inp.source_path, mode, options, None, allowed=allowed_by)
    except StoreError as exc:
        briefs.wait()
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        briefs.wait()
        print(f"lanes: cannot write the run's files in {store.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"run {run_id}\nstate {store.dir}", flush=True)
    return r, briefs


def run(args: argparse.Namespace) -> int:
    with paused():                      # what is built before the loop lives as long as the run
        r = create_run(args, "run", _options(args))
    return r if isinstance(r, int) else execute(r[0], args, r[1])


def resume(args: argparse.Namespace) -> int:
    with paused():
        r = _take_over(args)
    return r if isinstance(r, int) else execute(r[0], args, r[1])


def _take_over(args: argparse.Namespace) -> tuple[Run, BriefJob] | int:
    """`lanes resume`'s run, taken over and ready to drive; or the exit status after saying why not."""
    import os

    from lanes.compiler.planfile import PlanError, from_json, to_json
    from lanes.inputs import read_input
    from lanes.runtime.isolation import problem as isolation_problem
    from lanes.runtime.orphans import end_groups
    from lanes.runtime.run import Run, not_resumable, runtime_alive, up_to_date
    from lanes.runtime.store import StoreError
    problem = _usage_error(args)
    if problem:
        print(f"lanes: {problem}", file=sys.stderr)
        return 2
    store = _store(args, create=False)
    if store is None:
        return 1
    run_id = pick_run(store, args.run_id, unfinished=True)
    if run_id is None:
        return 1
    row = store.run(run_id)
    refused = not_resumable(row)
    if refused:
        print(f"lanes: {refused}", file=sys.stderr)
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
    if up_to_date(store, run_id, plan):
        print(f"run {run_id}\nstate {store.dir}\nlanes: run {run_id} already succeeded; nothing to do")
        return 0
    refused = isolation_problem(plan)
    if refused:
        print(f"lanes: cannot resume run {run_id}: {refused}", file=sys.stderr)
        return 2
    busy = store.take_over(run_id, runtime_alive)
    if busy is not None:
        print(f"lanes: run {run_id} is in progress (runtime pid {busy['pid']})", file=sys.stderr)
        return 1
    plan_json = to_json(plan)
    briefs = _start_briefs(plan, plan_json, store, run_id)
    print(f"run {run_id}\nstate {store.dir}", flush=True)
    from lanes.enforce import allowed_by
    try:
        r = Run.resume(store, run_id, plan, _options(args), None, end_groups, allowed=allowed_by)
    except StoreError as exc:
        briefs.wait()
        store.set_run(run_id, status="failed")
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        briefs.wait()
        store.set_run(run_id, status="failed")
        print(f"lanes: cannot write the run's files in {store.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    store.set_run(run_id, plan_json=plan_json)
    return r, briefs


__all__ = ["briefs_written", "create_run", "execute", "register", "resume", "run", "state_dir"]
