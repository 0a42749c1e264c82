#!/usr/bin/env bash
# The kill soak: three silos of the cluster profile on a throwaway PostgreSQL (as scripts/cluster.sh starts
# them, with mutual TLS), reference kernels under continuous random traffic (sends, drops, retires, BOYD, kernel
# restarts) from the soak driver (`OcapDgc.Host soak-driver`, an Orleans client), and KILLS times: wait a random
# 2-6 s, SIGKILL a random silo, start it again on its ports and wait until it is ready. Then the driver stops the
# traffic, heals and checks (README, "The kill soak") and prints one line:
#   soak: kills=20 kernels=4 sends=... gaps=0 double_applied=0 count_mismatches=0 premature=0 dropped_callbacks=N (once each) ... leaked=0 rows_left=0 seconds=N seed=S
# The exit code is 0 only when every check held. On a failure, or a run not clean in every way, the silos' and
# the driver's logs are kept (path printed).
#
# Usage: scripts/soak.sh [KILLS] [-- silo arguments]      KILLS = 1-1000, default 20; scripts/test.sh runs 3
#   e.g. scripts/soak.sh 20 -- --Logging:LogLevel:OcapDgc=Information   (the silos log session ends, reconciliation)
# Environment: OCAPDGC_SOAK_SEED (default: from the clock; printed, and it repeats the kill schedule and the
# driver's choices, not the timing), OCAPDGC_SOAK_KERNELS (4-16, default 4), OCAPDGC_HOST_DLL (a built host),
# OCAPDGC_PG_BIN (the PostgreSQL server binaries), OCAPDGC_SOAK_CHECK=safety (pass on the safety checks alone,
# as ./scripts/test.sh's short run does; refusals, leaks and rows left are then printed, not failed on).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
me=soak
started="$(date +%s)"

kills=20
if [ "$#" -gt 0 ] && [ "$1" != "--" ]; then kills="$1"; shift; fi
if [ "$#" -gt 0 ] && [ "$1" != "--" ]; then kills="bad: $*"; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")
if ! [[ "${kills}" =~ ^[0-9]+$ ]] || [ "${kills}" -lt 1 ] || [ "${kills}" -gt 1000 ]; then
    echo "soak: usage: scripts/soak.sh [KILLS] [-- silo arguments]   (KILLS: silo kills, a number from 1 to 1000, default 20; got '${kills}')" >&2
    exit 2
fi
seed="${OCAPDGC_SOAK_SEED:-$(( $(date +%s%N) % 1000000 ))}"
if ! [[ "${seed}" =~ ^[0-9]+$ ]] || [ "${#seed}" -gt 9 ]; then
    echo "soak: OCAPDGC_SOAK_SEED must be a whole number below 10^9 (got '${seed}')." >&2
    exit 2
fi
kernels="${OCAPDGC_SOAK_KERNELS:-4}"
if ! [[ "${kernels}" =~ ^[0-9]+$ ]] || [ "${kernels}" -lt 4 ] || [ "${kernels}" -gt 16 ]; then
    echo "soak: OCAPDGC_SOAK_KERNELS must be a number of kernels from 4 to 16 (got '${kernels}')." >&2
    exit 2
fi
RANDOM="${seed}" # the kill schedule: which silo, after how long
silos=3

# shellcheck source=scripts/lib-ports.sh
source "${here}/lib-ports.sh"
# shellcheck source=scripts/lib-cluster.sh
source "${here}/lib-cluster.sh"
pg_require

work="$(mktemp -d /tmp/ocapdgc-soak.XXXXXX)"
mkdir -p "${work}/logs" "${work}/control"
pids=()
driver_pid=""
tail_pid=""
keep=0
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}" ${driver_pid}; do kill -KILL "${pid}" 2>/dev/null || true; done
    for pid in "${pids[@]}" ${driver_pid}; do wait "${pid}" 2>/dev/null || true; done
    [ -n "${tail_pid}" ] && { kill "${tail_pid}" 2>/dev/null || true; }
    pg_stop
    if [ "${keep}" -eq 1 ]; then
        rm -rf "${work}/data"
        echo "soak: logs kept in ${work}/logs (driver: ${work}/driver.log)"
    else
        rm -rf "${work}"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: seed ${seed} (OCAPDGC_SOAK_SEED=${seed} repeats it), ${kills} kills, ${kernels} kernels, ${silos} silos"
pg_start
host_build
cluster_key

suffix="${seed}-$$"
cluster=(--Orleans:ClusterId="soak-${suffix}" --Orleans:ServiceId="ocap-dgc-soak-${suffix}")
# Seconds-long leases, so lost sends are reconciled and lapsed leases end within the run; a dead silo is
# declared dead after two missed probes of 2 s (or at once by its successor on the same port).
settings=(
    "${cluster[@]}" "${tls[@]}"
    --Orleans:ReminderOptions:MinimumReminderPeriod=00:00:01
    --Orleans:ClusterMembershipOptions:ProbeTimeout=00:00:02
    --Orleans:ClusterMembershipOptions:NumMissedProbesLimit=2
    --Dgc:Lease:Duration=00:00:08
    --Dgc:Lease:PingInterval=00:00:02
    --Dgc:Lease:CheckPeriod=00:00:02
    # Each log line's header carries the time, so the silos' logs can be merged into one timeline.
    "--Logging:Console:TimestampFormat=HH:mm:ss.fff "
    "${extra[@]}"
)

silo_ports=() gateway_ports=() web_ports=() runs=()
start_silo() { # index (0-based): starts run N of silo i on its ports, waits until it is ready
    local i="$1"
    runs[i]=$(( ${runs[i]:-0} + 1 ))
    # A restarted silo keeps its silo and gateway ports (its cluster knows them); its dashboard port may have been
    # taken by another program while it was down: it then gets the next free one.
    if [ "${runs[i]}" -gt 1 ] && ! port_free "${web_ports[i]}"; then
        take_free_port "web_ports[i]" $(( web_ports[i] + silos ))
    fi
    local log="${work}/logs/silo-$((i + 1)).run-${runs[i]}.log"
    silo_start "${log}" "${silo_ports[i]}" "${gateway_ports[i]}" "${web_ports[i]}" "${settings[@]}"
    pids[i]="${silo_pid}"
    silo_wait_ready "${silo_pid}" "${log}" || { keep=1; exit 1; }
}
for i in $(seq 0 $((silos - 1))); do
    take_free_port "silo_ports[i]" $((11111 + i))
    take_free_port "gateway_ports[i]" $((30000 + i))
    take_free_port "web_ports[i]" $((8080 + i))
done
for i in $(seq 0 $((silos - 1))); do
    start_silo "${i}"
    echo "soak: silo $((i + 1)) pid ${pids[i]} silo-port ${silo_ports[i]} gateway-port ${gateway_ports[i]}"
done

dotnet "${host_dll}" soak-driver --control "${work}/control" --seed "${seed}" --kernels "${kernels}" --logs "${work}/logs" \
    "${cluster[@]}" "${tls[@]}" >"${work}/driver.log" 2>&1 &
driver_pid=$!
# The driver's progress is shown as it comes; its summary line is printed from its log once it has exited.
tail -n +1 -f "${work}/driver.log" --pid="${driver_pid}" | grep --line-buffered -v '^soak: kills=' &
tail_pid=$!

driver_alive() {
    kill -0 "${driver_pid}" 2>/dev/null && return 0
    echo "soak: the driver stopped early; its log: ${work}/driver.log" >&2
    keep=1
    exit 1
}
for _ in $(seq 1 600); do
    [ -f "${work}/control/ready" ] && break
    driver_alive
    sleep 0.2
done
[ -f "${work}/control/ready" ] || { echo "soak: the driver was not ready after 120 s" >&2; keep=1; exit 1; }

for n in $(seq 1 "${kills}"); do
    pause=$((2000 + RANDOM % 4000))
    victim=$((RANDOM % silos))
    sleep "$((pause / 1000)).$(printf '%03d' $((pause % 1000)))"
    driver_alive
    kill -KILL "${pids[victim]}" 2>/dev/null || { echo "soak: silo $((victim + 1)) (pid ${pids[victim]}) had stopped by itself; its log: ${work}/logs/silo-$((victim + 1)).run-${runs[victim]}.log" >&2; keep=1; exit 1; }
    wait "${pids[victim]}" 2>/dev/null || true
    echo "soak: kill ${n}/${kills}: silo $((victim + 1)) (pid ${pids[victim]}) after $((pause / 1000)).$(printf '%03d' $((pause % 1000))) s; restarting it"
    start_silo "${victim}"
done

echo "kills=${kills} started=${started}" >"${work}/control/stop.tmp"
mv "${work}/control/stop.tmp" "${work}/control/stop"
echo "soak: ${kills} kills done; the driver heals and checks"
set +e
wait "${driver_pid}"
status=$?
set -e
driver_pid=""
wait "${tail_pid}" 2>/dev/null || true
tail_pid=""
if ! grep '^soak: kills=' "${work}/driver.log"; then
    echo "soak: the driver printed no summary (exit code ${status}); its log: ${work}/driver.log" >&2
    [ "${status}" -eq 0 ] && status=1
fi
[ "${status}" -ne 0 ] && keep=1
# A run that passed its check but was not clean in every way (refusals, leaks or rows left under
# OCAPDGC_SOAK_CHECK=safety) keeps its logs too: they are what a diagnosis needs.
grep -q 'all_clean=no' "${work}/driver.log" && keep=1
exit "${status}"
