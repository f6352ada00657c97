#!/usr/bin/env bash
# Create (or update) the roles and databases of the tracking stack on one PostgreSQL server:
#
#   database      owner    used by
#   mlflow        mlflow   the MLflow server's tracking store (runs, params, metrics)
#   mlflow_auth   mlflow   the MLflow server's basic-auth users and permissions
#   optuna        optuna   Optuna's RDB storage (studies/optuna_search.py --optuna-storage ...)
#
# Separate databases because MLflow and Optuna both migrate their schema with Alembic and both
# keep its `alembic_version` table: in one database each would see the other's revision.
# Separate roles because only the MLflow server needs its store, while Optuna's storage is
# opened by every study driver.
#
# Connection as an administrator through libpq's environment: PGHOST, PGPORT, PGUSER,
# PGPASSWORD (or ~/.pgpass), PGDATABASE (default postgres), PGSSLMODE, ...
# The passwords of the two roles come from MLFLOW_DB_PASSWORD and OPTUNA_DB_PASSWORD; they are
# read by psql itself (\getenv, psql >= 15), so they never appear on a command line.
# Names: MLFLOW_DB_USER, MLFLOW_DB_NAME, MLFLOW_AUTH_DB_NAME, OPTUNA_DB_USER, OPTUNA_DB_NAME.
# Running it again resets the passwords and creates what is missing.
set -euo pipefail

: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}"
: "${OPTUNA_DB_PASSWORD:?set OPTUNA_DB_PASSWORD}"
export MLFLOW_DB_USER="${MLFLOW_DB_USER:-mlflow}" MLFLOW_DB_NAME="${MLFLOW_DB_NAME:-mlflow}"
export MLFLOW_AUTH_DB_NAME="${MLFLOW_AUTH_DB_NAME:-mlflow_auth}"
export OPTUNA_DB_USER="${OPTUNA_DB_USER:-optuna}" OPTUNA_DB_NAME="${OPTUNA_DB_NAME:-optuna}"
PSQL="${PSQL:-psql}"

major="$("$PSQL" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')"
if (( major < 15 )); then
    echo "create_databases.sh: needs psql >= 15 (for \\getenv), found $major" >&2
    exit 1
fi

# \gexec runs each row of the query before it as a statement; format(%I, %L) quotes the names
# and passwords, so any character is safe in them.
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}" <<'SQL'
\getenv mlflow_user MLFLOW_DB_USER
\getenv mlflow_pw MLFLOW_DB_PASSWORD
\getenv mlflow_db MLFLOW_DB_NAME
\getenv auth_db MLFLOW_AUTH_DB_NAME
\getenv optuna_user OPTUNA_DB_USER
\getenv optuna_pw OPTUNA_DB_PASSWORD
\getenv optuna_db OPTUNA_DB_NAME

SELECT format(CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = r.name)
                   THEN 'ALTER ROLE %I WITH LOGIN PASSWORD %L'
                   ELSE 'CREATE ROLE %I WITH LOGIN PASSWORD %L' END, r.name, r.pw)
FROM (VALUES (:'mlflow_user', :'mlflow_pw'), (:'optuna_user', :'optuna_pw')) AS r(name, pw)
\gexec

SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8''', d.name, d.owner)
FROM (VALUES (:'mlflow_db', :'mlflow_user'), (:'auth_db', :'mlflow_user'),
             (:'optuna_db', :'optuna_user')) AS d(name, owner)
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d.name)
\gexec

-- Only each database's owner (and administrators) may connect to it.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', d.name)
FROM (VALUES (:'mlflow_db'), (:'auth_db'), (:'optuna_db')) AS d(name)
\gexec
SQL
echo "databases ready: $MLFLOW_DB_NAME, $MLFLOW_AUTH_DB_NAME (role $MLFLOW_DB_USER)," \
     "$OPTUNA_DB_NAME (role $OPTUNA_DB_USER)"
