"""The agents' briefs of a run, rendered beside the runtime while it sets the run up.

`BriefJob.start` forks a process that renders every agent's brief from the plan and
writes `briefs/AGENT.md`, where LANES_BRIEF points; `wait` joins it and is called
before the first task starts. jinja2 and the template are loaded in that process
only: the runtime neither pays for them nor keeps their objects, and on a machine
with a second CPU the rendering costs the run's start-up nothing. Where there is no
fork, `start` renders in the process itself.

A brief depends on nothing but the plan, the template and the code that renders it,
so the briefs of a plan are kept in the state directory's cache under the digest of
all of these (`briefs/DIGEST/AGENT.md`, the newest KEPT plans): a run of a plan
rendered before, in that state directory, copies them and never loads jinja2.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal

from lanes.compiler.planfile import Plan

_MAX_MESSAGE = 1 << 16
KEPT = 16                      # plans whose briefs the cache keeps
KEPT_CHARS = 8 << 20           # and no plan whose briefs are longer (16 of them would be too much disk)
# whose code decides what a brief says (with the template and the plan)
_RENDERERS = ("lanes.compiler.brief", "lanes.compiler.planfile", "lanes.dsl.durations", "jinja2")


class BriefJob:
    def __init__(self, pid: int | None, reader: int = -1, error: str | None = None) -> None:
        self.pid, self.reader, self.error = pid, reader, error     # pid None: done here

    @classmethod
    def start(cls, plan: Plan, plan_json: str, folder: str, cache_dir: str) -> BriefJob:
        """Render and write the briefs of `plan` (whose JSON is `plan_json`) into `folder`;
        the cache (and jinja2's bytecode of the package template) is in `cache_dir`."""
        if not hasattr(os, "fork"):
            return cls(None, error=_write_briefs(plan, plan_json, folder, cache_dir))
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:                                       # the child: render, say why not, leave
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(reader)
                error = _write_briefs(plan, plan_json, folder, cache_dir)
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


def _write_briefs(plan: Plan, plan_json: str, folder: str, cache_dir: str) -> str | None:
    """Every agent's brief written into `folder`, from the cache or rendered (and then
    cached); why not when that fails."""
    agents = [a.id for a in plan.agents]
    kept = os.path.join(cache_dir, "briefs")
    key = _digest(plan_json)
    briefs = None if key is None else _cached(os.path.join(kept, key), agents)
    if briefs is None:
        from lanes.compiler.brief import BriefError, render_briefs
        try:
            briefs = render_briefs(plan, cache_dir=cache_dir)
        except BriefError as exc:
            return str(exc)
        if key is not None and sum(map(len, briefs.values())) <= KEPT_CHARS:
            _keep(kept, key, briefs)
    try:
        os.makedirs(folder, exist_ok=True)
        for agent_id in agents:
            with open(os.path.join(folder, f"{agent_id}.md"), "w", encoding="utf-8") as f:
                f.write(briefs[agent_id])
    except OSError as exc:
        return f"cannot write them in {folder}: {exc.strerror or exc}"
    return None


def _digest(plan_json: str) -> str | None:
    """The digest of what the briefs of this plan depend on; None when some of it
    cannot be read (then nothing is cached)."""
    try:                   # CPython's own BLAKE2: hashlib would load OpenSSL first (~3 ms)
        from _blake2 import blake2b
    except ImportError:    # another Python
        from hashlib import blake2b
    h = blake2b(b"lanes briefs 2\0", digest_size=32)
    try:
        templates = importlib.util.find_spec("lanes.templates")
        paths = [os.path.join(next(iter(templates.submodule_search_locations or ())), "brief.md.j2")] \
            if templates else []
        for name in _RENDERERS:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                return None
            paths.append(spec.origin)
        for path in paths:
            with open(path, "rb") as f:
                data = f.read()
            h.update(b"%d\0" % len(data) + data)
    except (OSError, ImportError, ValueError, StopIteration):
        return None
    h.update(plan_json.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _cached(entry: str, agents: list[str]) -> dict[str, str] | None:
    """The briefs kept in `entry`, if it holds every agent's."""
    try:
        out = {}
        for agent_id in agents:
            with open(os.path.join(entry, f"{agent_id}.md"), encoding="utf-8") as f:
                out[agent_id] = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        os.utime(entry)                               # the newest use is kept longest
    except OSError:
        pass
    return out


def _keep(kept: str, key: str, briefs: dict[str, str]) -> None:
    """Put the briefs in the cache whole (a directory renamed into place) and drop all but
    the newest KEPT entries. A cache that cannot be written is only a slower next run."""
    tmp = os.path.join(kept, f".{key}.{os.getpid()}")
    try:
        os.makedirs(tmp, exist_ok=True)
        for agent_id, text in briefs.items():
            with open(os.path.join(tmp, f"{agent_id}.md"), "w", encoding="utf-8") as f:
                f.write(text)
        os.rename(tmp, os.path.join(kept, key))
    except OSError:                                   # (also: another run put it there first)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        entries = [e for e in os.scandir(kept) if e.is_dir() and not e.name.startswith(".")]
        entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for old in entries[KEPT:]:
            shutil.rmtree(old.path, ignore_errors=True)
    except OSError:
        pass
