"""Agent output (runtime/agent_output.py): each tool's documented shapes, runs that exit 0
but report an error or a refusal, logs that report nothing, garbage and huge lines, and
the transcript `lanes logs` shows."""
from __future__ import annotations

import json

import pytest

from lanes.runtime import agent_output
from lanes.runtime.agent_output import NO_RESULT, parse_agent_output, read_agent_log


def jsonl(*events) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


S = "8c1f0a52-0000-4000-8000-00000000000a"
INIT = {"type": "system", "subtype": "init", "session_id": S, "model": "claude-sonnet-4-5", "cwd": "/w",
        "tools": ["Read", "Edit"], "permissionMode": "dontAsk", "apiKeySource": "ANTHROPIC_API_KEY"}


def assistant(*blocks):
    return {"type": "assistant", "session_id": S, "parent_tool_use_id": None,
            "message": {"role": "assistant", "content": list(blocks)}}


def tool_result(tool_id, content, is_error=False):
    return {"type": "user", "session_id": S, "parent_tool_use_id": None,
            "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                     "content": content, "is_error": is_error}]}}


def result(subtype="success", **kw):
    base = {"type": "result", "subtype": subtype, "is_error": subtype != "success", "duration_ms": 5000,
            "num_turns": 3, "total_cost_usd": 0.0734, "session_id": S, "permission_denials": [],
            "usage": {"input_tokens": 900, "output_tokens": 120}}
    if subtype == "success":
        base["result"] = "Added GET /users."
    return {**base, **kw}


CLAUDE = jsonl(
    INIT,
    assistant({"type": "text", "text": "I'll add the endpoint."},
              {"type": "tool_use", "id": "toolu_1", "name": "Edit",
               "input": {"file_path": "/w/src/api/users.py", "old_string": "a", "new_string": "b"}}),
    tool_result("toolu_1", "The file /w/src/api/users.py has been updated."),
    assistant({"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pytest -q"}}),
    tool_result("toolu_2", [{"type": "text", "text": "F.\n1 failed\nline 3\nline 4\nline 5\nline 6"}], True),
    assistant({"type": "text", "text": "Added GET /users."}),
    result())


# --- Claude Code ---------------------------------------------------------------------

def test_claude_stream_json():
    got = parse_agent_output(CLAUDE, "claude")
    assert (got.runner, got.session_id, got.turns, got.cost_usd) == ("claude", S, 3, 0.0734)
    assert got.final_message == "Added GET /users." and got.error is None and got.ok


def test_claude_transcript_reads_as_a_story():
    assert parse_agent_output(CLAUDE, "claude").transcript == (
        f"session: {S} (model claude-sonnet-4-5, permission mode dontAsk)\n"
        "assistant: I'll add the endpoint.\n"
        "tool Edit: /w/src/api/users.py\n"
        "  result: The file /w/src/api/users.py has been updated.\n"
        "tool Bash: pytest -q\n"
        "  error: F.\n"
        "         1 failed\n"
        "         line 3\n"
        "         line 4\n"
        "         … 2 more lines\n"
        "assistant: Added GET /users.\n"
        "result: success, 3 turns, $0.0734\n")


@pytest.mark.parametrize("subtype,detail", [("error_max_turns", "Reached max turns (3)"),
                                            ("error_max_budget_usd", "Exceeded USD budget (0.05)"),
                                            ("error_during_execution", "API Error: 529 overloaded")])
def test_claude_error_results(subtype, detail):
    got = parse_agent_output(jsonl(INIT, result(subtype, errors=[detail])), "claude")
    assert got.error == f"{subtype}: {detail}" and got.cost_usd == 0.0734 and got.session_id == S


def test_claude_is_error_on_a_success_subtype():
    got = parse_agent_output(jsonl(result(is_error=True, result="Invalid API key · Please run /login")))
    assert got.error == "success: Invalid API key · Please run /login"


def test_claude_permission_denials_make_an_exit_zero_run_fail():
    denied = result(permission_denials=[
        {"tool_name": "Edit", "tool_use_id": "toolu_9", "tool_input": {"file_path": "/w/src/ui/app.tsx"}},
        {"tool_name": "Bash", "tool_use_id": "toolu_8", "tool_input": {"command": "rm -rf build"}}])
    got = parse_agent_output(jsonl(INIT, denied), "claude")
    assert got.error == "permission refused: Edit /w/src/ui/app.tsx; Bash rm -rf build"
    assert got.final_message == "Added GET /users."


def test_claude_stream_cut_short_reports_no_result_but_keeps_the_session():
    got = parse_agent_output(CLAUDE.rsplit("\n", 2)[0] + "\n", "claude")
    assert got.error == NO_RESULT and got.session_id == S and got.turns is None
    assert "tool Bash: pytest -q" in got.transcript


def test_claude_among_other_output():
    noisy = "npm WARN deprecated\n" + CLAUDE.replace("\n", "\n\x1b[2Kspinner …\n", 2) + '{"type":"resu'
    got = parse_agent_output(noisy, "claude")
    assert got.error is None and got.turns == 3
    assert "log: npm WARN deprecated" in got.transcript and 'log: {"type":"resu' in got.transcript


def test_wrongly_typed_fields_are_ignored_not_fatal():
    odd = jsonl({"type": "assistant", "message": {"content": "not a list"}},
                {"type": "assistant", "message": "nope"}, {"type": "user", "message": {"content": [1, None]}},
                result(num_turns="3", total_cost_usd=-1, permission_denials="x", session_id=7))
    got = parse_agent_output(odd, "claude")
    assert (got.turns, got.cost_usd, got.session_id, got.error) == (None, None, None, None)


# --- Codex ---------------------------------------------------------------------------

THREAD = "0199a213-81c0-7800-8aa1-bbab2a035a53"
CODEX = jsonl(
    {"type": "thread.started", "thread_id": THREAD},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Searching for README files**"}},
    {"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                      "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                        "aggregated_output": "AGENTS.md\nREADME.md\n", "exit_code": 0,
                                        "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_2", "type": "file_change", "status": "completed",
                                        "changes": [{"path": "src/api/users.py", "kind": "update"}]}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message",
                                        "text": "Yep — there's a `README.md` in the repository root."}},
    {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}})


def test_codex_exec_json():
    got = parse_agent_output("Reading prompt from stdin...\n" + CODEX, "codex")
    assert (got.session_id, got.turns, got.cost_usd, got.error) == (THREAD, 1, None, None)
    assert got.final_message == "Yep — there's a `README.md` in the repository root."
    assert got.transcript.splitlines() == [
        "log: Reading prompt from stdin...", f"session: {THREAD}", "reasoning: **Searching for README files**",
        "tool shell: bash -lc ls", "  exit 0: AGENTS.md", "          README.md", "tool edit: update src/api/users.py",
        "  result: completed", "assistant: Yep — there's a `README.md` in the repository root.",
        "turn: completed, 24763 tokens in, 122 out"]


def test_codex_turn_failed_and_fatal_error():
    failed = jsonl({"type": "thread.started", "thread_id": THREAD}, {"type": "turn.started"},
                   {"type": "turn.failed", "error": {"message": "unexpected status 401 Unauthorized"}})
    assert parse_agent_output(failed, "codex").error == "unexpected status 401 Unauthorized"
    fatal = jsonl({"type": "thread.started", "thread_id": THREAD}, {"type": "error", "message": "stream error"})
    assert parse_agent_output(fatal, "codex").error == "stream error"


def test_codex_stream_error_the_turn_recovered_from():
    recovered = CODEX.replace('{"type": "turn.started"}', '{"type": "turn.started"}\n'
                              '{"type": "error", "message": "Reconnecting... 1/5"}')
    got = parse_agent_output(recovered, "codex")
    assert got.error is None and "error: Reconnecting... 1/5" in got.transcript


def test_codex_declined_command_is_a_refused_permission():
    declined = CODEX.replace('"status": "completed"}}\n{"type": "item.completed", "item": {"id": "item_2"',
                             '"status": "declined"}}\n{"type": "item.completed", "item": {"id": "item_2"')
    assert parse_agent_output(declined, "codex").error == "permission refused: shell bash -lc ls"


def test_codex_item_still_running_when_the_log_ends():
    cut = CODEX.split('{"type": "item.completed", "item": {"id": "item_1"')[0]
    got = parse_agent_output(cut, "codex")
    assert got.error == NO_RESULT and got.session_id == THREAD
    assert got.transcript.splitlines()[-2:] == ["tool shell: bash -lc ls", "  result: still running when the log ended"]


# --- Gemini CLI ----------------------------------------------------------------------

G = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
T = "2026-01-01T00:00:00.000Z"
GEMINI = jsonl(
    {"type": "init", "timestamp": T, "session_id": G, "model": "gemini-2.5-pro"},
    {"type": "message", "timestamp": T, "role": "user", "content": "Add the endpoint"},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "Let me ", "delta": True},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "look.", "delta": True},
    {"type": "tool_use", "timestamp": T, "tool_name": "read_file", "tool_id": "read_file-1",
     "parameters": {"absolute_path": "/w/src/api/app.py"}},
    {"type": "tool_result", "timestamp": T, "tool_id": "read_file-1", "status": "success", "output": "app = 1"},
    {"type": "tool_use", "timestamp": T, "tool_name": "write_file", "tool_id": "write_file-2",
     "parameters": {"file_path": "/w/src/api/users.py", "content": "x"}},
    {"type": "tool_result", "timestamp": T, "tool_id": "write_file-2", "status": "success", "output": "ok"},
    {"type": "error", "timestamp": T, "severity": "warning", "message": "Loop detected, stopping"},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "Done: users added.", "delta": True},
    {"type": "result", "timestamp": T, "status": "success",
     "stats": {"total_tokens": 300, "input_tokens": 200, "output_tokens": 100, "cached": 0, "input": 200,
               "duration_ms": 900, "tool_calls": 2}})


def test_gemini_stream_json():
    got = parse_agent_output(GEMINI, "gemini")
    assert (got.session_id, got.turns, got.cost_usd, got.error) == (G, 3, None, None)
    assert got.final_message == "Done: users added."
    assert got.transcript.splitlines() == [
        f"session: {G} (model gemini-2.5-pro)", "assistant: Let me look.", "tool read_file: /w/src/api/app.py",
        "  result: app = 1", "tool write_file: /w/src/api/users.py", "  result: ok",
        "warning: Loop detected, stopping", "assistant: Done: users added.",
        "result: success, 2 tool calls, 300 tokens"]


def test_gemini_error_result_and_policy_refusal():
    err = GEMINI.replace('"status": "success", "stats"', '"status": "error", "error": {"type": "ApiError", '
                         '"message": "[API Error: quota exceeded]"}, "stats"')
    assert parse_agent_output(err, "gemini").error == "[API Error: quota exceeded]"
    refused = GEMINI.replace('"status": "success", "output": "ok"', '"status": "error", "error": {"type": '
                             '"policy_violation", "message": "Tool execution for write_file denied by policy."}')
    assert parse_agent_output(refused, "gemini").error == (
        "permission refused: write_file-2: Tool execution for write_file denied by policy.")


def test_gemini_json_output_is_one_indented_object():
    out = json.dumps({"session_id": G, "response": "The capital of France is Paris.",
                      "stats": {"models": {"gemini-2.5-pro": {"api": {"totalRequests": 2}},
                                           "gemini-2.5-flash": {"api": {"totalRequests": 1}}}}}, indent=2)
    got = parse_agent_output(f"Loaded cached credentials.\n{out}\n", "gemini")
    assert (got.session_id, got.turns, got.final_message, got.error) == (G, 3, "The capital of France is Paris.", None)
    failed = json.dumps({"session_id": G, "error": {"type": "FatalAuthenticationError", "message": "no key",
                                                    "code": 41}}, indent=2)
    assert parse_agent_output(failed, "gemini").error == "no key"


# --- aider ---------------------------------------------------------------------------

AIDER = """Aider v0.86.1
Model: anthropic/claude-sonnet-4-5 with diff edit format, infinite output
Git repo: .git with 24 files
src/api/users.py
<<<<<<< SEARCH
=======
def users(): ...
>>>>>>> REPLACE
Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session.
Applied edit to src/api/users.py
Tokens: 4.5k sent, 1.2k cache hit, 429 received. Cost: $0.0018 message, $0.0081 session.
"""


def test_aider_cost_lines():
    got = parse_agent_output(AIDER, "aider")
    assert (got.turns, got.cost_usd, got.session_id, got.error) == (2, 0.0081, None, None)
    assert got.transcript == AIDER


def test_aider_that_never_reached_the_model():
    got = parse_agent_output("Aider v0.86.1\nlitellm.AuthenticationError: invalid x-api-key\n", "aider")
    assert got.error == NO_RESULT and "AuthenticationError" in got.transcript


# --- nothing useful ------------------------------------------------------------------

@pytest.mark.parametrize("runner", ["claude", "codex", "gemini", "aider", None])
@pytest.mark.parametrize("text", ["", "\n\n", "Segmentation fault\n{not json\n[1, 2]\n42\nnull\n",
                                  '{"type": "unheard.of"}\n{"a": {"b": 1}}\n', "{" * 100_000 + "}" * 100_000,
                                  b"\xff\xfe\x00\x01garbage\n"])
def test_nothing_useful_is_no_result(runner, text):
    got = parse_agent_output(text, runner)
    assert got.error == NO_RESULT and not got.ok and got.session_id is None


@pytest.mark.parametrize("log,runner", [(CLAUDE, "claude"), (CODEX, "codex"), (GEMINI, "gemini"), (AIDER, "aider")])
def test_the_format_is_recognised_without_a_runner(log, runner):
    got = parse_agent_output(log)
    assert got.runner == runner and got.error is None


def test_a_raw_line_separator_inside_json_is_no_line_break():
    got = parse_agent_output(jsonl(INIT, result(result="a\u2028b")).replace("\\u2028", "\u2028"), "claude")
    assert got.final_message == "a\u2028b" and got.error is None


def test_huge_lines_are_cut_in_files_and_text(tmp_path, monkeypatch):
    monkeypatch.setattr(agent_output, "MAX_LINE", 4096)
    huge = json.dumps(assistant({"type": "text", "text": "x" * 50_000}))
    log = tmp_path / "task.log"
    log.write_text(jsonl(INIT) + huge + "\n" + "y" * 30_000 + "\n" + jsonl(result()) + "z" * 20_000)
    for got in (read_agent_log(log, "claude"), parse_agent_output(log.read_text(), "claude")):
        assert got.error is None and got.turns == 3
        assert max(len(line) for line in got.transcript.splitlines()) <= agent_output.CHARS_PER_LINE
        assert "cut)" in got.transcript


def test_the_transcript_keeps_its_head_and_tail(tmp_path):
    calls = [e for n in range(3000) for e in (
        assistant({"type": "tool_use", "id": f"t{n}", "name": "Read", "input": {"file_path": f"f{n}.py"}}),
        tool_result(f"t{n}", "ok"))]
    got = parse_agent_output(jsonl(INIT, *calls, result()), "claude")
    lines = got.transcript.splitlines()
    assert len(lines) == agent_output.MAX_TRANSCRIPT_LINES + 1
    assert lines[1] == "tool Read: f0.py" and lines[-1].startswith("result: success")
    assert any(line.endswith("transcript lines left out …") for line in lines)


def test_a_log_that_cannot_be_read(tmp_path):
    got = read_agent_log(tmp_path / "missing.log", "codex")
    assert got.error.startswith(NO_RESULT) and "cannot be read" in got.error and got.runner == "codex"


def test_lines_across_read_chunks(tmp_path):
    pad = "p" * 1500                # 64 KiB chunks end inside these lines
    calls = [e for n in range(200) for e in (
        assistant({"type": "tool_use", "id": f"t{n}", "name": "Read", "input": {"file_path": f"f{n}.py", "pad": pad}}),
        tool_result(f"t{n}", pad))]
    log = tmp_path / "task.log"
    log.write_text(jsonl(INIT, *calls, result()))
    got = read_agent_log(log, "claude")
    assert got.error is None and got.transcript.count("tool Read: f") == 200 and "log:" not in got.transcript


def test_terminal_escapes_do_not_reach_the_transcript():
    got = parse_agent_output(jsonl(INIT, tool_result("t", "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\rdone\x00"),
                                   result()), "claude")
    assert "  result: 0;ownedreddone" in got.transcript and "\x1b" not in got.transcript


def test_gemini_error_only_json_is_recognised_without_a_runner():
    got = parse_agent_output(json.dumps({"session_id": G, "error": {"type": "Error", "message": "boom"}}, indent=2))
    assert (got.runner, got.session_id, got.error) == ("gemini", G, "boom")
