// Oracle for ToolTune's tokenizer: encodes/decodes the hard corpus with transformers.js (HF tokenizers port).
// Usage: node generate.mjs <tokenizer folder> [<tokenizer folder> ...]
//   e.g. node generate.mjs /work/shared/parity/tokenizers/smollm3-3b ../../../../shared/parity/tokenizers/phi-2
// Writes tests/ToolTune.Tests/Fixtures/tokenizers/<folder name>.jsonl, one line per corpus string:
//   {index, text, ids, ids_special, decoded, decoded_skip, js_digits_divergence?}
import { AutoTokenizer, env } from '@huggingface/transformers';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// CORPUS=fuzz reads ../tokenizer_fuzz.json and writes <name>.fuzz.jsonl instead.
// CORPUS=demo (for the shipped demo tokenizer, data/demo-model) reads the hard corpus, then the fuzz set, then the
// rendered demo conversations of ../demo_tokenizer_texts.json, and writes demo.jsonl.
const kind = ['fuzz', 'demo'].includes(process.env.CORPUS) ? process.env.CORPUS : 'corpus';
const readJson = (f) => JSON.parse(fs.readFileSync(path.join(here, '..', f), 'utf8'));
const corpus = kind === 'demo'
  ? [...readJson('tokenizer_corpus.json'), ...readJson('tokenizer_fuzz.json'), ...readJson('demo_tokenizer_texts.json')]
  : readJson(`tokenizer_${kind}.json`);
const suffix = kind === 'fuzz' ? '.fuzz' : '';
const outDir = path.join(here, '..', '..', 'ToolTune.Tests', 'Fixtures', 'tokenizers');
fs.mkdirSync(outDir, { recursive: true });

env.allowRemoteModels = false;
env.allowLocalModels = true;

for (const dirArg of process.argv.slice(2)) {
  const dir = path.resolve(dirArg);
  const name = path.basename(dir);
  env.localModelPath = path.dirname(dir) + path.sep;
  const tok = await AutoTokenizer.from_pretrained(name, { local_files_only: true });
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  // tokenizers.js implements Digits with ASCII \d; HF Rust uses char::is_numeric (Unicode Nd/Nl/No).
  const usesDigits = JSON.stringify(tj.pre_tokenizer ?? null).includes('"Digits"');
  const lines = [];
  corpus.forEach((text, index) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const idsSpecial = tok.encode(text, { add_special_tokens: true });
    const dec = (xs, o) => (xs.length === 0 ? "" : tok.decode(xs, o));
    const decoded = dec(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    const decodedSkip = dec(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    const rec = { index, text, ids, ids_special: idsSpecial, decoded, decoded_skip: decodedSkip };
    if (usesDigits && /[^\P{N}0-9]/u.test(text)) {
      // Rust isolates every Unicode numeric char before ByteLevel; tokenizers.js only ASCII digits. Reproduce Rust by
      // encoding the text cut around each numeric char (each part then goes through the same Digits + ByteLevel
      // steps it would in Rust; no added token contains a numeric char, so matching is unaffected).
      rec.js_digits_divergence = true;
      const parts = text.split(/(\p{N})/u).filter((p) => p.length > 0);
      rec.ids_rust = parts.flatMap((p) => tok.encode(p, { add_special_tokens: false }));
    }
    lines.push(JSON.stringify(rec));
  });
  const outName = kind === 'demo' ? 'demo' : `${name}${suffix}`;
  fs.writeFileSync(path.join(outDir, `${outName}.jsonl`), lines.join('\n') + '\n');
  console.log(`${outName}: ${lines.length} strings`);
}
