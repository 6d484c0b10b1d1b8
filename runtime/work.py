"""`lanes work`: a pull-mode worker. It claims a node, runs it (its `run`, or its agent's
command line), heartbeats while it runs, completes it with the outcome (worktree mode:
the change is enforced and merged by `complete`) and repeats until the run is
finished. Any number of workers may serve one run; claims happen in this process (a
`Puller` that follows the run between claims), not through the CLI.

A worker never takes an approval gate (a person answers those with `lanes claim` and
`lanes complete`). Stopped by a signal, it ends the command it runs and gives the node
back (`release`: handed out again at once, no retry used).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import os
import signal
import socket
import time
from types import FrameType

from lanes.runtime.executor import Launch, Outcome
from lanes.runtime.isolation import Allowed
from lanes.runtime.local import LocalExecutor
from lanes.runtime.pull import DEFAULT_LEASE_S, Puller, PullError
from lanes.runtime.store import Store, StoreError

POLL_S = 0.2                 # how often an idle worker asks again (sooner when a retry is due)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Tally:
    ran: int = 0
    failed: int = 0
    run_status: str = "running"
    signal: int | None = None


class Worker:
    def __init__(self, store: Store, run_id: str, agent: str | None, name: str | None,
                 lease_s: float = DEFAULT_LEASE_S, allowed: Allowed | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.puller = Puller(store, run_id, allowed)
        self.run_id, self.agent = run_id, agent
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_s = lease_s
        self.say = say or (lambda text: None)
        self.tally = Tally()
        self.executor = LocalExecutor()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.tally.signal is None:
            self.tally.signal = signum

    def serve(self) -> Tally:
        old = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        try:
            while self.tally.signal is None:
                answer = self.puller.claim(self.agent, self.name, self.lease_s, approvals=False)
                node = answer["node"]
                if node is None:
                    if answer["state"] == "finished":
                        self.tally.run_status = str(self.puller.run.status if self.puller.run else "finished")
                        break
                    time.sleep(POLL_S)
                    continue
                assert isinstance(node, dict)
                self._one(answer, str(node["id"]), int(node["attempt"]))
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            self.executor.close()
        return self.tally

    def _one(self, answer: dict[str, object], node_id: str, attempt: int) -> None:
        run = self.puller.run
        assert run is not None
        node = run.plan.node_by_id[node_id]
        token = str(answer["token"])
        env = run.env(node, attempt)
        cwd = str(answer.get("cwd") or run.plan.workdir)
        if "worktree" in answer:
            env += (("LANES_WORKTREE", str(answer["worktree"])), ("LANES_BASE", str(answer["base"])))
        extra = answer.get("env")
        if isinstance(extra, dict):            # a coding agent's prompt file and session
            env += tuple((str(k), str(v)) for k, v in extra.items())
        command = node.command or node.run or "true"
        self.say(f"{self.name}: started {node_id} (attempt {attempt})")
        self.executor.start(Launch(self.run_id, node_id, attempt, command, cwd, env, run.log_path(node_id),
                                   node.timeout_s))
        beat = max(1.0, self.lease_s / 3)
        outcome: Outcome | None = None
        while outcome is None:
            if self.tally.signal is not None:
                self.executor.cancel_all()
                self._drain()
                try:
                    self.puller.release(node_id, token)
                except StoreError:             # (PullError too) its lease runs out instead
                    pass
                return
            ended = self.executor.wait(min(beat, POLL_S * 5))
            if ended:
                outcome = ended[0]
                break
            try:
                self.puller.heartbeat(node_id, token, self.lease_s)
            except PullError as exc:           # the lease was lost (expired, fenced): stop it
                self.say(f"{self.name}: {exc}")
                self.executor.cancel_all()
                self._drain()
                return
            except StoreError as exc:          # the store is busy (locked): try at the next beat
                self.say(f"{self.name}: heartbeat of {node_id} not recorded ({exc}); trying again")
        error = outcome.error or (None if outcome.ok else f"exit {outcome.exit_code}")
        try:
            done = self.puller.complete(node_id, token, failed=not outcome.ok, error=error)
        except PullError as exc:
            self.say(f"{self.name}: {exc}")
            return
        self.tally.ran += 1
        if done["status"] != "succeeded":
            self.tally.failed += 1
        self.say(f"{self.name}: {node_id} {done['status']}" + (f" ({error})" if error else ""))

    def _drain(self) -> list[Outcome]:
        out: list[Outcome] = []
        deadline = time.monotonic() + self.executor.grace_s + 2
        while self.executor.running and time.monotonic() < deadline:
            out += self.executor.wait(0.2)
        return out
