"""`lanes check` from the outside: exit codes, both output formats, hostile inputs."""
from __future__ import annotations

import json
import os
import pty
import sys

from helpers import lanes_cli, write
import pytest

from lanes import api
from lanes.dsl import grammar_front, yaml_front
import lanes.dsl.source as source_module

BAD = """
workflow: w
agents:
  a: {domian: {writes: ["x/**"]}}
tasks:
  t: {agent: b, run: "true"}
  u: {agent: a, run: "true"}
"""


def test_ok_exit_0(tmp_path):
    p = write(tmp_path, "w.yaml", 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "true"}}\n')
    r = lanes_cli("check", p)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout


def test_human_output_is_gcc_style(tmp_path):
    p = write(tmp_path, "w.yaml", BAD)
    r = lanes_cli("check", p)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == f"{p}:3:7: error[E101]: unknown field 'domian' in agent 'a' (did you mean 'domain'?)"
    assert lines[1:3] == ['    3 |   a: {domian: {writes: ["x/**"]}}', "      |       ^~~~~~"]   # always
    assert lines[3].startswith(f"{p}:5:14: error[E201]: undefined agent 'b'")
    assert "\033[" not in r.stdout                       # no colour when not a terminal
    assert "Traceback" not in r.stdout + r.stderr


def test_json_output_shape(tmp_path):
    p = write(tmp_path, "w.yaml", BAD)
    r = lanes_cli("check", p, "--format", "json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["errors"] == 2 and out["warnings"] == 0
    first = out["diagnostics"][0]
    assert set(first) == {"code", "severity", "message", "file", "line", "column", "related", "witness"}
    assert (first["code"], first["severity"], first["file"], first["line"], first["column"]) == \
        ("E101", "error", str(p), 3, 7)


def _run_on_terminal(args, env) -> str:
    """Run lanes with stdout on a pseudo-terminal and return what it printed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "lanes", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_terminal_gets_colour_source_line_and_caret_and_no_color_is_honoured(tmp_path):
    p = write(tmp_path, "w.yaml", BAD)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    out = _run_on_terminal(["check", str(p)], env)
    assert "\033[1;31m" in out
    assert "  a: {domian:" in out and "^~~~~~" in out
    plain = _run_on_terminal(["check", str(p)], {**env, "NO_COLOR": "1"})
    assert "\033[" not in plain and "^~~~~~" in plain


@pytest.fixture
def work(monkeypatch):
    """What reading and parsing a file cost, counted rather than timed: bytes read from
    disk, YAML events and grammar tokens consumed."""
    counts = {"bytes": 0, "events": 0, "tokens": 0}

    real_read, real_parse, real_lex = os.read, yaml_front.yaml.parse, grammar_front._Lexer.lex

    def read(fd, n):
        data = real_read(fd, n)
        counts["bytes"] += len(data)
        return data

    def counted(kind, items):
        for item in items:
            counts[kind] += 1
            yield item

    monkeypatch.setattr(source_module.os, "read", read)
    monkeypatch.setattr(yaml_front.yaml, "parse", lambda *a, **k: counted("events", real_parse(*a, **k)))
    monkeypatch.setattr(grammar_front._Lexer, "lex", lambda self, *a: counted("tokens", real_lex(self, *a)))
    return counts


@pytest.mark.parametrize("name,content,code", [
    ("binary.yaml", bytes(range(256)) * 40, "E100"),
    ("latin1.yaml", "workflow: caf\xe9\n".encode("latin-1"), "E100"),
    ("nested.yaml", b"a: " + b"[" * 100000, "E100"),
    ("nested.lanes", b"workflow w\nagent a " + b"{ x " * 100000, "E100"),
    ("tag.yaml", b"workflow: !!python/object/apply:os.system ['touch pwned']\n", "E100"),
    ("laughs.yaml", b"a: &a [x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
        for i in range(9)), "E100"),
    ("garbage.lanes", b"\x00\x01workflow {{{ \"\n", "E100"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hostile_inputs_are_refused_early(tmp_path, work, name, content, code):
    p = tmp_path / name
    p.write_bytes(content)
    comp = api.check(p)
    assert [d.code for d in comp.diagnostics][:1] == [code]
    # refused after a few dozen YAML events or grammar tokens, of the 10^4 to 10^5 in the file
    assert work["events"] + work["tokens"] < 200, work
    assert comp.diagnostics[0].span.line >= 1
    r = lanes_cli("check", p)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "pwned").exists()


def test_huge_file_refused_at_once(tmp_path, work):
    p = tmp_path / "big.yaml"
    with open(p, "wb") as f:
        f.write(b"workflow: w\n" + b"# padding\n" * (5 * 1024 * 1024))
    comp = api.check(p)
    assert [(d.code, d.span.line) for d in comp.diagnostics] == [("E100", 1)]
    assert "16 MB" in comp.diagnostics[0].message
    # one byte past the limit was read (of 52 MB), and parsing never started
    assert work["bytes"] == source_module.MAX_BYTES + 1 < p.stat().st_size
    assert work["events"] == work["tokens"] == 0


@pytest.mark.parametrize("target", ["missing.yaml", "."])
def test_unreadable_input_exit_2(tmp_path, target):
    r = lanes_cli("check", tmp_path / target)
    assert r.returncode == 2
    assert r.stdout.startswith(f"{tmp_path / target}:1:1: error[E000]: cannot read the workflow: ")
    assert "Traceback" not in r.stdout + r.stderr


def test_bad_usage_exit_2():
    r = lanes_cli("check")
    assert r.returncode == 2


def test_check_runs_nothing(tmp_path):
    p = write(tmp_path, "w.yaml", f'workflow: w\nagents: {{a: {{}}}}\ntasks: {{t: {{agent: a, run: "touch {tmp_path}/ran"}}}}\n')
    for cmd in (("check", p), ("plan", p)):
        assert lanes_cli(*cmd).returncode == 0
    assert not (tmp_path / "ran").exists()
