#!/usr/bin/env bash
# Same bytes on every SIMD path: trains short runs (configs/sample.yaml and a few steps of the demo) with the engine's
# default path, AVX-512 off, AVX2 off (the portable scalar path) and one thread, compares the adapters' sha256, then
# generates greedily from the demo base + adapter on each path and compares the token ids. Prints one line per check
# and a closing 'N passed, N failed' line; exits non-zero on any difference.
# Usage: tests/reproducibility/run.sh [tooltune binary]   (default: the Release CLI build)
set -euo pipefail
cd "$(dirname "$0")/../.."
tooltune=${1:-src/ToolTune.Cli/bin/Release/net10.0/tooltune}
[ -x "$tooltune" ] || { echo "error: $tooltune not found: dotnet build src/ToolTune.Cli -c Release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work" artifacts/repro-sample artifacts/repro-demo' EXIT

isa=$(grep -o -m1 -w 'avx512f' /proc/cpuinfo || true)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, ISA: ${isa:+AVX-512 + }$(grep -q -m1 -w avx2 /proc/cpuinfo && echo AVX2 || echo 'no AVX2'), load $(cut -d' ' -f1 /proc/loadavg)"

# DOTNET_EnableAVX512 is .NET 10's switch for the whole AVX-512 group (EnableAVX512F is no longer read; both are set).
settings=("default:" "avx512-off:DOTNET_EnableAVX512=0 DOTNET_EnableAVX512F=0" "avx2-off:DOTNET_EnableAVX2=0" "one-thread:TOOLTUNE_THREADS=1")
passed=0 failed=0
merged_hashes=()

check() { # name, then one value per setting: passes when all are equal
  local name=$1; shift
  local first=$1 same=1 v
  for v in "$@"; do [ "$v" = "$first" ] || same=0; done
  if [ $same = 1 ]; then passed=$((passed + 1)); echo "PASS $name: ${first:0:64}"
  else failed=$((failed + 1)); echo "FAIL $name:"; local i=0; for v in "$@"; do echo "  ${settings[$i]%%:*}: ${v:0:200}"; i=$((i + 1)); done; fi
}

for run in "sample:configs/sample.yaml:4" "demo:configs/demo.yaml:2"; do
  IFS=: read -r name config steps <<<"$run"
  common=(--config "$config" --set "run.name=repro-$name")
  "$tooltune" prepare "${common[@]}" >"$work/$name-prepare.log" 2>&1 || { cat "$work/$name-prepare.log"; exit 1; }
  "$tooltune" verify "${common[@]}" >"$work/$name-verify.log" 2>&1 || { cat "$work/$name-verify.log"; exit 1; }
  hashes=() ids=()
  for s in "${settings[@]}"; do
    label=${s%%:*} envs=${s#*:}
    start=$(date +%s%N)
    env $envs "$tooltune" train "${common[@]}" --set "train.max_steps=$steps" --no-resume >"$work/$name-$label.log" 2>&1 \
      || { cat "$work/$name-$label.log"; exit 1; }
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    adapter="artifacts/repro-$name/adapter"
    hashes+=("$(sha256sum "$adapter/adapter_model.safetensors" | cut -d' ' -f1)")
    echo "  $name $label: $steps steps in $((ms / 1000)).$(printf %03d $((ms % 1000))) s, adapter ${hashes[-1]:0:16}"
    if [ "$name" = demo ]; then
      merged="$work/merged-$label"
      env $envs "$tooltune" merge --base data/demo-model --adapter "$adapter" --out "$merged" \
        --chat-template configs/templates/smollm3-tool-fixed.jinja >"$work/merge-$label.log" 2>&1 || { cat "$work/merge-$label.log"; exit 1; }
      env $envs "$tooltune" generate --model "$merged" --messages tests/reproducibility/prompt.json --date 2025-07-10 \
        --max-new-tokens 48 >"$work/gen-$label.json" 2>"$work/gen-$label.log" || { cat "$work/gen-$label.log"; exit 1; }
      ids+=("$(grep -o '"ids": *\[[^]]*\]' "$work/gen-$label.json" | head -1 | tr -d ' ')")
      merged_hashes+=("$(cat "$merged"/*.safetensors | sha256sum | cut -d' ' -f1)")
    fi
  done
  check "$name adapter sha256 (${steps} steps) equal on ${#settings[@]} settings" "${hashes[@]}"
done
check "demo merged weights sha256 equal" "${merged_hashes[@]}"
check "demo greedy token ids equal" "${ids[@]}"
echo "reproducibility: $passed passed, $failed failed"
[ "$failed" = 0 ]
