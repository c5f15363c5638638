#!/usr/bin/env bash
# REGISTER-with-digest-auth throughput of a registrar, the way PRODUCT.md
# ("How good it must be" -> Speed) asks: SIPp drives register-auth-load.xml
# (REGISTER -> 401 -> REGISTER with credentials -> 200, many distinct users) at
# rising rates for a fixed time each, against a server this script starts on
# 127.0.0.1, and reports the highest rate sustained with < 0.1 % failed calls,
# with the server's CPU and memory at each step.
#
#   bench/load/register-load.sh [--target kamailio|tandem] [--quick]
#       [--duration S] [--rates "1000 2000 ..."] [--users N] [--sipp N]
#       [--children N] [--transport u1|t1]
#
#   --target    server to measure (default kamailio); both are started here
#   --quick     5 s steps at a few rates: checks the setup, not a measurement
#   --duration  seconds per rate step (default 30)
#   --rates     offered rates in REGISTER exchanges per second (default
#               1000 2000 4000 ... 20000 24000 28000 32000); stops at the first failing step
#   --users     distinct users provisioned and cycled through (default 10000)
#   --sipp      parallel SIPp processes, each with its own port and user slice
#               (default 2: one SIPp process saturates its core before a fast
#               server does, see docs/benchmarks.md)
#   --children  Kamailio UDP/TCP worker processes (default 4)
#   --transport SIPp transport, u1 (UDP, default) or t1 (TCP)
#
# The "other CPU %" column is machine busy time not used by the server or SIPp
# (kernel softirq work for loopback traffic, and anything else running): the
# machine is shared, so a step with a high value was disturbed and the run
# should be repeated. A warning is printed when a step exceeds 20 %.
#
# Bounded: every SIPp run has -m (call count) and -timeout; the whole script
# stops at the first failing step. All processes it starts are killed by PID
# on exit (trap). Traffic goes to 127.0.0.1 only.
set -euo pipefail

# shellcheck source=bench/load/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=kamailio duration=30 users=10000 sipp_procs=2 children=4 transport=u1
rates="1000 2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000 28000 32000"
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --quick) duration=5; rates="2000 6000 10000"; users=2000; shift ;;
    --duration) duration=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --sipp) sipp_procs=$2; shift 2 ;;
    --children) children=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$target" in kamailio|tandem) ;; *) die "--target must be kamailio or tandem" ;; esac
case "$transport" in u1|t1) ;; *) die "--transport must be u1 or t1" ;; esac

# sip-tester: SIPp; iproute2: ss for free ports; kamailio: the baseline server.
packages=(sip-tester iproute2)
[ "$target" = kamailio ] && packages+=(kamailio)
ensure_packages "${packages[@]}"

BENCH_WORK=$(mktemp -d /tmp/tandem-bench.XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

case "$target" in
  kamailio) start_kamailio "$users" "$children" 256 ;;
  tandem) start_tandem "$users" ;;
esac

# One user slice per SIPp process, so no two processes register the same AOR.
# Each SIPp process keeps its local port for the whole run: the Contact
# (sip:USER@127.0.0.1:PORT) then stays the same, so every call refreshes the
# user's one binding. A new port per step would add a binding per AOR per step
# until the server's contacts-per-AOR limit (Kamailio 16, Tandem 10) rejects
# them, and would make each 200 OK longer at every step.
per_proc_users=$((users / sipp_procs))
sipp_ports=()
for ((k = 0; k < sipp_procs; k++)); do
  users_csv "$BENCH_WORK/users-$k.csv" $((1 + k * per_proc_users)) "$per_proc_users"
  port=$(free_port)   # (a subshell: free_port cannot remember what it gave out here)
  while [[ " ${sipp_ports[*]} $SERVER_PORT " == *" $port "* ]]; do port=$(free_port); done
  sipp_ports+=("$port")
done
clk_tck=$(getconf CLK_TCK)
scenario="$BENCH_DIR/register-auth-load.xml"

# run_step RATE SECONDS: runs the SIPp processes; sets step_* variables.
run_step() {
  local rate=$1 secs=$2 k pids=() sipp_pids=()
  local per_rate=$((rate / sipp_procs))
  local calls=$((per_rate * secs))
  rm -f "$BENCH_WORK"/stat-*.csv "$BENCH_WORK"/err-*.log
  local server_before machine_before t0 t1
  server_before=$(cpu_ticks $(server_pids))
  machine_before=$(machine_busy_ticks)
  t0=$(date +%s.%N)
  for ((k = 0; k < sipp_procs; k++)); do
    # -buff_size: SIPp's default 64 KB socket buffers drop responses above
    # ~5,000/s. -recv_timeout: a call waiting 5 s for an answer is failed
    # instead of lingering. -timeout: hard bound on the whole run.
    sipp "127.0.0.1:$SERVER_PORT" -sf "$scenario" -inf "$BENCH_WORK/users-$k.csv" \
      -i 127.0.0.1 -p "${sipp_ports[$k]}" -t "$transport" \
      -r "$per_rate" -rp 1000 -m "$calls" \
      -buff_size 8388608 -recv_timeout 5000 \
      -timeout "$((secs * 3 + 20))s" -timeout_error -nostdin \
      -trace_stat -stf "$BENCH_WORK/stat-$k.csv" -fd 1 \
      -trace_err -error_file "$BENCH_WORK/err-$k.log" \
      > "$BENCH_WORK/sipp-$k.out" 2>&1 &
    sipp_pids+=("$!")
    BENCH_PIDS+=("$!")
  done
  # SIPp's own CPU: sampled just before the processes end would miss the tail,
  # so read it while they run (at 90 % of the step) and scale.
  local sipp_mid=0 server_mid=0 machine_mid=0 tmid
  sleep "$(awk -v s="$secs" 'BEGIN { print s * 0.9 }')"
  sipp_mid=$(cpu_ticks "${sipp_pids[@]}")
  server_mid=$(cpu_ticks $(server_pids))
  machine_mid=$(machine_busy_ticks)
  tmid=$(date +%s.%N)
  for k in "${sipp_pids[@]}"; do wait "$k" || true; done
  t1=$(date +%s.%N)
  step_elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  step_server_cpu=$(awk -v d=$((server_mid - server_before)) -v a="$t0" -v b="$tmid" -v hz="$clk_tck" \
    'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  step_sipp_cpu=$(awk -v d="$sipp_mid" -v a="$t0" -v b="$tmid" -v hz="$clk_tck" \
    'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  step_other_cpu=$(awk -v d=$((machine_mid - machine_before - (server_mid - server_before) - sipp_mid)) \
    -v a="$t0" -v b="$tmid" -v hz="$clk_tck" 'BEGIN { v = 100 * d / hz / (b - a); printf "%.0f", v < 0 ? 0 : v }')
  step_calls=$((per_rate * secs * sipp_procs))
  step_ok=0 step_failed=0 step_retrans=0
  for ((k = 0; k < sipp_procs; k++)); do
    step_ok=$((step_ok + $(sipp_stat "$BENCH_WORK/stat-$k.csv" 'SuccessfulCall(C)')))
    step_failed=$((step_failed + $(sipp_stat "$BENCH_WORK/stat-$k.csv" 'FailedCall(C)')))
    step_retrans=$((step_retrans + $(sipp_stat "$BENCH_WORK/stat-$k.csv" 'Retransmissions(C)')))
  done
  step_rss_mb=$(awk -v kb="$(server_pss_kb)" 'BEGIN { printf "%.1f", kb / 1024 }')
  step_achieved=$(awk -v n="$step_ok" -v s="$step_elapsed" 'BEGIN { printf "%.0f", n / s }')
  # Sustained: < 0.1 % of the offered calls failed or never completed, and the
  # work got done at >= 95 % of the offered rate (not stretched out in time).
  step_pass=$(awk -v ok="$step_ok" -v calls="$step_calls" -v a="$step_achieved" -v r="$rate" \
    'BEGIN { print ((calls - ok) * 1000 < calls && a >= 0.95 * r) ? "yes" : "no" }')
}

# Warm-up, for both servers alike: Tandem's JIT compiles the REGISTER path in tiers (tier 0,
# then instrumented, then optimized; about 10 s of load), and a step measured before that ends
# fails on code that is still being profiled, not on the server's capacity. Kamailio is unaffected.
log "warm-up: 15 s at 2000/s (not reported)"
run_step 2000 15

transport_name=UDP
[ "$transport" = t1 ] && transport_name=TCP
echo
echo "REGISTER with digest auth, $target ($SERVER_VERSION), $transport_name, $users users, $sipp_procs SIPp process(es), ${duration} s per step"
echo "machine: $(machine_description); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
echo
echo "| offered /s | achieved /s | completed | failed | retrans | server CPU % | SIPp CPU % | other CPU % | server PSS MB | sustained |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"
best=0 best_cpu=- best_rss=- noisy=""
for rate in $rates; do
  run_step "$rate" "$duration"
  echo "| $rate | $step_achieved | $step_ok/$step_calls | $step_failed | $step_retrans | $step_server_cpu | $step_sipp_cpu | $step_other_cpu | $step_rss_mb | $step_pass |"
  if [ "$step_other_cpu" -gt 20 ]; then
    noisy="$noisy $rate"
  fi
  if [ "$step_pass" != yes ]; then
    break
  fi
  best=$rate best_cpu=$step_server_cpu best_rss=$step_rss_mb
done
if [ -n "$noisy" ]; then
  echo
  echo "WARNING: other processes used > 20 % CPU during the step(s) at$noisy /s: the machine was not idle; repeat the run."
fi
echo
echo "Result row (docs/benchmarks.md):"
echo "| $SERVER_VERSION | $transport_name | $best /s | $best_cpu | $best_rss | $(date -u +%Y-%m-%d) |"
