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
root="$(cd "${here}/.." && pwd)"

count="${1:-3}"
[ "$#" -gt 0 ] && shift
if [ "${1:-}" = "--" ]; then shift; fi
extra=("$@")
if ! [[ "${count}" =~ ^[0-9]+$ ]] || [ "${count}" -lt 1 ] || [ "${count}" -gt 20 ]; then
    echo "cluster: N must be a number of silos from 1 to 20 (got '${count}')." >&2
    exit 2
fi

pg_bin="${OCAPDGC_PG_BIN:-/usr/lib/postgresql/15/bin}"
for tool in initdb pg_ctl psql; do
    if [ ! -x "${pg_bin}/${tool}" ]; then
        echo "cluster: ${pg_bin}/${tool} not found; install PostgreSQL (apt-get install -y postgresql) or set OCAPDGC_PG_BIN." >&2
        exit 1
    fi
done

as_postgres() {
    # initdb and postgres refuse to run as root: then the server runs as the postgres OS user.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# shellcheck source=scripts/lib-ports.sh
source "${here}/lib-ports.sh"

work="$(mktemp -d /tmp/ocapdgc-cluster.XXXXXX)"
pids=()
pg_started=0
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pid}" 2>/dev/null || true
    done
    if [ "${pg_started}" -eq 1 ]; then
        as_postgres "${pg_bin}/pg_ctl" -D "${work}/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "${work}"
    echo "cluster: stopped; removed ${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] && chown postgres:postgres "${work}"
pg_port="$(next_free_port 5433)"
echo "cluster: PostgreSQL on 127.0.0.1:${pg_port} (data in ${work})"
as_postgres "${pg_bin}/initdb" -D "${work}/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >/dev/null
as_postgres "${pg_bin}/pg_ctl" -D "${work}/data" -l "${work}/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=${pg_port} -c unix_socket_directories=${work}" start >/dev/null
pg_started=1
"${pg_bin}/psql" --no-psqlrc --quiet -h 127.0.0.1 -p "${pg_port}" -U postgres -d postgres -c "CREATE DATABASE orleans" >/dev/null
export OCAPDGC_PG_CONNECTION="host=127.0.0.1 port=${pg_port} dbname=orleans user=postgres"
PATH="${pg_bin}:${PATH}" "${here}/pg-setup.sh" >/dev/null
echo "cluster: schema applied; OCAPDGC_PG_CONNECTION=\"${OCAPDGC_PG_CONNECTION}\""

host_dll="${OCAPDGC_HOST_DLL:-}"
if [ -z "${host_dll}" ]; then
    echo "cluster: building the host (Release)..."
    dotnet build "${root}/src/OcapDgc.Host" -c Release -v quiet -nologo >"${work}/build.log" 2>&1 \
        || { cat "${work}/build.log" >&2; exit 1; }
    host_dll="${root}/src/OcapDgc.Host/bin/Release/net10.0/OcapDgc.Host.dll"
fi
if [ ! -f "${host_dll}" ]; then
    echo "cluster: ${host_dll} not found." >&2
    exit 1
fi

# One key for the whole cluster: a silo accepts only connections that present it (Orleans:Tls:Pins defaults to its own pin).
"${here}/make-peer-keys.sh" "${work}/keys" cluster >/dev/null
tls=(--Orleans:Tls:Certificate="${work}/keys/cluster.cert.pem" --Orleans:Tls:Key="${work}/keys/cluster.key.pem")
echo "cluster: silo-to-silo and gateway connections over mutual TLS with the cluster key $(cat "${work}/keys/cluster.pin")"

for i in $(seq 1 "${count}"); do
    silo_port="$(next_free_port $((11110 + i)))"
    gateway_port="$(next_free_port $((29999 + i)))"
    web_port="$(next_free_port $((8079 + i)))"
    log="${work}/silo-${i}.log"
    dotnet "${host_dll}" --serve --profile postgres --silo-port "${silo_port}" --gateway-port "${gateway_port}" \
        --urls "http://127.0.0.1:${web_port}" "${tls[@]}" "${extra[@]}" >"${log}" 2>&1 &
    pid=$!
    pids+=("${pid}")
    for _ in $(seq 1 600); do
        grep -q "ocap-dgc silo ready" "${log}" && break
        if ! kill -0 "${pid}" 2>/dev/null; then
            echo "cluster: silo ${i} exited during start-up:" >&2
            cat "${log}" >&2
            exit 1
        fi
        sleep 0.2
    done
    if ! grep -q "ocap-dgc silo ready" "${log}"; then
        echo "cluster: silo ${i} was not ready after 120 s; its log: ${log}" >&2
        exit 1
    fi
    echo "cluster: silo ${i} pid ${pid} silo-port ${silo_port} gateway-port ${gateway_port} dashboard http://127.0.0.1:${web_port}/dashboard log ${log}"
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
