"""`lanes schema plan`: the published JSON Schema of the plan file."""
from __future__ import annotations

import argparse
from importlib import resources
import sys


def plan_schema_text() -> str:
    return resources.files("lanes.compiler").joinpath("plan.schema.json").read_text(encoding="utf-8")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a lanes file format")
    p.add_argument("what", choices=("plan",), help="which format (plan: the output of `lanes plan`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(plan_schema_text())
    return 0
