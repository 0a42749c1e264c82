#!/usr/bin/env bash
# The demo across two clusters over the network (docs/security.md):
#   1. builds the host (Release) unless OCAPDGC_HOST_DLL names a built OcapDgc.Host.dll;
#   2. makes a key and a self-signed certificate for each of two hosts (scripts/make-peer-keys.sh) in a
#      fresh folder under /tmp;
#   3. starts host B, a cluster of its own on the embedded profile serving kernel bob, and host A, another
#      cluster serving kernel alice, each on loopback with free ports, each pinning the other's key;
#   4. host A runs the demo: alice and bob exchange references, send some back, drop and retire
#      everything, every frame between them over HTTPS with mutual TLS, and host A prints the summary
#      from both kernels' ground truth, ending with the usual "demo: ..." line;
#   5. stops host B and removes the folder. The exit code is host A's: 0 only when everything exported was
#      reclaimed and nothing leaked or was released early.
#
# Usage: scripts/two-clusters.sh [REFS] [-- extra arguments for both hosts]      REFS defaults to 2000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"

refs="${1:-2000}"
[ "$#" -gt 0 ] && shift
if [ "${1:-}" = "--" ]; then shift; fi
extra=("$@")
if ! [[ "${refs}" =~ ^[0-9]+$ ]]; then
    echo "two-clusters: REFS must be a number (got '${refs}')." >&2
    exit 2
fi

# shellcheck source=scripts/lib-ports.sh
source "${here}/lib-ports.sh"

work="$(mktemp -d /tmp/ocapdgc-two-clusters.XXXXXX)"
b_pid=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "${b_pid}" ]; then
        kill -TERM "${b_pid}" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "${b_pid}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${b_pid}" 2>/dev/null || true
    fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host_dll="${OCAPDGC_HOST_DLL:-}"
if [ -z "${host_dll}" ]; then
    echo "two-clusters: building the host (Release)..."
    dotnet build "${root}/src/OcapDgc.Host" -c Release -v quiet -nologo >"${work}/build.log" 2>&1 \
        || { cat "${work}/build.log" >&2; exit 1; }
    host_dll="${root}/src/OcapDgc.Host/bin/Release/net10.0/OcapDgc.Host.dll"
fi
[ -f "${host_dll}" ] || { echo "two-clusters: ${host_dll} not found." >&2; exit 1; }

"${here}/make-peer-keys.sh" "${work}/keys" hostA hostB | sed 's/^/two-clusters: key /'
pin_a="$(cat "${work}/keys/hostA.pin")"
pin_b="$(cat "${work}/keys/hostB.pin")"
peer_a="$(next_free_port 9443)"
peer_b="$(next_free_port $((peer_a + 1)))"

# Each host: its own cluster (own silo and gateway ports, dashboard on a free loopback port), its key,
# the kernel it serves, and the other host as its one peer, allowed to drive its demo kernel.
common=(--urls "http://127.0.0.1:0" --Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning)
host_args() { # name peer-name listen-port peer-port kernel peer-kernel peer-pin silo-port gateway-port
    echo --silo-port "$8" --gateway-port "$9" --Orleans:ClusterId="ocap-dgc-$1" \
        --Dgc:Network:Listen="127.0.0.1:$3" \
        --Dgc:Network:Certificate="${work}/keys/$1.cert.pem" --Dgc:Network:Key="${work}/keys/$1.key.pem" \
        --Dgc:Network:Kernels:0="$5" \
        --Dgc:Network:Peers:"$2":Address="https://127.0.0.1:$4/" --Dgc:Network:Peers:"$2":Pins:0="$7" \
        --Dgc:Network:Peers:"$2":Kernels:0="$6" --Dgc:Network:DemoControl:0="$2"
}
silo_a="$(next_free_port 11111)"; silo_b="$(next_free_port $((silo_a + 1)))"
gateway_a="$(next_free_port 30000)"; gateway_b="$(next_free_port $((gateway_a + 1)))"
read -r -a b_args <<<"$(host_args hostB hostA "${peer_b}" "${peer_a}" bob alice "${pin_a}" "${silo_b}" "${gateway_b}")"
read -r -a a_args <<<"$(host_args hostA hostB "${peer_a}" "${peer_b}" alice bob "${pin_b}" "${silo_a}" "${gateway_a}")"

b_log="${work}/hostB.log"
dotnet "${host_dll}" --serve "${b_args[@]}" "${common[@]}" "${extra[@]}" >"${b_log}" 2>&1 &
b_pid=$!
for _ in $(seq 1 600); do
    grep -q "ocap-dgc silo ready" "${b_log}" && break
    if ! kill -0 "${b_pid}" 2>/dev/null; then
        echo "two-clusters: host B exited during start-up:" >&2
        cat "${b_log}" >&2
        exit 1
    fi
    sleep 0.2
done
grep -q "ocap-dgc silo ready" "${b_log}" || { echo "two-clusters: host B was not ready after 120 s:" >&2; cat "${b_log}" >&2; exit 1; }
echo "two-clusters: host B (pid ${b_pid}) serves bob on https://127.0.0.1:${peer_b}/; host A serves alice on https://127.0.0.1:${peer_a}/ and runs the demo"

set +e
dotnet "${host_dll}" --refs "${refs}" "${a_args[@]}" "${common[@]}" "${extra[@]}"
status=$?
set -e
if [ "${status}" -ne 0 ]; then
    echo "two-clusters: host A exited with ${status}; host B's log:" >&2
    tail -n 50 "${b_log}" >&2
fi
exit "${status}"
