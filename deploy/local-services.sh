#!/usr/bin/env bash
# PostgreSQL and Redis for development and tests.
#
#   deploy/local-services.sh start    use what already answers, start project-local instances otherwise
#   deploy/local-services.sh stop     stop the project-local instances (never a system service)
#   deploy/local-services.sh status   does each service answer, is it project-local or external
#   deploy/local-services.sh env      print export lines for the effective URLs
#
# Reads GATEWAY_DATABASE_URL and GATEWAY_REDIS_URL (defaults below), the same variables the
# gateway reads. Project-local instances keep their data under var/ in the project root:
# var/pg (PostgreSQL data directory and socket), var/pg.log, var/redis, var/redis.log.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VAR="$ROOT/var"
PGDATA_DIR="$VAR/pg"
PG_LOG="$VAR/pg.log"
PG_CONF_NAME="gateway-local.conf"
REDIS_DIR="$VAR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$VAR/redis.log"
PG_SYSTEM_USER_FALLBACK="gateway-pg"

DEFAULT_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/gateway"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379/0"
DATABASE_URL="${GATEWAY_DATABASE_URL:-$DEFAULT_DATABASE_URL}"
REDIS_URL="${GATEWAY_REDIS_URL:-$DEFAULT_REDIS_URL}"

say() { printf '%s\n' "$*"; }
warn() { printf 'local-services: %s\n' "$*" >&2; }
die() { printf 'local-services: error: %s\n' "$*" >&2; exit 1; }

need_package() {
  # need_package WHAT PACKAGE [ALTERNATIVE]: say what to install, then exit non-zero
  local what="$1" pkg="$2" alt="${3:-}" sudo=""
  [[ $EUID -eq 0 ]] || sudo="sudo "
  warn "error: $what is not installed (looked on PATH${PG_LOOKED:+ and under /usr/lib/postgresql/*/bin})."
  warn "On Debian or Ubuntu, install it with:"
  warn "    ${sudo}apt-get install $pkg"
  if [[ -n "$alt" ]]; then warn "or, where there is no $pkg package:  ${sudo}apt-get install $alt"; fi
  exit 1
}

urldecode() {
  local s="${1//\\/\\\\}"
  printf '%b' "${s//%/\\x}"
}

# ---------------------------------------------------------------- URL parsing

# split_authority AUTHORITY -> sets A_USERINFO A_HOST A_PORT (port empty if absent)
split_authority() {
  local auth="$1" hostport
  A_USERINFO=""
  if [[ "$auth" == *@* ]]; then
    A_USERINFO="${auth%@*}"
    hostport="${auth##*@}"
  else
    hostport="$auth"
  fi
  A_PORT=""
  if [[ "$hostport" == \[* ]]; then                       # [v6]:port
    A_HOST="${hostport#\[}"
    A_HOST="${A_HOST%%\]*}"
    local rest="${hostport#*\]}"
    if [[ "$rest" == :* ]]; then A_PORT="${rest#:}"; fi
  elif [[ "$hostport" == *:* ]]; then
    A_HOST="${hostport%:*}"
    A_PORT="${hostport##*:}"
  else
    A_HOST="$hostport"
  fi
  A_HOST="$(urldecode "$A_HOST")"
}

parse_pg_url() {
  local url="$1" rest
  case "$url" in
    postgresql://*) PG_SCHEME="postgresql"; rest="${url#postgresql://}" ;;
    postgres://*)   PG_SCHEME="postgres";   rest="${url#postgres://}" ;;
    *) die "GATEWAY_DATABASE_URL must start with postgresql:// (got: $url)" ;;
  esac
  PG_QUERY=""
  if [[ "$rest" == *\?* ]]; then PG_QUERY="?${rest#*\?}"; rest="${rest%%\?*}"; fi
  local auth="${rest%%/*}" path=""
  if [[ "$rest" == */* ]]; then path="${rest#*/}"; fi
  split_authority "$auth"
  PG_USERINFO="$A_USERINFO"
  PG_HOST="${A_HOST:-127.0.0.1}"
  PG_PORT="${A_PORT:-5432}"
  PG_USER="${PGUSER:-$(id -un)}"; PG_PASSWORD=""   # libpq's default when the URL names no user
  if [[ -n "$PG_USERINFO" ]]; then
    PG_USER="$(urldecode "${PG_USERINFO%%:*}")"
    if [[ "$PG_USERINFO" == *:* ]]; then PG_PASSWORD="$(urldecode "${PG_USERINFO#*:}")"; fi
  fi
  PG_DB="$(urldecode "${path:-gateway}")"
  [[ -n "$PG_DB" ]] || PG_DB="gateway"
  [[ "$PG_PORT" =~ ^[0-9]+$ ]] || die "bad port '$PG_PORT' in GATEWAY_DATABASE_URL"
  # Host part as it goes back into a URI (IPv6 literals need brackets).
  PG_HOST_URI="$PG_HOST"
  if [[ "$PG_HOST" == *:* ]]; then PG_HOST_URI="[$PG_HOST]"; fi
}

parse_redis_url() {
  local url="$1" rest
  case "$url" in
    redis://*)  rest="${url#redis://}" ;;
    rediss://*) rest="${url#rediss://}"; REDIS_TLS=1 ;;
    *) die "GATEWAY_REDIS_URL must start with redis:// (got: $url)" ;;
  esac
  rest="${rest%%\?*}"
  local auth="${rest%%/*}" path=""
  if [[ "$rest" == */* ]]; then path="${rest#*/}"; fi
  split_authority "$auth"
  REDIS_HOST="${A_HOST:-127.0.0.1}"
  REDIS_PORT="${A_PORT:-6379}"
  path="${path:-0}"
  [[ "$path" =~ ^[0-9]+$ ]] || die "bad database number '$path' in GATEWAY_REDIS_URL"
  REDIS_USER=""; REDIS_PASSWORD=""
  if [[ -n "$A_USERINFO" ]]; then
    REDIS_USER="$(urldecode "${A_USERINFO%%:*}")"
    if [[ "$A_USERINFO" == *:* ]]; then REDIS_PASSWORD="$(urldecode "${A_USERINFO#*:}")"; fi
  fi
  [[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || die "bad port '$REDIS_PORT' in GATEWAY_REDIS_URL"
}

REDIS_TLS=0
parse_pg_url "$DATABASE_URL"
parse_redis_url "$REDIS_URL"

is_local_host() {
  case "$1" in 127.0.0.1|localhost|::1|127.*) return 0 ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------- probes

tcp_open() {  # tcp_open HOST PORT
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# find_pg_bin NAME: on PATH first, else the newest /usr/lib/postgresql/*/bin.
find_pg_bin() {
  local name="$1" p
  if p="$(command -v "$name" 2>/dev/null)" && [[ -n "$p" ]]; then
    printf '%s\n' "$p"; return 0
  fi
  p="$(printf '%s\n' /usr/lib/postgresql/*/bin/"$name" | sort -V | tail -n 1)"
  [[ -n "$p" && -x "$p" ]] || return 1
  printf '%s\n' "$p"
}

# pg_probe: 0 accepting connections, 1 answers but rejects (starting up / shutting down), 2 nothing
pg_probe() {
  local isready rc=0
  if isready="$(find_pg_bin pg_isready)"; then
    "$isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 3 || rc=$?
    case $rc in 0|1) return $rc ;; *) return 2 ;; esac
  fi
  tcp_open "$PG_HOST" "$PG_PORT" || return 2
}

pg_answers() { pg_probe; }

redis_ping() {  # prints the reply of PING (PONG when healthy)
  local cli
  if cli="$(command -v redis-cli 2>/dev/null)"; then
    local args=(-h "$REDIS_HOST" -p "$REDIS_PORT")
    if [[ $REDIS_TLS -eq 1 ]]; then args+=(--tls); fi
    if [[ -n "$REDIS_PASSWORD" ]]; then
      if [[ -n "$REDIS_USER" ]]; then args+=(--user "$REDIS_USER"); fi
      args+=(--no-auth-warning -a "$REDIS_PASSWORD")
    fi
    timeout 5 "$cli" "${args[@]}" ping 2>/dev/null || true
    return 0
  fi
  # No redis-cli: speak RESP over bash's /dev/tcp.
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 0
    if [[ -n "$3" ]]; then
      if [[ -n "$2" ]]; then printf "AUTH %s %s\r\n" "$2" "$3" >&3; else printf "AUTH %s\r\n" "$3" >&3; fi
      IFS= read -r -t 3 _ <&3 || exit 0
    fi
    printf "PING\r\n" >&3
    IFS= read -r -t 3 line <&3 || exit 0
    printf "%s\n" "${line#+}"
  ' "$REDIS_HOST" "$REDIS_PORT" "$REDIS_USER" "$REDIS_PASSWORD" 2>/dev/null | tr -d '\r' || true
}

redis_answers() { [[ "$(redis_ping)" == PONG* ]]; }

# ---------------------------------------------------------------- project-local PostgreSQL

pg_local_pid() {  # pid of the project-local postmaster if it runs, else fails
  local f="$PGDATA_DIR/postmaster.pid" pid
  [[ -r "$f" ]] || return 1
  pid="$(head -n 1 "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

pg_local_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null; }

# The user that owns and runs the project-local cluster. PostgreSQL refuses to run as root.
pg_run_user() {
  if [[ $EUID -ne 0 ]]; then id -un; return; fi
  if [[ -d "$PGDATA_DIR" ]]; then
    local owner; owner="$(stat -c %U "$PGDATA_DIR")"
    if [[ "$owner" != root && "$owner" != UNKNOWN ]]; then printf '%s\n' "$owner"; return; fi
  fi
  if id -u postgres >/dev/null 2>&1; then printf 'postgres\n'; return; fi
  if ! id -u "$PG_SYSTEM_USER_FALLBACK" >/dev/null 2>&1; then
    command -v useradd >/dev/null || die "running as root and no 'postgres' user exists; useradd is missing, cannot create '$PG_SYSTEM_USER_FALLBACK'"
    useradd --system --no-create-home --home-dir "$PGDATA_DIR" --shell /usr/sbin/nologin \
      "$PG_SYSTEM_USER_FALLBACK" >&2
    warn "created system user $PG_SYSTEM_USER_FALLBACK to run the project-local PostgreSQL"
  fi
  printf '%s\n' "$PG_SYSTEM_USER_FALLBACK"
}

as_pg_user() {  # as_pg_user USER CMD... (runs from var/ so the user can always stat its cwd)
  local user="$1"; shift
  if [[ $EUID -ne 0 || "$user" == root ]]; then
    (cd "$VAR" && "$@")
  elif command -v runuser >/dev/null 2>&1; then
    (cd "$VAR" && runuser -u "$user" -- "$@")
  else
    local cmd; printf -v cmd '%q ' "$@"
    (cd "$VAR" && su -s /bin/sh "$user" -c "$cmd")
  fi
}

pg_server_bins() {  # sets INITDB PG_CTL from one installation (same major version)
  local initdb
  initdb="$(find_pg_bin initdb)" || PG_LOOKED=1 need_package "the PostgreSQL server (initdb)" postgresql-15 postgresql
  INITDB="$(readlink -f "$initdb")"
  PG_CTL="$(dirname "$INITDB")/pg_ctl"
  if [[ ! -x "$PG_CTL" ]]; then
    PG_CTL="$(find_pg_bin pg_ctl)" || PG_LOOKED=1 need_package "the PostgreSQL server (pg_ctl)" postgresql-15 postgresql
    PG_CTL="$(readlink -f "$PG_CTL")"
  fi
  [[ -x "$(dirname "$PG_CTL")/postgres" ]] || PG_LOOKED=1 need_package "the PostgreSQL server (postgres)" postgresql-15 postgresql
  PG_MAJOR="$("$PG_CTL" --version | awk '{print $3}')"
  PG_MAJOR="${PG_MAJOR%%.*}"
  PG_MAJOR="${PG_MAJOR%%[!0-9]*}"
}

start_local_pg() {
  pg_server_bins
  local user; user="$(pg_run_user)"
  mkdir -p "$VAR"

  if [[ ! -s "$PGDATA_DIR/PG_VERSION" ]]; then
    if [[ -e "$PGDATA_DIR" ]] && [[ -n "$(ls -A "$PGDATA_DIR" 2>/dev/null)" ]]; then
      die "$PGDATA_DIR exists but is not a PostgreSQL data directory; move it away"
    fi
    say "postgresql: initialising a project-local cluster in $PGDATA_DIR (PostgreSQL $PG_MAJOR, run as $user)"
    mkdir -p "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    if [[ $EUID -eq 0 ]]; then chown "$user": "$PGDATA_DIR"; fi
    as_pg_user "$user" test -w "$PGDATA_DIR" \
      || die "user $user cannot write $PGDATA_DIR (is every parent directory of $ROOT searchable by $user?)"
    as_pg_user "$user" "$INITDB" -D "$PGDATA_DIR" --auth=trust -U postgres \
      --encoding=UTF8 --locale=C >"$VAR/pg-initdb.log" 2>&1 \
      || { cat "$VAR/pg-initdb.log" >&2; die "initdb failed"; }
    printf "\n# Settings for this project-local cluster, rewritten by deploy/local-services.sh\ninclude_if_exists = '%s'\n" \
      "$PG_CONF_NAME" >>"$PGDATA_DIR/postgresql.conf"
  else
    local data_major
    data_major="$(cat "$PGDATA_DIR/PG_VERSION")"
    [[ "$data_major" == "$PG_MAJOR" ]] \
      || die "$PGDATA_DIR was made by PostgreSQL $data_major but $PG_CTL is $PG_MAJOR; remove $PGDATA_DIR or install postgresql-$data_major"
    if [[ $EUID -eq 0 ]]; then chown -R "$user": "$PGDATA_DIR"; fi
  fi

  local listen="$PG_HOST"
  if [[ "$PG_HOST" == localhost ]]; then listen="127.0.0.1"; fi
  local sockdir="$PGDATA_DIR"
  # A Unix socket path must fit in 107 bytes; over that, TCP only.
  if (( ${#sockdir} + 20 > 107 )); then sockdir=""; fi
  {
    echo "# Written by deploy/local-services.sh on every start."
    echo "listen_addresses = '$listen'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$sockdir'"
    echo "max_connections = 200"
  } >"$PGDATA_DIR/$PG_CONF_NAME"
  if [[ $EUID -eq 0 ]]; then chown "$user": "$PGDATA_DIR/$PG_CONF_NAME"; fi

  touch "$PG_LOG"
  if [[ $EUID -eq 0 ]]; then chown "$user": "$PG_LOG"; fi
  say "postgresql: starting project-local server on $listen:$PG_PORT (log: $PG_LOG)"
  if ! as_pg_user "$user" "$PG_CTL" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start >/dev/null; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "PostgreSQL did not start; see $PG_LOG"
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    pg_answers && break
    sleep 0.5
  done
  pg_answers || { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL started but does not answer at $PG_HOST:$PG_PORT"; }

  # The URL may name a user other than the bootstrap superuser: create it.
  if [[ "$PG_USER" != postgres ]]; then
    local uq; uq="$(sql_literal "$PG_USER")"
    psql_admin -v ON_ERROR_STOP=1 -qAtc \
      "SELECT 1 FROM pg_roles WHERE rolname = $uq" | grep -q 1 \
      || psql_admin -v ON_ERROR_STOP=1 -qc \
        "CREATE ROLE $(sql_ident "$PG_USER") LOGIN CREATEDB${PG_PASSWORD:+ PASSWORD $(sql_literal "$PG_PASSWORD")}"
  fi
}

sql_literal() { local s="${1//\'/\'\'}"; printf "'%s'" "$s"; }
sql_ident() { local s="${1//\"/\"\"}"; printf '"%s"' "$s"; }

PSQL=""
find_psql() {
  [[ -n "$PSQL" ]] && return 0
  PSQL="$(find_pg_bin psql)" || PG_LOOKED=1 need_package "psql, the PostgreSQL client" postgresql-client
}

# psql connected to the maintenance database "postgres" with the URL's credentials and options.
psql_maint() {
  find_psql
  local userinfo="${PG_USERINFO:+$PG_USERINFO@}"
  "$PSQL" -X "$PG_SCHEME://$userinfo$PG_HOST_URI:$PG_PORT/postgres$PG_QUERY" "$@"
}

# psql as the bootstrap superuser of the project-local cluster.
psql_admin() {
  find_psql
  PGPASSWORD="" "$PSQL" -X -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

ensure_database() {
  local exists lit
  lit="$(sql_literal "$PG_DB")"
  if ! exists="$(psql_maint -v ON_ERROR_STOP=1 -qAtc "SELECT 1 FROM pg_database WHERE datname = $lit" 2>&1)"; then
    warn "$exists"
    die "cannot connect to the 'postgres' database at $PG_HOST:$PG_PORT as $PG_USER to check for database '$PG_DB'"
  fi
  if [[ "$exists" == 1 ]]; then
    say "postgresql: database '$PG_DB' exists"
    return 0
  fi
  local out
  if ! out="$(psql_maint -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $(sql_ident "$PG_DB")" 2>&1)"; then
    warn "$out"
    die "could not create database '$PG_DB' as $PG_USER (does the role have CREATEDB?)"
  fi
  say "postgresql: created database '$PG_DB'"
}

start_pg() {
  local pid rc=0 i
  pg_probe || rc=$?
  if [[ $rc -eq 1 ]]; then
    say "postgresql: $PG_HOST:$PG_PORT answers but is not accepting connections yet; waiting"
    for ((i = 0; i < 60 && rc == 1; i++)); do sleep 0.5; rc=0; pg_probe || rc=$?; done
    [[ $rc -eq 0 ]] || die "PostgreSQL at $PG_HOST:$PG_PORT does not accept connections"
  fi
  if [[ $rc -eq 0 ]]; then
    if pid="$(pg_local_pid)" && [[ "$(pg_local_port)" == "$PG_PORT" ]]; then
      say "postgresql: project-local server already running at $PG_HOST:$PG_PORT (pid $pid)"
    else
      say "postgresql: something answers at $PG_HOST:$PG_PORT; using it (external, not managed here)"
    fi
  else
    is_local_host "$PG_HOST" \
      || die "nothing answers at $PG_HOST:$PG_PORT, and that host is not this machine: start it there, or point GATEWAY_DATABASE_URL at 127.0.0.1"
    if pid="$(pg_local_pid)"; then
      die "the project-local PostgreSQL (pid $pid) runs on port $(pg_local_port), not $PG_PORT; run '$0 stop' first"
    fi
    start_local_pg
  fi
  ensure_database
}

stop_pg() {
  local pid
  if ! pid="$(pg_local_pid)"; then
    say "postgresql: no project-local server running"
    return 0
  fi
  pg_server_bins
  local user; user="$(pg_run_user)"
  say "postgresql: stopping project-local server (pid $pid, port $(pg_local_port))"
  as_pg_user "$user" "$PG_CTL" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null \
    || die "pg_ctl stop failed; see $PG_LOG"
}

# ---------------------------------------------------------------- project-local Redis

redis_local_pid() {
  local pid
  [[ -r "$REDIS_PID" ]] || return 1
  pid="$(tr -dc 0-9 <"$REDIS_PID")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server || return 1
  printf '%s\n' "$pid"
}

redis_local_port() {  # the port the project-local redis-server was started on
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed -nE 's/.*:([0-9]+)( |$).*/\1/p'
}

start_redis() {
  local pid
  if redis_answers; then
    if pid="$(redis_local_pid)" && [[ "$(redis_local_port "$pid")" == "$REDIS_PORT" ]]; then
      say "redis: project-local server already running at $REDIS_HOST:$REDIS_PORT (pid $pid)"
    else
      say "redis: something answers PONG at $REDIS_HOST:$REDIS_PORT; using it (external, not managed here)"
    fi
    return 0
  fi
  if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
    die "something listens at $REDIS_HOST:$REDIS_PORT but does not answer PING with PONG (wrong password in GATEWAY_REDIS_URL, or not Redis?)"
  fi
  is_local_host "$REDIS_HOST" \
    || die "nothing answers at $REDIS_HOST:$REDIS_PORT, and that host is not this machine: start it there, or point GATEWAY_REDIS_URL at 127.0.0.1"
  [[ $REDIS_TLS -eq 0 ]] || die "rediss:// (TLS) URLs are not started locally; use redis://"
  if pid="$(redis_local_pid)"; then
    die "the project-local Redis (pid $pid) runs on another port; run '$0 stop' first"
  fi
  local server
  server="$(command -v redis-server 2>/dev/null)" || need_package "redis-server" redis-server
  mkdir -p "$REDIS_DIR"
  local bind="$REDIS_HOST"
  if [[ "$REDIS_HOST" == localhost ]]; then bind="127.0.0.1"; fi
  local args=(--daemonize yes --bind "$bind" --port "$REDIS_PORT" --save "" --appendonly no
              --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG")
  if [[ -n "$REDIS_PASSWORD" ]]; then
    [[ -z "$REDIS_USER" || "$REDIS_USER" == default ]] \
      || die "a project-local Redis has only the 'default' user; drop '$REDIS_USER' from GATEWAY_REDIS_URL"
    args+=(--requirepass "$REDIS_PASSWORD")
  fi
  say "redis: starting project-local server on $bind:$REDIS_PORT (log: $REDIS_LOG)"
  "$server" "${args[@]}" >/dev/null || { tail -n 20 "$REDIS_LOG" >&2 || true; die "redis-server did not start"; }
  local i
  for ((i = 0; i < 50; i++)); do
    redis_answers && { say "redis: PONG"; return 0; }
    sleep 0.2
  done
  tail -n 20 "$REDIS_LOG" >&2 || true
  die "redis-server started but does not answer PING at $REDIS_HOST:$REDIS_PORT; see $REDIS_LOG"
}

stop_redis() {
  local pid
  if ! pid="$(redis_local_pid)"; then
    say "redis: no project-local server running"
    rm -f "$REDIS_PID"
    return 0
  fi
  say "redis: stopping project-local server (pid $pid, port $(redis_local_port "$pid"))"
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$REDIS_PID"; return 0; }
    sleep 0.1
  done
  die "redis-server (pid $pid) did not exit within 10 s"
}

# ---------------------------------------------------------------- commands

cmd_status() {
  local rc=0 pid where
  if pg_answers; then
    where="external (not managed by this script)"
    if pid="$(pg_local_pid)" && [[ "$(pg_local_port)" == "$PG_PORT" ]]; then
      where="project-local (pid $pid, data $PGDATA_DIR)"
    fi
    say "postgresql  $PG_HOST:$PG_PORT  answers         $where"
  else
    say "postgresql  $PG_HOST:$PG_PORT  does not answer"; rc=3
  fi
  if redis_answers; then
    where="external (not managed by this script)"
    if pid="$(redis_local_pid)" && [[ "$(redis_local_port "$pid")" == "$REDIS_PORT" ]]; then
      where="project-local (pid $pid, dir $REDIS_DIR)"
    fi
    say "redis       $REDIS_HOST:$REDIS_PORT  answers         $where"
  else
    say "redis       $REDIS_HOST:$REDIS_PORT  does not answer"; rc=3
  fi
  return $rc
}

shell_quote() { local s="${1//\'/\'\\\'\'}"; printf "'%s'" "$s"; }

cmd_env() {
  printf 'export GATEWAY_DATABASE_URL=%s\n' "$(shell_quote "$DATABASE_URL")"
  printf 'export GATEWAY_REDIS_URL=%s\n' "$(shell_quote "$REDIS_URL")"
}

usage() {
  cat <<EOF
usage: $0 start|stop|status|env

  start   PostgreSQL and Redis at GATEWAY_DATABASE_URL / GATEWAY_REDIS_URL: use what answers,
          otherwise start project-local instances under $VAR; create the database if missing
  stop    stop the project-local instances this script started (never a system service)
  status  whether each service answers, and whether it is project-local or external
  env     print export lines for the effective URLs:  eval "\$($0 env)"
EOF
}

case "${1:-}" in
  start)  start_pg; start_redis ;;
  stop)   stop_redis; stop_pg ;;
  status) cmd_status ;;
  env)    cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
