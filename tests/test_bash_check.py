"""E104: `run` and `rollback` parsed by `bash -n` (never executed), the position inside the
command in both forms, batches of commands attributed exactly as bash says of each alone."""
from __future__ import annotations

import inspect
import json
import random
import shutil

from helpers import lanes_cli, write
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from lanes.compiler import bash_check, pipeline
from lanes.compiler.bash_check import check_commands, first_problem, parse_errors
from lanes.dsl.loader import parse_source
from lanes.dsl.source import read_source

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def alone(command: str) -> tuple[int, str]:
    """What the installed bash says of `command` parsed by itself: the oracle that a batch's
    attribution is held against (bash's own wording changes between its versions)."""
    verdict = bash_check._runner(BASH)(command)
    assert verdict is not None, command
    return verdict


def e104(tmp_path, name, text):
    """(code, line, column, the file's text from there to the end of its line, message)."""
    source, _ = read_source(str(write(tmp_path, name, text)))
    assert source is not None
    workflow, diags = parse_source(source)
    assert workflow is not None and not [d for d in diags if d.is_error]
    lines = source.text.split("\n")
    return [(d.code, d.span.line, d.span.column, lines[d.span.line - 1][d.span.column - 1:], d.message)
            for d in check_commands(workflow, source)]


def test_a_yaml_comment_cut_the_command(tmp_path):
    got = e104(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t:
            agent: a
            run: echo 'from .calc import add  # noqa: F401' > x
        """)
    assert [g[:4] for g in got] == [("E104", 6, 15, "'from .calc import add  # noqa: F401' > x")]
    message = got[0][4]
    cut = alone("echo 'from .calc import add")[1]           # what YAML left of the command
    assert message.startswith(f"bash cannot parse the run of task 't': {cut}")
    assert "' #...'" in message and "comment" in message


def test_yaml_styles_point_into_the_command(tmp_path):
    got = e104(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          block:
            agent: a
            run: |
              echo ok
              if true; then
                echo )
              fi
          dq: {agent: a, needs: [block], run: "echo \\"a\\" 'b"}
          roll: {agent: a, needs: [dq], run: make, rollback: "git checkout (-- x"}
          fine: {agent: a, needs: [roll], run: "echo 'x' \\"y\\"", rollback: 'echo ''ok'''}
        gates:
          g: {needs: [fine], run: 'pytest -q '' "oops'}
        """)
    assert [g[:4] for g in got] == [
        ("E104", 9, 14, ")"),                     # on the third line of the block
        ("E104", 11, 51, "'b\"}"),               # the lone quote after two escaped double quotes
        ("E104", 12, 68, "(-- x\"}"),            # in the rollback
        ("E104", 15, 38, "'' \"oops'}"),         # the `''` that is one quote of the value
    ]
    assert "the rollback of task 'roll'" in got[2][4] and "`('" in got[2][4]
    assert "the run of gate 'g'" in got[3][4]


def test_grammar_form_points_into_the_command(tmp_path):
    got = e104(tmp_path, "w.lanes", """
        workflow w
        agent a { writes "x/**" }
        task t1 by a { run "echo \\"a\\" 'b" }
        task t2 by a needs t1 { run \"\"\"
        echo ok
          echo (
        \"\"\"; rollback "ok" }
        gate g needs t2 { run "true" }
        """)
    assert [g[:4] for g in got] == [("E104", 3, 32, "'b\" }"), ("E104", 6, 8, "(")]
    assert alone("echo ok\n  echo (\n")[1] in got[1][4]


def test_a_nul_character_is_e104_at_its_place(tmp_path):
    got = e104(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks: {t: {agent: a, run: "echo a\\0b"}}
        """)
    assert [g[:4] for g in got] == [("E104", 3, 35, "\\0b\"}}")]
    assert "NUL character" in got[0][4]


def test_good_commands_give_nothing(tmp_path):
    assert e104(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "for f in *.py; do echo \\"$f\\"; done", rollback: "# nothing to undo"}
          u:
            agent: a
            run: |
              shopt -s extglob
              ls @(a|b) 2>/dev/null || true
              cat <<EOF
              $(date)
              EOF
        """) == []


def test_nothing_in_a_command_is_executed(tmp_path, monkeypatch):
    marks = [tmp_path / f"m{i}" for i in range(7)]
    env_file = tmp_path / "bash_env"
    env_file.write_text(f"touch {marks[6]}\n")
    monkeypatch.setenv("BASH_ENV", str(env_file))             # the wrapper's environment is not ours
    commands = [f"touch {marks[0]}", f"echo $(touch {marks[1]})", f"echo `touch {marks[2]}`",
                f"}}; touch {marks[3]}; {{", f"'; touch {marks[4]}; '", f"cat <(touch {marks[5]})",
                f"touch {tmp_path}/x-$$"]
    before = set(tmp_path.iterdir())
    errors = parse_errors(commands, bash_check._runner(BASH))
    assert sorted(errors) == [3]                               # the only one broken alone
    assert set(tmp_path.iterdir()) == before and not any(m.exists() for m in marks)


class Counting:
    def __init__(self) -> None:
        self.parse = bash_check._runner(BASH)
        self.calls = 0

    def __call__(self, script: str):
        self.calls += 1
        return self.parse(script)


def test_ten_thousand_commands_take_a_few_processes():
    texts = [f"echo 'task {i}' > out/{i}.txt && python3 -c 'print({i})'" for i in range(10_000)]
    texts[5000] = "echo 'oops"
    texts[7000], texts[7001] = "if x; then", "fi"
    counting = Counting()
    errors = parse_errors(texts, counting)
    # bash's own words for each alone; the line is within the command (an end of file found
    # after its last line is reported on that line)
    assert {i: (e.line, e.message) for i, e in errors.items()} == {i: (1, alone(texts[i])[1]) for i in (5000, 7000, 7001)}
    assert "unexpected" in errors[7001].message
    batches = 10_000 // bash_check.BATCH_COMMANDS
    assert counting.calls <= 2 * batches + 4 * len(errors)     # each batch read two ways, each error apart


def test_a_ten_thousand_task_workflow(tmp_path, monkeypatch):
    tasks = "".join(f"  t{i}: {{agent: a, run: echo 'task {i}' > out/{i}.txt}}\n" for i in range(10_000))
    tasks = tasks.replace("echo 'task 6789'", "echo 'task 6789", 1)
    path = write(tmp_path, "big.yaml", "workflow: big\nagents: {a: {}}\ntasks:\n" + tasks)
    source, _ = read_source(str(path))
    assert source is not None
    workflow, _ = parse_source(source)
    assert workflow is not None
    counting = Counting()
    monkeypatch.setattr(bash_check, "_runner", lambda bash: counting)
    got = [(d.code, d.span.line, d.span.column) for d in check_commands(workflow, source)]
    assert got == [("E104", 4 + 6789, source.text.split("\n")[3 + 6789].index("'") + 1)]
    assert counting.calls <= 2 * (10_000 // bash_check.BATCH_COMMANDS) + 4


def test_plain_words_are_commands_that_bash_always_parses():
    """Commands of plain words are not sent to bash (bash_check.plain_words): bash parses
    every one of thousands made of those characters, reserved words among them anywhere
    but first; a reserved word first, or any character that opens something, is not plain."""
    rnd = random.Random(5)
    words = [*bash_check._RESERVED, "echo", "make", "a=b", "=", "-", "--", "%1", "@", "+", ".", ":", "x=",
             "export", "exec", "test", "return"]
    texts = sorted({rnd.choice((" ", "\t", "  ")).join(
        rnd.choice(words) if rnd.random() < 0.5 else "".join(rnd.choices("abzAZ09_./=:,+@%-", k=rnd.randint(1, 6)))
        for _ in range(rnd.randint(1, 5))) for _ in range(4000)})
    plain = [t for t in texts if bash_check.plain_words(t)]
    assert len(plain) > 2000
    assert parse_errors(plain, bash_check._runner(BASH)) == {}
    for text in ("then x", "fi", "in", "if x", "while true", "time", "echo $x", "a;b", "echo 'a'", "", " make",
                 "make ", "f()", "echo a\nb", "x=(a)", "echo ~", "echo *", "# note", "{ echo; }"):
        assert not bash_check.plain_words(text), text


def test_plain_commands_start_no_bash(tmp_path, monkeypatch):
    counting = Counting()
    monkeypatch.setattr(bash_check, "_runner", lambda bash: counting)
    tasks = "".join(f"  t{i}: {{agent: a, run: make -C svc{i} all}}\n" for i in range(300))
    source, _ = read_source(str(write(tmp_path, "w.yaml", "workflow: w\nagents: {a: {}}\ntasks:\n" + tasks)))
    assert source is not None
    workflow, _ = parse_source(source)
    assert workflow is not None
    assert check_commands(workflow, source) == [] and counting.calls == 0
    broken = source.text + "  t300: {agent: a, run: \"echo 'open\"}\n"
    source, _ = read_source(str(write(tmp_path, "w.yaml", broken)))
    assert source is not None
    workflow, _ = parse_source(source)
    assert workflow is not None
    assert [(d.code, d.span.line) for d in check_commands(workflow, source)] == [("E104", 304)]


# Commands that are fine, and broken ones of every way bash can run past a command's end:
# an open quote, an open block, an open here-document, a trailing backslash, a comment.
FRAGMENTS = [
    "make all", "echo 'a b' \"c\"", "# only a comment", "", "for x in a b; do echo $x; done",
    "cat <<EOF\nbody\nEOF", "echo a \\", "f() { echo; }", "echo $(ls | wc -l)", "case x in a) ;; esac",
    "echo 'open", "echo \"open", "echo b'", "if true; then", "fi", "echo )", "cat <<EOF\nno end",
    "{ echo", "}", "echo `x", "[[ a == ]]", "done", "echo $(", "x=(", "echo ${a",
    "'", '"', "`", "(", "case", "then", "echo ${a:-}}", "cat <<'X'\n'\nX", "echo \"$(\"", "f() {",
]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=2, max_size=30))
def test_batches_say_exactly_what_bash_says_of_each_command_alone(texts):
    parse = bash_check._runner(BASH)
    alone = {i: parse(t) for i, t in enumerate(texts)}
    expected = {i: bash_check._error(texts[i], p) for i, p in alone.items() if p is not None}
    assert parse_errors(texts, parse) == expected


def test_first_problem_reads_errors_before_status():
    assert first_problem("/dev/stdin: line 2: unexpected argument `]]' to conditional binary operator\n") == (
        2, "unexpected argument `]]' to conditional binary operator")
    assert first_problem("/dev/stdin: line 3: warning: here-document at line 2 delimited by end-of-file "
                         "(wanted `EOF')\n") == (2, "here-document at line 2 delimited by end-of-file (wanted `EOF')")
    assert first_problem("/dev/stdin: line 2: syntax error near unexpected token `)'\n"
                         "/dev/stdin: line 2: `echo )'\n") == (2, "syntax error near unexpected token `)'")
    assert first_problem("") is None


def test_without_bash_the_check_is_skipped(tmp_path, monkeypatch):
    source, _ = read_source(str(write(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks: {t: {agent: a, run: "echo 'open"}}
        """)))
    assert source is not None
    workflow, _ = parse_source(source)
    assert workflow is not None and check_commands(workflow, source)
    monkeypatch.setattr(bash_check.shutil, "which", lambda name: None)
    assert check_commands(workflow, source) == []


@pytest.mark.skipif("bash_check" not in inspect.getsource(pipeline),
                    reason="E104 is not called from compiler/pipeline.py yet")
def test_lanes_check_reports_e104(tmp_path):
    path = write(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t:
            agent: a
            run: echo 'from .calc import add  # noqa: F401' > x
        """)
    done = lanes_cli("check", path, "--format", "json")
    assert done.returncode == 1

    diags = json.loads(done.stdout)["diagnostics"]
    assert [(d["code"], d["line"], d["column"]) for d in diags if d["code"] == "E104"] == [("E104", 6, 15)]


def test_the_commands_of_nodes_checked_before_are_not_read_again(tmp_path):
    """What `lanes add` relies on: the run's own commands passed E104 when it was compiled."""
    source, _ = read_source(str(write(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          old: {agent: a, run: "echo 'open"}
          new: {agent: a, run: "echo 'open too"}
        gates:
          g: {needs: [old], run: "if x; then"}
        """)))
    assert source is not None
    workflow, _ = parse_source(source)
    assert workflow is not None
    assert {d.message.split("'")[1] for d in check_commands(workflow, source)} == {"old", "new", "g"}
    assert [d.message.split("'")[1] for d in check_commands(workflow, source, skip={"old", "g"})] == ["new"]
    model, diags = pipeline.analyse(workflow, source, checked_before={"old", "g"})
    assert [d.message.split("'")[1] for d in diags if d.code == "E104"] == ["new"]
