"""Generates hermes_cases.jsonl: Python's json.loads and vLLM's Hermes extract_tool_calls on sample outputs.

The reference below is vLLM's Hermes2ProToolParser.extract_tool_calls (non-streaming):
regex `<tool_call>(.*?)</tool_call>|<tool_call>(.*)` with DOTALL, json.loads
per match, `name` (a str: pydantic FunctionCall) and `arguments` required, arguments re-dumped with
json.dumps(ensure_ascii=False), content = text before the first <tool_call> (None when empty), any exception →
tools_called False and the whole text as content.

Run: python3 gen_hermes_cases.py  (writes hermes_cases.jsonl and json_loads_cases.jsonl; CPython 3.11 json module)
"""
import json
import re
import sys

TOOL_CALL_REGEX = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)
START = "<tool_call>"


def extract_tool_calls(model_output):
    if START not in model_output:
        return {"tools_called": False, "calls": [], "content": model_output}
    try:
        tuples = TOOL_CALL_REGEX.findall(model_output)
        raw = [json.loads(m[0] if m[0] else m[1]) for m in tuples]
        calls = []
        for fc in raw:
            name = fc["name"]
            if not isinstance(name, str):  # pydantic FunctionCall(name: str) rejects it
                raise TypeError("name must be a string")
            calls.append({"name": name, "arguments": json.dumps(fc["arguments"], ensure_ascii=False)})
        content = model_output[: model_output.find(START)]
        return {"tools_called": True, "calls": calls, "content": content if content else None}
    except Exception:
        return {"tools_called": False, "calls": [], "content": model_output}


def call(name, args):
    return '<tool_call>\n{"name": "%s", "arguments": %s}\n</tool_call>' % (name, args)


OUTPUTS = [
    call("get_weather", '{"city": "Paris"}'),
    "Let me check.\n" + call("get_weather", '{"city": "Paris"}') + "\nDone.",
    call("a", "{}") + call("b", '{"x": [1, 2.50, -3e2, true, null]}'),
    call("a", "{}") + call("b", '{"x": 1,}'),
    '<tool_call>\n{"name": "a", "arguments": {"q": 1}}\n',
    '<tool_call>{"name": "a", "arguments": {}}<tool_call>{"name": "b", "arguments": {}}',
    '<tool_call>{"name": "a", "arguments": {}}<tool_call>{"name": "b", "arguments": {}}</tool_call>',
    "<tool_call></tool_call>",
    "<tool_call>\n{'name': 'a', 'arguments': {}}\n</tool_call>",
    '<tool_call>{"name": "a"}</tool_call>',
    '<tool_call>{"arguments": {}}</tool_call>',
    '<tool_call>{"name": 3, "arguments": {}}</tool_call>',
    '<tool_call>[{"name": "a", "arguments": {}}]</tool_call>',
    '<tool_call>"a"</tool_call>',
    '<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>',
    '<tool_call>{"name": "a", "arguments": null}</tool_call>',
    '<tool_call>{"name": "a", "arguments": [1, "two"]}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"x": NaN, "y": -Infinity}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"x": 1, "x": 2}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"city": "Z\\u00fcrich", "e": "\\ud83d\\ude00"}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"s": "tab\\there \\"q\\" \\\\ \\/ \\b\\f"}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"s": "raw\ttab"}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {}}</tool_call>',
    '<tool_call>  \n\t{"name": "a", "arguments": {"big": 123456789012345678901234567890}}  \n</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"n": 01}}</tool_call>',
    '<tool_call>{"name": "a", "arguments": {}} // done</tool_call>',
    '<tool_call>{"name": "a", "arguments": {"k": True}}</tool_call>',
    "hello</tool_call> world",
    "no calls here",
    "```python\nget_weather(city='Paris')\n```",
    "Sure: " + call("get_weather", '{"city": "Köln", "note": "naïve — ok"}') + "\n" + call("get_time", '{"tz": "Europe/Berlin"}'),
]


JSON_INPUTS = [
    "{}", "[]", "0", "-0", "-0.0", "1.5e10", "1E+2", "2.50", "-3e2", "1e16", "1e15", "123456789.123456789", "0.1", "1e-5",
    "0.0001", "1e400", "-1e400", "5e-324", "1.7976931348623157e308", "123456789012345678901234567890", "\"x\"", "null",
    "true", " \t\r\n{\"a\" : [1 , 2]}\n ", "NaN", "Infinity", "-Infinity", "{\"a\": 1, \"a\": 2}",
    "\"\\u00e9\\n\\t\\/\\b\\f\"", "\"\u2028\"", "{\"a\": 1,}", "[1, 2,]", "{'a': 1}", "{a: 1}", "True", "None", "nan",
    "+1", "01", ".5", "1.", "1e", "{\"a\": 1} x", "{} {}", "\"a\nb\"", "\"tab\there\"", "// c\n{}", "\ufeff{}",
    "{\"a\" 1}", "[1 2]", "\"\\x41\"", "\"\\u12\"", "\"unterminated", "{\"a\": 1", "\u00a0{}", "-", "-NaN", "",
    " ", "[1e5, 1E-7, 12.0e2, -0.5, 100.000]", "{\"nested\": {\"b\": [true, false, null, \"\u00fc\"]}}",
]


def main():
    with open("hermes_cases.jsonl", "w", encoding="utf-8", newline="\n") as out:
        for text in OUTPUTS:
            r = extract_tool_calls(text)
            out.write(json.dumps({"text": text, **r}, ensure_ascii=False) + "\n")
    with open("json_loads_cases.jsonl", "w", encoding="utf-8", newline="\n") as out:
        for s in JSON_INPUTS:
            try:
                dumped = json.dumps(json.loads(s), ensure_ascii=False)
                ok = True
            except Exception:
                dumped, ok = None, False
            out.write(json.dumps({"input": s, "ok": ok, "dumps": dumped}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
