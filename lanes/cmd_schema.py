"""`lanes schema plan|workflow`: the published JSON Schemas of the plan file and of
the YAML form of a workflow."""
from __future__ import annotations

import argparse
from importlib import resources
import json
import sys


def plan_schema_text() -> str:
    return resources.files("lanes.compiler").joinpath("plan.schema.json").read_text(encoding="utf-8")


def workflow_schema_text() -> str:
    from lanes.dsl.workflow_schema import workflow_schema

    return json.dumps(workflow_schema(), indent=2, ensure_ascii=False) + "\n"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a lanes file format")
    p.add_argument("what", choices=("plan", "workflow"),
                   help="which format (plan: the output of `lanes plan`; workflow: the YAML form, for editors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(plan_schema_text() if args.what == "plan" else workflow_schema_text())
    return 0
