# Shared by the scripts that run the PostgreSQL cluster profile on this machine (cluster.sh, soak.sh): a
# throwaway PostgreSQL server, the host's build, a cluster key, and silo processes. Source it (after
# lib-ports.sh) with these set: here (the scripts folder), work (a fresh folder of the caller's, removed by
# it), me (the prefix of messages). Functions set globals the caller reads:
#   pg_require            exits unless initdb, pg_ctl and psql are in $pg_bin (OCAPDGC_PG_BIN overrides it)
#   pg_start              server in $work/data on the first free port from 5433 (pg_port), database orleans with
#                         the schema (scripts/pg-setup.sh); exports OCAPDGC_PG_CONNECTION; pg_stop stops it
#   host_build            host_dll: OCAPDGC_HOST_DLL, or the host built now (Release)
#   cluster_key           tls: the host arguments of mutual TLS with one key made in $work/keys; cluster_pin
#   silo_start LOG SILO GATEWAY WEB [ARGS...]
#                         starts `--serve --profile postgres` on those ports in the background: silo_pid
#   silo_wait_ready PID LOG
#                         waits (up to 120 s) for its "ocap-dgc silo ready" line; returns 1 with its log if it
#                         exits or times out

pg_bin="${OCAPDGC_PG_BIN:-/usr/lib/postgresql/15/bin}"
pg_started=0

pg_require() {
    local tool
    for tool in initdb pg_ctl psql; do
        if [ ! -x "${pg_bin}/${tool}" ]; then
            echo "${me}: ${pg_bin}/${tool} not found; install PostgreSQL (apt-get install -y postgresql) or set OCAPDGC_PG_BIN." >&2
            exit 1
        fi
    done
}

as_postgres() {
    # initdb and postgres refuse to run as root: then the server runs as the postgres OS user.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "${work}"
    pg_port="$(next_free_port 5433)"
    echo "${me}: PostgreSQL on 127.0.0.1:${pg_port} (data in ${work})"
    as_postgres "${pg_bin}/initdb" -D "${work}/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >/dev/null
    as_postgres "${pg_bin}/pg_ctl" -D "${work}/data" -l "${work}/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=${pg_port} -c unix_socket_directories=${work}" start >/dev/null
    pg_started=1
    "${pg_bin}/psql" --no-psqlrc --quiet -h 127.0.0.1 -p "${pg_port}" -U postgres -d postgres -c "CREATE DATABASE orleans" >/dev/null
    export OCAPDGC_PG_CONNECTION="host=127.0.0.1 port=${pg_port} dbname=orleans user=postgres"
    PATH="${pg_bin}:${PATH}" "${here}/pg-setup.sh" >/dev/null
}

pg_stop() {
    if [ "${pg_started}" -eq 1 ]; then
        as_postgres "${pg_bin}/pg_ctl" -D "${work}/data" -m fast -w stop >/dev/null 2>&1 || true
        pg_started=0
    fi
}

host_build() {
    host_dll="${OCAPDGC_HOST_DLL:-}"
    if [ -z "${host_dll}" ]; then
        echo "${me}: building the host (Release)..."
        dotnet build "${here}/../src/OcapDgc.Host" -c Release -v quiet -nologo >"${work}/build.log" 2>&1 \
            || { cat "${work}/build.log" >&2; exit 1; }
        host_dll="$(cd "${here}/.." && pwd)/src/OcapDgc.Host/bin/Release/net10.0/OcapDgc.Host.dll"
    fi
    if [ ! -f "${host_dll}" ]; then
        echo "${me}: ${host_dll} not found." >&2
        exit 1
    fi
}

cluster_key() {
    # One key for the whole cluster: a silo accepts only connections that present it (Orleans:Tls:Pins defaults to its own pin).
    "${here}/make-peer-keys.sh" "${work}/keys" cluster >/dev/null
    tls=(--Orleans:Tls:Certificate="${work}/keys/cluster.cert.pem" --Orleans:Tls:Key="${work}/keys/cluster.key.pem")
    cluster_pin="$(cat "${work}/keys/cluster.pin")"
}

silo_start() {
    local log="$1" silo_port="$2" gateway_port="$3" web_port="$4"
    shift 4
    dotnet "${host_dll}" --serve --profile postgres --silo-port "${silo_port}" --gateway-port "${gateway_port}" \
        --urls "http://127.0.0.1:${web_port}" "$@" >"${log}" 2>&1 &
    silo_pid=$!
}

silo_wait_ready() {
    local pid="$1" log="$2"
    for _ in $(seq 1 600); do
        grep -qs "ocap-dgc silo ready" "${log}" && return 0
        if ! kill -0 "${pid}" 2>/dev/null; then
            echo "${me}: silo pid ${pid} exited during start-up:" >&2
            cat "${log}" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "${me}: silo pid ${pid} was not ready after 120 s; its log: ${log}" >&2
    return 1
}
