#!/usr/bin/env bash
# Memory per registration (PRODUCT.md asks for <= 1 KB): registers many
# distinct bindings at a bounded rate and reports how much the server's memory
# grew per binding.
#
#   bench/load/registration-memory.sh [--target kamailio|tandem] [--quick]
#       [--bindings N] [--users N] [--rate R] [--settle S]
#
#   --bindings  distinct bindings to add (default 100000; --quick: 10000)
#   --users     users (AORs) they are spread over (default 10000; --quick: 1000),
#               so each AOR gets bindings/users contacts (at most 16: Kamailio's
#               max_contacts; for Tandem the script sets registrar.max-contacts to 16)
#   --rate      REGISTER exchanges per second (default 2000: far below the
#               servers' limits, so no call fails and memory is not inflated by
#               queues; lower it on a busy machine)
#   --settle    seconds to wait after the warm-up and after the load before
#               measuring (default 45: the 32 s of Timer J during which a server
#               transaction keeps its answer for retransmissions, plus margin)
#
# Memory = sum of PSS over the server's processes (Kamailio's shared memory pool
# counted once). Baseline is taken after a warm-up of users/10 registrations
# (distinct Contacts from the measured ones) so that code paths, caches and
# allocator arenas exist before the baseline. Both samples are taken once the
# server is idle and its transactions are over (--settle): the steady-state memory
# of the registrations, which is what an operator sizes for. The PSS right at the
# end of the load (transactions of the last 32 s still alive, garbage not yet
# collected) is printed too. Bounded in time and count; kills what it started by
# PID on exit; 127.0.0.1 only.
set -euo pipefail

# shellcheck source=bench/load/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=kamailio bindings=100000 users=10000 rate=2000 settle=45
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --quick) bindings=10000; users=1000; shift ;;
    --bindings) bindings=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$target" in kamailio|tandem) ;; *) die "--target must be kamailio or tandem" ;; esac

packages=(sip-tester iproute2)
[ "$target" = kamailio ] && packages+=(kamailio)
ensure_packages "${packages[@]}"

BENCH_WORK=$(mktemp -d /tmp/tandem-bench.XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

case "$target" in
  kamailio) start_kamailio "$users" 2 512 ;;
  tandem)
    # The warm-up adds one more contact to users/10 of the AORs, so with the default
    # 10 contacts per AOR those would get 11; allow 16 like Kamailio's config
    # (tests/kamailio/registrar.cfg.in, registrar max_contacts).
    export TANDEM_REGISTRAR_MAX_CONTACTS=16
    start_tandem "$users" ;;
esac
users_csv "$BENCH_WORK/users.csv" 1 "$users"

# register SCENARIO CALLS: one bounded SIPp run at $rate; prints successful calls.
register() {
  local scenario=$1 calls=$2 secs
  secs=$((calls / rate + 1))
  rm -f "$BENCH_WORK/stat.csv"
  sipp "127.0.0.1:$SERVER_PORT" -sf "$BENCH_DIR/$scenario" -inf "$BENCH_WORK/users.csv" \
    -i 127.0.0.1 -p "$(free_port)" -t u1 -r "$rate" -rp 1000 -m "$calls" \
    -buff_size 8388608 -recv_timeout 5000 \
    -timeout "$((secs * 3 + 20))s" -timeout_error -nostdin \
    -trace_stat -stf "$BENCH_WORK/stat.csv" -fd 1 \
    > "$BENCH_WORK/sipp.out" 2>&1 &
  local pid=$!
  BENCH_PIDS+=("$pid")
  wait "$pid" || true
  sipp_stat "$BENCH_WORK/stat.csv" 'SuccessfulCall(C)'
}

warm=$((users / 10))
log "warm-up: $warm registrations (Contact = user, not counted)"
register register-auth-load.xml "$warm" >/dev/null
log "settling $settle s"
sleep "$settle"
before_kb=$(server_pss_kb)

log "registering $bindings distinct bindings at $rate/s"
t0=$SECONDS
ok=$(register register-unique-load.xml "$bindings")
load_secs=$((SECONDS - t0))
[ "$ok" -gt 0 ] || die "no registration succeeded; see $BENCH_WORK/sipp.out"
sleep 2
loaded_kb=$(server_pss_kb)
log "settling $settle s"
sleep "$settle"
after_kb=$(server_pss_kb)

per_byte() { awk -v a="$1" -v b="$before_kb" -v n="$ok" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }'; }
per=$(per_byte "$after_kb")
echo
echo "Registration memory, $target ($SERVER_VERSION): $ok of $bindings REGISTERs succeeded in $load_secs s over $users AORs"
[ "$ok" -eq "$bindings" ] || echo "WARNING: not every REGISTER succeeded; the server may hold more bindings than counted (lower --rate)"
echo "machine: $(machine_description); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server PSS: $((before_kb / 1024)) MiB before, $((loaded_kb / 1024)) MiB 2 s after the load ($(per_byte "$loaded_kb") bytes per registration), $((after_kb / 1024)) MiB after $settle s idle"
if [ "$target" = tandem ]; then
  grep -o 'Burst over: .*' "$BENCH_WORK/server.log" | sed 's/^/server log: /' || true
fi
echo
echo "Result row (docs/benchmarks.md):"
echo "| $SERVER_VERSION | $ok bindings / $users AORs | $((before_kb / 1024)) MiB | $((loaded_kb / 1024)) MiB | $((after_kb / 1024)) MiB | $per bytes | $(date -u +%Y-%m-%d) |"
