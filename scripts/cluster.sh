#!/usr/bin/env bash
# A multi-silo cluster on this machine, with the PostgreSQL cluster profile:
#   1. starts a throwaway PostgreSQL server (a fresh data folder under /tmp, loopback only, a free port,
#      trust authentication) and applies the schema with scripts/pg-setup.sh;
#   2. builds the host (Release) unless OCAPDGC_HOST_DLL names a built OcapDgc.Host.dll;
#   3. makes one cluster key (scripts/make-peer-keys.sh) and starts N silo processes (`--serve --profile
#      postgres`) on loopback, silo-to-silo and gateway connections over mutual TLS with that key
#      (Orleans:Tls, docs/security.md), waits until each is ready and prints its dashboard URL;
#   4. on Ctrl-C (or when every silo has stopped) stops the silos and the server and deletes the folder.
#
# Usage: scripts/cluster.sh [N] [-- extra host arguments]      N = 1-20 silos, default 3
#   e.g. scripts/cluster.sh 3 -- --Dgc:Batching:MaxBatchSize=1024
# Ports: silo i gets silo port 11110+i, gateway 29999+i, dashboard 8079+i (11111, 30000, 8080 for the first); the next free one when taken.
# Needs the PostgreSQL server binaries (apt-get install -y postgresql; OCAPDGC_PG_BIN overrides the folder).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

count="${1:-3}"
[ "$#" -gt 0 ] && shift
if [ "${1:-}" = "--" ]; then shift; fi
extra=("$@")
if ! [[ "${count}" =~ ^[0-9]+$ ]] || [ "${count}" -lt 1 ] || [ "${count}" -gt 20 ]; then
    echo "cluster: N must be a number of silos from 1 to 20 (got '${count}')." >&2
    exit 2
fi

me=cluster
# shellcheck source=scripts/lib-ports.sh
source "${here}/lib-ports.sh"
# shellcheck source=scripts/lib-cluster.sh
source "${here}/lib-cluster.sh"
pg_require

work="$(mktemp -d /tmp/ocapdgc-cluster.XXXXXX)"
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pid}" 2>/dev/null || true
    done
    pg_stop
    rm -rf "${work}"
    echo "cluster: stopped; removed ${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start
echo "cluster: schema applied; OCAPDGC_PG_CONNECTION=\"${OCAPDGC_PG_CONNECTION}\""
host_build
cluster_key
echo "cluster: silo-to-silo and gateway connections over mutual TLS with the cluster key ${cluster_pin}"

for i in $(seq 1 "${count}"); do
    silo_port="$(next_free_port $((11110 + i)))"
    gateway_port="$(next_free_port $((29999 + i)))"
    web_port="$(next_free_port $((8079 + i)))"
    log="${work}/silo-${i}.log"
    silo_start "${log}" "${silo_port}" "${gateway_port}" "${web_port}" "${tls[@]}" "${extra[@]}"
    pids+=("${silo_pid}")
    silo_wait_ready "${silo_pid}" "${log}" || exit 1
    echo "cluster: silo ${i} pid ${silo_pid} silo-port ${silo_port} gateway-port ${gateway_port} dashboard http://127.0.0.1:${web_port}/dashboard log ${log}"
done

echo "cluster: ${count} silo(s) ready; Ctrl-C stops them and the database."
# Report each silo that stops; when none is left, clean up.
remaining=${#pids[@]}
while [ "${remaining}" -gt 0 ]; do
    set +e
    wait -n -p done_pid "${pids[@]}"
    status=$?
    set -e
    [ -z "${done_pid:-}" ] && break
    echo "cluster: silo pid ${done_pid} stopped (exit ${status})"
    remaining=$((remaining - 1))
    done_pid=""
done
