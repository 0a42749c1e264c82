#!/usr/bin/env bash
# Packs the library packages (OcapDgc.Protocol, OcapDgc.Contracts, OcapDgc.Grains: README, XML docs, symbols)
# into a fresh folder, then builds and runs samples/SampleKernel against them from that folder as an extra
# package source, next to the configured ones. Prints the folder; the last line is "pack: ok" or "pack: FAILED".
# Usage: scripts/pack.sh [OUTPUT_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."

feed=${1:-$(mktemp -d /tmp/ocap-dgc-packages.XXXXXX)}
mkdir -p "$feed"
# A fresh version every run, so the NuGet cache never serves an older build of the same version.
version="0.1.0-local.$(date -u +%Y%m%d%H%M%S)"

fail() { echo "$1"; echo "pack: FAILED"; exit 1; }
for project in Protocol Contracts Grains; do
  dotnet pack "src/OcapDgc.$project" -c Release -o "$feed" -p:Version="$version" --nologo -v quiet \
    || fail "dotnet pack src/OcapDgc.$project failed"
done
for project in Protocol Contracts Grains; do
  for ext in nupkg snupkg; do
    [ -f "$feed/OcapDgc.$project.$version.$ext" ] || fail "missing $feed/OcapDgc.$project.$version.$ext"
  done
  listing=$(unzip -l "$feed/OcapDgc.$project.$version.nupkg")
  grep -q " README.md$" <<<"$listing" || fail "OcapDgc.$project has no README"
  grep -q "lib/net10.0/OcapDgc.$project.xml$" <<<"$listing" || fail "OcapDgc.$project has no XML docs"
done
echo "packed OcapDgc.Protocol, OcapDgc.Contracts, OcapDgc.Grains $version (with symbols) to $feed"

# The folder is added to the configured package sources (RestoreAdditionalProjectSources), like --source would.
dotnet build samples/SampleKernel -c Release --nologo -v quiet \
  -p:OcapDgcVersion="$version" -p:RestoreAdditionalProjectSources="$feed" \
  || fail "samples/SampleKernel did not build against the packages"
dotnet run --project samples/SampleKernel -c Release --no-build -p:OcapDgcVersion="$version" \
  || fail "samples/SampleKernel did not run"
echo "pack: ok"
