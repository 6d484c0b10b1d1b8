"""Every compile-time input answered (issue 15.4): non-regular input files, `-o` onto
things that are not regular files, control characters bound for a terminal, briefs
that write nothing but their output, and user templates that would never end."""
from __future__ import annotations

import json
import os
import stat

from helpers import lanes_cli, write
import pytest

from lanes.compiler import brief
from lanes.compiler.planfile import Plan

OK = 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "true"}}\n'
COMMANDS = [("check",), ("check", "--format", "json"), ("plan",), ("fmt",), ("brief",)]


def _fifo(tmp_path):
    p = tmp_path / "pipe.yaml"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_a_fifo_is_refused_at_once(tmp_path, cmd):
    p = _fifo(tmp_path)
    r = lanes_cli(*cmd, p, timeout=30)          # a blocking open would hang here, with no writer
    assert r.returncode == 2
    out = r.stdout + r.stderr
    assert f"{p}:1:1: error[E000]" in out or '"code": "E000"' in out
    assert "FIFO" in out


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "."])
def test_devices_and_directories_are_refused(tmp_path, target):
    r = lanes_cli("check", "--format", "json", target, cwd=tmp_path, timeout=30)
    assert r.returncode == 2
    [d] = json.loads(r.stdout)["diagnostics"]
    assert (d["code"], d["line"], d["column"]) == ("E000", 1, 1)
    assert "device" in d["message"] or "directory" in d["message"]


def test_a_fifo_named_like_a_plan_is_refused(tmp_path):
    p = tmp_path / "plan.json"
    os.mkfifo(p)
    r = lanes_cli("brief", p, timeout=30)
    assert r.returncode == 2 and "FIFO" in r.stderr


def _device(tmp_path):
    p = tmp_path / "null"
    try:
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    return p


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device", "directory"])
def test_output_refuses_what_is_not_a_regular_file(tmp_path, kind):
    src = write(tmp_path, "w.yaml", OK)
    target = tmp_path / "out.json"
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        target.symlink_to(victim)
    elif kind == "device":
        target = _device(tmp_path)
    else:
        target.mkdir()
    before = os.lstat(target)
    r = lanes_cli("plan", src, "-o", target, timeout=30)
    assert r.returncode == 2 and "refusing to write" in r.stderr
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)   # left as it was
    assert victim.read_text() == "keep me"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".lanes-")]   # no temporary left


def test_output_replaces_a_regular_file_atomically(tmp_path):
    src = write(tmp_path, "w.yaml", OK)
    target = tmp_path / "plan.json"
    target.write_text("old")
    before = os.stat(target).st_ino
    assert lanes_cli("plan", src, "-o", target).returncode == 0
    assert json.loads(target.read_text())["workflow"] == "w"
    assert os.stat(target).st_ino != before                  # a new file renamed over the old one


def test_terminal_escapes_in_ids_are_shown_escaped(tmp_path):
    evil = "t\x1b]0;pwned\x07\x1b[2J"
    p = tmp_path / "w.yaml"
    p.write_text(f'workflow: w\nagents: {{a: {{}}}}\ntasks:\n  "{evil}": {{agent: a, run: "true"}}\n'
                 f'  u: {{agent: a, run: "true", needs: ["{evil}x"]}}\n'.replace("\x1b", "\\e")
                 .replace("\x07", "\\a"))
    for fmt in ("human", "github"):
        r = lanes_cli("check", "--format", fmt, p)
        assert r.returncode == 1
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout
        assert "\\x1b]0;pwned\\x07" in r.stdout


def test_brief_writes_nothing_but_its_output(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    src = write(tmp_path, "w.yaml", OK)
    env = {**os.environ, "TMPDIR": str(scratch)}
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "lanes", "brief", str(src), "-o", str(tmp_path / "b")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.listdir(scratch) == []                         # no jinja2 bytecode cache
    assert sorted(os.listdir(tmp_path / "b")) == ["a.md"]


def _plan(tmp_path) -> Plan:
    from lanes import api
    comp = api.compile(write(tmp_path, "w.yaml", OK))
    assert comp.plan is not None
    return comp.plan


# Only the endless loop is left to the (short) time bound; the others get a long one, so
# their own bound (size, repetition, exponent) is what stops them even on a stalled machine.
@pytest.mark.parametrize("body,says,seconds", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "longer than", 0.5),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "grows past", 30.0),
    ("{{ 'x' * 100000000 }}", "repetition", 30.0),
    ("{{ 9 ** 99999999 }}", "exponent", 30.0),
])
def test_a_user_template_is_bounded(tmp_path, monkeypatch, body, says, seconds):
    monkeypatch.setattr(brief, "RENDER_SECONDS", seconds)
    t = tmp_path / "t.j2"
    t.write_text(body)
    with pytest.raises(brief.BriefError, match=says):
        brief.render_brief(_plan(tmp_path), "a", str(t))


def test_a_fifo_template_or_include_is_refused(tmp_path):
    os.mkfifo(tmp_path / "inc.j2")
    t = tmp_path / "t.j2"
    t.write_text("{% include 'inc.j2' %}")
    with pytest.raises(brief.BriefError, match="FIFO"):
        brief.render_brief(_plan(tmp_path), "a", str(t))
    os.mkfifo(tmp_path / "main.j2")
    r = lanes_cli("brief", tmp_path / "w.yaml", "--template", tmp_path / "main.j2", timeout=30)
    assert r.returncode == 2 and "FIFO" in r.stderr


def test_a_long_cycle_is_quoted_as_a_bounded_excerpt_for_people(tmp_path):
    n = 5000
    tasks = "\n".join(f"  t{i}: {{agent: a, run: \"true\", needs: [t{(i + 1) % n}]}}" for i in range(n))
    p = write(tmp_path, "cycle.yaml", f"workflow: w\nagents: {{a: {{}}}}\ntasks:\n{tasks}\n")
    for fmt in ("human", "github"):
        r = lanes_cli("check", "--format", fmt, p, timeout=120)
        assert r.returncode == 1
        [line] = [x for x in r.stdout.splitlines() if "E202" in x]
        assert len(line) < (2000 if fmt == "human" else 5000) and "characters left out" in line
        assert "more related locations" in r.stdout
    full = json.loads(lanes_cli("check", "--format", "json", p, timeout=120).stdout)
    assert [d["code"] for d in full["diagnostics"]] == ["E202"]
