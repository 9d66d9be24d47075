# shellcheck shell=bash
# A throwaway PostgreSQL cluster on 127.0.0.1, shared by scripts/test and
# scripts/bench: source this file, then call start_postgres. The caller
# defines at_exit CMD… (run at exit, last added first), through which the
# cluster is stopped and its directory removed however the script ends.
#
# start_postgres exports what the tests read:
#   COFFER_TEST_POSTGRES     a DSN of the cluster's maintenance database
#   COFFER_REQUIRE_POSTGRES  1: without PostgreSQL its tests fail, not skip
#   COFFER_PG_BIN            the server's bin directory (pg_dump, pg_restore)
# and leaves PG_BIN, pg_dir and pg_port set.

# initdb refuses to run as root: the cluster then belongs to postgres.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi
}

start_postgres() {
  if ! declare -F at_exit >/dev/null; then
    echo "start_postgres: define at_exit before calling it (it stops the cluster at exit)"; return 1
  fi
  # The newest installed server (Debian's layout); its pg_dump and
  # pg_restore are the ones the backup tests must use.
  PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL's initdb is missing under /usr/lib/postgresql: install Debian's postgresql package"; exit 1
  fi
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/coffer-test-pg.XXXXXX")
  at_exit 'rm -rf "$pg_dir"'
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$pg_dir"; fi
  # Run from the cluster's directory: su keeps the working directory, which
  # postgres may not be allowed to read.
  if ! (cd "$pg_dir" && as_pg "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$pg_dir/initdb.log" 2>&1); then
    cat "$pg_dir/initdb.log"; exit 1
  fi
  # Loopback only, the socket in our directory, default fsync (crash tests
  # rely on it), and room for several Coffer nodes' pools at once. A port
  # another program holds makes the start fail: try a few.
  pg_port=""
  local port
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    if (cd "$pg_dir" && as_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir -c max_connections=300" start >/dev/null); then
      pg_port=$port
      break
    fi
  done
  if [ -z "$pg_port" ]; then
    echo "PostgreSQL did not start on any of 10 ports; its log:"; cat "$pg_dir/server.log" 2>/dev/null; exit 1
  fi
  at_exit '(cd "$pg_dir" && as_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null)'
  local i
  for i in $(seq 1 30); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
    if [ "$i" -eq 30 ]; then echo "PostgreSQL is not answering on 127.0.0.1:$pg_port after 30 s"; exit 1; fi
    sleep 1
  done
  echo "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$pg_port"
  export COFFER_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
  # Without PostgreSQL the PostgreSQL tests fail instead of skipping.
  export COFFER_REQUIRE_POSTGRES=1
  export COFFER_PG_BIN="$PG_BIN"
}
