#!/usr/bin/python3
"""Random conversations (roles, tool calls with dict/str arguments, tool messages, tools with floats/bools/None,
enable_thinking, xml_tools, documents, Unicode, shuffled role orders) rendered through every real template with Python
Jinja2 (transformers configuration): text, generation spans, or the error (raise_exception → TemplateError).

Writes tests/ToolTune.Tests/Fixtures/template-expressions/conversation_matrix.json.
Usage: /usr/bin/python3 tests/oracles/templates/conversation_matrix.py [PARITY_DIR]   (default ../shared/parity)
"""
import sys, os, json, random, copy
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PARITY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared', 'parity'))
sys.path.insert(0, PARITY)
import render_chat_template as r
random.seed(11)
A = {"shared-all:" + k: v for k, v in json.load(open(os.path.join(PARITY, 'chat-templates', 'all_templates.json'), encoding='utf-8')).items()}
for n in ["HuggingFaceTB_SmolLM3-3B", "meta-llama_Llama-3.1-8B-Instruct", "Qwen_Qwen2.5-7B-Instruct", "Qwen_Qwen3-0.6B", "NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_", "mistralai_Mistral-7B-Instruct-v0.3__JSON_Schema_"]:
    A[f"shared:chat-templates/{n}.jinja"] = open(os.path.join(PARITY, 'chat-templates', n + '.jinja'), encoding='utf-8').read()
keys = sorted(A)
texts = ["hi", "", "  spaced  ", "multi\nline\n", "<think>\nreason\n</think>\nanswer", "quote ' and \" ", "😀 astral 𝔘", "/no_think please", "/think hard", "tab\there", "{\"json\": 1}", "/system_override custom"]
def tool():
    props = {}
    for i in range(random.randint(0, 3)):
        t = random.choice(["string", "integer", "number", "boolean", "object"])
        p = {"type": t, "description": random.choice(["d", "It's", "x \"y\""])}
        if random.random() < 0.3: p["enum"] = ["a", "b"]
        if random.random() < 0.3: p["default"] = random.choice([1, 1.5, None, True, "z"])
        props[f"p{i}"] = p
    f = {"name": random.choice(["get_weather", "search", "f"]), "description": random.choice(["Does things.", "", "Multi\nline"]),
         "parameters": {"type": "object", "properties": props, "required": list(props)[:1]}}
    return {"type": "function", "function": f} if random.random() < 0.9 else f
def call():
    args = random.choice([{"city": "Paris"}, {}, {"n": 1, "x": 2.5, "ok": True, "none": None}, {"nested": {"a": [1, "b"]}}])
    if random.random() < 0.2: args = json.dumps(args)
    c = {"type": "function", "function": {"name": random.choice(["get_weather", "search"]), "arguments": args}}
    if random.random() < 0.5: c["id"] = "call_" + str(random.randint(1, 99))
    return c
def msg(role):
    m = {"role": role}
    if role == "assistant" and random.random() < 0.3:
        m["tool_calls"] = [call() for _ in range(random.randint(1, 2))]
        m["content"] = random.choice(["", None, "Let me check."])
    elif role == "tool":
        m["content"] = random.choice(["{\"temp\": 20}", "result", ""])
        if random.random() < 0.5: m["tool_call_id"] = "call_1"
        if random.random() < 0.5: m["name"] = "get_weather"
    else:
        m["content"] = random.choice(texts)
    return m
def conv():
    msgs = []
    if random.random() < 0.5: msgs.append(msg("system"))
    for _ in range(random.randint(1, 4)):
        msgs.append(msg("user"))
        if random.random() < 0.8: msgs.append(msg("assistant"))
        if msgs[-1].get("tool_calls") and random.random() < 0.8:
            msgs.append(msg("tool"))
            msgs.append(msg("assistant"))
    if random.random() < 0.1: random.shuffle(msgs)
    ctx = {"messages": msgs, "add_generation_prompt": random.random() < 0.5, "bos_token": "<s>", "eos_token": "</s>"}
    if random.random() < 0.4: ctx["tools"] = [tool() for _ in range(random.randint(1, 2))]
    if random.random() < 0.2: ctx["enable_thinking"] = random.random() < 0.5
    if random.random() < 0.1: ctx["xml_tools"] = [tool()]
    if random.random() < 0.1: ctx["documents"] = [{"title": "T", "text": "doc text"}]
    return ctx
out = []
for i in range(700):
    key = random.choice(keys)
    ctx = conv()
    try:
        text, spans = r.render(A[key], **copy.deepcopy(ctx))
        out.append({"template": key, "context": ctx, "ok": True, "text": text,
                    "generation_spans": [[len(text[:s].encode('utf-16-le')) // 2, len(text[:e].encode('utf-16-le')) // 2] for s, e in spans]})
    except Exception as ex:
        out.append({"template": key, "context": ctx, "ok": False, "err": type(ex).__name__ + ": " + str(ex)})
OUT_PATH = os.path.join(ROOT, 'tests', 'ToolTune.Tests', 'Fixtures', 'template-expressions', 'conversation_matrix.json')
with open(OUT_PATH, 'w', encoding='utf-8', newline='\n') as fh:
    json.dump({"cases": out}, fh, ensure_ascii=False, indent=0)
    fh.write('\n')
print(len(out), sum(1 for o in out if o["ok"]))
