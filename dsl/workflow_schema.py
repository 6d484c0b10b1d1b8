"""The JSON Schema (2020-12) of the YAML form, from the declaration of fields.py.

`lanes schema workflow` prints it, for yaml-language-server and SchemaStore: every
field with its description, enums and patterns, unknown fields refused, and the
rules between fields (exactly one of `agent` and `requires`, of `run` and `prompt`,
...). A schema sees values as a YAML reader types them, where the builder reads the
text: so a count is an integer or a string of digits, a duration a number of seconds
or a string such as `1h30m`, a text a string, number or boolean. The builder stays
the authority (it also checks references, cycles and domains); the schema refuses
what the builder refuses with E101, E102 or E103 wherever a schema can tell.
"""
from __future__ import annotations

from . import fields as declared

Schema = dict[str, object]

SCHEMA_ID = "https://lanes.dev/schema/workflow-2.json"
_MAX_COUNT = 10**18 - 1                # 18 digits, as the builder reads whole numbers
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = (rf"^\s*(?:{_NUMBER}|(?=\d)(?:{_NUMBER}h)?(?:{_NUMBER}m(?!s))?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?)\s*$")


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


_DEFS: dict[str, Schema] = {
    "id": {"type": "string", "pattern": f"^{declared.ID_PATTERN}$",
           "description": "letters, digits, '_' and '-', not starting with a digit or '-'"},
    "text": {"type": ["string", "number", "boolean"]},
    "ids": {"anyOf": [_ref("id"), {"type": "array", "items": _ref("id")}, {"type": "null"}],
            "description": "an id or a list of ids"},
    "patterns": {"anyOf": [_ref("text"), {"type": "array", "items": _ref("text")}, {"type": "null"}],
                 "description": "a resource pattern or a list of them: a path glob relative to the workdir "
                                "(src/api/**) or scheme:glob (port:8000)"},
    "duration": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION}],
                 "description": "seconds, or 90s, 5m, 1h30m, 250ms"},
    "count": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": _MAX_COUNT},
                        {"type": "string", "pattern": r"^\s*\d{1,18}\s*$"}]},
    "count1": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": _MAX_COUNT},
                         {"type": "string", "pattern": r"^\s*(?=\d{1,18}\s*$)0*[1-9]\d*\s*$"}]},
    "factor": {"anyOf": [{"type": "number", "minimum": 1},
                         {"type": "string", "pattern": r"^\s*0*[1-9]\d*(?:\.\d+)?\s*$"}]},
    "amount": {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                         {"type": "string", "pattern": rf"^\s*(?!0*(?:\.0+)?\s*$){_NUMBER}\s*$"}]},
    "flag": {"anyOf": [{"type": "boolean"}, {"enum": ["true", "True", "TRUE", "false", "False", "FALSE"]}]},
    # a task's needs: ids, where a for_each template may write {KEY} for an item
    "needs": {"anyOf": [{"$ref": "#/$defs/template_id"}, {"type": "array", "items": {"$ref": "#/$defs/template_id"}},
                        {"type": "null"}],
              "description": "an id or a list of ids"},
    "template_id": {"type": "string", "pattern": r"^(?:[A-Za-z_]|\{[A-Za-z_][A-Za-z0-9_-]*\})"
                                                 r"(?:[A-Za-z0-9_-]|\{[A-Za-z_][A-Za-z0-9_-]*\})*$"},
    "item": {"anyOf": [{"type": "string", "pattern": f"^{declared.ITEM_PATTERN}$"},
                       {"type": "integer", "minimum": 0}],
             "description": "an id fragment: letters, digits, '_' and '-'"},
    "for_each": {"type": "object", "minProperties": 1, "propertyNames": _ref("id"),
                 "additionalProperties": {"anyOf": [_ref("item"),
                                                    {"type": "array", "items": _ref("item"), "minItems": 1}]},
                 "description": "KEY: [items]; several keys make one task per combination"},
    "env": {"type": ["object", "null"], "propertyNames": {"pattern": f"^{declared.ENV_NAME_PATTERN}$"},
            "additionalProperties": _ref("text")},
}


def _field(f: declared.Field, required: bool) -> Schema:
    if f.kind == "choice":
        out: Schema = {"enum": list(f.choices)}
    elif f.kind == "ids" and required:             # a required list is a non-empty one
        out = {"anyOf": [_ref("id"), {"type": "array", "items": _ref("id"), "minItems": 1}]}
    else:
        out = _ref(_KIND_DEF.get(f.kind, f.kind))
    return {**out, "description": f.description}


_KIND_DEF = {"backoff": "backoff_field", "domain": "domain_field", "runner": "runner_field",
             "defaults": "defaults", "domains": "domains", "agents": "agents", "tasks": "tasks", "gates": "gates",
             "limits": "limits"}


def _object(group: declared.Group, nullable: bool = False) -> Schema:
    out: Schema = {
        "type": ["object", "null"] if nullable else "object",
        "description": f"the fields of {group.title}",
        "properties": {f.name: _field(f, f.name in group.required) for f in group.fields},
        "additionalProperties": False,
    }
    if group.required:
        out["required"] = list(group.required)
    rules: list[Schema] = [{"oneOf": [{"required": [a]}, {"required": [b]}]} for a, b in group.exactly_one]
    rules += [{"not": {"required": [a], "anyOf": [{"required": [x]} for x in others]}}
              for a, others in group.apart]
    if rules:
        out["allOf"] = rules
    return out


def _collection(item: str, what: str) -> Schema:
    return {"type": ["object", "null"], "description": f"{what} by id",
            "propertyNames": _ref("id"), "additionalProperties": _ref(item)}


def workflow_schema() -> Schema:
    defs: dict[str, Schema] = {
        **_DEFS,
        "backoff": _object(declared.BACKOFF, nullable=True),
        "backoff_field": {"anyOf": [_ref("duration"), _ref("backoff")],
                          "description": "the initial delay, or {initial, factor, max}"},
        "domain": _object(declared.DOMAIN, nullable=True),
        "domain_field": {"anyOf": [_ref("id"), {**_object(declared.DOMAIN), "description": "an inline domain"}]},
        "runner": _object(declared.RUNNER),
        "runner_field": {"anyOf": [{"enum": list(declared.RUNNERS)}, _ref("runner")]},
        "limits": {"type": ["object", "null"], "propertyNames": {"enum": list(declared.PRESETS)},
                   "additionalProperties": _ref("count1")},
        "defaults": _object(declared.DEFAULTS, nullable=True),
        "agent": _object(declared.AGENT, nullable=True),
        "task": _object(declared.TASK),
        "gate": _object(declared.GATE),
        "domains": _collection("domain", "named domains"),
        "agents": _collection("agent", "agents"),
        "tasks": _collection("task", "tasks"),
        "gates": _collection("gate", "gates"),
    }
    top = _object(declared.TOP)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "lanes workflow (YAML form)",
        "description": "A lanes workflow: domains, agents, tasks and gates (SPEC section 2). "
                       "`lanes check` runs every check; this schema is for editors.",
        **{k: v for k, v in top.items() if k != "description"},
        "$defs": defs,
    }
