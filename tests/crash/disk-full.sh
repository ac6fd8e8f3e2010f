#!/usr/bin/env bash
# By-hand disk-full / read-only check with real OS conditions and real `dotnet build Pipeline.proj`
# (root only: the run's artifacts go to a small tmpfs through run.artifacts_dir).
#   tests/crash/disk-full.sh [CONFIG] [SIZE]     (default configs/sample.yaml, 64m)
# 1. builds on the empty tmpfs; 2. removes every .done stamp (all stages rerun), fills the disk, builds: must fail with
# TT2060 naming a path, no MSBuild crash (MSB4018/MSB4166), every other file byte-identical, no temporaries; frees the
# space and builds: must succeed with nothing stale; 3. remounts read-only and builds with another run.seed: must fail
# with TT2061, nothing changed; remounts read-write and builds: must succeed with nothing stale.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG="${1:-configs/sample.yaml}"
SIZE="${2:-64m}"
mkdir -p artifacts   # run.artifacts_dir must be a folder inside the project (TT2007)
MNT="$(mktemp -d artifacts/tooltune-diskfull.XXXXXX)"
LOG="$(mktemp /tmp/tooltune-diskfull-log.XXXXXX)"
mount -t tmpfs -o "size=$SIZE" tmpfs "$MNT" || { echo "cannot mount a tmpfs (needs root)"; rmdir "$MNT"; exit 2; }
trap 'umount "$MNT" 2>/dev/null; rmdir "$MNT"; rm -f "$LOG"' EXIT
RUN="$MNT/diskfull"
OV="run.artifacts_dir=$MNT;run.name=diskfull"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
build() { dotnet build Pipeline.proj -nologo -nodeReuse:false -m:1 -v:m "-p:Config=$CONFIG" "$@" > "$LOG" 2>&1; }
state() { (cd "$RUN" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
fail() { echo "FAIL: $*"; tail -30 "$LOG"; exit 1; }
expect_clean_failure() { # $1 code, $2 state before
  grep -q "error $1" "$LOG" || fail "no error $1"
  ! grep -qE "MSB4018|MSB4166|Unhandled exception" "$LOG" || fail "MSBuild/.NET crash instead of a coded error"
  [ "$(state)" == "$2" ] || fail "files changed after the failed build"
  [ -z "$(find "$RUN" -name '.tmp-*' -o -name '.old-*' -o -name '.*.tmp')" ] || fail "temporaries left"
  grep -m1 "error $1" "$LOG" | sed 's/^ *//' | cut -c1-300
}
up_to_date() { dotnet msbuild Pipeline.proj -nologo -v:m -t:Status "-p:Config=$CONFIG" "-p:Override=\"$OV\"" 2>&1 | grep -q STALE && fail "stale stages" || true; }

echo "== 1. build on an empty $SIZE tmpfs ($MNT)"
build "-p:Override=\"$OV\"" || fail "first build"
echo "   ok: $(du -sh "$RUN" | cut -f1) of artifacts"

echo "== 2. disk full: every .done stamp removed (every stage reruns), disk filled"
rm -f "$RUN"/.stamps/*.done
before="$(state)"
dd if=/dev/zero of="$MNT/filler" bs=1M status=none 2>/dev/null || true
! build "-p:Override=\"$OV\"" || fail "the build succeeded on a full disk"
expect_clean_failure TT2060 "$before"
rm "$MNT/filler"
build "-p:Override=\"$OV\"" || fail "build after freeing space"
up_to_date
echo "   ok: space freed, the build succeeds and nothing is stale"

echo "== 3. read-only output: remount ro, build with another run.seed (every stage is stale)"
before="$(state)"
mount -o remount,ro "$MNT"
! build "-p:Override=\"$OV;run.seed=4242\"" || fail "the build succeeded on a read-only file system"
expect_clean_failure TT2061 "$before"
mount -o remount,rw "$MNT"
build "-p:Override=\"$OV\"" || fail "build after remounting read-write"
up_to_date
echo "   ok: writable again, the build succeeds and nothing is stale"
echo "PASS: disk full -> TT2060, read-only -> TT2061, earlier artifacts intact, no temporaries, next build succeeds"
