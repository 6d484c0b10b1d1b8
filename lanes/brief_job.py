"""The agents' briefs of a run, rendered beside the runtime while it sets the run up.

`BriefJob.start` forks a process that renders every agent's brief from the plan and
writes `briefs/AGENT.md`, where LANES_BRIEF points; `wait` joins it and is called
before the first task starts. jinja2 and the template are loaded in that process
only: the runtime neither pays for them nor keeps their objects, and on a machine
with a second CPU the rendering costs the run's start-up nothing. Where there is no
fork, `start` renders in the process itself.
"""
from __future__ import annotations

import os
import signal

from lanes.compiler.planfile import Plan

_MAX_MESSAGE = 1 << 16


class BriefJob:
    def __init__(self, pid: int | None, reader: int = -1, error: str | None = None) -> None:
        self.pid, self.reader, self.error = pid, reader, error     # pid None: done here

    @classmethod
    def start(cls, plan: Plan, folder: str, cache_dir: str | None) -> BriefJob:
        """Render and write the briefs of `plan` into `folder` (jinja2's bytecode of the
        package template is kept in `cache_dir`)."""
        if not hasattr(os, "fork"):
            return cls(None, error=_write_briefs(plan, folder, cache_dir))
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:                                       # the child: render, say why not, leave
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(reader)
                error = _write_briefs(plan, folder, cache_dir)
                if error is not None:
                    os.write(writer, error.encode("utf-8", "replace")[:_MAX_MESSAGE])
                else:
                    status = 0
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised here
                try:
                    os.write(writer, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:_MAX_MESSAGE])
                except OSError:
                    pass
            finally:
                os._exit(status)
        os.close(writer)
        return cls(pid, reader)

    def wait(self) -> str | None:
        """None once every brief is written; else why they could not be (once)."""
        if self.pid is None:
            return self.error
        chunks = []
        try:
            while chunk := os.read(self.reader, _MAX_MESSAGE):
                chunks.append(chunk)
        finally:
            os.close(self.reader)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        message = b"".join(chunks).decode("utf-8", "replace")
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or message:
            self.error = message or (f"the process rendering them ended with status {code}" if code > 0
                                     else f"the process rendering them was killed by signal {-code}")
        return self.error


def _write_briefs(plan: Plan, folder: str, cache_dir: str | None) -> str | None:
    """Every agent's brief written into `folder`; why not when that fails."""
    from lanes.compiler.brief import BriefError, render_briefs
    try:
        briefs = render_briefs(plan, cache_dir=cache_dir)
    except BriefError as exc:
        return str(exc)
    try:
        os.makedirs(folder, exist_ok=True)
        for agent_id, text in briefs.items():
            with open(os.path.join(folder, f"{agent_id}.md"), "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as exc:
        return f"cannot write them in {folder}: {exc.strerror or exc}"
    return None
