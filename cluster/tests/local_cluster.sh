#!/usr/bin/env bash
# The whole cluster stack on one machine, over loopback, each piece a separate process on its
# own free port of 127.0.0.1 and the same scripts and commands as on a real cluster:
#   PostgreSQL (../mlflow/dev_postgres.sh) with its databases (../mlflow/create_databases.sh),
#   the MLflow server with basic auth (../mlflow/start_server.sh) and a user for the jobs,
#   a Ray head and a second Ray node (`ray start --head`, `ray start --address`), token auth.
# Used by tests/cluster/test_cluster.py; also a way to try the setup on a laptop.
#
#   local_cluster.sh up RUN_DIR     start it all; writes RUN_DIR/env (KEY=VALUE; source it)
#   local_cluster.sh down RUN_DIR   stop all that `up` started for RUN_DIR, then remove RUN_DIR
#
# RUN_DIR must be short (Ray's Unix sockets live below it and a socket path has at most 107
# characters): e.g. RUN_DIR=$(mktemp -d /tmp/a3mc.XXXXXX).
# Environment: PYTHON (python3; the interpreter the nodes, the jobs and the MLflow server run
# with: the one where this project is installed), NODE_CPUS (1 per node), INSTALL (1: install
# what is missing: PostgreSQL with apt-get as root, Python packages with pip).
#
# Nothing here touches another Ray on the machine: own ports, own temp dirs, own token (not
# ~/.ray/auth_token), and `down` never calls `ray stop` (which stops every Ray of the machine):
# it signals the process sessions `up` created, by PID.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MLFLOW_DIR="$HERE/../mlflow"
PYTHON="$(command -v "${PYTHON:-python3}")" || { echo "local_cluster.sh: no python" >&2; exit 1; }
NODE_CPUS="${NODE_CPUS:-1}"
STUDY_USER="a3m-jobs"

die() { echo "local_cluster.sh: $*" >&2; exit 1; }
log() { echo "[local_cluster $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------------
# What the stack needs beyond the project's own dependencies.

python_deps_missing() {
    "$PYTHON" - <<'PY'
import importlib.util
import sys

missing = [m for m in ("psycopg", "flask_wtf") if importlib.util.find_spec(m) is None]
try:  # `ray job submit` needs the dashboard's job server: ray[default]
    from ray._private.utils import get_dashboard_dependency_error

    if get_dashboard_dependency_error() is not None:
        missing.append("ray[default]")
except ImportError:
    missing.append("ray[default]")
print(" ".join(missing))
sys.exit(1 if missing else 0)
PY
}

ensure_deps() {
    if ! "$MLFLOW_DIR/dev_postgres.sh" bin >/dev/null 2>&1; then
        [[ "${INSTALL:-1}" == 1 ]] || die "no PostgreSQL server; run: $MLFLOW_DIR/dev_postgres.sh install"
        log "installing PostgreSQL (apt-get)"
        "$MLFLOW_DIR/dev_postgres.sh" install
    fi
    local missing
    if ! missing="$(python_deps_missing)"; then
        [[ "${INSTALL:-1}" == 1 ]] || die "missing Python packages: $missing"
        log "installing $missing (pip)"
        # Pinned to the installed ray and mlflow, so that pip adds their extras only.
        local versions
        versions="$("$PYTHON" -c 'import mlflow, ray; print(ray.__version__, mlflow.__version__)')"
        read -r ray_version mlflow_version <<<"$versions"
        "$PYTHON" -m pip install -q --disable-pip-version-check \
            "ray[default]==$ray_version" "mlflow[auth]==$mlflow_version" "psycopg[binary]>=3.1"
    fi
}

# ---------------------------------------------------------------------------------------------
# Processes: each long-running piece is the leader of its own session (setsid), its PID kept in
# RUN_DIR/pids/NAME; `down` signals that session's processes and their descendants by PID
# (Ray's job drivers start sessions of their own, but stay descendants of the head's).

spawn() {
    local name="$1"; shift
    local pidfile="$run/pids/$name"
    # `bash -c` in the new session writes its own PID (= the session id), then execs the command.
    # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        </dev/null >"$run/logs/$name.log" 2>&1 &
    for _ in $(seq 50); do [[ -s "$pidfile" ]] && return 0; sleep 0.1; done
    die "$name did not start"
}

alive() { [[ -s "$run/pids/$1" ]] && kill -0 "$(<"$run/pids/$1")" 2>/dev/null; }

# "PID STARTTIME" of every process of session $1 and of every descendant of those, read from
# /proc (no procps needed). The start time (clock ticks since boot) tells a process from a
# later one that reuses its PID.
session_tree() {
    local stat f rest
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        rest="${stat##*) }"          # after "pid (comm) ": state ppid pgrp session ... starttime
        # shellcheck disable=SC2086  # split the fields on purpose
        set -- ${rest}
        echo "${stat%% *} $2 $4 ${20}"
    done | awk -v sid="$1" '
        { pid[NR] = $1; ppid[NR] = $2; st[NR] = $4; if ($3 == sid) mine[$1] = 1 }
        END {
            do {
                added = 0
                for (i = 1; i <= NR; i++)
                    if (!(pid[i] in mine) && (ppid[i] in mine)) { mine[pid[i]] = 1; added = 1 }
            } while (added)
            for (i = 1; i <= NR; i++) if (pid[i] in mine) print pid[i], st[i]
        }'
}

start_time() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- ${stat}
    echo "${20}"
}

# PIDs among "PID STARTTIME" lines (stdin) that still run as the same process.
still_running() {
    local p st
    while read -r p st; do
        [[ -n "$p" && "$(start_time "$p" 2>/dev/null)" == "$st" ]] && echo "$p"
    done | sort -u
}

wait_gone() {  # seconds, "PID STARTTIME" lines
    local left
    for _ in $(seq $(($1 * 5))); do
        left="$(still_running <<<"$2")"
        [[ -z "$left" ]] && return 0
        sleep 0.2
    done
    return 1
}

stop_session() {
    local name="$1" pidfile="$run/pids/$1"
    [[ -s "$pidfile" ]] || return 0
    local sid snapshot left t0=$SECONDS
    sid="$(<"$pidfile")"
    snapshot="$(session_tree "$sid")"
    if [[ -n "$snapshot" ]]; then
        # The leader first: `ray start --block` then stops its node's processes itself.
        kill -TERM "$sid" 2>/dev/null || true
        if ! wait_gone 10 "$snapshot"$'\n'"$(session_tree "$sid")"; then
            snapshot="$snapshot"$'\n'"$(session_tree "$sid")"
            mapfile -t left < <(still_running <<<"$snapshot")
            if (( ${#left[@]} )); then kill -TERM "${left[@]}" 2>/dev/null || true; fi
            if ! wait_gone 5 "$snapshot"; then
                mapfile -t left < <(still_running <<<"$snapshot")
                log "$name: SIGKILL to ${left[*]}"
                if (( ${#left[@]} )); then kill -KILL "${left[@]}" 2>/dev/null || true; fi
                if ! wait_gone 5 "$snapshot"; then
                    log "$name: still running: $(still_running <<<"$snapshot" | xargs)"
                    return 1
                fi
            fi
        fi
    fi
    rm -f "$pidfile"
    log "$name stopped ($((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------------------------------------

free_ports() {  # N distinct ports that were free a moment ago
    "$PYTHON" - "$1" <<'PY'
import socket
import sys

socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

wait_http_ok() {  # URL NAME SECONDS
    for _ in $(seq "$3"); do
        alive "$2" || { tail -n 30 "$run/logs/$2.log" >&2; die "$2 exited"; }
        if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "$1" 2>/dev/null; then
            return 0
        fi
        sleep 1
    done
    tail -n 30 "$run/logs/$2.log" >&2
    die "$2 not up after $3 s"
}

alive_ray_nodes() {
    "${ray_env[@]}" "$PYTHON" -m ray.scripts.scripts list nodes --address "http://127.0.0.1:$DASH_PORT" \
        --filter state=ALIVE --format json 2>/dev/null \
        | "$PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0
}

wait_ray_nodes() {  # COUNT SECONDS
    local t0=$SECONDS
    while (( SECONDS - t0 < $2 )); do
        alive ray-head || { tail -n 30 "$run/logs/ray-head.log" >&2; die "the Ray head exited"; }
        if [[ "$1" -gt 1 ]] && ! alive ray-worker; then
            tail -n 30 "$run/logs/ray-worker.log" >&2; die "the second Ray node exited"
        fi
        [[ "$(alive_ray_nodes)" -ge "$1" ]] && return 0
        sleep 1
    done
    die "fewer than $1 Ray nodes alive after $2 s"
}

# The environment of every Ray process (nodes, job drivers, trials) and of our Ray clients: no
# inherited RAY_* (the RAY_ADDRESS of another cluster, another token) nor MLFLOW_* or PG*, and
# this cluster's token. Sets the array ray_env, a command prefix.
set_ray_env() {
    ray_env=(env)
    local v
    for v in $(compgen -e); do
        case "$v" in RAY_* | MLFLOW_* | PG*) ray_env+=(-u "$v") ;; esac
    done
    ray_env+=(RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$run/ray_token")
}

up() {
    mkdir -p "$1"
    run="$(cd "$1" && pwd)"
    (( ${#run} <= 48 )) || die "RUN_DIR $run is too long for Ray's socket paths; use mktemp -d /tmp/a3mc.XXXXXX"
    # On any failure from here on, stop what already started.
    trap 'status=$?; if (( status != 0 )); then log "up failed, stopping what started"; down_run || true; fi' EXIT
    ensure_deps
    set_ray_env
    local pg_bin
    pg_bin="$("$MLFLOW_DIR/dev_postgres.sh" bin)"
    # PostgreSQL runs as the user `postgres` when we are root: it must be able to reach its folder.
    chmod 711 "$run"
    mkdir -p "$run/pids" "$run/logs" "$run/shared" "$run/mlflow"

    local pg_super_pw mlflow_db_pw optuna_db_pw admin_pw study_pw
    pg_super_pw="$(secret)" mlflow_db_pw="$(secret)" optuna_db_pw="$(secret)"
    admin_pw="$(secret)" study_pw="$(secret)"
    (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$run/ray_token")

    local ports
    ports="$(free_ports 7)"
    read -r PG_PORT MLFLOW_PORT GCS_PORT DASH_PORT AGENT_PORT_1 AGENT_PORT_2 CLIENT_PORT <<<"$ports"

    log "PostgreSQL on 127.0.0.1:$PG_PORT"
    PG_SUPERUSER_PASSWORD="$pg_super_pw" "$MLFLOW_DIR/dev_postgres.sh" start "$run/pg" "$PG_PORT"
    PGHOST=127.0.0.1 PGPORT="$PG_PORT" PGUSER=postgres PGPASSWORD="$pg_super_pw" \
        MLFLOW_DB_PASSWORD="$mlflow_db_pw" OPTUNA_DB_PASSWORD="$optuna_db_pw" PSQL="$pg_bin/psql" \
        "$MLFLOW_DIR/create_databases.sh" >/dev/null

    log "MLflow server on 127.0.0.1:$MLFLOW_PORT (basic auth)"
    spawn mlflow env PYTHON="$PYTHON" MLFLOW_DB_HOST=127.0.0.1 MLFLOW_DB_PORT="$PG_PORT" \
        MLFLOW_DB_PASSWORD="$mlflow_db_pw" MLFLOW_ARTIFACTS_DESTINATION="$run/artifacts" \
        MLFLOW_HOST=127.0.0.1 MLFLOW_PORT="$MLFLOW_PORT" MLFLOW_WORKERS=1 \
        MLFLOW_AUTH=1 MLFLOW_AUTH_ADMIN_USERNAME=admin MLFLOW_AUTH_ADMIN_PASSWORD="$admin_pw" \
        MLFLOW_RUN_DIR="$run/mlflow" "$MLFLOW_DIR/start_server.sh"
    local tracking_uri="http://127.0.0.1:$MLFLOW_PORT"
    wait_http_ok "$tracking_uri/health" mlflow 180
    # The most database connections that server may open (its pools, db_pool.sh), for the tests.
    local db_budget
    # shellcheck disable=SC2016  # $0 is the inner shell's
    db_budget="$(MLFLOW_WORKERS=1 bash -c '. "$0" && db_connection_budget 1' "$MLFLOW_DIR/db_pool.sh")"
    MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD="$admin_pw" \
        MLFLOW_NEW_USER_PASSWORD="$study_pw" \
        "$PYTHON" "$MLFLOW_DIR/create_user.py" --tracking-uri "$tracking_uri" \
        --username "$STUDY_USER" >/dev/null

    # What every Ray process gets: this Python first on PATH (a job's `python` is this one),
    # the jobs' MLflow user, libpq's password for Optuna's database, the shared data folder.
    local node_env=(
        PATH="$(dirname "$PYTHON"):$PATH"
        MLFLOW_TRACKING_USERNAME="$STUDY_USER" MLFLOW_TRACKING_PASSWORD="$study_pw"
        PGPASSWORD="$optuna_db_pw"
        A3M_SYNTHETIC_DIR="$run/shared/synthetic"
    )
    local client_port=()
    if "$PYTHON" -c 'from ray._private.utils import get_ray_client_dependency_error as e; exit(e() is not None)' 2>/dev/null; then
        # With ray[client] installed the head serves Ray Client, by default on 10001.
        client_port=(--ray-client-server-port "$CLIENT_PORT")
    fi
    # --block: `ray start` stays in the foreground as the node's supervisor (and its session's
    # leader), and stops the node's processes when it gets SIGTERM.
    # Ports: GCS, dashboard (the job server), the dashboard agents' HTTP ports and Ray Client
    # are given, free ones; the node manager, object manager, metrics, agents' gRPC and runtime
    # env agent ports default to 0 (the OS picks); worker ports 0 too: each Ray worker gets one
    # from the OS, not from the 10002-19999 range another Ray on this machine may use.
    local common=(--block --node-ip-address 127.0.0.1 --num-cpus "$NODE_CPUS" --num-gpus 0
        --object-store-memory 100000000 --min-worker-port 0 --max-worker-port 0
        --disable-usage-stats)
    log "Ray head: GCS 127.0.0.1:$GCS_PORT, dashboard and job server http://127.0.0.1:$DASH_PORT"
    spawn ray-head "${ray_env[@]}" "${node_env[@]}" "$PYTHON" -m ray.scripts.scripts start --head \
        --port "$GCS_PORT" --include-dashboard=true --dashboard-host 127.0.0.1 \
        --dashboard-port "$DASH_PORT" --dashboard-agent-listen-port "$AGENT_PORT_1" \
        "${client_port[@]}" --temp-dir "$run/ray-head" "${common[@]}"
    wait_ray_nodes 1 120
    log "second Ray node"
    spawn ray-worker "${ray_env[@]}" "${node_env[@]}" "$PYTHON" -m ray.scripts.scripts start \
        --address "127.0.0.1:$GCS_PORT" --dashboard-agent-listen-port "$AGENT_PORT_2" \
        --temp-dir "$run/ray-worker" "${common[@]}"
    wait_ray_nodes 2 120

    (umask 077 && cat >"$run/env" <<ENV
RAY_AUTH_MODE=token
RAY_AUTH_TOKEN_PATH=$run/ray_token
A3M_RAY_GCS_ADDRESS=127.0.0.1:$GCS_PORT
A3M_RAY_JOB_ADDRESS=http://127.0.0.1:$DASH_PORT
MLFLOW_TRACKING_URI=$tracking_uri
MLFLOW_TRACKING_USERNAME=$STUDY_USER
MLFLOW_TRACKING_PASSWORD=$study_pw
A3M_MLFLOW_ADMIN_USERNAME=admin
A3M_MLFLOW_ADMIN_PASSWORD=$admin_pw
A3M_OPTUNA_STORAGE=postgresql+psycopg://optuna@127.0.0.1:$PG_PORT/optuna
OPTUNA_DB_PASSWORD=$optuna_db_pw
A3M_SHARED_DIR=$run/shared
A3M_ARTIFACTS_DIR=$run/artifacts
A3M_MLFLOW_DB_CONNECTIONS=$db_budget
A3M_LOG_DIR=$run/logs
ENV
    )
    trap - EXIT
    log "up: source $run/env (e.g. set -a; . $run/env; set +a)"
}

down_run() {
    local failed=0
    # Ray first (its jobs log to MLflow), the second node before the head; PostgreSQL last.
    stop_session ray-worker || failed=1
    stop_session ray-head || failed=1
    stop_session mlflow || failed=1
    if [[ -f "$run/pg/data/postmaster.pid" ]]; then
        if ! "$MLFLOW_DIR/dev_postgres.sh" stop "$run/pg"; then
            local postmaster
            postmaster="$(head -n 1 "$run/pg/data/postmaster.pid")"
            log "pg_ctl stop failed; SIGKILL to the postmaster $postmaster"
            kill -KILL "$postmaster" 2>/dev/null || true
            failed=1
        fi
    fi
    return "$failed"
}

down() {
    [[ -d "$1" ]] || return 0
    run="$(cd "$1" && pwd)"
    local status=0
    down_run || status=1
    # Remove the folder only when nothing of ours runs in it any more.
    if (( status == 0 )); then rm -rf "$run"; else log "left $run for inspection"; fi
    return "$status"
}

case "${1:-}" in
    up) [[ $# -eq 2 ]] || die "usage: $0 up RUN_DIR"; up "$2" ;;
    down) [[ $# -eq 2 ]] || die "usage: $0 down RUN_DIR"; down "$2" ;;
    *) die "usage: $0 up RUN_DIR | down RUN_DIR" ;;
esac
