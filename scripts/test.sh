#!/usr/bin/env bash
# The whole test suite, with everything it needs. Ends with one line: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."

# Installs what the tests need from Debian's packages when it is missing: the PostgreSQL 15 server
# binaries (the tests and the kill soak start and remove their own throwaway server), docker-compose (the tests check
# docker-compose.yml with `docker-compose config`; no Docker engine is needed), spin (the tests
# model-check docs/model/dgc.pml with scripts/spin-check.sh; gcc compiles its verifiers) and chromium
# (the DGC view's browser test drives /usr/bin/chromium with Playwright; Playwright's own browser download is never used).
missing=()
if { compgen -G "tests/*/Postgres/*.cs" >/dev/null || [ -f scripts/soak.sh ]; } && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  missing+=(postgresql)
fi
if [ -f docker-compose.yml ] && ! command -v docker-compose >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
if [ -f docs/model/dgc.pml ] && ! command -v spin >/dev/null 2>&1; then
  missing+=(spin)
fi
if compgen -G "tests/*/Observability/*Browser*.cs" >/dev/null && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing ${missing[*]} (Debian packages) for the tests..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { echo "could not install ${missing[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi

log=$(mktemp)
# The protocol simulation appends its summary (steps run) here; printed before the closing line.
export DGC_SIM_REPORT; DGC_SIM_REPORT=$(mktemp)
dotnet test Orleans.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
cat "$DGC_SIM_REPORT"; rm -f "$DGC_SIM_REPORT"

# dotnet test prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 42, Skipped: 0, ..."
read -r passed failed skipped < <(grep -E '(Passed|Failed)! +- Failed: ' "$log" \
  | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
rm -f "$log"

# Packaging: the library packages pack, and samples/SampleKernel builds and runs against them (one check).
if scripts/pack.sh >"${log}.pack" 2>&1; then
  passed=$((passed + 1))
else
  tail -20 "${log}.pack"; failed=$((failed + 1))
fi
rm -f "${log}.pack"

# The kill soak, short: three silos of the cluster profile on PostgreSQL, four kernels under traffic, 3 silos
# killed and restarted, then the checks (one check). Its summary line is printed. Here it fails on a safety
# violation (a sequence gap, a double application, a count the model does not have, a premature release, a
# callback twice); refusals, leaks and rows left are printed (all_clean=) but do not fail it, so that a refusal
# of a kind not yet understood shows without failing the test command. scripts/soak.sh alone checks them all.
soak_host="src/OcapDgc.Host/bin/Release/net10.0/OcapDgc.Host.dll"
if [ -f "$soak_host" ]; then export OCAPDGC_HOST_DLL="$PWD/$soak_host"; fi
if OCAPDGC_SOAK_CHECK=safety scripts/soak.sh 3 >"${log}.soak" 2>&1; then
  grep -E '^soak: (kills=|logs kept)' "${log}.soak"
  passed=$((passed + 1))
else
  tail -40 "${log}.soak"; failed=$((failed + 1))
fi
rm -f "${log}.soak"

if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # no test ran (a build error, most likely): that is a failure, not a pass
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
