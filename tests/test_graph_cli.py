"""`lanes graph` as a command: the format from -o's extension, Graphviz failures and
time-outs as exit 2 with the message and no file, the bound on --full pictures."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ET

from helpers import lanes_cli
import pytest
from test_graph import EXAMPLE, layered_plan

from lanes.cmd_graph import FULL_MAX_EDGES, FULL_MAX_NODES, RenderError, render_graphviz, too_big_to_lay_out
from lanes.compiler.planfile import to_json

CHECKS = {
    ".dot": lambda b: b.startswith(b"digraph lanes {"),
    ".gv": lambda b: b.startswith(b"digraph lanes {"),
    ".svg": lambda b: ET.fromstring(b).tag.endswith("svg"),
    ".png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    ".mmd": lambda b: b"\nflowchart LR\n" in b,
}


@pytest.mark.parametrize("ext", sorted(CHECKS))
def test_without_f_the_format_follows_the_extension(tmp_path, ext):
    out = tmp_path / f"g{ext.upper() if ext == '.svg' else ext}"
    r = lanes_cli("graph", EXAMPLE, "-o", out)
    assert r.returncode == 0, r.stderr
    assert CHECKS[ext](out.read_bytes())


def test_f_wins_over_the_extension_and_an_unknown_extension_asks_for_f(tmp_path):
    r = lanes_cli("graph", EXAMPLE, "-f", "mermaid", "-o", tmp_path / "g.svg")
    assert r.returncode == 0 and b"flowchart" in (tmp_path / "g.svg").read_bytes()
    r = lanes_cli("graph", EXAMPLE, "-o", tmp_path / "g.jpeg")
    assert r.returncode == 2 and "give -f" in r.stderr and ".mmd" in r.stderr
    assert not (tmp_path / "g.jpeg").exists()


def _fake_dot(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose `dot` is this shell script (and python3 is this Python)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    dot = bin_dir / "dot"
    dot.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    dot.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:/bin:/usr/bin"}


def test_a_graphviz_failure_is_exit_2_with_its_message_and_no_file(tmp_path):
    env = _fake_dot(tmp_path, "cat >/dev/null; echo 'Error: <stdin>: syntax error in line 3' >&2; exit 1\n")
    for name in ("g.svg", "g.png"):
        r = subprocess.run([sys.executable, "-m", "lanes", "graph", str(EXAMPLE), "-o", str(tmp_path / name)],
                           capture_output=True, text=True, env=env, timeout=60, check=False)
        assert r.returncode == 2
        assert "Graphviz failed (exit 1): Error: <stdin>: syntax error in line 3" in r.stderr
        assert not (tmp_path / name).exists()
    # exit 0 with nothing written is a failure too
    env = _fake_dot(tmp_path, "cat >/dev/null; exit 0\n")
    with pytest.raises(RenderError, match="no output"):
        _render_with(env, "digraph { a }")


def _render_with(env: dict[str, str], source: str, timeout: float = 60) -> bytes:
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        return render_graphviz(source, "svg", timeout=timeout)
    finally:
        os.environ["PATH"] = old


def test_a_layout_that_runs_away_is_stopped(tmp_path):
    env = _fake_dot(tmp_path, "exec sleep 30\n")
    with pytest.raises(RenderError, match="did not finish the layout in 0.5 s"):
        _render_with(env, "digraph { a }", timeout=0.5)


def test_a_full_picture_too_big_to_lay_out_is_refused_with_advice(tmp_path):
    assert too_big_to_lay_out(FULL_MAX_NODES, FULL_MAX_EDGES) is None
    why = too_big_to_lay_out(FULL_MAX_NODES + 1, 0)
    assert why is not None and "5,000 nodes, 10,000 edges" in why and "drop --full" in why
    assert too_big_to_lay_out(10, FULL_MAX_EDGES + 1) is not None
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(to_json(layered_plan(FULL_MAX_NODES + 10, width=50)), encoding="utf-8")
    r = lanes_cli("graph", plan_file, "--full", "-o", tmp_path / "g.svg")
    assert r.returncode == 2 and "too big for Graphviz" in r.stderr and not (tmp_path / "g.svg").exists()
    # the DOT of every node is still there for who asks, and the summary draws
    r = lanes_cli("graph", plan_file, "--full", "-o", tmp_path / "g.dot")
    assert r.returncode == 0 and (tmp_path / "g.dot").stat().st_size > 100_000
    r = lanes_cli("graph", plan_file, "-o", tmp_path / "g.svg")
    assert r.returncode == 0, r.stderr
    assert ET.fromstring((tmp_path / "g.svg").read_bytes()).tag.endswith("svg")
