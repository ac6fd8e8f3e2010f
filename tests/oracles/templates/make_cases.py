#!/usr/bin/python3
"""Write the render-case inputs in cases/ (run once by hand; the outputs are committed).

Builds conversation contexts (tools, assistant tool_calls, tool responses, thinking on/off, /think and
/no_think, xml_tools, generation prompt on/off, multi-turn, Unicode with astral characters, floats/ints/
bools/None inside tool schemas) and crosses them with the six real templates, a sample of the 53
templates of all_templates.json and the micro templates under micro/. Only combinations that the Python
reference renderer accepts are written (templates legitimately raise_exception on some role orders).
Then run render_fixtures.py to produce the golden fixtures.

Usage: /usr/bin/python3 tests/oracles/templates/make_cases.py [PARITY_DIR]
"""
import copy, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
from render_fixtures import load_renderer, template_source  # noqa: E402

WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the user's current weather for a \"city\".",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. 'Paris'"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3},
    }, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "web_search",
    "description": "Search the web.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "description": "Query text"},
        "threshold": {"type": "number", "default": 0.5, "minimum": 0.0, "maximum": 1e-05},
        "safe": {"type": "boolean", "default": True},
        "region": {"type": ["string", "null"], "default": None},
        "limit": {"type": "integer", "default": 10000000000},
        "tags": {"type": "array", "items": {"type": "string"}},
    }, "required": ["query"]}}}
TOOLS = [WEATHER, SEARCH]
TAGGER = {"type": "function", "function": {"name": "tag_items", "description": "Tag items.", "parameters": {
    "type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"},
                                     "weights": {"type": "object", "description": "Weights", "additionalProperties": {"type": "number"}}},
    "required": ["tags"]}}}

SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "What's the weather in Paris?"}
CALL = {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
    "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 2}}}]}
CALL2 = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    {"id": "call_2", "type": "function", "function": {"name": "web_search", "arguments": {"query": "Paris events", "threshold": 0.25, "safe": False}}}]}
TOOL_RESP = {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temperature\": 21.5, \"condition\": \"sunny\"}"}
TOOL_RESP2 = {"role": "tool", "tool_call_id": "call_2", "name": "web_search", "content": "[\"Fête de la Musique\", \"Nuit Blanche\"]"}
A_FINAL = {"role": "assistant", "content": "It is 21.5 °C and sunny in Paris."}

UNI_USER = {"role": "user", "content": "Translate: “Grüße aus Köln” 😀 — and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ 東京"}
UNI_ASSISTANT = {"role": "assistant", "content": "Greetings from Cologne 😀🎉 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ 東京"}

SCENARIOS = {
    "simple_gen": {"messages": [SYS, U1], "add_generation_prompt": True},
    "multi_turn": {"messages": [SYS, U1, {"role": "assistant", "content": "Which unit?"},
                                {"role": "user", "content": "Celsius, please."},
                                {"role": "assistant", "content": "Sure: 21 °C."}], "add_generation_prompt": False},
    "no_system_gen": {"messages": [U1], "add_generation_prompt": True},
    "tools_question": {"messages": [SYS, U1], "tools": TOOLS, "add_generation_prompt": True},
    "tool_flow": {"messages": [SYS, U1, CALL, TOOL_RESP, A_FINAL], "tools": TOOLS, "add_generation_prompt": False},
    "tool_flow_gen": {"messages": [SYS, U1, CALL, TOOL_RESP], "tools": TOOLS, "add_generation_prompt": True},
    "parallel_calls": {"messages": [U1, CALL2, TOOL_RESP, TOOL_RESP2, A_FINAL], "tools": TOOLS, "add_generation_prompt": False},
    "unicode": {"messages": [UNI_USER, UNI_ASSISTANT], "add_generation_prompt": False},
    "unicode_gen": {"messages": [SYS, UNI_USER, UNI_ASSISTANT, {"role": "user", "content": "Merci 🙏"}], "add_generation_prompt": True},
    "thinking_off": {"messages": [SYS, U1], "add_generation_prompt": True, "enable_thinking": False},
    "thinking_history": {"messages": [U1, {"role": "assistant", "content": "<think>\nThe user wants weather.\n</think>\n\nI need a tool for that."},
                                      {"role": "user", "content": "ok"}], "add_generation_prompt": True},
    "no_think_system": {"messages": [{"role": "system", "content": "Be brief. /no_think"}, U1, A_FINAL], "add_generation_prompt": False},
    "think_system": {"messages": [{"role": "system", "content": "Reason carefully. /think"}, U1], "add_generation_prompt": True},
    "xml_tools": {"messages": [SYS, U1], "xml_tools": TOOLS, "add_generation_prompt": True},
    "python_tools": {"messages": [SYS, U1], "python_tools": TOOLS, "add_generation_prompt": True},
    "tool_flow_weather_only": {"messages": [SYS, U1, CALL, TOOL_RESP, A_FINAL], "tools": [WEATHER], "add_generation_prompt": True},
    "tools_array_param": {"messages": [SYS, U1], "tools": [TAGGER], "add_generation_prompt": True},
    "content_parts": {"messages": [SYS, {"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "image"}, {"type": "text", "text": "Short, please 😀"}]},
                                   {"role": "assistant", "content": [{"type": "text", "text": "A cat 🐈."}]}], "add_generation_prompt": False},
    "long_multi_turn": {"messages": [SYS, UNI_USER, UNI_ASSISTANT, U1, CALL, TOOL_RESP, A_FINAL,
                                     {"role": "user", "content": "Thanks! And tomorrow in 𝔓𝔞𝔯𝔦𝔰?"},
                                     {"role": "assistant", "content": "<think>\nCheck forecast.\n</think>\nProbably sunny ☀️."},
                                     {"role": "user", "content": "/no_think ok"}, {"role": "assistant", "content": "👍"}],
                        "tools": [WEATHER], "add_generation_prompt": False},
    "tool_flow_thinking_off": {"messages": [SYS, U1, CALL, TOOL_RESP, A_FINAL], "tools": TOOLS, "enable_thinking": False, "add_generation_prompt": False},
}
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>"}

MAIN = [
    "shared:chat-templates/HuggingFaceTB_SmolLM3-3B.jinja",
    "shared:chat-templates/meta-llama_Llama-3.1-8B-Instruct.jinja",
    "shared:chat-templates/Qwen_Qwen2.5-7B-Instruct.jinja",
    "shared:chat-templates/Qwen_Qwen3-0.6B.jinja",
    "shared:chat-templates/NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_.jinja",
    "shared:chat-templates/mistralai_Mistral-7B-Instruct-v0.3__JSON_Schema_.jinja",
]
SAMPLE_SCENARIOS = ["simple_gen", "multi_turn", "tools_question", "tool_flow", "unicode", "thinking_history", "content_parts"]


def slug(s):
    s = s.split(":", 1)[1]
    s = s.replace("chat-templates/", "").replace(".jinja", "")
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")


def main():
    parity = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "parity"))
    r = load_renderer(parity)
    all_templates = json.load(open(os.path.join(parity, "chat-templates", "all_templates.json"), encoding="utf-8"))
    custom = json.load(open(os.path.join(parity, "chat-templates", "custom_cases.json"), encoding="utf-8"))
    out = os.path.join(HERE, "cases")
    os.makedirs(out, exist_ok=True)
    cases = {}

    def try_add(name, ref, ctx):
        try:
            r.render(template_source(ref, parity, all_templates), **copy.deepcopy(ctx))
        except Exception as e:  # noqa: BLE001
            print(f"skip {name}: {type(e).__name__}: {e}", file=sys.stderr)
            return False
        cases[name] = {"template": ref, "context": ctx}
        return True

    for ref in MAIN:
        for sc, ctx in SCENARIOS.items():
            try_add(f"{slug(ref)}__{sc}", ref, {**ctx, **SPECIAL})
    for key in sorted(all_templates):
        ref = f"shared-all:{key}"
        n = 0
        for sc in SAMPLE_SCENARIOS:
            if n >= 4:
                break
            if try_add(f"all_{slug(ref)}__{sc}", ref, {**SCENARIOS[sc], **SPECIAL}):
                n += 1
    # Hammer2.1: the shared target came from the JS engine; this is the Python render of the same context.
    try_add("all_MadeAgents_Hammer2_1__custom_case", "shared-all:MadeAgents/Hammer2.1", custom["MadeAgents/Hammer2.1"]["d"])
    for micro in sorted(os.listdir(os.path.join(HERE, "micro"))):
        if micro.endswith(".jinja"):
            ref = f"repo:tests/oracles/templates/micro/{micro}"
            try_add(f"micro_{micro[:-6]}", ref, {**SCENARIOS["tool_flow"], **SPECIAL, "extra": {
                "f": 1.0, "g": 2.5e-7, "big": 12345678901234567890, "neg": -0.0, "t": True, "n": None,
                "s": "it's \"quoted\" \\ \t\n é 😀", "nested": {"a": [1, 2.0, {"b": None}], "c": "d'e"}}})

    for f in os.listdir(out):
        if f.endswith(".json"):
            os.remove(os.path.join(out, f))
    for name, case in cases.items():
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump(case, f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
