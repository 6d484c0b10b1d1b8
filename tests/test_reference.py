"""docs/reference.md: rendered from dsl/fields.py, every code explained, and every
example of a field written the same way in both forms."""
from __future__ import annotations

from pathlib import Path

from helpers import strip
import pytest

from lanes.dsl import fields as declared, reference
from lanes.dsl.build import build_workflow
from lanes.dsl.diagnostics import CODES
from lanes.dsl.grammar_front import parse_lanes
from lanes.dsl.yaml_front import parse_yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_page_is_the_rendering_of_the_declaration():
    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert page == reference.render(), "regenerate: python3 -m lanes.dsl.reference > docs/reference.md"


def test_every_code_has_a_meaning_and_every_meaning_a_code():
    assert set(reference.MEANINGS) == set(CODES)
    page = reference.render()
    for code, severity in CODES.items():
        assert f"| {code} | {severity} |" in page


def test_every_field_of_every_group_is_on_the_page():
    page = reference.render()
    for group in reference.GROUPS:
        section = page.split(f"### {group.title[0].upper()}{group.title[1:]}\n", 1)[1].split("\n### ", 1)[0]
        for f in group.fields:
            assert f"| `{f.name}` |" in section, (group.title, f.name)
            assert f.description.replace("|", "\\|") in section


def test_the_groups_are_all_the_declared_ones():
    groups = {v.title for v in vars(declared).values() if isinstance(v, declared.Group)}
    assert groups == {g.title for g in reference.GROUPS}


# where a field of each group sits in a small workflow, in each form
_WRAP = {
    declared.TOP.title: ("workflow: w\n{y}\n", "workflow w\n{l}\n"),
    declared.DEFAULTS.title: ("workflow: w\ndefaults: {{{y}}}\n", "workflow w\ndefaults {{ {l} }}\n"),
    declared.BACKOFF.title: ("workflow: w\ndefaults: {{backoff: {{{y}}}}}\n",
                             "workflow w\ndefaults {{ backoff {{ {l} }} }}\n"),
    declared.DOMAIN.title: ("workflow: w\ndomains: {{d: {{{y}}}}}\n", "workflow w\ndomain d {{ {l} }}\n"),
    declared.AGENT.title: ("workflow: w\nagents: {{a: {{{y}}}}}\n", "workflow w\nagent a {{ {l} }}\n"),
    declared.RUNNER.title: ("workflow: w\nagents: {{a: {{runner: {{{y}}}}}}}\n",
                            "workflow w\nagent a {{ runner {{ {l} }} }}\n"),
    declared.TASK.title: ("workflow: w\ntasks: {{t: {{{y}}}}}\n", "workflow w\ntask t {{ {l} }}\n"),
    declared.GATE.title: ("workflow: w\ngates: {{g: {{{y}}}}}\n", "workflow w\ngate g {{ {l} }}\n"),
}
_CASES = [(g, f) for g in reference.GROUPS for f in g.fields]


@pytest.mark.parametrize("group,field", _CASES, ids=[f"{g.title}-{f.name}" for g, f in _CASES])
def test_each_example_means_the_same_in_both_forms_and_is_accepted(group, field):
    s = reference.spelling(group, field)
    y_wrap, l_wrap = _WRAP[group.title]
    if group is declared.TOP and field.name == "workflow":
        y_text, l_text = s.yaml + "\n", s.lanes + "\n"
    else:
        y_text, l_text = y_wrap.format(y=s.yaml), l_wrap.format(l=s.lanes)
    y_raw, y_diags = parse_yaml(y_text, "w.yaml")
    l_raw, l_diags = parse_lanes(l_text, "w.lanes")
    assert not y_diags and not l_diags, (y_text, l_text, y_diags, l_diags)
    assert strip(y_raw) == strip(l_raw)
    _, built = build_workflow(y_raw, "w.yaml")
    # the example is a good value of its field: no unknown field, no bad value
    assert not [d for d in built if d.code in ("E100", "E101", "E102")], (y_text, built)
