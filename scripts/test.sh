#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test of the solution.
#
#   ./scripts/test.sh                                # everything
#   ./scripts/test.sh --filter "Category!=EndToEnd"  # extra arguments go to `dotnet test`
#
# Works unattended (CI=true, no stdin). Exits non-zero if anything fails.
#
# What the tests need from the OS, and why:
#   sip-tester  SIPp, the SIP load/scenario tool the end-to-end tests drive (tests/sipp).
#   kamailio    the reference registrar the Category=Kamailio tests run the same
#               scenarios against, proving the scenarios and the harness. Its base
#               package holds every module the config uses (auth, htable, db_text,
#               registrar, usrloc), so no extra module package is needed.
#               The call tests run it as a record-routing proxy too
#               (tests/kamailio/proxy.cfg.in: tm, rr, also in the base package).
#               The Category=Lab tests run it as the classic HA design in
#               namespaces (src/Tandem.Lab/Failover/Kamailio): dmq, dmq_usrloc,
#               ctl and kamcmd are in the base package as well.
#   keepalived  VRRP for that classic design: moves the service address between
#               the two Kamailio nodes (started by the tests in their own
#               namespaces, never as a system service).
#   baresip-core a real softphone (baresip, headless: the aubridge "nil" audio
#               device, no sound hardware) that the call tests register twice
#               and use to call one through the server to the other.
#   dnsmasq-base  the dnsmasq binary alone (no system service): a real DNS server
#               on a loopback port for the RFC 3263 resolution tests
#               (tests/Tandem.Server.Tests/Resolution).
#   iproute2    `ip`: the cluster tests build network namespaces joined by a bridge
#               (src/Tandem.Lab/Netns) and the service address manager
#               adds/removes addresses with it; tests/Tandem.EndToEnd.Tests/Cluster
#               runs real `tandem run`/`tandem witness` processes in such namespaces.
#   procps      `sysctl` and `kill`, used by the namespace test harness.
#   nftables    `nft`: the failover lab (`tandem lab failover`, Category=Lab in
#               tests/Tandem.EndToEnd.Tests/Lab) partitions the two nodes with
#               drop rules in their namespaces; ClusterStateTests cut the link
#               between two nodes the same way.
# Nothing else: the tests read registrations through the `tandem` CLI, not sqlite3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive
export DOTNET_NOLOGO=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1

log() { printf '==> %s\n' "$*"; }

# Root runs apt directly; anyone else needs sudo that does not prompt (there is no stdin).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "error: need root (or passwordless sudo) to install: $*" >&2
    return 1
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# Installs the packages that are missing; runs `apt-get update` only if one is.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "OS packages present: $*"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing packages (${missing[*]}) and no apt-get to install them" >&2
    return 1
  fi
  log "installing OS packages: ${missing[*]}"
  # Debian's kamailio package starts its system service on install unless a
  # policy-rc.d forbids it. The tests start their own Kamailio on free ports, so
  # keep a stray daemon off port 5060: forbid service starts for this install only.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    made_policy=1
  fi
  local rc=0
  as_root apt-get update -qq || rc=$?
  if [ "$rc" -eq 0 ]; then
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  fi
  if [ "$made_policy" -eq 1 ]; then
    as_root rm -f "$policy"
  fi
  return "$rc"
}

ensure_packages sip-tester kamailio keepalived baresip-core dnsmasq-base iproute2 procps nftables

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: dotnet (the .NET SDK, see global.json) is not on PATH" >&2
  exit 1
fi
log "dotnet $(dotnet --version), $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ -]*' | head -1), $(kamailio -v 2>/dev/null | head -1)"

# The console log is kept so the summary counts exactly this run's results.
results=TestResults/test-sh
rm -rf "$results"
mkdir -p "$results"
console="$results/console.log"

log "dotnet test Tandem.sln $*"
status=0
# - console logger at normal verbosity: one line per test, failures with their
#   messages (the servers' output is in each failed test's output);
# - blame-hang: a hung test (e.g. a server that never answers) is killed with a
#   dump instead of eating CI's time budget.
dotnet test Tandem.sln \
  --logger "console;verbosity=normal" \
  --results-directory "$results" \
  --blame-hang-timeout 10m \
  "$@" 2>&1 | tee "$console" || status=$?

# Summary over all test assemblies. At normal verbosity dotnet test ends each
# assembly's run with a block of lines "Total tests: N", "     Passed: N",
# "     Failed: N", "    Skipped: N" (absent when zero); add them up.
read -r total passed failed skipped < <(awk '
  /^Total tests: [0-9]+$/   { t += $3 }
  /^ +Passed: [0-9]+$/      { p += $2 }
  /^ +Failed: [0-9]+$/      { f += $2 }
  /^ +Skipped: [0-9]+$/     { s += $2 }
  END { printf "%d %d %d %d\n", t, p, f, s }' "$console")

echo
echo "================ test summary ================"
echo "full log: $console"
if [ "$status" -ne 0 ]; then
  echo "dotnet test exited with $status"
fi
if [ "$total" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "error: no test ran" >&2
  status=1
fi
if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
