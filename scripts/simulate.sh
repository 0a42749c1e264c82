#!/usr/bin/env bash
# The long run of the protocol simulation: 1,000,000 steps by default (argument overrides), seeded plans
# over three kernels and a hostile one, the oracle checked after every step (docs/protocol.md,
# "How it is tested"). Prints one summary line; exits non-zero on a violation, with the shrunk plan and
# its seed (DGC_SIM_TRACE=1 also writes the failing plan's frames to a file named in the failure).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-1000000}"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
dotnet build tests/OcapDgc.Protocol.Tests -c Release -v quiet -nologo >/dev/null
status=0
DGC_SIM_STEPS="$steps" DGC_SIM_REPORT="$report" dotnet test tests/OcapDgc.Protocol.Tests -c Release --no-build \
  --filter "FullyQualifiedName~SimulationTests" --logger "console;verbosity=minimal" || status=$?
cat "$report"
exit "$status"
