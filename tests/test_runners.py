"""Runner command lines (compiler/runners.py): the exact argv of each preset, the
domain as the tool's permissions, quoting of hostile values, limits a tool cannot keep,
command templates; and each built command run in a shell against the stand-ins of
tests/standins, whose output agent_output reads back."""
from __future__ import annotations

import json
import os
from pathlib import Path
import shlex
import subprocess

import pytest

from lanes.compiler.runners import (
    PRESETS,
    AgentInvocation,
    RunnerError,
    build_command,
    claude_permission_rules,
    template_problem,
)
from lanes.runtime.agent_output import read_agent_log

STANDINS = Path(__file__).parent / "standins"
CLAUDE_FLAGS = ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "dontAsk"]
CODEX_FLAGS = ["exec", "--json", "--sandbox", "workspace-write", "--skip-git-repo-check"]
GEMINI_FLAGS = ["--output-format", "stream-json", "--approval-mode", "auto_edit"]
AIDER_FLAGS = ["--yes-always", "--no-auto-commits", "--no-gitignore", "--no-pretty", "--no-check-update",
               "--no-show-release-notes", "--no-analytics"]


def inv(**kw) -> AgentInvocation:
    base = {"prompt_file": ".lanes/runs/r1/prompts/api.1.md", "brief_file": ".lanes/runs/r1/briefs/backend.md",
                "writes": ("src/api/**",), "reads": ("contracts/**", "db:users")}
    return AgentInvocation(**{**base, **kw})


def command(runner, **kw) -> str:
    cmd = build_command(runner, inv(**kw))
    assert isinstance(cmd, str), cmd
    return cmd


def error(runner, **kw) -> RunnerError:
    err = build_command(runner, inv(**kw))
    assert isinstance(err, RunnerError), err
    return err


def stages(cmd: str) -> list[list[str]]:
    """The words of each stage of a pipeline."""
    words = shlex.split(cmd)
    out: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            out.append([])
        else:
            out[-1].append(w)
    return out


# --- the presets, exactly ------------------------------------------------------------

def test_claude_command_line():
    assert shlex.split(command("claude")) == [
        "claude", *CLAUDE_FLAGS, "--append-system-prompt-file", ".lanes/runs/r1/briefs/backend.md",
        "--allowedTools", "Edit(/src/api/**)", "Read(/src/api/**)", "Read(/contracts/**)",
        "<", ".lanes/runs/r1/prompts/api.1.md"]


def test_claude_model_turns_budget_and_resume():
    words = shlex.split(command("claude", model="claude-sonnet-4-5", max_turns=12, max_budget_usd=2.5,
                                resume_session="5f3c9a1e-0000-4000-8000-000000000001"))
    middle = words[words.index(".lanes/runs/r1/briefs/backend.md") + 1:words.index("--allowedTools")]
    assert middle == ["--model", "claude-sonnet-4-5", "--max-turns", "12", "--max-budget-usd", "2.5",
                      "--resume", "5f3c9a1e-0000-4000-8000-000000000001"]
    assert "--max-budget-usd 3 " in command("claude", max_budget_usd=3.0)      # no "3.0"


def test_codex_command_line_and_resume():
    assert stages(command("codex", model="gpt-5-codex")) == [
        ["cat", "--", ".lanes/runs/r1/briefs/backend.md", ".lanes/runs/r1/prompts/api.1.md"],
        ["codex", *CODEX_FLAGS, "--model", "gpt-5-codex", "-"]]
    assert stages(command("codex", resume_session="0199a213"))[1] == [
        "codex", *CODEX_FLAGS, "resume", "0199a213", "-"]


def test_gemini_command_line_and_resume():
    assert stages(command("gemini", model="gemini-2.5-pro", resume_session="a1b2")) == [
        ["cat", "--", ".lanes/runs/r1/briefs/backend.md", ".lanes/runs/r1/prompts/api.1.md"],
        ["gemini", *GEMINI_FLAGS, "--model", "gemini-2.5-pro", "--resume", "a1b2"]]


def test_aider_command_line_files_are_the_literal_paths_of_the_domain():
    words = shlex.split(command("aider", writes=("src/api/**", "src/api/app.py", "db:users"),
                                reads=("contracts/openapi.yaml", "contracts/*.json"), model="sonnet",
                                resume_session="ignored"))
    assert words == ["aider", *AIDER_FLAGS, "--message-file=.lanes/runs/r1/prompts/api.1.md",
                     "--read=.lanes/runs/r1/briefs/backend.md", "--read=contracts/openapi.yaml",
                     "--file=src/api/app.py", "--model", "sonnet"]


# --- the domain as permissions -------------------------------------------------------

def test_claude_rules_from_the_domain():
    rules = claude_permission_rules(("./src/{api,jobs}/**", "docs/", "README.md", "queue:jobs/*"),
                                    ("contracts/**", "port:80*", "README.md"))
    assert rules == ("Edit(/src/api/**)", "Read(/src/api/**)", "Edit(/src/jobs/**)", "Read(/src/jobs/**)",
                     "Edit(/docs/**)", "Read(/docs/**)", "Edit(/README.md)", "Read(/README.md)",
                     "Read(/contracts/**)")


def test_scheme_resources_give_no_file_permission():
    words = shlex.split(command("claude", writes=("db:users", "queue:emails"), reads=("port:8000",)))
    assert "--allowedTools" not in words and not any("db:" in w or "port:" in w for w in words)
    assert not any(w.startswith("--file") for w in shlex.split(command("aider", writes=("db:users",))))


def test_claude_rules_escape_what_gitignore_reads_differently():
    # a backslash and a '[' that opens no class are literal in lanes, an escape and a class in gitignore
    assert claude_permission_rules(("a\\b/x[1.txt", "cls/[ab]*.py", "neg/[!x]", "sp "), ()) == (
        "Edit(/a\\\\b/x\\[1.txt)", "Read(/a\\\\b/x\\[1.txt)", "Edit(/cls/[ab]*.py)", "Read(/cls/[ab]*.py)",
        "Edit(/neg/[!x])", "Read(/neg/[!x])", "Edit(/sp\\ )", "Read(/sp\\ )")


def test_a_parenthesis_cannot_be_written_as_a_claude_rule():
    err = error("claude", writes=("app/(auth)/**",))
    assert err.field == "writes" and "parenthesis" in err.message
    assert error("claude", reads=("x)y",)).field == "reads"


# --- hostile values -----------------------------------------------------------------

HOSTILE = "it's $(touch pwned) `touch pwned2` ; rm -rf \"x\" \n & | > *"
HOSTILE_GLOB = "it's ${HOME} `id` ; rm -rf \"x\" \n & | > *"     # a Claude rule holds no parenthesis


@pytest.mark.parametrize("runner", sorted(PRESETS))
def test_hostile_paths_and_patterns_stay_single_words(runner):
    cmd = command(runner, prompt_file=f"p/{HOSTILE}.md", brief_file=f"b/{HOSTILE}.md",
                  writes=(f"src/{HOSTILE_GLOB}.py", "src/x.py"), reads=(f"docs/{HOSTILE_GLOB}",), model="m;x$(y)")
    words = [w for stage in stages(cmd) for w in stage]
    assert "m;x$(y)" in words and any(w.endswith(f"p/{HOSTILE}.md") for w in words)
    assert any(w.endswith(f"b/{HOSTILE}.md") for w in words)
    # nothing of the hostile text became shell syntax: only the tool's own words are bare
    assert not any(w in ("rm", ";", "&", ">", "`id`", "*") for w in words)


@pytest.mark.parametrize("runner", sorted(PRESETS))
def test_hostile_names_survive_the_shell(tmp_path, runner):
    brief = tmp_path / f"brief {HOSTILE}.md"
    brief.write_text("# Brief\n")
    rc, got, calls, _ = run(tmp_path, runner, "WRITE src/x.py: 1\n", brief=brief.name,
                            writes=(f"src/{HOSTILE_GLOB}", "src/x.py"), model="m;x$(touch pwned3)")
    assert rc == 0 and got.error is None, got.transcript
    assert not list(tmp_path.glob("pwned*"))
    argv = calls[0]["argv"]
    assert "m;x$(touch pwned3)" in argv
    if runner == "claude":
        assert argv[argv.index("--append-system-prompt-file") + 1] == brief.name
        assert f"Edit(/src/{HOSTILE_GLOB})" in argv
    elif runner == "aider":
        assert f"--read={brief.name}" in argv
    else:
        assert calls[0]["stdin"].startswith("# Brief\n")


def test_paths_that_look_like_options_are_not_read_as_options():
    words = shlex.split(command("claude", prompt_file="-p.md", brief_file="--help"))
    assert words[words.index("--append-system-prompt-file") + 1] == "./--help" and words[-1] == "./-p.md"
    assert stages(command("codex", brief_file="-n"))[0][:3] == ["cat", "--", "-n"]
    assert "--message-file=-m.md" in shlex.split(command("aider", prompt_file="-m.md"))


@pytest.mark.parametrize("field,value", [("model", "-x"), ("model", ""), ("resume_session", "--last"),
                                         ("prompt_file", ""), ("brief_file", "a\0b")])
def test_values_no_command_line_can_hold(field, value):
    assert error("claude", **{field: value}).field == field


def test_nul_in_a_pattern():
    assert error("codex", writes=("a\0b",)).field == "writes"


# --- limits a tool cannot keep -------------------------------------------------------

@pytest.mark.parametrize("runner", ["codex", "gemini", "aider"])
def test_max_turns_only_where_a_flag_exists(runner):
    err = error(runner, max_turns=5)
    assert err.field == "max_turns" and PRESETS[runner].title in err.message


@pytest.mark.parametrize("runner", ["codex", "gemini"])
def test_a_budget_needs_a_flag_or_a_reported_cost(runner):
    assert error(runner, max_budget_usd=1.0).field == "max_budget_usd"


def test_aider_budget_is_kept_by_lanes_from_the_reported_cost():
    assert "budget" not in command("aider", max_budget_usd=1.0)
    assert PRESETS["aider"].lanes_enforces_budget and not PRESETS["claude"].lanes_enforces_budget


@pytest.mark.parametrize("kw", [{"max_turns": 0}, {"max_turns": True}, {"max_turns": 2.5},
                                {"max_budget_usd": 0}, {"max_budget_usd": float("nan")},
                                {"max_budget_usd": -1.0}])
def test_limits_must_be_positive(kw):
    assert error("claude", **kw).field == next(iter(kw))


def test_unknown_and_shell_runners():
    assert "did you mean 'claude'" in error("claud").message
    assert error("shell").field == "runner" and "run" in error("shell").message


# --- command templates ---------------------------------------------------------------

def test_template_placeholders_are_shell_words():
    cmd = command({"command": "mytool --prompt {prompt_file} --brief={brief_file} -m {model} "
                              "--edit {writes} --see {reads} '{{literal}}'"},
                  writes=("src/a b/**", "db:users"), reads=(), model="o3")
    assert shlex.split(cmd) == ["mytool", "--prompt", ".lanes/runs/r1/prompts/api.1.md",
                                "--brief=.lanes/runs/r1/briefs/backend.md", "-m", "o3",
                                "--edit", "src/a b/**", "db:users", "--see", "{literal}"]


@pytest.mark.parametrize("template,needle", [
    ("tool {modle}", "did you mean {model}"), ("tool {}", "empty placeholder"),
    ("tool {model!r}", "conversion"), ("tool {model:>9}", "format spec"), ("tool {x.y}", "unknown"),
    ("tool {prompt_file", "unmatched"), ("tool }", "unmatched"), ("   ", "empty")])
def test_template_errors(template, needle):
    err = template_problem(template)
    assert err is not None and err.field == "command" and needle in err.message
    assert build_command({"command": template}, inv()) == err


def test_template_shape_model_and_turns():
    assert error({"command": "t {model}"}).field == "model"
    assert error({"command": "t", "extra": 1}).field == "runner"
    assert template_problem(3) is not None
    assert error({"command": "t {prompt_file}"}, max_turns=3).field == "max_turns"
    assert command({"command": "t {prompt_file}"}, max_budget_usd=3.0, resume_session="s")


# --- run with the stand-ins ----------------------------------------------------------

def run(tmp_path: Path, runner, prompt: str, brief: str = "brief.md", **kw):
    """Build the command, run it with bash in tmp_path (the workdir), stdout and stderr
    into one log as the runtime does; return what the log says and what was recorded."""
    (tmp_path / "prompt.md").write_text(prompt)
    if not (tmp_path / brief).exists():
        (tmp_path / brief).write_text("# Brief for agent `backend`\n")
    cmd = build_command(runner, AgentInvocation("prompt.md", brief, **kw))
    assert isinstance(cmd, str), cmd
    env = {**os.environ, "PATH": f"{STANDINS}{os.pathsep}{os.environ['PATH']}",
           "LANES_STANDIN_LOG": str(tmp_path / "calls.jsonl")}
    log = tmp_path / "task.log"
    with open(log, "wb") as out:
        done = subprocess.run(["bash", "-c", cmd], check=False, cwd=tmp_path, env=env, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=60)
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return done.returncode, read_agent_log(log, runner if isinstance(runner, str) else None), calls, cmd


PROMPT = "Add the endpoint.\nWRITE src/api/users.py: def users():\\n    return []\nSAY Added users.\nCOST 0.042\n"


@pytest.mark.parametrize("runner,session,turns,cost", [
    ("claude", "5f3c9a1e-0000-4000-8000-000000000001", 2, 0.042),
    ("codex", "0199a213-81c0-7800-8aa1-bbab2a035a53", 1, None),
    ("gemini", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", 2, None),
    ("aider", None, 2, 0.042)])
def test_end_to_end_with_the_standins(tmp_path, runner, session, turns, cost):
    rc, got, calls, cmd = run(tmp_path, runner, PROMPT, writes=("src/api/**", "src/api/users.py"),
                              reads=("contracts/**",), model="m-1")
    assert rc == 0 and got.error is None, got.transcript
    assert (got.runner, got.session_id, got.turns, got.cost_usd) == (runner, session, turns, cost)
    assert got.final_message == (None if runner == "aider" else "Added users.")
    assert (tmp_path / "src/api/users.py").read_text() == "def users():\n    return []"
    (call,) = calls
    assert call["argv"] == stages(cmd)[-1][1:len(call["argv"]) + 1]          # the flags lanes built, as given
    assert call["cwd"] == str(tmp_path) and "LANES_STANDIN_LOG" in call["env"]
    if runner != "aider":
        assert call["stdin"].startswith("# Brief" if runner != "claude" else "Add the endpoint.")


def test_claude_refuses_a_write_outside_the_domain(tmp_path):
    rc, got, _, _ = run(tmp_path, "claude", "WRITE src/ui/app.tsx: x\nWRITE src/api/ok.py: y\n",
                        writes=("src/api/**",))
    assert rc == 0 and got.error and got.error.startswith("permission refused: Write ")
    assert "src/ui/app.tsx" in got.error and not (tmp_path / "src/ui/app.tsx").exists()
    assert (tmp_path / "src/api/ok.py").exists()


def test_claude_resume_and_turn_limit(tmp_path):
    _rc, got, calls, _ = run(tmp_path, "claude", "WRITE src/a.py: 1\nWRITE src/b.py: 2\n", writes=("src/**",),
                            max_turns=2, resume_session="prev-session")
    assert got.session_id == "prev-session" and got.error.startswith("error_max_turns")
    assert calls[0]["argv"][calls[0]["argv"].index("--resume") + 1] == "prev-session"


@pytest.mark.parametrize("runner", sorted(PRESETS))
@pytest.mark.parametrize("fail", ["error", "silent", "garbage"])
def test_an_exit_zero_run_that_failed_is_not_a_success(tmp_path, runner, fail):
    rc, got, _, _ = run(tmp_path, runner, f"FAIL {fail}\n", writes=("src/**",))
    assert rc == 0 and got.error
    if fail != "error":
        assert got.error == "no result reported"


def test_template_run_is_read_by_the_format_it_prints(tmp_path):
    rc, got, _calls, _ = run(tmp_path, {"command": "claude -p --output-format stream-json --verbose "
                                                  "--permission-mode acceptEdits < {prompt_file}"},
                            PROMPT, writes=("src/api/**",))
    assert rc == 0 and got.runner == "claude" and got.error is None and got.cost_usd == 0.042


# --- the runtime's files and session as environment variables (the plan's "command") ------

from lanes.compiler.runners import BRIEF_FILE, PROMPT_FILE, SESSION, EnvVar  # noqa: E402


def planned(runner, **kw) -> str:
    return command(runner, prompt_file=PROMPT_FILE, brief_file=BRIEF_FILE, resume_session=SESSION, **kw)


def test_variables_are_written_as_shell_words_and_values_stay_quoted():
    cmd = planned("claude", model="m; rm -rf /", writes=("src/$x `y`/**",))
    assert '--append-system-prompt-file "$LANES_BRIEF"' in cmd and cmd.endswith('< "$LANES_PROMPT"')
    assert '${LANES_SESSION:+--resume "$LANES_SESSION"}' in cmd
    assert "'m; rm -rf /'" in cmd and "'Edit(/src/$x `y`/**)'" in cmd
    assert planned("codex").startswith('cat -- "$LANES_BRIEF" "$LANES_PROMPT" | codex ')
    assert '${LANES_SESSION:+resume "$LANES_SESSION"} -' in planned("codex")
    assert '--message-file="$LANES_PROMPT" --read="$LANES_BRIEF"' in planned("aider")
    assert command({"command": "t {prompt_file} {brief_file}"}, prompt_file=PROMPT_FILE,
                   brief_file=BRIEF_FILE) == 't "$LANES_PROMPT" "$LANES_BRIEF"'


def test_a_variable_must_be_a_name():
    assert error("claude", prompt_file=EnvVar("A B")).field == "prompt_file"
    assert error("claude", resume_session=EnvVar("$X")).field == "resume_session"


@pytest.mark.parametrize("runner", ["claude", "codex", "gemini"])
@pytest.mark.parametrize("session", [None, "", "prev-session"])
def test_the_planned_command_resumes_only_when_the_runtime_sets_a_session(tmp_path, runner, session):
    (tmp_path / "my prompt.md").write_text("WRITE src/a.py: 1\n")
    (tmp_path / "brief.md").write_text("# Brief\n")
    cmd = planned(runner, writes=("src/**",))
    env = {**os.environ, "PATH": f"{STANDINS}{os.pathsep}{os.environ['PATH']}",
           "LANES_STANDIN_LOG": str(tmp_path / "calls.jsonl"),
           "LANES_PROMPT": str(tmp_path / "my prompt.md"), "LANES_BRIEF": str(tmp_path / "brief.md")}
    env.pop("LANES_SESSION", None)
    if session is not None:
        env["LANES_SESSION"] = session
    done = subprocess.run(["bash", "-c", cmd], check=False, cwd=tmp_path, env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    (call,) = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    resumed = "resume" in call["argv"] or "--resume" in call["argv"]
    assert resumed == bool(session)
    if session:
        flag = "resume" if runner == "codex" else "--resume"
        assert call["argv"][call["argv"].index(flag) + 1] == session
    assert (tmp_path / "src/a.py").read_text() == "1"
