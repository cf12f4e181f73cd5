#!/usr/bin/env bash
# A throwaway PostgreSQL server for the state store tests: Debian's `postgresql` package (installed
# with apt when missing), but a private cluster, never the distro's main one: `initdb` as the
# postgres OS user into RUN_DIR/postgres, listening on 127.0.0.1 only on a free port, trust auth
# for loopback, no Unix socket, started with `pg_ctl -w` (log in RUN_DIR/postgres.log). Its
# default collation is ICU's English where the server has ICU: ordering by linguistic rules, as
# most installed servers do, so a query that relies on byte order fails here too.
# Usage: postgres.sh RUN_DIR          start; prints ONE line on stdout: the superuser URL
#                                     postgres://postgres@127.0.0.1:PORT/postgres, or a one-line
#                                     reason (exit 1)
#        postgres.sh --stop RUN_DIR   stop it (harmless when nothing runs)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

READY_SECONDS=60
PORT_TRIES=5

# fail REASON: the one stdout line the caller reads, then exit 1.
fail() { printf '%s\n' "$1"; exit 1; }

# pg_bindir: the newest installed server's bin directory (/usr/lib/postgresql/<major>/bin).
pg_bindir() {
  local dir best="" major best_major=0
  for dir in /usr/lib/postgresql/*/bin; do
    if [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then continue; fi
    major=$(basename "$(dirname "$dir")")
    case $major in '' | *[!0-9]*) continue ;; esac
    if [ "$major" -gt "$best_major" ]; then best_major=$major best=$dir; fi
  done
  [ -n "$best" ] && printf '%s\n' "$best"
}

# as_postgres COMMAND...: runs COMMAND as the postgres OS user, from / (its home may be elsewhere).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

if [ "${1:-}" = --stop ]; then
  [ -n "${2:-}" ] || { echo "usage: postgres.sh --stop RUN_DIR" >&2; exit 2; }
  data="$2/postgres"
  [ -f "$data/postmaster.pid" ] || exit 0
  bindir=$(pg_bindir) || { log "no PostgreSQL server binaries: nothing to stop"; exit 0; }
  log "stopping the test PostgreSQL in $data"
  as_postgres "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 \
    || log "pg_ctl stop failed or nothing ran (see $2/postgres.log)"
  exit 0
fi

RUN_DIR=${1:?usage: postgres.sh RUN_DIR | postgres.sh --stop RUN_DIR}
is_root || fail "postgres.sh needs root (it runs the server as the postgres user)"
mkdir -p "$RUN_DIR" || fail "cannot create $RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
DATA="$RUN_DIR/postgres"
LOG="$RUN_DIR/postgres.log"

install_postgresql() {
  dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q 'ok installed' && return 0
  log "installing apt package postgresql"
  export DEBIAN_FRONTEND=noninteractive
  local i
  for i in 1 2 3; do
    apt-get -o DPkg::Lock::Timeout=120 update -q >"$RUN_DIR/apt-postgres.log" 2>&1 && break
    log "apt-get update failed (try $i)"; sleep 5
  done
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends postgresql \
    >>"$RUN_DIR/apt-postgres.log" 2>&1 \
    || fail "apt-get install postgresql failed (see $RUN_DIR/apt-postgres.log)"
}

# port_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  local port i
  for i in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" && { printf '%s\n' "$port"; return 0; }
  done
  return 1
}

install_postgresql
BIN=$(pg_bindir) || fail "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || fail "there is no postgres OS user (the postgresql package makes it)"
# A RUN_DIR from `mktemp -d` is root's alone (0700): the postgres user is let through it (search
# only, no listing), by an ACL entry where setfacl exists, else by the others' x bit.
if ! as_postgres test -x "$RUN_DIR"; then
  if command -v setfacl >/dev/null && setfacl -m u:postgres:x "$RUN_DIR" 2>/dev/null; then
    log "gave the postgres user search access to $RUN_DIR (ACL)"
  else
    chmod o+x "$RUN_DIR" && log "gave others search access to $RUN_DIR (chmod o+x)"
  fi
fi
as_postgres test -x "$RUN_DIR" || fail "the postgres user cannot reach $RUN_DIR (a parent directory is closed to it)"

# An earlier run's server in this RUN_DIR is stopped first: one cluster per RUN_DIR.
if [ -f "$DATA/postmaster.pid" ]; then
  as_postgres "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >/dev/null 2>&1 || true
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"
  { mkdir -m 700 "$DATA" && chown postgres:postgres "$DATA"; } || fail "cannot create $DATA"
  icu=()
  # ICU's English collation where this PostgreSQL has ICU (15 and later take --locale-provider).
  if "$BIN/initdb" --help 2>/dev/null | grep -q -- '--locale-provider' \
    && ldd "$BIN/postgres" 2>/dev/null | grep -q libicu; then
    icu=(--locale-provider=icu --icu-locale=en)
  fi
  # The C library's part (LC_CTYPE, messages) stays C; C.UTF-8 where the system has it.
  locale=C
  if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then locale=C.UTF-8; fi
  log "initdb $("$BIN/initdb" --version | awk '{print $3}') into $DATA"
  if ! as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --locale="$locale" "${icu[@]}" >"$RUN_DIR/initdb.log" 2>&1; then
    tail -5 "$RUN_DIR/initdb.log" >&2
    fail "initdb failed (see $RUN_DIR/initdb.log)"
  fi
fi
chown -R postgres:postgres "$DATA"
{ touch "$LOG" && chown postgres:postgres "$LOG"; } || fail "cannot create $LOG"

# Loopback only, trust there (and only there), no Unix socket: nothing outside this host reaches it,
# and nothing of the distro's cluster (/var/run/postgresql) is touched. Durability is off: these
# databases live for one test run.
cat >"$DATA/pg_hba.conf" <<'EOF'
host all all 127.0.0.1/32 trust
EOF
chown postgres:postgres "$DATA/pg_hba.conf"

for _ in $(seq 1 "$PORT_TRIES"); do
  port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
  opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off"
  opts+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
  log "starting PostgreSQL on 127.0.0.1:$port (log: $LOG)"
  if as_postgres "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$READY_SECONDS" -o "$opts" >/dev/null 2>&1; then
    if wait_for "PostgreSQL on 127.0.0.1:$port" 10 as_postgres "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$port"
      exit 0
    fi
    as_postgres "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >/dev/null 2>&1 || true
  fi
  # Another process may have taken the port between the check and the start: try another one.
  grep -q 'could not bind\|Address already in use' <(tail -20 "$LOG") || break
done
tail -5 "$LOG" >&2
fail "PostgreSQL did not start within ${READY_SECONDS}s (see $LOG)"
