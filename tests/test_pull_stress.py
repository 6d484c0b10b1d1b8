"""Concurrent claimers: every node handed out exactly once, lanes and needs held, the run finishes."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from helpers import write

import lanes.api as api
from lanes.runtime.pull import open_run
from lanes.runtime.store import Store

# One claimer: claim, complete, until the run is finished. Its own process, as agents are.
# A "kept" claimer holds one Puller that follows the event log between operations (as
# `lanes work` does); a "oneshot" one reads the run afresh for each (as `lanes claim` does).
CLAIMER = textwrap.dedent("""
    import json, sys, time
    from lanes.runtime.store import Store
    from lanes.runtime.pull import Puller, claim, complete
    store, run_id, me, how = Store(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if how == "kept":
        puller = Puller(store, run_id)
        claim = lambda store, run_id, worker: puller.claim(worker=worker)
        complete = lambda store, run_id, node, token: puller.complete(node, token)
    done = 0
    while True:
        c = claim(store, run_id, worker=me)
        if c["node"] is None:
            if c["state"] == "finished":
                break
            time.sleep(0.005)
            continue
        complete(store, run_id, c["node"]["id"], c["token"])
        done += 1
    print(json.dumps({"worker": me, "completed": done}))
""")


def layered(n_tasks: int, agents: int = 20, instances: int = 4, width: int = 100) -> str:
    """Layers of `width` tasks, each needing the task above it; a gate after the first layer."""
    y = ["workflow: stress", "agents:"]
    for a in range(agents):
        y.append(f'  a{a}: {{domain: {{writes: ["a{a}/**"]}}, instances: {instances}}}')
    y.append("tasks:")
    for i in range(n_tasks):
        needs = [f"t{i - width}"] if i >= width else []
        if width <= i < 2 * width:
            needs.append("layer0")
        y.append(f'  t{i}: {{agent: a{i % agents}, needs: [{", ".join(needs)}], run: "true", '
                 f'domain: {{writes: ["a{i % agents}/t{i}/**"]}}}}')
    y.append("gates:")
    y.append(f'  layer0: {{needs: [{", ".join(f"t{i}" for i in range(width))}], run: "true"}}')
    return "\n".join(y) + "\n"


def check_history(store: Store, plan) -> None:
    """Replay the event log: one claim and one success per node, needs met before each
    claim, never more leases on an agent than its instances."""
    claimed, succeeded, held = {}, set(), {}
    instances = {a.id: a.instances for a in plan.agents}
    for e in store.events("r1"):
        nid = e["node_id"]
        if e["kind"] == "claimed":
            assert nid not in claimed, f"{nid} handed out twice"
            node = plan.node_by_id[nid]
            assert all(u in succeeded for u in node.needs), f"{nid} claimed before its needs"
            claimed[nid] = json.loads(e["data"])["worker"]
            if node.agent:
                held[node.agent] = held.get(node.agent, 0) + 1
                assert held[node.agent] <= instances[node.agent], f"lane {node.agent} over its instances"
        elif e["kind"] == "attempt-ok":
            succeeded.add(nid)
            agent = plan.node_by_id[nid].agent
            if agent:
                held[agent] -= 1
        else:
            assert e["kind"] in ("run-created", "run-succeeded"), dict(e)
    assert set(claimed) == succeeded == set(plan.node_by_id)
    return claimed


def test_eight_processes_claim_a_thousand_tasks_exactly_once(tmp_path):
    comp = api.compile(write(tmp_path, "w.yaml", layered(1000)))
    assert not comp.has_errors, comp.diagnostics[:3]
    state = str(tmp_path / ".lanes")
    store = Store(state)
    open_run(store, comp.plan, "r1", None)
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, state, "r1", f"w{i}", "kept" if i % 2 else "oneshot"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    reports = []
    deadline = started + 280       # a hang guard below pytest's 300 s, far above what it takes on a busy machine
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for p in procs:
            p.kill()
    elapsed = time.monotonic() - started
    claimed = check_history(store, comp.plan)
    assert sum(r["completed"] for r in reports) == 1001
    assert len(set(claimed.values())) > 1                      # the work really was shared
    by = {r["worker"]: r["completed"] for r in reports}
    assert sum(by[f"w{i}"] for i in range(1, 8, 2)) > 0        # both kinds took part: check_history
    assert sum(by[f"w{i}"] for i in range(0, 8, 2)) > 0        # held the kept ones to what the others did
    assert store.run("r1")["status"] == "succeeded"
    assert {r["status"] for r in store.nodes("r1").values()} == {"succeeded"}
    print(f"8 claimers, 1001 nodes: {elapsed:.1f}s")


def test_concurrent_cli_claimers(tmp_path):
    """Three shells claiming through the command line at once: the same guarantees."""
    write(tmp_path, "w.yaml", layered(12, agents=3, instances=2, width=4))
    open_ = subprocess.run([sys.executable, "-m", "lanes", "open", "w.yaml", "--run-id", "r1"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert open_.returncode == 0, open_.stderr
    fields = "import json,sys; d=json.load(sys.stdin); print((d['node'] or {}).get('id') or d['state'], d.get('token', '-'))"
    loop = textwrap.dedent(f"""
        while true; do
          out=$({sys.executable} -m lanes claim r1 --worker "$1") || exit 1
          read -r node token < <(printf '%s' "$out" | {sys.executable} -c "{fields}")
          case "$node" in
            finished) exit 0 ;;
            waiting) sleep 0.2 ;;
            *) {sys.executable} -m lanes complete r1 "$node" --token "$token" >/dev/null || exit 1 ;;
          esac
        done
    """)
    procs = [subprocess.Popen(["bash", "-c", loop, "claimer", f"sh{i}"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            p.kill()
    store = Store(str(tmp_path / ".lanes"))
    plan = api.compile(tmp_path / "w.yaml").plan
    check_history(store, plan)
    assert store.run("r1")["status"] == "succeeded"


def test_a_stalled_claimer_loses_its_lease_and_its_completion_is_refused(tmp_path):
    """A claimer that stalls past its lease: another takes the node; the staller's
    late `complete` is refused and the run still finishes with every node once."""
    comp = api.compile(write(tmp_path, "w.yaml", layered(10, agents=2, instances=1, width=5)))
    state = str(tmp_path / ".lanes")
    store = Store(state)
    open_run(store, comp.plan, "r1", None)
    staller = textwrap.dedent("""
        import json, sys, time
        from lanes.runtime.store import Store
        from lanes.runtime.pull import PullError, claim, complete
        store = Store(sys.argv[1])
        c = claim(store, "r1", worker="staller", lease_s=1)
        print(c["node"]["id"], flush=True)
        time.sleep(1.3)
        try:
            complete(store, "r1", c["node"]["id"], c["token"])
            print(json.dumps({"node": c["node"]["id"], "refused": None}))
        except PullError as exc:
            print(json.dumps({"node": c["node"]["id"], "refused": str(exc)}))
    """)
    p = subprocess.Popen([sys.executable, "-c", staller, state], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    stalled = p.stdout.readline().strip()         # it holds its node; the others work around it
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMER, state, "r1", f"w{i}", "oneshot"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        for w in workers:
            _, werr = w.communicate(timeout=60)
            assert w.returncode == 0, werr
    finally:
        for proc in (p, *workers):
            proc.kill()
    report = json.loads(out)
    assert report["node"] == stalled
    assert "stale token" in report["refused"] or "expired" in report["refused"]
    attempts = [(a["attempt"], a["worker"], a["outcome"]) for a in store.attempts("r1") if a["node_id"] == stalled]
    assert attempts[0] == (1, "staller", "expired")
    assert attempts[1][0] == 2 and attempts[1][2] == "succeeded" and attempts[1][1] != "staller"
    assert store.run("r1")["status"] == "succeeded"
    claims = [e["node_id"] for e in store.events("r1") if e["kind"] == "claimed"]
    assert sorted(claims) == sorted([*comp.plan.node_by_id, stalled])   # once each, the stalled one twice
