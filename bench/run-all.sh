#!/usr/bin/env bash
# Interleaved ToolTune-vs-oracle benchmarks. Each round runs every pair back to back, ToolTune first, so
# machine-load drift hits both sides alike; every result is one JSON line appended to the output file, tagged with
# its label and round. Summarise with bench/summarize.py and append a row to bench/results.md (bench/README.md).
#
#   bench/run-all.sh [rounds (3)] [output (bench/raw/<UTC date-time>.jsonl)]
#
# Env: SKIP="train2048 pipeline" (labels' prefixes to skip), TOKENIZER (128k-vocab model folder, default the SmolLM3-3B
# tokenizer in ../shared/parity), NODE_ORACLE_DIR (a tests/oracles/tokenizers folder with node_modules installed).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=${2:-bench/raw/$(date -u +%Y%m%dT%H%M%SZ).jsonl}
mkdir -p "$(dirname "$out")"
tt=src/ToolTune.Cli/bin/Release/net10.0/tooltune
py=/usr/bin/python3
tok=${TOKENIZER:-../shared/parity/tokenizers/smollm3-3b}
node_dir=${NODE_ORACLE_DIR:-tests/oracles/tokenizers}
corpus=$(mktemp -d)/corpus.json
[ -x "$tt" ] || dotnet build ToolTune.slnx -c Release -v q -nologo

skip() { for s in ${SKIP:-}; do [[ $1 == "$s"* ]] && return 0; done; return 1; }
record() { # label round command...: runs it, appends {"label","round","commit","result"}
  local label=$1 round=$2; shift 2
  skip "$label" && return 0
  echo "[$(date -u +%H:%M:%S)] $label round $round (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  local line
  if line=$("$@" 2>/dev/null | tail -n1) && [[ $line == \{* ]]; then
    printf '{"label":"%s","round":%d,"commit":"%s","result":%s}\n' "$label" "$round" "$(git rev-parse --short HEAD)" "$line" >> "$out"
  else
    echo "  $label failed" >&2
  fi
}
# A no-op `dotnet build Pipeline.proj` (after one build that brings every stage up to date), as one JSON line.
noop_build() {
  local t0 t1
  t0=$(date +%s.%N); dotnet build Pipeline.proj -v q -nologo > /dev/null; t1=$(date +%s.%N)
  printf '{"bench":"noop_pipeline_build","seconds":%.2f,"loadavg":"%s"}\n' "$(echo "$t1 - $t0" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
}

if ! skip tokenize; then "$tt" bench tokenize --tokenizer "$tok" --mb 10 --reps 1 --write-corpus "$corpus" > /dev/null; fi
if ! skip pipeline; then dotnet build Pipeline.proj -v q -nologo > /dev/null; fi
for r in $(seq 1 "$rounds"); do
  record train512.tooltune "$r" "$tt" bench train --preset smol135m --seq 512 --steps 4
  record train512.torch "$r" "$py" tests/oracles/model/bench_train_torch.py --preset smol135m --seq 512 --steps 4
  record tiny.tooltune "$r" "$tt" bench train --preset tiny --seq 512 --steps 8
  record tiny.torch "$r" "$py" tests/oracles/model/bench_train_torch.py --preset tiny --seq 512 --steps 8
  record generate.tooltune "$r" "$tt" bench generate --preset smol135m --prompt 512 --new 64 --repeat 2
  record generate.torch "$r" "$py" tests/oracles/model/bench_generate_torch.py --preset smol135m --prompt 512 --new 64 --repeat 2
  record generate_bf16.tooltune "$r" "$tt" bench generate --preset smol135m --prompt 512 --new 64 --repeat 2 --dtype bf16
  record tokenize.tooltune "$r" "$tt" bench tokenize --tokenizer "$tok" --mb 10 --reps 3
  record tokenize.transformersjs "$r" bash -c "cd '$node_dir' && node bench.mjs '$(realpath "$tok")' '$corpus' 3"
  record prepare.tooltune "$r" "$tt" bench prepare --tokenizer "$tok" --count 20000
  record pipeline_noop.tooltune "$r" noop_build
  record train2048.tooltune "$r" "$tt" bench train --preset smol135m --seq 2048 --steps 2
  record train2048.torch "$r" "$py" tests/oracles/model/bench_train_torch.py --preset smol135m --seq 2048 --steps 2
done
echo "$out"
