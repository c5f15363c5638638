# Shared helpers of the load benchmarks (sourced, not run).
#
# Everything here talks to 127.0.0.1 only, starts processes whose PIDs it
# records in BENCH_PIDS, and bench_cleanup (installed as an EXIT trap by the
# scripts) kills exactly those PIDs, so an interrupted run leaves nothing behind.
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
BENCH_PIDS=()
BENCH_WORK=""
SERVER_PID=""
SERVER_PORT=""
SERVER_VERSION=""

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  # Give servers a moment to stop their workers, then make sure.
  sleep 1
  for pid in "${BENCH_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$BENCH_WORK" ] && [ -z "${BENCH_KEEP:-}" ]; then
    rm -rf "$BENCH_WORK"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# Installs missing Debian packages; apt-get update only if something is missing.
# A temporary policy-rc.d stops Debian's kamailio service from starting.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d made=0 rc=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    made=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get update -qq || rc=$?
  if [ "$rc" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  fi
  [ "$made" -eq 1 ] && as_root rm -f "$policy"
  return "$rc"
}

# A port on 127.0.0.1 free for both UDP and TCP (ss from iproute2), not handed
# out before in this run.
BENCH_PORTS_USED=" "
free_port() {
  local port tries=0
  while [ "$tries" -lt 500 ]; do
    tries=$((tries + 1))
    port=$((20000 + RANDOM % 40000))
    case "$BENCH_PORTS_USED" in *" $port "*) continue ;; esac
    if [ -z "$(ss -Hln "( sport = :$port )" 2>/dev/null)" ]; then
      BENCH_PORTS_USED="$BENCH_PORTS_USED$port "
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# users_csv FILE FIRST COUNT: SIPp injection file with users uFIRST..; passwords
# are derived from the user name so any slice can be regenerated.
users_csv() {
  local file=$1 first=$2 count=$3
  awk -v first="$first" -v count="$count" 'BEGIN {
    print "SEQUENTIAL"
    for (i = first; i < first + count; i++)
      printf "u%06d;example.com;[authentication username=u%06d password=pw%06d]\n", i, i, i
  }' > "$file"
}

# Sends one OPTIONS with SIPp and waits for 200: the server is up.
wait_ready() {
  local port=$1 deadline=$((SECONDS + ${2:-30}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
      die "server (pid $SERVER_PID) died during startup; see $BENCH_WORK/server.log"
    fi
    if sipp "127.0.0.1:$port" -sf "$REPO_ROOT/tests/sipp/options.xml" -i 127.0.0.1 -p 0 -t u1 \
        -m 1 -timeout 2s -timeout_error -nostdin >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.3
  done
  die "server on port $port did not answer OPTIONS; see $BENCH_WORK/server.log"
}

# start_kamailio USERS CHILDREN SHM_MB: Kamailio registrar (tests/kamailio/
# registrar.cfg.in) with USERS users in an in-memory htable.
start_kamailio() {
  local users=$1 children=$2 shm=$3
  local bin
  bin=$(command -v kamailio || echo /usr/sbin/kamailio)
  SERVER_PORT=$(free_port)
  mkdir -p "$BENCH_WORK/kamailio/db" "$BENCH_WORK/kamailio/run"
  awk -v n="$users" 'BEGIN {
    print "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)"
    for (i = 1; i <= n; i++) printf "%d:u%06d@example.com:0:0:pw%06d:0\n", i, i, i
  }' > "$BENCH_WORK/kamailio/db/passwords"
  printf 'table_name(string) table_version(int)\npasswords:2\n' > "$BENCH_WORK/kamailio/db/version"
  # Hash table of 2^bits slots, about one slot per user.
  local bits=10
  while [ $((1 << bits)) -lt "$users" ] && [ "$bits" -lt 20 ]; do bits=$((bits + 1)); done
  sed -e "s/@@UDP_PORT@@/$SERVER_PORT/" -e "s/@@TCP_PORT@@/$SERVER_PORT/" \
      -e "s/@@CHILDREN@@/$children/g" -e "s/@@MIN_EXPIRES@@/60/" \
      -e "s#@@DB_DIR@@#$BENCH_WORK/kamailio/db#" -e "s/@@HT_BITS@@/$bits/" \
      "$REPO_ROOT/tests/kamailio/registrar.cfg.in" > "$BENCH_WORK/kamailio/kamailio.cfg"
  SERVER_VERSION=$("$bin" -v | head -1 | sed -e 's/^version: //' -e 's/ *$//')
  # -DD: foreground (we own the PID) with worker processes; -E: log to stderr.
  "$bin" -f "$BENCH_WORK/kamailio/kamailio.cfg" -DD -E -Y "$BENCH_WORK/kamailio/run" \
    -m "$shm" -M 16 > "$BENCH_WORK/server.log" 2>&1 &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_ready "$SERVER_PORT" 30
  log "kamailio ($SERVER_VERSION) pid $SERVER_PID on 127.0.0.1:$SERVER_PORT, $users users, $children children"
}

# start_tandem USERS: the Release build of tandem with USERS users provisioned
# through the CLI (`tandem user import`, one transaction) before it starts.
start_tandem() {
  local users=$1
  command -v dotnet >/dev/null || die "dotnet not found"
  local bin="$BENCH_WORK/tandem-bin" data="$BENCH_WORK/tandem-data"
  log "publishing tandem (Release)"
  dotnet publish "$REPO_ROOT/src/Tandem.Host/Tandem.Host.csproj" -c Release -o "$bin" --nologo -v quiet >&2
  mkdir -p "$data"
  SERVER_VERSION="tandem $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  log "provisioning $users users (tandem user import)"
  local i u
  for ((i = 1; i <= users; i++)); do
    printf -v u 'u%06d' "$i"
    printf '%s@example.com,pw%s\n' "$u" "${u#u}"
  done > "$BENCH_WORK/users.txt"
  dotnet "$bin/tandem.dll" user import "$BENCH_WORK/users.txt" --data-dir "$data" >/dev/null \
    || die "tandem user import failed"
  SERVER_PORT=$(free_port)
  dotnet "$bin/tandem.dll" run --data-dir "$data" \
    --listen "udp:127.0.0.1:$SERVER_PORT" --listen "tcp:127.0.0.1:$SERVER_PORT" > "$BENCH_WORK/server.log" 2>&1 &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_ready "$SERVER_PORT" 60
  log "tandem pid $SERVER_PID on 127.0.0.1:$SERVER_PORT"
}

# The server's processes: the main PID and its direct children (Kamailio's
# workers), found by scanning /proc for that parent PID (field 4 of stat).
server_pids() {
  local pids="$SERVER_PID" stat rest f
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    if [ "$2" = "$SERVER_PID" ]; then
      f=${f#/proc/}
      pids="$pids ${f%/stat}"
    fi
  done
  echo "$pids"
}

# CPU time (clock ticks, user+system) of a list of PIDs; vanished PIDs count 0.
cpu_ticks() {
  local total=0 pid stat rest
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${stat##*) }            # fields after "(comm) "; comm may hold spaces
    # shellcheck disable=SC2086
    set -- $rest
    total=$((total + ${12} + ${13}))   # utime, stime (fields 14, 15 of stat)
  done
  echo "$total"
}

# Busy CPU time of the whole machine (clock ticks over all cores: user, nice,
# system, irq, softirq, steal from /proc/stat). Minus the server's and SIPp's
# own ticks it is what else ran meanwhile: kernel network softirq time not
# charged to a process (a few %), plus anything foreign, such as a build.
machine_busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# Memory of the server in KiB: sum of PSS over its processes (shared memory,
# such as Kamailio's shm pool, counted once, not once per worker).
server_pss_kb() {
  local total=0 pid kb
  for pid in $(server_pids); do
    kb=$(awk '/^Pss:/ { print $2; exit }' "/proc/$pid/smaps_rollup" 2>/dev/null) || kb=0
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# Final cumulative value of a column of a SIPp -trace_stat file (";" separated,
# header in the first line).
sipp_stat() {
  local file=$1 column=$2
  awk -F';' -v col="$column" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    { last = $c }
    END { print (last == "" ? 0 : last) }' "$file"
}

machine_description() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  printf '%s cores (%s), %s GiB RAM, %s, kernel %s' "$(nproc)" "$cpu" \
    "$(awk '/MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo)" \
    "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
}
