"""`lanes fmt` keeps every comment (SPEC sections 3 and 11): where it is attached, in both
forms and across conversion; `#` inside strings is text; `-i` and `--check`."""
from __future__ import annotations

import os
from pathlib import Path
import stat
import textwrap

from helpers import lanes_cli, write
import pytest

from lanes.dsl.comments import lanes_comments, yaml_comments
from lanes.dsl.fmt import Refusal, reformat
from lanes.dsl.loader import form_of, parse_source
from lanes.dsl.source import Source


def fmt(text: str, name: str, to: str | None = None) -> str:
    text = textwrap.dedent(text).lstrip("\n")
    wf, diags = parse_source(Source(name, text.encode("utf-8"), text))
    assert wf is not None and not diags, diags
    own = form_of(name, text)
    out = reformat(text, name, wf, own, to or own)
    assert not isinstance(out, Refusal), out
    return out


def converted(text: str, name: str) -> tuple[str, str]:
    """(canonical in the file's form, converted to the other), checking both ways back."""
    own = form_of(name, text)
    other = "lanes" if own == "yaml" else "yaml"
    same, there = fmt(text, name), fmt(text, name, other)
    assert fmt(there, f"x.{other}", own) == same          # a round trip changes nothing
    assert fmt(same, f"x.{own}") == same                   # idempotent
    assert fmt(there, f"x.{other}") == there
    return same, there


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# -- finding comments -----------------------------------------------------------------------------

def test_yaml_hash_in_quoted_and_block_scalars_is_text():
    text = dedent('''
        a: "x # no"   # one
        b: 'y # no'
        c: |  # two
          # no
          z # no
        # three
        d: [p, # four
            q]
        e: plain#no
        ''')
    found = yaml_comments(text)
    assert [(c.text, c.line, c.column, c.own_line) for c in found] == [
        ("# one", 1, 15, False), ("# two", 3, 7, False), ("# three", 6, 1, True), ("# four", 7, 8, False)]


def test_lanes_hash_in_strings_is_text():
    text = dedent('''
        # one
        workflow w "a # no"  # two
        task t by a {  # three
          run """
        # no
        """; estimate 2m  # four
          needs x,  # five
            y
        }
        ''')
    assert [(c.text, c.line, c.own_line) for c in lanes_comments(text)] == [
        ("# one", 1, True), ("# two", 2, False), ("# three", 3, False), ("# four", 6, False), ("# five", 7, False)]


# -- where comments go ----------------------------------------------------------------------------

YAML = '''
# header
workflow: w  # the id
description: "d # not a comment"
defaults:  # defaults
  timeout: 10m  # ten minutes
  # before retries
  retries: 1
  # end of defaults

# the domains
domains:
  api: {writes: ["src/**"]}  # api
  # before ui
  ui:
    writes: ["ui/**"]  # ui writes
    # end of ui

agents:
  backend: {domain: api, skills: [python]}
  front:
    domain: ui  # front's domain
    skills: [react, ts]  # react

tasks:
  a:  # task a
    agent: backend  # by backend
    run: |  # the script
      echo "# not a comment"
      # nor this
    estimate: 2m
  b: {agent: front, needs: [a], run: "x # no"}  # b

# the gates
gates:
  g: {needs: [a, b], run: "pytest"}
# end 1
# end 2
'''

LANES = '''
# header
workflow w  # the id
description "d # not a comment"
defaults {  # defaults
  timeout 10m  # ten minutes
  # before retries
  retries 1
  # end of defaults
}

# the domains
domain api { writes "src/**" }  # api
# before ui
domain ui {
  writes "ui/**"  # ui writes
  # end of ui
}

agent backend { domain api; skills python }
agent front {
  domain ui  # front's domain
  skills react, ts  # react
}

task a {  # task a
  agent backend  # by backend
  run """
echo "# not a comment"
# nor this
"""  # the script
  estimate 2m
}
task b by front needs a { run "x # no" }  # b

# the gates
gate g needs a, b { run "pytest" }
# end 1
# end 2
'''


def test_canonical_yaml_with_comments_converts_to_canonical_lanes_and_back():
    same, there = converted(dedent(YAML), "w.yaml")
    assert same == dedent(YAML)
    assert there == dedent(LANES)
    same, there = converted(dedent(LANES), "w.lanes")
    assert (same, there) == (dedent(LANES), dedent(YAML))


def test_comments_follow_their_node_when_the_nodes_move():
    out = fmt('''
        tasks:
          # about b
          b: {agent: x, run: "b"}  # b's
        agents:
          x: {}  # the agent
        workflow: w
        # about a gate
        gates: {g: {needs: [b], run: "t"}}
        ''', "w.yaml")
    assert out == dedent('''
        workflow: w

        agents:
          x: {}  # the agent

        # about b
        tasks:
          b: {agent: x, run: "b"}  # b's

        # about a gate
        gates:
          g: {needs: [b], run: "t"}
        ''')


def test_header_comments_belong_to_the_workflow():
    out = fmt('''
        # (a) what this is

        # more
        task t by a { run "x" }
        workflow w
        agent a {}
        ''', "w.lanes")
    assert out.startswith("# (a) what this is\n# more\nworkflow w\n")


def test_trailing_and_leading_in_lists_and_blocks():
    out = fmt('''
        workflow: w
        agents:
          a:
            skills: [x,   # first skill
                     z]   # second
            env:
              # before A
              A: "1"
              B: "2"  # after B
        tasks: {t: {agent: a, run: "x"}}
        ''', "w.yaml")
    # a comment inside a field's value belongs to the field
    assert "    # second\n    skills: [x, z]  # first skill\n" in out
    assert '    # before A\n    env: {A: "1", B: "2"}  # after B\n' in out


def test_a_commented_head_field_moves_into_the_block():
    out = fmt('''
        workflow: w
        agents: {a: {}}
        tasks:
          t:
            agent: a
            needs: [u]  # why it waits
            run: "x"
          u: {agent: a, run: "y"}
        gates:
          g:
            # the gate waits for both
            needs: [t, u]
            approve: "ok?"
        ''', "w.yaml", "lanes")
    assert 'task t {\n  agent a\n  needs u  # why it waits\n  run "x"\n}\n' in out
    assert 'task u by a { run "y" }\n' in out
    assert 'gate g {\n  # the gate waits for both\n  needs t, u\n  approve "ok?"\n}\n' in out


def test_the_description_takes_a_line_of_its_own_when_a_comment_needs_it():
    yaml_text = "workflow: w  # id\ndescription: \"d\"\n"
    same, there = converted(yaml_text, "w.yaml")
    assert there == 'workflow w  # id\ndescription "d"\n'
    assert fmt('workflow w "d"  # both\n', "w.lanes") == 'workflow w "d"  # both\n'


def test_a_comment_of_a_field_left_out_goes_to_the_next_one():
    out = fmt('''
        workflow w
        agent a {
          env {}  # nothing yet
          skills x
        }
        agent b {
          skills y
          env {}  # the last
        }
        task t by a { run "x" }
        ''', "w.lanes")
    assert "agent a {\n  # nothing yet\n  skills x\n}\n" in out
    assert "agent b {\n  skills y\n  # the last\n}\n" in out


def test_an_empty_block_keeps_its_comment_before_it():
    out = fmt('workflow w\ndomain d {\n  # to do\n}\nagent a { domain d }\ntask t by a { run "x" }\n', "w.lanes")
    assert "# to do\ndomain d\n" in out
    converted(out, "w.lanes")


def test_same_text_twice_and_odd_texts_are_kept():
    text = dedent('''
        workflow w  #
        agent a { skills x }  #
        task t by a {  # "quoted" { braces } ; semicolons \\
          run "x"  #   trailing blanks   
        }
        ''')
    out = fmt(text, "w.lanes")
    assert sorted(c.text for c in lanes_comments(out)) == sorted(
        ["#", "#", '# "quoted" { braces } ; semicolons \\', "#   trailing blanks"])
    converted(out, "w.lanes")


def test_a_comment_yaml_cannot_hold_is_refused():
    text = 'workflow w  # a bell \u0007\ntask t by a { run "x" }\nagent a {}\n'
    wf, _ = parse_source(Source("w.lanes", text.encode(), text))
    assert wf is not None
    refused = reformat(text, "w.lanes", wf, "lanes", "yaml")
    assert isinstance(refused, Refusal) and (refused.line, refused.column) == (1, 13)
    assert "U+0007" in refused.why


def test_comment_after_a_block_and_crlf():
    text = 'workflow w\r\nagent a {\r\n  skills x\r\n}  # after the block\r\ntask t by a { run "x" }\r\n'
    out = fmt(text, "w.lanes")
    assert "agent a { skills x }  # after the block\n" in out and "\r" not in out
    converted(out, "w.lanes")


# -- the command ----------------------------------------------------------------------------------

MESSY = '# header\nworkflow: w   # id\ntasks:\n  t: {agent: a, run: "x # no"}  # t\nagents:\n  a: {}\n'


def test_in_place_rewrites_atomically_and_keeps_the_mode(tmp_path):
    f = write(tmp_path, "w.yaml", MESSY)
    os.chmod(f, 0o640)
    r = lanes_cli("fmt", "-i", f)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert f.read_text() == fmt(MESSY, "w.yaml")
    assert "# id" in f.read_text() and "# t" in f.read_text()
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.yaml"]        # no temporary left
    inode, mtime = f.stat().st_ino, f.stat().st_mtime_ns
    r = lanes_cli("fmt", "-i", f)                                            # canonical: not rewritten
    assert r.returncode == 0 and (f.stat().st_ino, f.stat().st_mtime_ns) == (inode, mtime)
    assert lanes_cli("fmt", "--check", f).returncode == 0


def test_in_place_never_writes_a_file_that_does_not_parse(tmp_path):
    bad = write(tmp_path, "bad.lanes", "# keep me\nworkflow w\nagent a {\n")
    good = write(tmp_path, "good.lanes", "workflow w   # id\nagent a {}\ntask t by a { run \"x\" }\n")
    before = bad.read_bytes()
    r = lanes_cli("fmt", "-i", bad, good)
    assert r.returncode == 2 and "bad.lanes:4:1: error[E100]" in r.stderr
    assert bad.read_bytes() == before
    assert good.read_text() == 'workflow w  # id\n\nagent a\n\ntask t by a { run "x" }\n'   # each file on its own


def test_in_place_through_a_link_rewrites_its_target(tmp_path):
    real = write(tmp_path, "real.lanes", "workflow w  # id\nagent a {}\ntask t by a {run \"x\"}\n")
    link = tmp_path / "link.lanes"
    link.symlink_to(real.name)
    assert lanes_cli("fmt", "-i", link).returncode == 0
    assert link.is_symlink() and real.read_text().endswith('task t by a { run "x" }\n')


def test_in_place_usage_errors(tmp_path):
    f = write(tmp_path, "w.lanes", "workflow w\nagent a {}\ntask t by a {run \"x\"}\n")
    before = f.read_bytes()
    for args in (("-i", "-o", tmp_path / "o.lanes"), ("-i", "--check"), ("-i", "--diff"), ("-i", "--to", "yaml")):
        r = lanes_cli("fmt", *args, f)
        assert r.returncode == 2 and r.stderr.startswith("lanes: "), (args, r.stderr)
        assert f.read_bytes() == before
    assert not (tmp_path / "o.lanes").exists()
    assert lanes_cli("fmt", "-i", "--to", "lanes", f).returncode == 0         # its own form: fine
    fifo = tmp_path / "pipe.lanes"
    os.mkfifo(fifo)
    r = lanes_cli("fmt", "-i", fifo, timeout=20)
    assert r.returncode == 2 and "FIFO" in r.stderr


def test_check_with_comments(tmp_path):
    canonical = write(tmp_path, "c.yaml", fmt(MESSY, "w.yaml"))
    messy = write(tmp_path, "m.yaml", MESSY)
    r = lanes_cli("fmt", "--check", canonical)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = lanes_cli("fmt", "--check", canonical, messy)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")
    r = lanes_cli("fmt", "--diff", messy)
    assert r.returncode == 1 and "-workflow: w   # id\n+workflow: w  # id\n" in r.stdout


def test_converting_keeps_comments_through_the_cli(tmp_path):
    src = write(tmp_path, "w.yaml", MESSY)
    out = tmp_path / "w.lanes"
    assert lanes_cli("fmt", src, "--to", "lanes", "-o", out).returncode == 0
    assert [c.text for c in lanes_comments(out.read_text())] == ["# header", "# id", "# t"]
    back = lanes_cli("fmt", out, "--to", "yaml")
    assert back.returncode == 0 and back.stdout == fmt(MESSY, "w.yaml")


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parent.parent.glob("examples/*.*")),
                         ids=lambda p: p.name)
def test_examples_keep_their_comments(path):
    text = path.read_text(encoding="utf-8")
    same, there = converted(text, path.name)
    given = [c.text for c in (lanes_comments if path.suffix == ".lanes" else yaml_comments)(text)]
    assert given and sorted(c.text for c in yaml_comments(same if path.suffix == ".yaml" else there)) \
        == sorted(given)


def test_byte_order_mark_and_crlf_yaml():
    text = ('\ufeff# header\nworkflow: w  # id\r\nagents:\r\n  a: {}  # a\r\n# before t\r\ntasks:\r\n'
            '  t: {agent: a,  # inside\r\n      run: "x"}\r\n')
    same, there = converted(text, "w.yaml")
    assert same == dedent('''
        # header
        workflow: w  # id

        agents:
          a: {}  # a

        # before t
        tasks:
          t: {agent: a, run: "x"}  # inside
        ''')
    assert there == '# header\nworkflow w  # id\n\nagent a  # a\n\n# before t\ntask t by a { run "x" }  # inside\n'


def test_comment_between_a_key_and_its_value_and_merge_keys():
    out = fmt('''
        workflow: w
        workdir:   # the dir
          "sub"
        agents:
          base: &base {skills: [x]}  # base
          a:
            <<: *base   # merged
            instances: 2  # two
        tasks:
          t: {agent: a, run: "x"}
        ''', "w.yaml")
    assert out.startswith('workflow: w\nworkdir: "sub"  # the dir\n')
    assert "  a:\n    skills: [x]\n    # merged\n    instances: 2  # two\n" in out
    converted(out, "w.yaml")


def test_a_large_file_keeps_every_comment_in_place():
    lines = ["workflow: big", "agents: {a: {}}", "tasks:"]
    for i in range(3000):
        lines += [f"  # task {i}", f"  t{i}: {{agent: a, run: \"echo {i}\"}}  # after {i}"]
    text = "\n".join(lines) + "\n"
    out = fmt(text, "big.yaml")
    assert out.count("# task ") == 3000 and '  # task 1500\n  t1500: {agent: a, run: "echo 1500"}  # after 1500\n' in out
    assert out.endswith('  t2999: {agent: a, run: "echo 2999"}  # after 2999\n')
