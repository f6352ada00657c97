#!/usr/bin/env bash
# The MLflow server's worker processes and database connection pools, in one place.
# start_server.sh sources this file, and every deployment starts the server through it (the k8s
# Deployment, the Docker image, tests/local_cluster.sh), so each gets these values unless its
# environment sets its own. Run directly, it prints the settings and the most connections they
# allow (`MLFLOW_WORKERS=2 cluster/mlflow/db_pool.sh` for another size). Why these numbers:
# "Many writers" in cluster/README.md.
#
# What MLflow 3.17 opens (mlflow/store/db/utils.py, create_sqlalchemy_engine): per process, one
# SQLAlchemy engine per store, each a QueuePool of pool_size connections kept open plus up to
# max_overflow more under load:
#   - each of the MLFLOW_WORKERS uvicorn workers: the tracking store (database mlflow), the
#     model registry store (database mlflow again, an engine of its own) and, with basic auth,
#     the auth store (database mlflow_auth): STORES = 3 (2 without auth);
#   - the `mlflow server` process that spawns them opened the same stores to migrate and check
#     them and keeps their idle connections: at most STORES x pool_size.
# Hence at most  MLFLOW_WORKERS x STORES x (pool_size + max_overflow) + STORES x pool_size
# connections, which start_server.sh checks against PostgreSQL's max_connections.
#
# Why pool_size + max_overflow = 41: a worker runs up to 40 requests at once (the threads of
# anyio's default limiter, which runs MLflow's Flask app under uvicorn), and the tracking
# store's log_batch holds one connection while its helpers (_log_metrics, _set_tags) take a
# second from the same pool (two more if the batch renames the run: the studies' do not). With 40 or fewer connections, enough concurrent log_batch calls
# each hold one and wait for another: nobody proceeds until SQLAlchemy's pool_timeout (30 s)
# fails them with "QueuePool limit ... reached" (HTTP 400: the client does not retry, the
# metrics are lost). One connection more than the threads always lets one of them finish.
set -euo pipefail

# uvicorn worker processes. One serves the studies (40 request threads); each more one costs
# another STORES x 41 connections.
export MLFLOW_WORKERS="${MLFLOW_WORKERS:-1}"
# Connections a store keeps open (SQLAlchemy's default), and opens beyond them under load, up to
# the 41 above. MLflow passes neither setting when it is 0 (SQLAlchemy's 5 and 10 then apply).
export MLFLOW_SQLALCHEMYSTORE_POOL_SIZE="${MLFLOW_SQLALCHEMYSTORE_POOL_SIZE:-5}"
export MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW="${MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW:-36}"
# Reopen a connection after 30 minutes: managed databases and proxies drop idle ones (MLflow
# also pings each connection before use, pool_pre_ping).
export MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE="${MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE:-1800}"
# The QueuePool, named: NullPool (MLflow issue #5209) would open and authenticate a connection
# per session, several per request, and bound nothing.
export MLFLOW_SQLALCHEMYSTORE_POOLCLASS="${MLFLOW_SQLALCHEMYSTORE_POOLCLASS:-QueuePool}"

# db_connection_budget AUTH: the most connections the server opens (AUTH 1: with basic auth).
db_connection_budget() {
    local stores=$((2 + ${1:-1})) name
    for name in MLFLOW_WORKERS MLFLOW_SQLALCHEMYSTORE_POOL_SIZE MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW; do
        if ! [[ "${!name}" =~ ^[1-9][0-9]*$ ]]; then
            echo "db_pool.sh: $name=${!name}: expected a whole number >= 1" >&2
            return 1
        fi
    done
    local pool=$MLFLOW_SQLALCHEMYSTORE_POOL_SIZE overflow=$MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW
    echo $((MLFLOW_WORKERS * stores * (pool + overflow) + stores * pool))
}

# Run, not sourced (`return` works only in a sourced file): print the settings and the budget.
if ! (return 0 2>/dev/null); then
    budget="$(db_connection_budget "${MLFLOW_AUTH:-1}")"
    stores=$((2 + ${MLFLOW_AUTH:-1}))
    env | grep -E '^MLFLOW_(WORKERS|SQLALCHEMYSTORE_)' | sort
    echo "at most $budget connections = $MLFLOW_WORKERS workers x $stores stores x" \
        "($MLFLOW_SQLALCHEMYSTORE_POOL_SIZE + $MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW)" \
        "+ $stores x $MLFLOW_SQLALCHEMYSTORE_POOL_SIZE (the mlflow server process)"
fi
