#!/usr/bin/env bash
# Applies the Orleans ADO.NET PostgreSQL schema (silo-config/postgresql/*.sql, in
# file-name order) to one database. Every script is idempotent, so running this
# again is safe.
#
# Which database: OCAPDGC_PG_CONNECTION if set (a libpq connection string such as
#   "host=127.0.0.1 port=5432 dbname=orleans user=orleans"
# or a postgresql:// URI), otherwise the usual libpq variables PGHOST, PGPORT,
# PGDATABASE, PGUSER. Passwords come from PGPASSWORD or ~/.pgpass, never from here.
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

psql_args=(--no-psqlrc --quiet --set ON_ERROR_STOP=1)
if [ -n "${OCAPDGC_PG_CONNECTION:-}" ]; then
    psql_args+=(--dbname "${OCAPDGC_PG_CONNECTION}")
fi

for script in "${scripts[@]}"; do
    echo "pg-setup: applying $(basename "${script}")"
    # --single-transaction: a script either applies completely or not at all.
    psql "${psql_args[@]}" --single-transaction --file "${script}"
done
echo "pg-setup: done"
