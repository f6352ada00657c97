#!/usr/bin/env bash
# A throw-away PostgreSQL server in a folder, for one machine and for the tests: initdb into DIR,
# then pg_ctl on a TCP port of 127.0.0.1 (no Unix socket, so nothing is shared with a system
# PostgreSQL). A real deployment uses a managed PostgreSQL (RDS, Cloud SQL, ...) or the
# distribution's service instead; cluster/mlflow/create_databases.sh works on either.
#
#   PG_SUPERUSER_PASSWORD=... dev_postgres.sh start DIR PORT   # initdb on first use, then start
#   dev_postgres.sh stop DIR
#   dev_postgres.sh install       # Debian/Ubuntu, as root: the server package, no default cluster
#
# Environment: PG_LISTEN (default 127.0.0.1), PG_BIN (folder of initdb/pg_ctl; default: found
# on PATH, else the newest /usr/lib/postgresql/*/bin), PG_SUPERUSER (default postgres),
# PG_MAX_CONNECTIONS (default 300, set at each start): above what the MLflow server's pools may
# open (138 with one worker, 261 with two, see db_pool.sh), with room for Optuna and psql.
# PostgreSQL refuses to run as root: as root the server runs as the system user `postgres`
# (created by Debian's package), so DIR's parent folders must be traversable by that user.
set -euo pipefail

die() { echo "dev_postgres.sh: $*" >&2; exit 1; }

pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local initdb
    if initdb="$(command -v initdb 2>/dev/null)"; then dirname "$(readlink -f "$initdb")"; return; fi
    # Debian keeps the server binaries off PATH, one folder per major version.
    local newest
    newest="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    [[ -n "$newest" && -x "$newest/initdb" ]] || return 1
    echo "$newest"
}

install_server() {
    [[ "$(id -u)" -eq 0 ]] || die "installing PostgreSQL needs root (apt-get)"
    command -v apt-get >/dev/null || die "no apt-get: install the PostgreSQL server (initdb, pg_ctl) by hand"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # postgresql-common first, told not to create and start the default cluster on port 5432
    # (what the official postgres Docker image does): we only want the binaries.
    apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
        /etc/postgresql-common/createcluster.conf
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
        postgresql >/dev/null
}

# Run a command as the server's owner: ourselves, or `postgres` when we are root (from /, a
# folder that user can enter; every path given is absolute).
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the system user 'postgres'"
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

start() {
    mkdir -p "$1"
    local dir port="$2" bin
    dir="$(cd "$1" && pwd)"
    bin="$(pg_bin)" || die "no PostgreSQL server binaries (initdb); run: $0 install"
    local data="$dir/data"
    if [[ ! -s "$data/PG_VERSION" ]]; then
        [[ -n "${PG_SUPERUSER_PASSWORD:-}" ]] || die "set PG_SUPERUSER_PASSWORD for a new server"
        if [[ "$(id -u)" -eq 0 ]]; then chown postgres: "$dir"; fi
        chmod 700 "$dir"
        # The password goes through a file readable by the owner only, never on a command line.
        local pwfile="$dir/.pwfile"
        (umask 077 && printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$pwfile")
        if [[ "$(id -u)" -eq 0 ]]; then chown postgres: "$pwfile"; fi
        # scram passwords over TCP for everyone; the Unix socket is switched off below.
        as_owner "$bin/initdb" -D "$data" -U "${PG_SUPERUSER:-postgres}" --pwfile="$pwfile" \
            --auth-host=scram-sha-256 --auth-local=reject -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
        cat >>"$data/postgresql.conf" <<CONF
# dev_postgres.sh
listen_addresses = '${PG_LISTEN:-127.0.0.1}'
port = $port
unix_socket_directories = ''
shared_buffers = 64MB
CONF
        if [[ "${PG_LISTEN:-127.0.0.1}" != "127.0.0.1" ]]; then
            # initdb only lets loopback clients in; a listen address beyond it needs a rule.
            echo "host all all samenet scram-sha-256" >>"$data/pg_hba.conf"
        fi
    fi
    # max_connections on the command line, so that a restart can change it (a server setting).
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
        -o "-c max_connections=${PG_MAX_CONNECTIONS:-300}" start >/dev/null \
        || { tail -n 20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
}

stop() {
    [[ -d "$1" ]] || return 0
    local dir bin
    dir="$(cd "$1" && pwd)"
    bin="$(pg_bin)" || die "no PostgreSQL server binaries"
    [[ -f "$dir/data/postmaster.pid" ]] || return 0
    # fast: roll back open transactions and stop now (the data is a test's or a dev's).
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
}

case "${1:-}" in
    start) [[ $# -eq 3 ]] || die "usage: $0 start DIR PORT"; start "$2" "$3" ;;
    stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
    install) pg_bin >/dev/null || install_server ;;
    bin) pg_bin ;;
    *) die "usage: $0 start DIR PORT | stop DIR | install | bin" ;;
esac
