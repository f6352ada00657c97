#!/usr/bin/env bash
# Start the MLflow tracking server for the studies: PostgreSQL as the backend store, artifacts
# proxied by the server (--serve-artifacts) into MLFLOW_ARTIFACTS_DESTINATION (s3://..., gs://...
# or a folder), optionally behind MLflow's basic-auth app. Runs in the foreground (exec): use
# systemd, a container or `nohup ... &` to keep it up.
#
# Environment (MLflow itself reads the ones marked *):
#   MLFLOW_DB_HOST (127.0.0.1), MLFLOW_DB_PORT (5432), MLFLOW_DB_USER (mlflow),
#   MLFLOW_DB_NAME (mlflow), MLFLOW_AUTH_DB_NAME (mlflow_auth): the databases of
#       create_databases.sh
#   MLFLOW_DB_PASSWORD      the role's password; handed to libpq as PGPASSWORD, so the store
#                           URIs carry none (they show in `ps` and in MLflow's logs)
#   MLFLOW_BACKEND_STORE_URI*  instead of the MLFLOW_DB_* parts, a full SQLAlchemy URI
#   MLFLOW_ARTIFACTS_DESTINATION*  required: where run artifacts go
#   MLFLOW_HOST* (127.0.0.1: this machine only; 0.0.0.0 for a cluster), MLFLOW_PORT* (5000)
#   MLFLOW_WORKERS*, MLFLOW_SQLALCHEMYSTORE_{POOL_SIZE,MAX_OVERFLOW,POOL_RECYCLE,POOLCLASS}*
#                           the worker processes and their connection pools: defaults and
#                           arithmetic in db_pool.sh; before starting, the script checks that
#                           they fit into PostgreSQL's max_connections (MLFLOW_DB_BUDGET_CHECK=0:
#                           skip, e.g. when the role may not connect yet)
#   MLFLOW_SERVER_ALLOWED_HOSTS*  the Host headers to accept, fnmatch patterns; this list
#                           replaces MLflow's default (localhost and private IPs), so a server
#                           reached by a DNS name needs e.g. "mlflow:*,localhost:*,127.0.0.1:*"
#   MLFLOW_AUTH=1           turn on basic auth; then also
#     MLFLOW_AUTH_ADMIN_USERNAME*, MLFLOW_AUTH_ADMIN_PASSWORD*  the admin created on first start
#     MLFLOW_AUTH_DEFAULT_PERMISSION (READ): what users get on experiments of others
#     MLFLOW_FLASK_SERVER_SECRET_KEY*  signs the auth app's CSRF tokens; the same for every
#                             replica (default: a random key kept in MLFLOW_RUN_DIR)
#     MLFLOW_RUN_DIR          where the generated auth config goes (default: a new temp folder)
#     MLFLOW_AUTH_DATABASE_URI  instead of the MLFLOW_DB_* parts with MLFLOW_AUTH_DB_NAME
#     MLFLOW_AUTH_CACHE_TTL_SECONDS (60): how long a worker trusts a checked password (0: no
#                             cache: a scrypt hash, 0.2 s of CPU, per request)
#   MLFLOW_SERVER_ENABLE_JOB_EXECUTION* (false here): MLflow's background job runner (GenAI
#                           scorers, trace jobs: about 8 processes); the studies need none of it
#   PYTHON (python3): the interpreter with mlflow[auth] and psycopg (3) installed
# Clients then log with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD in their environment.
set -euo pipefail

die() { echo "start_server.sh: $*" >&2; exit 1; }
PYTHON="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# MLFLOW_WORKERS and the MLFLOW_SQLALCHEMYSTORE_* pool settings, exported for MLflow.
# shellcheck source=db_pool.sh
. "$HERE/db_pool.sh"

: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (s3://bucket/prefix or a folder)}"
db_host="${MLFLOW_DB_HOST:-127.0.0.1}" db_port="${MLFLOW_DB_PORT:-5432}"
db_user="${MLFLOW_DB_USER:-mlflow}"
if [[ -n "${MLFLOW_DB_PASSWORD:-}" ]]; then export PGPASSWORD="$MLFLOW_DB_PASSWORD"; fi
# The driver named: a bare postgresql:// means psycopg2 to SQLAlchemy 2.0, psycopg 3 to 2.1.
pg_uri() { echo "postgresql+psycopg://${db_user}@${db_host}:${db_port}/$1"; }
backend="${MLFLOW_BACKEND_STORE_URI:-$(pg_uri "${MLFLOW_DB_NAME:-mlflow}")}"
# MLflow would otherwise also take these from the environment, where they are no longer needed.
unset MLFLOW_BACKEND_STORE_URI MLFLOW_DB_PASSWORD

"$PYTHON" -c 'import psycopg' 2>/dev/null \
    || die "$PYTHON cannot import psycopg: pip install 'psycopg[binary]'"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
if [[ "$MLFLOW_ARTIFACTS_DESTINATION" != *://* ]]; then
    mkdir -p "$MLFLOW_ARTIFACTS_DESTINATION"
fi

budget="$(db_connection_budget "$([[ "${MLFLOW_AUTH:-0}" == 1 ]] && echo 1 || echo 0)")" \
    || die "bad pool settings (see db_pool.sh)"
# Refuse to start with pools that could take more connections than PostgreSQL serves: the
# requests beyond would fail with "too many clients" (a 503) under load, not at start. (The
# auth database is counted as on the same PostgreSQL server, as create_databases.sh makes it.)
if [[ "$backend" == postgresql* && "${MLFLOW_DB_BUDGET_CHECK:-1}" == 1 ]]; then
    "$PYTHON" - "$backend" "$budget" <<'PY' \
        || die "connection budget check failed (see above; MLFLOW_DB_BUDGET_CHECK=0 skips it)"
import sys

import sqlalchemy

uri, budget = sys.argv[1], int(sys.argv[2])
engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
with engine.connect() as conn:
    setting = {
        row[0]: int(row[1])
        for row in conn.exec_driver_sql(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
        )
    }
free = setting["max_connections"] - setting["superuser_reserved_connections"]
free -= setting.get("reserved_connections", 0)  # PostgreSQL >= 16
print(f"start_server.sh: the server opens at most {budget} database connections; "
      f"PostgreSQL serves {free} (max_connections {setting['max_connections']})", file=sys.stderr)
if budget >= free:
    print("start_server.sh: fewer MLFLOW_WORKERS or smaller MLFLOW_SQLALCHEMYSTORE_POOL_SIZE /"
          " MAX_OVERFLOW, or a larger max_connections", file=sys.stderr)
    sys.exit(1)
PY
fi

args=(
    --backend-store-uri "$backend"
    --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
    --host "${MLFLOW_HOST:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}"
    --workers "$MLFLOW_WORKERS"
)
if [[ -n "${MLFLOW_SERVER_ALLOWED_HOSTS:-}" ]]; then
    args+=(--allowed-hosts "$MLFLOW_SERVER_ALLOWED_HOSTS")
fi

if [[ "${MLFLOW_AUTH:-0}" == 1 ]]; then
    : "${MLFLOW_AUTH_ADMIN_USERNAME:?set MLFLOW_AUTH_ADMIN_USERNAME with MLFLOW_AUTH=1}"
    : "${MLFLOW_AUTH_ADMIN_PASSWORD:?set MLFLOW_AUTH_ADMIN_PASSWORD with MLFLOW_AUTH=1}"
    "$PYTHON" -c 'import flask_wtf' 2>/dev/null \
        || die "the basic-auth app needs Flask-WTF: pip install 'mlflow[auth]'"
    run_dir="${MLFLOW_RUN_DIR:-$(mktemp -d -t mlflow-auth.XXXXXX)}"
    mkdir -p "$run_dir"
    # Generated at each start from the environment: no file with credentials in the repository.
    # The admin's name and password stay in MLFLOW_AUTH_ADMIN_*, which MLflow reads itself and
    # which take precedence over the file; the database password is libpq's PGPASSWORD.
    export MLFLOW_AUTH_CONFIG_PATH="$run_dir/basic_auth.ini"
    (umask 077 && cat >"$MLFLOW_AUTH_CONFIG_PATH" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${MLFLOW_AUTH_DATABASE_URI:-$(pg_uri "${MLFLOW_AUTH_DB_NAME:-mlflow_auth}")}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_TTL_SECONDS:-60}
INI
    )
    # The auth app signs its CSRF tokens with this key: every replica of the server needs the
    # same one. Without one given, a random key is kept in the run folder across restarts.
    if [[ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]]; then
        key_file="$run_dir/flask_secret_key"
        if [[ ! -s "$key_file" ]]; then
            (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$key_file")
        fi
        MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$key_file")"
        export MLFLOW_FLASK_SERVER_SECRET_KEY
    fi
    args+=(--app-name basic-auth)
fi

exec "$PYTHON" -m mlflow server "${args[@]}"
