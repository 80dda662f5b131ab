#!/usr/bin/env bash
# Creates the two databases of the newsmon stack, each owned by its own role:
#   airflow  - Airflow's metadata database (role airflow, password $AIRFLOW_DB_PASSWORD)
#   newsmon  - the project database         (role newsmon, password $NEWSMON_DB_PASSWORD)
#
# The postgres image runs this once, when its data volume is empty. It is also safe to run
# again by hand (roles and databases are created only if missing; passwords are reset to the
# values in the environment), e.g. after changing a password in .env:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-newsmon-databases.sh
#
# Passwords reach SQL only through psql variables (:'name' quotes them as literals), so any
# character is safe here; the connection URLs in docker-compose.yml still need URL-safe
# passwords.
#
# The body runs in a subshell so that its strict shell options stay local even when the
# image sources this file instead of executing it (it does when the executable bit is lost,
# e.g. on a Windows checkout).

newsmon_create_databases() (
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD for the postgres service}"
: "${NEWSMON_DB_PASSWORD:?set NEWSMON_DB_PASSWORD for the postgres service}"

create_database() {
    local role="$1" password="$2" database="$3"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v role="$role" -v password="$password" -v database="$database" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \gexec
SQL
    echo "newsmon postgres-init: database ${database} (owner ${role}) ready"
}

create_database "${AIRFLOW_DB_USER:-airflow}" "$AIRFLOW_DB_PASSWORD" "${AIRFLOW_DB_NAME:-airflow}"
create_database "${NEWSMON_DB_USER:-newsmon}" "$NEWSMON_DB_PASSWORD" "${NEWSMON_DB_NAME:-newsmon}"
)

newsmon_create_databases
