#!/usr/bin/env bash
# By-hand crash-safety and cancellation run: the CrashSafetyTests harness with full counts.
#   tests/crash/run-crash.sh [CONFIG] [RUNS] [SEED]
#     CONFIG  run config, relative to the repository root (default configs/sample.yaml); the harness is config-agnostic
#     RUNS    SIGKILLs of `tooltune <verb>` per stage (default 10); the build-tree kills and SIGINTs per stage and kind
#             default to 2 (TOOLTUNE_CRASH_BUILD_RUNS, TOOLTUNE_CRASH_INTERRUPT_RUNS override them)
#     SEED    trial seed (default 20261121)
# TOOLTUNE_CRASH_ONLY=Killed or =Interrupted runs one half. Builds Release first; results: artifacts/crash/crash-{kill,interrupt}.json and the per-trial lines in the test log.
set -euo pipefail
cd "$(dirname "$0")/../.."
export TOOLTUNE_CRASH_CONFIG="${1:-configs/sample.yaml}"
export TOOLTUNE_CRASH_RUNS="${2:-10}"
export TOOLTUNE_CRASH_SEED="${3:-20261121}"
export TOOLTUNE_CRASH_BUILD_RUNS="${TOOLTUNE_CRASH_BUILD_RUNS:-2}"
export TOOLTUNE_CRASH_INTERRUPT_RUNS="${TOOLTUNE_CRASH_INTERRUPT_RUNS:-2}"
mkdir -p artifacts/crash
export TOOLTUNE_CRASH_REPORT="$PWD/artifacts/crash/crash-{kind}.json"
dotnet build ToolTune.slnx -c Release -nologo -v:q
dotnet test ToolTune.slnx -c Release --no-build --filter "FullyQualifiedName~Reliability.CrashSafetyTests${TOOLTUNE_CRASH_ONLY:+.$TOOLTUNE_CRASH_ONLY}" \
  --logger "console;verbosity=detailed" 2>&1 | tee artifacts/crash/crash.log
