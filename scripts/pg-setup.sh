#!/usr/bin/env bash
# Applies the Orleans ADO.NET PostgreSQL schema (silo-config/postgresql/*.sql, in
# file-name order) to one database. Every script is idempotent, so running this
# again is safe.
#
# Which database: OCAPDGC_PG_CONNECTION if set (a libpq connection string such as
#   "host=127.0.0.1 port=5432 dbname=orleans user=orleans",
# a postgresql:// URI, or the Npgsql form the silos use,
#   "Host=127.0.0.1;Port=5432;Database=orleans;Username=orleans"),
# otherwise the usual libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER. Passwords come
# from PGPASSWORD or ~/.pgpass (a Password= in the Npgsql form is passed on as PGPASSWORD).
#
# Usage: scripts/pg-setup.sh [schema-dir]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
schema_dir="${1:-${here}/../silo-config/postgresql}"

if ! command -v psql >/dev/null 2>&1; then
    echo "pg-setup: psql not found; install it, e.g. 'apt-get install -y postgresql-client'." >&2
    exit 1
fi

shopt -s nullglob
scripts=("${schema_dir}"/*.sql)
if [ "${#scripts[@]}" -eq 0 ]; then
    echo "pg-setup: no *.sql files in ${schema_dir}" >&2
    exit 1
fi

# Keep "already exists, skipping" notices of re-runs out of the output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# The Npgsql form (Key=Value;...) becomes libpq's key='value' form in $libpq_connection; a password
# goes to PGPASSWORD, off the command line; client-side settings such as pooling mean nothing to psql.
npgsql_to_libpq() {
    local part key value out=()
    local IFS=';'
    for part in $1; do
        [ -z "${part// /}" ] && continue
        key="$(echo "${part%%=*}" | tr '[:upper:]' '[:lower:]' | tr -d ' ')"
        value="${part#*=}"
        value="${value//\\/\\\\}"
        value="${value//\'/\\\'}"
        case "${key}" in
            host|server) out+=("host='${value}'") ;;
            port) out+=("port='${value}'") ;;
            database|db) out+=("dbname='${value}'") ;;
            username|userid|user|uid) out+=("user='${value}'") ;;
            password|pwd) export PGPASSWORD="${part#*=}" ;;
            sslmode) out+=("sslmode='$(echo "${value}" | tr '[:upper:]' '[:lower:]')'") ;;
        esac
    done
    IFS=' '
    libpq_connection="${out[*]}"
}

psql_args=(--no-psqlrc --quiet --set ON_ERROR_STOP=1)
if [ -n "${OCAPDGC_PG_CONNECTION:-}" ]; then
    connection="${OCAPDGC_PG_CONNECTION}"
    if [[ "${connection}" == *";"* || ( "${connection}" != *" "* && "${connection}" == [A-Z]*=* ) ]]; then
        npgsql_to_libpq "${connection}"
        connection="${libpq_connection}"
    fi
    psql_args+=(--dbname "${connection}")
fi

for script in "${scripts[@]}"; do
    echo "pg-setup: applying $(basename "${script}")"
    # --single-transaction: a script either applies completely or not at all.
    psql "${psql_args[@]}" --single-transaction --file "${script}"
done
echo "pg-setup: done"
