#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook: one database per service (same list as postgres.sh).
set -euo pipefail
IFS=',' read -ra dbs <<< "${POSTGRES_MULTIPLE_DATABASES:-}"
for db in "${dbs[@]}"; do
  psql -v ON_ERROR_STOP=1 -U postgres -c "CREATE DATABASE \"$db\""
done
