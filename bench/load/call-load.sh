#!/usr/bin/env bash
# Proxied-call throughput, the way PRODUCT.md ("How good it must be" -> Speed)
# and the calls issue ask: SIPp UAC -> server -> SIPp UAS, every call
# INVITE/100/180/200/ACK/BYE/200 with record-routing (ACK and BYE follow the
# Route set through the server), at rising rates for a fixed time each; reports
# the highest rate sustained with < 0.1 % failed calls, with the server's CPU
# and memory at each step. Kamailio and Tandem are measured the same way, one
# after the other in the same run (--target both).
#
#   bench/load/call-load.sh [--target kamailio|tandem|both] [--quick]
#       [--duration S] [--rates "500 750 ..."] [--call-ms MS] [--children N]
#
#   --target    server(s) to measure (default kamailio); each is started here
#   --quick     5 s steps at a few rates: checks the setup, not a measurement
#   --duration  seconds per rate step (default 30)
#   --rates     offered rates in calls per second (default 250 500 750 1000
#               1250 1500 1750 2000 2250 2500 3000 3500 4000); stops at the
#               first step that is not sustained
#   --call-ms   how long each call lasts between ACK and BYE (default 1000;
#               at R calls/s about R calls are up at once)
#   --children  Kamailio UDP worker processes (default 4)
#
# Setup, identical for both servers (see docs/benchmarks-calls.md):
#   - the callee bob@example.com is a SIPp UAS (call-uas-load.xml) on
#     127.0.0.1 that first REGISTERs with digest auth (tests/sipp/register-auth.xml)
#     from the port it then answers on: every call is a location lookup;
#   - the caller is a SIPp UAC (call-uac-load.xml) on 127.0.0.2, which both
#     servers are configured to trust: INVITEs are NOT challenged (no 407
#     round trip), exactly the INVITE/100/180/200/ACK/BYE/200 flow;
#   - both servers record-route and are transaction stateful; Kamailio runs
#     tests/kamailio/proxy.cfg.in, Tandem `routing: trusted-peers: [127.0.0.2]`.
#
# Bounded: every SIPp UAC run has -m and -timeout; the UAS and the servers are
# killed by PID on exit (trap). Traffic goes to 127.0.0.0/8 only.
set -euo pipefail

# shellcheck source=bench/load/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

targets=kamailio duration=30 children=4 call_ms=1000
# Kamailio's shared memory, MB: tm keeps every transaction (INVITE and BYE)
# in it until its wait timer ends; 256 MB runs out at ~1,750 calls/s.
shm_mb=1024
rates="250 500 750 1000 1250 1500 1750 2000 2250 2500 3000 3500 4000"
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets=$2; shift 2 ;;
    --quick) duration=5; rates="200 500 1000"; shift ;;
    --duration) duration=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --children) children=$2; shift 2 ;;
    --call-ms) call_ms=$2; shift 2 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$targets" in
  kamailio|tandem) ;;
  both) targets="kamailio tandem" ;;
  *) die "--target must be kamailio, tandem or both" ;;
esac

# sip-tester: SIPp; iproute2: ss for free ports; kamailio: the baseline server.
packages=(sip-tester iproute2)
case " $targets " in *" kamailio "*) packages+=(kamailio) ;; esac
ensure_packages "${packages[@]}"

BENCH_WORK=$(mktemp -d /tmp/tandem-call-bench.XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

CALLER_IP=127.0.0.2
CALLEE_USER=bob CALLEE_PASSWORD=bob-bench-pw DOMAIN=example.com
clk_tck=$(getconf CLK_TCK)
uac_scenario="$BENCH_DIR/call-uac-load.xml"
uas_scenario="$BENCH_DIR/call-uas-load.xml"
printf 'SEQUENTIAL\ncaller;%s;[authentication username=caller password=unused]\n' "$DOMAIN" > "$BENCH_WORK/caller.csv"
printf 'SEQUENTIAL\n%s;%s;[authentication username=%s password=%s]\n' \
  "$CALLEE_USER" "$DOMAIN" "$CALLEE_USER" "$CALLEE_PASSWORD" > "$BENCH_WORK/callee.csv"

# Kamailio as registrar + record-routing proxy (tests/kamailio/proxy.cfg.in),
# the callee's password in its in-memory htable, the caller's IP trusted.
start_kamailio_proxy() {
  local bin
  bin=$(command -v kamailio || echo /usr/sbin/kamailio)
  SERVER_PORT=$(free_port)
  local dir="$BENCH_WORK/kamailio"
  mkdir -p "$dir/db" "$dir/run"
  printf 'id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n1:%s@%s:0:0:%s:0\n' \
    "$CALLEE_USER" "$DOMAIN" "$CALLEE_PASSWORD" > "$dir/db/passwords"
  printf 'table_name(string) table_version(int)\npasswords:2\n' > "$dir/db/version"
  sed -e "s/@@UDP_PORT@@/$SERVER_PORT/" -e "s/@@TCP_PORT@@/$SERVER_PORT/" \
      -e "s/@@CHILDREN@@/$children/g" -e "s/@@MIN_EXPIRES@@/60/" \
      -e "s#@@DB_DIR@@#$dir/db#" -e "s/@@HT_BITS@@/4/" -e "s/@@TRUSTED_PEER@@/$CALLER_IP/" \
      "$REPO_ROOT/tests/kamailio/proxy.cfg.in" > "$dir/kamailio.cfg"
  SERVER_VERSION="Kamailio $("$bin" -v | head -1 | sed -e 's/^version: kamailio //' -e 's/ .*$//')"
  "$bin" -f "$dir/kamailio.cfg" -DD -E -Y "$dir/run" -m "$shm_mb" -M 16 > "$BENCH_WORK/server-kamailio.log" 2>&1 &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_ready "$SERVER_PORT" 30
  log "kamailio ($SERVER_VERSION) pid $SERVER_PID on 127.0.0.1:$SERVER_PORT, $children children, ${shm_mb} MB shm, trusts $CALLER_IP"
}

# Tandem (Release build) with the callee provisioned and the caller's IP
# trusted. The routing keys are the ones tests/Tandem.EndToEnd.Tests assume
# (Infrastructure/CallRouting.cs, TandemCallConfig): keep the two in step.
start_tandem_proxy() {
  command -v dotnet >/dev/null || die "dotnet not found"
  local bin="$BENCH_WORK/tandem-bin" data="$BENCH_WORK/tandem-data"
  log "publishing tandem (Release)"
  dotnet publish "$REPO_ROOT/src/Tandem.Host/Tandem.Host.csproj" -c Release -o "$bin" --nologo -v quiet >&2
  mkdir -p "$data"
  SERVER_VERSION="Tandem $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dotnet "$bin/tandem.dll" user add "$CALLEE_USER@$DOMAIN" --password "$CALLEE_PASSWORD" --data-dir "$data" >/dev/null \
    || die "tandem user add failed"
  cat > "$BENCH_WORK/tandem.yaml" <<EOF
routing:
  trusted-peers: ["$CALLER_IP"]
EOF
  SERVER_PORT=$(free_port)
  dotnet "$bin/tandem.dll" run --data-dir "$data" --config "$BENCH_WORK/tandem.yaml" \
    --listen "udp:127.0.0.1:$SERVER_PORT" --listen "tcp:127.0.0.1:$SERVER_PORT" > "$BENCH_WORK/server-tandem.log" 2>&1 &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_ready "$SERVER_PORT" 60
  log "tandem pid $SERVER_PID on 127.0.0.1:$SERVER_PORT, trusts $CALLER_IP"
}

# The callee: REGISTER bob from a port, then a long-running UAS on that port
# answering every call of every step (no -m; killed by PID at the end).
UAS_PID=""
start_callee() {
  local port
  port=$(free_port)
  sipp "127.0.0.1:$SERVER_PORT" -sf "$REPO_ROOT/tests/sipp/register-auth.xml" -inf "$BENCH_WORK/callee.csv" \
    -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 10s -timeout_error -nostdin \
    -trace_err -error_file "$BENCH_WORK/register-errors.log" >/dev/null 2>&1 \
    || die "the callee could not register; see $BENCH_WORK/register-errors.log"
  sipp -sf "$uas_scenario" -i 127.0.0.1 -p "$port" -t u1 -buff_size 8388608 -nostdin \
    -timeout 7200s -trace_err -error_file "$BENCH_WORK/uas-errors.log" > "$BENCH_WORK/uas.out" 2>&1 &
  UAS_PID=$!
  BENCH_PIDS+=("$UAS_PID")
  sleep 0.5
  kill -0 "$UAS_PID" 2>/dev/null || die "the UAS did not start; see $BENCH_WORK/uas.out"
  log "callee $CALLEE_USER@$DOMAIN registered, UAS pid $UAS_PID on 127.0.0.1:$port"
}

stop_server() {
  local pid
  for pid in "$UAS_PID" "$SERVER_PID"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in "$UAS_PID" "$SERVER_PID"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  UAS_PID="" SERVER_PID=""
}

# run_step RATE SECONDS: one UAC run at RATE calls/s; sets step_* variables.
run_step() {
  local rate=$1 secs=$2
  local calls=$((rate * secs))
  rm -f "$BENCH_WORK/stat.csv" "$BENCH_WORK/uac-errors.log"
  local server_before uas_before t0 t1 tmid uac_pid
  server_before=$(cpu_ticks $(server_pids))
  uas_before=$(cpu_ticks "$UAS_PID")
  t0=$(date +%s.%N)
  # -buff_size: SIPp's default 64 KB socket buffers drop messages at high
  # rates. -recv_timeout: a call waiting 5 s for an answer fails instead of
  # lingering. -timeout: hard bound on the run.
  sipp "127.0.0.1:$SERVER_PORT" -sf "$uac_scenario" -inf "$BENCH_WORK/caller.csv" -s "$CALLEE_USER" \
    -i "$CALLER_IP" -p "$(free_port)" -t u1 \
    -r "$rate" -rp 1000 -m "$calls" -d "$call_ms" -l $((rate * (call_ms / 1000 + 10) + 100)) \
    -buff_size 8388608 -recv_timeout 5000 \
    -timeout "$((secs * 3 + 20))s" -timeout_error -nostdin \
    -trace_stat -stf "$BENCH_WORK/stat.csv" -fd 1 \
    -trace_err -error_file "$BENCH_WORK/uac-errors.log" \
    > "$BENCH_WORK/uac.out" 2>&1 &
  uac_pid=$!
  BENCH_PIDS+=("$uac_pid")
  # CPU is sampled while the UAC runs (at 90 % of the step), so the tail of
  # the run does not dilute it.
  sleep "$(awk -v s="$secs" 'BEGIN { print s * 0.9 }')"
  local server_mid sipp_mid
  server_mid=$(cpu_ticks $(server_pids))
  sipp_mid=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$UAS_PID") - uas_before ))
  tmid=$(date +%s.%N)
  wait "$uac_pid" || true
  t1=$(date +%s.%N)
  step_elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  step_server_cpu=$(awk -v d=$((server_mid - server_before)) -v a="$t0" -v b="$tmid" -v hz="$clk_tck" \
    'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  step_sipp_cpu=$(awk -v d="$sipp_mid" -v a="$t0" -v b="$tmid" -v hz="$clk_tck" \
    'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  step_calls=$calls
  step_ok=$(sipp_stat "$BENCH_WORK/stat.csv" 'SuccessfulCall(C)')
  step_failed=$(sipp_stat "$BENCH_WORK/stat.csv" 'FailedCall(C)')
  step_retrans=$(sipp_stat "$BENCH_WORK/stat.csv" 'Retransmissions(C)')
  step_rss_mb=$(awk -v kb="$(server_pss_kb)" 'BEGIN { printf "%.1f", kb / 1024 }')
  # Calls completed per second of the run, not counting the last call's
  # length (the run ends call_ms + the 200 ms late-180 window after the
  # last INVITE).
  step_achieved=$(awk -v n="$step_ok" -v s="$step_elapsed" -v d="$call_ms" 'BEGIN { printf "%.0f", n / (s - (d + 200) / 1000) }')
  # Sustained: < 0.1 % of the offered calls failed or never completed, and the
  # work got done at >= 95 % of the offered rate (not stretched out in time).
  step_pass=$(awk -v ok="$step_ok" -v calls="$step_calls" -v a="$step_achieved" -v r="$rate" \
    'BEGIN { print ((calls - ok) * 1000 < calls && a >= 0.95 * r) ? "yes" : "no" }')
}

summary=()
for target in $targets; do
  case "$target" in
    kamailio) start_kamailio_proxy ;;
    tandem) start_tandem_proxy ;;
  esac
  start_callee

  log "warm-up: 3 s at 100 calls/s (not reported)"
  run_step 100 3

  echo
  echo "Proxied calls (INVITE/100/180/200/ACK/BYE/200, record-routed, caller trusted: no auth, ${call_ms} ms calls), $SERVER_VERSION, UDP, ${duration} s per step"
  echo "machine: $(machine_description); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
  echo
  echo "| offered /s | achieved /s | completed | failed | retrans | server CPU % | SIPp CPU % | server PSS MB | sustained |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"
  best=0 best_cpu=- best_rss=-
  for rate in $rates; do
    run_step "$rate" "$duration"
    echo "| $rate | $step_achieved | $step_ok/$step_calls | $step_failed | $step_retrans | $step_server_cpu | $step_sipp_cpu | $step_rss_mb | $step_pass |"
    if [ "$step_pass" != yes ]; then
      break
    fi
    best=$rate best_cpu=$step_server_cpu best_rss=$step_rss_mb
  done
  summary+=("| $SERVER_VERSION | UDP | $best /s | $best_cpu | $best_rss | $(date -u +%Y-%m-%d) |")
  stop_server
done

echo
echo "Result rows (docs/benchmarks-calls.md):"
printf '%s\n' "${summary[@]}"
