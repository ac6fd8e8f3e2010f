// Oracle speed for `tooltune bench tokenize`: encodes the same corpus with transformers.js, single thread.
// Usage: tooltune bench tokenize --tokenizer DIR --write-corpus /tmp/corpus.json
//        node bench.mjs DIR /tmp/corpus.json [reps]
// Prints one JSON line with the median encode MB/s and tokens/s (add_special_tokens false, as ToolTune's bench).
import { AutoTokenizer, env } from '@huggingface/transformers';
import fs from 'node:fs';
import path from 'node:path';

const [dirArg, corpusFile, repsArg] = process.argv.slice(2);
const dir = path.resolve(dirArg);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(dir) + path.sep;
const t0 = performance.now();
const tok = await AutoTokenizer.from_pretrained(path.basename(dir), { local_files_only: true });
const loadMs = performance.now() - t0;
const docs = JSON.parse(fs.readFileSync(corpusFile, 'utf8'));
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
for (const d of docs.slice(0, Math.max(1, docs.length / 10))) tok.encode(d, { add_special_tokens: false });
const rates = [], tokRates = [];
for (let r = 0; r < Number(repsArg ?? 3); r++) {
  const s = performance.now();
  let n = 0;
  for (const d of docs) n += tok.encode(d, { add_special_tokens: false }).length;
  const sec = (performance.now() - s) / 1000;
  rates.push(bytes / 1e6 / sec);
  tokRates.push(n / sec);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(JSON.stringify({ bench: 'tokenize-oracle', engine: 'transformers.js', tokenizer: dir, corpus_mb: +(bytes / 1e6).toFixed(2),
  load_ms: +loadMs.toFixed(1), encode_mb_per_s_median: +median(rates).toFixed(2), encode_tokens_per_s_median: Math.round(median(tokRates)) }));
