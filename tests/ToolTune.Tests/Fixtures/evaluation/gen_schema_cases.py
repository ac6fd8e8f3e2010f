"""Generates schema_cases.jsonl: Python jsonschema (Draft 2020-12) on tool-call arguments.

Each case is a tool's `parameters` schema, an arguments object and whether the arguments conform. As in
ToolTune's ArgumentSchemas, a schema that says neither `additionalProperties` nor `patternProperties` is checked as
closed (an undeclared argument is a made-up parameter). Schemas: the 13 tools of the demo data (real generated
records) and hand-written ones with nested objects, arrays, anyOf, numeric bounds and an open object. Arguments:
each tool's calls from the demo data, then seeded mutations (a required key dropped, an undeclared key added, a value
of another JSON type, an enum value misspelt, 3.0 for an integer).

Run: python3 gen_schema_cases.py  (Debian python3-jsonschema 4.10; reads ../../../../data/demo/hermes_tools.json)
"""
import copy
import json
import os
import random
import re

from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "..", "data", "demo", "hermes_tools.json")
CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


def closed(schema):
    s = copy.deepcopy(schema)
    if "additionalProperties" not in s and "patternProperties" not in s:
        s["additionalProperties"] = False
    return s


def valid(schema, args):
    return Draft202012Validator(closed(schema)).is_valid(args)


def demo_cases():
    tools, calls = {}, {}
    for rec in json.load(open(DATA)):
        for t in json.loads(rec["tools"]):
            tools[t["function"]["name"]] = t["function"]["parameters"]
        for turn in rec["conversations"]:
            if turn["from"] != "gpt":
                continue
            for m in CALL.findall(turn["value"]):
                try:
                    c = json.loads(m)
                except ValueError:
                    continue  # the demo's Python-dict calls
                if isinstance(c.get("arguments"), dict):
                    calls.setdefault(c["name"], []).append(c["arguments"])
    return tools, calls


HAND = {
    "nested": {"type": "object", "properties": {
        "user": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
                 "required": ["name"]},
        "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["user"]},
    "any_of": {"type": "object", "properties": {"id": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[a-z]+$"}]}},
               "required": ["id"]},
    "open": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"], "additionalProperties": True},
    "bounded": {"type": "object", "properties": {"n": {"type": "number", "exclusiveMaximum": 10}, "unit": {"enum": ["a", "b", None]}}},
    "no_properties": {"type": "object"},
}
HAND_ARGS = {
    "nested": [{"user": {"name": "Ana"}}, {"user": {"name": "Ana", "age": 3}, "tags": ["x"]}, {"user": {"age": 3}},
               {"user": {"name": "Ana", "age": -1}}, {"user": {"name": "Ana"}, "tags": ["x", 2]}, {"user": "Ana"},
               {"user": {"name": "Ana", "nick": "A"}}],
    "any_of": [{"id": 4}, {"id": "abc"}, {"id": "ABC"}, {"id": 4.5}, {"id": None}],
    "open": [{"q": "x"}, {"q": "x", "extra": 1}, {"extra": 1}],
    "bounded": [{}, {"n": 9.5}, {"n": 10}, {"unit": None}, {"unit": "c"}, {"n": True}],
    "no_properties": [{}, {"a": 1}],
}
OTHER_TYPES = ["text", 7, 2.5, True, None, [1], {"k": "v"}]


def mutate(rng, schema, args):
    props = schema.get("properties", {})
    out = []
    req = schema.get("required", [])
    if req:
        a = copy.deepcopy(args)
        a.pop(rng.choice(req), None)
        out.append(a)
    a = copy.deepcopy(args)
    a[rng.choice(["target_language", "note", "verbose"])] = "x"
    out.append(a)
    if args:
        k = rng.choice(sorted(args))
        for v in rng.sample(OTHER_TYPES, 3):
            a = copy.deepcopy(args)
            a[k] = v
            out.append(a)
    for k, p in props.items():
        if "enum" in p:
            a = copy.deepcopy(args)
            a[k] = str(p["enum"][0]).upper() + "x"
            out.append(a)
        if p.get("type") == "integer" and k in args:
            a = copy.deepcopy(args)
            a[k] = float(args[k])
            out.append(a)
    return out


def main():
    rng = random.Random(20261206)
    tools, calls = demo_cases()
    cases = []
    for name in sorted(tools):
        schema = tools[name]
        for args in rng.sample(calls.get(name, []), min(4, len(calls.get(name, [])))):
            cases.append((name, schema, args))
            cases.extend((name, schema, m) for m in mutate(rng, schema, args))
    for name, schema in HAND.items():
        cases.extend((name, schema, a) for a in HAND_ARGS[name])
    with open(os.path.join(HERE, "schema_cases.jsonl"), "w") as f:
        for name, schema, args in cases:
            f.write(json.dumps({"tool": name, "parameters": schema, "arguments": args, "valid": valid(schema, args)},
                               ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases, {sum(valid(s, a) for _, s, a in cases)} valid")


if __name__ == "__main__":
    main()
