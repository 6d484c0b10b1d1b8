"""Agent briefs: what each section says, Markdown that user strings cannot break, user
templates in a sandbox, and `lanes brief`."""
from __future__ import annotations

import re

from helpers import lanes_cli, write
import pytest
from test_graph import CONFLICTING, EXAMPLE, HOSTILE_ID, agent, hostile_plan, node, plan_of

from lanes.compiler.brief import BriefError, code, code_block, quote, render_brief, render_briefs
from lanes.compiler.planfile import to_json
from lanes.inputs import read_input


@pytest.fixture(scope="module")
def fullstack():
    return read_input(str(EXAMPLE)).plan


def section(brief: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n\n(.*?)(?=^## |\Z)", brief, re.S | re.M)
    assert m, title
    return m.group(1)


def test_sections_of_a_brief(fullstack):
    brief = render_brief(fullstack, "backend")
    assert brief.startswith("# Brief for agent `backend`\n")
    assert re.findall(r"^## (.*)$", brief, re.M) == [
        "Who you are", "Your tasks, in order", "What you may touch", "What you wait for",
        "Who waits for you", "Gates you must pass", "Rules"]
    assert "Your skills: `python`, `fastapi`." in section(brief, "Who you are")
    touch = section(brief, "What you may touch")
    assert "**Write** (yours alone while you run): `src/api/**`, `tests/api/**`" in touch
    assert "**Read only** (shared, never modify): `contracts/**`" in touch
    rules = section(brief, "Rules")
    assert "Stay inside your domain" in rules and "Report failures" in rules


def test_tasks_in_order_with_commands_and_estimates(fullstack):
    tasks = section(render_brief(fullstack, "backend"), "Your tasks, in order")
    items = re.findall(r"^(\d+)\. `([^`]+)`: stage (\d+), about (\w+)", tasks, re.M)
    assert items == [("1", "api", "1", "5m"), ("2", "api-tests", "2", "2m")]
    assert '   ```sh\n   echo "implement src/api"\n   ```' in tasks
    assert 'Rollback if a later gate fails:\n\n   ```sh\n   echo "revert src/api"\n   ```' in tasks
    assert "on the critical path; after `schema`" in tasks


def test_what_it_waits_for_who_waits_for_it_and_its_gates(fullstack):
    brief = render_brief(fullstack, "backend")
    assert section(brief, "What you wait for").strip() == "- `schema` (task by `architect`), before `api`"
    assert section(brief, "Who waits for you").strip() == "- `integration` (gate) needs `api-tests`"
    assert section(brief, "Gates you must pass").strip() == (
        '- `integration`: `echo "integration tests pass"` must pass (on failure: rollback)')
    scribe = render_brief(fullstack, "scribe")
    assert section(scribe, "What you wait for").strip() == "- `integration` (gate), before `docs`"
    assert section(scribe, "Who waits for you").strip() == "- nobody downstream."
    assert section(scribe, "Gates you must pass").strip() == "- none."
    architect = render_brief(fullstack, "architect")
    assert "nothing from other agents" in section(architect, "What you wait for")
    waited = section(architect, "Who waits for you")
    assert re.findall(r"^- `([^`]+)`", waited, re.M) == ["api", "threat-model", "ui"]


def test_waits_are_listed_once_per_upstream_node():
    plan = plan_of([node("up", agent="a"), node("x", agent="b", needs=["up"], stage=1),
                    node("y", agent="b", needs=["up"], stage=1),
                    node("g", kind="gate", needs=["x"], stage=2, approve="Looks *good*? <b>")],
                   [agent("a"), agent("b")])
    brief = render_brief(plan, "b")
    assert section(brief, "What you wait for").strip() == "- `up` (task by `a`), before `x`, `y`"
    assert section(brief, "Gates you must pass").strip() == (
        '- `g`: approval by a person: "Looks \\*good\\*? \\<b\\>" (on failure: stop)')


def test_every_agent_gets_a_brief_and_an_agent_without_tasks_says_so(fullstack):
    briefs = render_briefs(fullstack)
    assert list(briefs) == [a.id for a in fullstack.agents]
    idle = plan_of([node("t", agent="a")], [agent("a"), agent("idle")])
    assert "You have no tasks in this plan." in render_brief(idle, "idle")


def test_unknown_agent_suggests_a_near_one(fullstack):
    with pytest.raises(BriefError, match=r"no agent 'backnd' in workflow 'fullstack' \(did you mean 'backend'\?\)"):
        render_brief(fullstack, "backnd")


# --- Markdown that user strings cannot break -----------------------------------------------

def test_markdown_helpers():
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("a\n# b") == "`a # b`"
    assert code_block("echo ```\nls", "  ") == "  ````sh\n  echo ```\n  ls\n  ````"
    assert quote("x\n## h\n<details>") == "> x\n> ## h\n> \\<details>"


def test_hostile_strings_keep_the_brief_structure():
    plan = hostile_plan()
    brief = render_brief(plan, "b<i>")
    # only our own headings, whatever the descriptions say
    assert re.findall(r"^#{1,6} (.*)$", brief, re.M)[0] == "Brief for agent `b<i>`"
    assert "## Injected heading" not in re.findall(r"^## .*$", brief, re.M)
    assert "   > ## Injected heading" in brief and "   > \\<details>" in brief
    assert "(yours alone while you run): ``x/`y`/**``\n" in brief
    a = render_brief(plan, "a")
    fence = re.search(r"^   (`{3,})sh$", a, re.M).group(1)
    assert len(fence) == 4                      # the command holds ``` itself
    body = a.split(f"   {fence}sh\n", 1)[1].split(f"\n   {fence}", 1)[0]
    assert body == "   echo '<b>' \"q\" \\n `x`\n   ```\n   rm -rf /"
    assert f"`` {HOSTILE_ID[:3]}" not in a and "`x\"] --> evil[\"<script>alert(1)</script>`" in a
    assert "> \\<script>document.title='pwned'\\</script>" in a


# --- user templates -------------------------------------------------------------------------

def test_a_user_template_sees_the_same_data_and_filters(tmp_path, fullstack):
    t = write(tmp_path, "mine.md.j2", """
        {{ agent.id }} does {{ tasks | map(attribute="id") | join(",") }} in
        {{- " " ~ tasks | sum(attribute="estimate_s") | duration }}
        {% include "part.j2" %}
        """)
    write(tmp_path, "part.j2", "writes {{ agent.writes | code_list }}")
    assert render_brief(fullstack, "backend", str(t)) == (
        "backend does api,api-tests in 7m\nwrites `src/api/**`, `tests/api/**`\n")


@pytest.mark.parametrize("text, message", [
    ("ok\n{{ ''.__class__.__mro__ }}\n", r"mine.j2:2: refused by the sandbox: access to attribute '__class__'"),
    ("{{ cycler.__init__.__globals__.os }}\n", r"mine.j2:1: refused by the sandbox"),
    ("{{ plan.nodes[0].__class__ }}\n", r"mine.j2:1: refused by the sandbox"),
    ("a\nb\n{{ nope }}\n", r"mine.j2:3: cannot render: 'nope' is undefined"),
    ("{% for x in %}\n", r"mine.j2:1: template syntax error"),
    ("{{ 1 / 0 }}\n", r"mine.j2:1: cannot render: ZeroDivisionError"),
])
def test_a_user_template_that_fails_gives_file_and_line(tmp_path, fullstack, text, message):
    t = tmp_path / "mine.j2"
    t.write_text(text, encoding="utf-8")
    with pytest.raises(BriefError, match=message):
        render_brief(fullstack, "backend", str(t))


# --- the command ----------------------------------------------------------------------------

def test_brief_command_prints_or_writes_one_file_per_agent(tmp_path, fullstack):
    r = lanes_cli("brief", EXAMPLE, "scribe")
    assert r.returncode == 0 and r.stdout == render_brief(fullstack, "scribe")
    r = lanes_cli("brief", EXAMPLE)
    assert r.returncode == 0 and r.stdout.count("# Brief for agent ") == len(fullstack.agents)
    out = tmp_path / "briefs"
    r = lanes_cli("brief", EXAMPLE, "-o", out)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{a.id}.md" for a in fullstack.agents)
    assert (out / "backend.md").read_text(encoding="utf-8") == render_brief(fullstack, "backend")


def test_brief_command_errors(tmp_path):
    r = lanes_cli("brief", EXAMPLE, "backnd")
    assert r.returncode == 1 and "did you mean 'backend'" in r.stderr
    wf = write(tmp_path, "w.yaml", CONFLICTING)
    r = lanes_cli("brief", wf, "-o", tmp_path / "b")
    assert r.returncode == 1 and "error[E300]" in r.stderr and not (tmp_path / "b").exists()
    bad = write(tmp_path, "t.j2", "{{ ''.__class__.__mro__ }}")
    r = lanes_cli("brief", EXAMPLE, "scribe", "--template", bad)
    assert r.returncode == 1 and "refused by the sandbox" in r.stderr and "Traceback" not in r.stderr
    r = lanes_cli("brief", EXAMPLE, "--template", tmp_path / "missing.j2")
    assert r.returncode == 2 and "no such template" in r.stderr


def test_brief_command_never_writes_outside_its_directory(tmp_path):
    plan = plan_of([node("t", agent="../escape")], [agent("../escape")])
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(to_json(plan), encoding="utf-8")
    r = lanes_cli("brief", plan_file, "-o", tmp_path / "out")
    assert r.returncode == 2 and "not a valid id" in r.stderr      # refused when the plan is read
    assert not (tmp_path / "escape.md").exists()
    r = lanes_cli("brief", plan_file)
    assert r.returncode == 2 and not (tmp_path / "escape.md").exists()


def test_an_agent_task_brief_shows_its_instructions_and_the_command_lanes_starts_it_with():
    from pathlib import Path

    from helpers import lanes_cli
    root = Path(__file__).resolve().parent.parent
    r = lanes_cli("brief", root / "examples" / "agents.yaml", "backend")
    assert r.returncode == 0, r.stderr
    assert "> Implement contracts/openapi.yaml in src/api/" in r.stdout
    assert "claude -p --output-format stream-json --verbose" in r.stdout and '< "$LANES_PROMPT"' in r.stdout
