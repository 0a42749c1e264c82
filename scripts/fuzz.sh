#!/usr/bin/env bash
# Fuzzes the wire decoder (WireCodec.Decode) with deterministic inputs: random bytes and UTF-16 (lone
# surrogates included), random JSON, frame-shaped objects, valid frames, and valid frames mutated
# (char flips, insertions, deletions, repeated keys, type swaps, number extremes, deep nesting, bad refs).
# Every input must decode or throw FormatException, in at most 100 ms and allocating at most
# 64 bytes per input character + 64 KB. Prints any failure with its seed, index and escaped input,
# then one summary line:
#   fuzz: inputs=N ok=N format_errors=N slowest_ms=X max_alloc_ratio=Y failures=0 ...
# and exits non-zero if any input failed.
#
# Usage: scripts/fuzz.sh [COUNT] [SEED] [-- more harness options]   COUNT default 1000000, SEED default 1
#   replay one input: scripts/fuzz.sh 1 SEED -- --start INDEX
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count="${1:-1000000}"
seed="${2:-1}"
[ "$#" -gt 0 ] && shift
[ "$#" -gt 0 ] && [ "$1" != "--" ] && shift
if [ "${1:-}" = "--" ]; then shift; fi

project="${root}/tests/OcapDgc.Fuzz/OcapDgc.Fuzz.csproj"
dotnet build "${project}" -c Release --nologo -v quiet >/dev/null || dotnet build "${project}" -c Release --nologo
exec dotnet "${root}/tests/OcapDgc.Fuzz/bin/Release/net10.0/OcapDgc.Fuzz.dll" --count "${count}" --seed "${seed}" "$@"
