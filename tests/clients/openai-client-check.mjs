// Drives a running `tooltune serve` with the official openai npm client (OpenAiClientTests runs it).
// Env: TOOLTUNE_BASE_URL (…/v1), TOOLTUNE_MODEL, TOOLTUNE_PROMPTS (emission prompts JSONL), TOOLTUNE_API_KEY,
// TOOLTUNE_EXPECTED (optional: per prompt id, the calls and content the managed engine + Hermes parser give in-process).
// Prints one JSON summary line; exits 1 when a check fails (each failure is listed).
import fs from 'node:fs';
import OpenAI from 'openai';

const baseURL = process.env.TOOLTUNE_BASE_URL;
const model = process.env.TOOLTUNE_MODEL;
const apiKey = process.env.TOOLTUNE_API_KEY ?? 'unused';
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
const failures = [];
const fail = (msg) => failures.push(msg);

const expected = process.env.TOOLTUNE_EXPECTED ? JSON.parse(fs.readFileSync(process.env.TOOLTUNE_EXPECTED, 'utf8')) : null;
const prompts = fs.readFileSync(process.env.TOOLTUNE_PROMPTS, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const messagesOf = (p) => p.messages ?? [{ role: 'user', content: p.prompt }];
const toolsOf = (p) => p.tools.map((t) => (t.function ? t : { type: 'function', function: t }));
const base = (p) => ({ model, messages: messagesOf(p), tools: toolsOf(p), temperature: 0, max_tokens: 96 });
const callsOf = (m) => (m.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: c.function.arguments }));

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
if (!ids.includes(model)) fail(`models.list() = ${JSON.stringify(ids)} lacks ${model}`);

let withCalls = 0;
let declaredCalls = 0;
let matchesInProcess = 0;
let streamsEqual = 0;
for (const p of prompts) {
  const declared = new Set(toolsOf(p).map((t) => t.function.name));
  const r = await client.chat.completions.create(base(p));
  const choice = r.choices[0];
  const calls = callsOf(choice.message);
  if (expected) {
    const e = expected[p.id];
    if (e && JSON.stringify(e.calls) === JSON.stringify(calls) && (e.calls.length > 0 || e.content === choice.message.content)) matchesInProcess++;
    else fail(`${p.id}: served ${JSON.stringify({ calls, content: choice.message.content })} but in-process ${JSON.stringify(e)}`);
  }
  if (calls.length > 0) {
    withCalls++;
    if (calls.every((c) => declared.has(c.name))) declaredCalls++;
    if (choice.finish_reason !== 'tool_calls') fail(`${p.id}: finish_reason ${choice.finish_reason} with tool calls`);
    for (const c of choice.message.tool_calls) {
      if (c.type !== 'function' || typeof c.id !== 'string' || c.id.length === 0) fail(`${p.id}: tool call without id/type: ${JSON.stringify(c)}`);
      try { JSON.parse(c.function.arguments); } catch (e) { fail(`${p.id}: arguments not JSON: ${c.function.arguments}`); }
    }
  }

  // Streaming, reassembled two ways: by hand from the deltas, and by the SDK's own ChatCompletionStream accumulator.
  const stream = await client.chat.completions.create({ ...base(p), stream: true });
  const byIndex = new Map();
  let content = '';
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.content) content += c.delta.content;
    for (const d of c.delta.tool_calls ?? []) {
      if (!byIndex.has(d.index)) {
        if (!d.id || d.type !== 'function' || !d.function?.name) fail(`${p.id}: first delta of call ${d.index} lacks id/type/name: ${JSON.stringify(d)}`);
        byIndex.set(d.index, { name: d.function?.name, arguments: d.function?.arguments ?? '' });
      } else byIndex.get(d.index).arguments += d.function?.arguments ?? '';
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  const streamed = [...byIndex.keys()].sort((a, b) => a - b).map((k) => byIndex.get(k));
  const helper = await client.chat.completions.stream(base(p)).finalChatCompletion();
  const helperCalls = callsOf(helper.choices[0].message);
  const same = JSON.stringify(streamed) === JSON.stringify(calls) && JSON.stringify(helperCalls) === JSON.stringify(calls)
    && finish === choice.finish_reason && content === (choice.message.content ?? '');
  if (same) streamsEqual++;
  else fail(`${p.id}: stream differs: non-stream ${JSON.stringify({ calls, content: choice.message.content, finish: choice.finish_reason })} ` +
    `stream ${JSON.stringify({ streamed, content, finish })} sdk ${JSON.stringify(helperCalls)}`);
}

// tool_choice "none": content only.
let noneContentOnly = 0;
for (const p of prompts.slice(0, 3)) {
  const r = await client.chat.completions.create({ ...base(p), tool_choice: 'none' });
  const m = r.choices[0].message;
  if ((m.tool_calls ?? []).length === 0 && typeof m.content === 'string' && r.choices[0].finish_reason !== 'tool_calls') noneContentOnly++;
  else fail(`${p.id}: tool_choice none returned ${JSON.stringify(m)}`);
}

// Named tool_choice: never a call of another tool.
let namedToolChoice = null;
{
  const p = prompts[0];
  const name = toolsOf(p)[0].function.name;
  const r = await client.chat.completions.create({ ...base(p), tool_choice: { type: 'function', function: { name } } });
  // The call is forced by its opening; without grammar-constrained decoding the arguments are the model's own and may not parse.
  const calls = callsOf(r.choices[0].message);
  if (calls.some((c) => c.name !== name)) fail(`named tool_choice ${name} returned ${JSON.stringify(r.choices[0].message)}`);
  namedToolChoice = calls.length > 0 ? 'call' : 'unparsable';
}

// Three malformed requests through the SDK, and malformed JSON by hand: 4xx with an OpenAI error object.
const malformed = [];
async function expect4xx(label, body) {
  try {
    await client.chat.completions.create(body);
    fail(`${label}: accepted`);
  } catch (e) {
    const ok = e instanceof OpenAI.APIError && e.status >= 400 && e.status < 500 && typeof e.error?.message === 'string' && e.error.message.length > 0;
    malformed.push({ label, status: e.status ?? null, message: e.error?.message ?? String(e) });
    if (!ok) fail(`${label}: ${e}`);
  }
}
const p0 = prompts[0];
await expect4xx('messages not an array', { model, messages: 'hello' });
await expect4xx('unknown tool_choice', { ...base(p0), tool_choice: 'sometimes' });
await expect4xx('max_tokens beyond the context', { ...base(p0), max_tokens: 100_000_000 });
{
  const r = await fetch(`${baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: '{"model": ' });
  const body = await r.json();
  malformed.push({ label: 'malformed JSON', status: r.status, message: body?.error?.message ?? null });
  if (r.status !== 400 || typeof body?.error?.message !== 'string') fail(`malformed JSON: ${r.status} ${JSON.stringify(body)}`);
}

console.log(JSON.stringify({ prompts: prompts.length, with_calls: withCalls, declared_calls: declaredCalls, matches_in_process: matchesInProcess, named_tool_choice: namedToolChoice, streams_equal: streamsEqual, none_content_only: noneContentOnly, malformed, failures }));
process.exit(failures.length === 0 ? 0 : 1);
