"""lanes init: a commented starter in either form that checks clean (no error, no warning,
no command bash cannot parse), the same workflow in both forms, never over an existing file."""
from __future__ import annotations

import json
import os

from helpers import lanes_cli
import pytest

import lanes.api as api
from lanes.compiler.bash_check import check_commands


@pytest.mark.parametrize(("args", "name", "form"), [
    ((), "lanes.yaml", "yaml"),
    (("--form", "lanes"), "workflow.lanes", "lanes"),
    (("-o", "flows/release.lanes"), "flows/release.lanes", "lanes"),
    (("--form", "yaml", "-o", "ci.lanes.yml"), "ci.lanes.yml", "yaml"),
])
def test_the_starter_checks_clean(tmp_path, args, name, form):
    (tmp_path / "flows").mkdir()
    done = lanes_cli("init", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / name
    assert f"wrote {name} ({form} form)" in done.stdout
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#") and f"lanes check {name}" in text
    check = lanes_cli("check", name, "--format", "json", cwd=tmp_path)
    assert check.returncode == 0, check.stdout
    assert json.loads(check.stdout)["diagnostics"] == []
    loaded = api.load(path)
    assert loaded.workflow is not None
    assert check_commands(loaded.workflow, loaded.source) == []            # E104, whether hooked or not


def test_both_forms_are_one_workflow(tmp_path):
    assert lanes_cli("init", cwd=tmp_path).returncode == 0
    assert lanes_cli("init", "--form", "lanes", cwd=tmp_path).returncode == 0
    yaml_form = api.load(tmp_path / "lanes.yaml").workflow
    lanes_form = api.load(tmp_path / "workflow.lanes").workflow
    assert yaml_form is not None and yaml_form == lanes_form
    assert all((yaml_form.domains, yaml_form.agents, yaml_form.tasks, yaml_form.gates))
    assert yaml_form.gates and any(t.requires for t in yaml_form.tasks) and any(t.needs for t in yaml_form.tasks)


def test_an_existing_file_is_never_replaced(tmp_path):
    target = tmp_path / "lanes.yaml"
    target.write_text("workflow: mine\n")
    done = lanes_cli("init", cwd=tmp_path)
    assert done.returncode == 2 and "already exists" in done.stderr and "Traceback" not in done.stderr
    assert target.read_text() == "workflow: mine\n"
    os.symlink(tmp_path / "elsewhere", tmp_path / "link.yaml")              # a dangling link is not followed
    done = lanes_cli("init", "-o", "link.yaml", cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "elsewhere").exists()


def test_an_unwritable_place_is_exit_2(tmp_path):
    done = lanes_cli("init", "-o", "no/such/dir/lanes.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "cannot create no/such/dir/lanes.yaml" in done.stderr
    assert "Traceback" not in done.stderr
