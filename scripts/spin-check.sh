#!/usr/bin/env bash
# Model-checks docs/model/dgc.pml with spin (see docs/model/README.md): the correct model against
# S1, S2, V and the liveness claims (L3), and every deliberately broken variant, which must be caught.
# Prints one line per check (result, depth reached, states stored, time) and exits non-zero when
# any check does not end as expected. About 45 s of CPU on a 2-core machine.
#
#   scripts/spin-check.sh           the 11 checks listed at the end of this script
#   scripts/spin-check.sh --deep    also the safety check with timers at any moment AND two wire
#                                   faults (20.7 million states, about 80 s, 3.2 GB of memory)
#   scripts/spin-check.sh --keep    keep the work folder (pan sources, logs, trails)
#   scripts/spin-check.sh --trails  print each counterexample found, as the model narrates it
set -uo pipefail
cd "$(dirname "$0")/.."

deep=0
keep=0
trails=0
for arg in "$@"; do
  case "$arg" in
    --deep) deep=1 ;;
    --keep) keep=1 ;;
    --trails) trails=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "spin-check: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# spin comes from Debian's packages; gcc compiles the verifiers it writes.
if ! command -v spin >/dev/null 2>&1; then
  echo "Installing spin (Debian package)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq spin >/dev/null; } \
    || { echo "spin-check: could not install spin (apt-get install -y spin)" >&2; exit 1; }
fi
if ! command -v gcc >/dev/null 2>&1; then
  echo "spin-check: gcc is needed to compile spin's verifiers (apt-get install -y gcc)" >&2
  exit 1
fi

model=docs/model/dgc.pml
work=$(mktemp -d "${TMPDIR:-/tmp}/spin-check.XXXXXX")
if [ "$keep" -eq 0 ]; then
  trap 'rm -rf "$work"' EXIT
fi
echo "spin-check: $(spin -V | head -n 1); model $model; work folder $work"

total=0
unexpected=0

# run NAME EXPECT "SPIN FLAGS" "GCC FLAGS" "PAN FLAGS" DESCRIPTION
#   EXPECT: pass (no error, search complete), s1 / s2 (that assertion violated), cycle (acceptance cycle)
run() {
  local name=$1 expect=$2 spinflags=$3 ccflags=$4 panflags=$5 what=$6
  local dir="$work/$name" got errors depth states secs at status=OK
  total=$((total + 1))
  mkdir -p "$dir"
  cp "$model" "$dir/dgc.pml"
  echo "# $name: $what"
  # shellcheck disable=SC2086 # the flag lists are meant to split
  if ! (cd "$dir" && spin $spinflags -a dgc.pml >spin.log 2>&1 && gcc $ccflags -w -o pan pan.c >gcc.log 2>&1); then
    echo "$name FAILED to build (spin $spinflags -a; gcc $ccflags):"
    cat "$dir/spin.log" "$dir/gcc.log" 2>/dev/null | tail -n 20
    unexpected=$((unexpected + 1))
    return
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && timeout 900 ./pan $panflags >pan.log 2>&1)

  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
  depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.log" | tail -n 1)
  at=$(sed -n 's/^pan:1: .*(at depth \([0-9]*\)).*/\1/p' "$dir/pan.log" | head -n 1)
  secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$dir/pan.log" | tail -n 1)
  if [ -z "$errors" ]; then
    got=crashed
  elif [ "$errors" -eq 0 ]; then
    got=pass
    if grep -q -e 'Search not completed' -e 'max search depth too small' -e 'out of memory' "$dir/pan.log"; then
      got=incomplete
    fi
  elif grep -Eq 'assertion violated +!\(s1_premature_release\)' "$dir/pan.log"; then
    got=s1
  elif grep -Eq 'assertion violated +!\(s2_one_id_two_objects\)' "$dir/pan.log"; then
    got=s2
  elif grep -Eq 'assertion violated +!\(v_operation_refused\)' "$dir/pan.log"; then
    got=v
  elif grep -q 'acceptance cycle' "$dir/pan.log"; then
    got=cycle
  else
    got=other-error
  fi
  [ "$got" = "$expect" ] || status=UNEXPECTED
  printf '%-24s %-10s expect=%-5s got=%-10s errors=%s depth=%s states=%s time=%ss%s\n' \
    "$name" "$status" "$expect" "$got" "${errors:-?}" "${depth:-?}" "${states:-?}" "${secs:-?}" \
    "${at:+ (counterexample at depth $at)}"
  grep -m 1 '^pan:1: ' "$dir/pan.log" | sed 's/^/    /'   # what spin found, if anything
  if [ "$trails" -eq 1 ] && [ -f "$dir/dgc.pml.trail" ]; then
    # shellcheck disable=SC2086
    (cd "$dir" && spin $spinflags -t dgc.pml 2>&1 | grep -E '^ *(E|I|wire|S1|spin: text|spin: trail)' | sed -E 's/^ +/    /')
  fi
  if [ "$status" != OK ]; then
    unexpected=$((unexpected + 1))
    grep -v '^$' "$dir/pan.log" | head -n 30
    if [ -f "$dir/dgc.pml.trail" ]; then
      echo "  the trail: (cd $dir && spin $spinflags -t -p -g dgc.pml)$([ "$keep" -eq 0 ] && echo ', with --keep')"
    fi
  fi
}

safe="-O2 -DSAFETY"
fast="-O0 -DSAFETY"                      # the broken variants stop at their first error
live="-O2 -DNFAIR=3"
depth="-m100000"
gc_only="-DLEASES=0 -DRESTARTS=0 -DNO_MSG_LOSS"

run safety pass "-DFAULTS=0" "$safe" "$depth" \
  "S1 S2 V; timers at any moment (so batches are resent while others are in flight), reordering, lost replies, 1 lease expiry, 1 restart"
run safety_faults pass "-DQUIET_TIMERS" "$safe" "$depth" \
  "S1 S2 V; as above plus any 2 losses or duplications of any frame, with timers firing when nothing else can happen"
run reclaim pass "-DLIVENESS" "$live" "-a -f $depth" \
  "L3: once the workload stops, every hold is eventually released (weak fairness; faults, lease, restart)"
run reclaim_by_gc_alone pass "-DLIVENESS $gc_only" "$live" "-a -f $depth" \
  "L3-gc: without leases, restarts or lost messages, drop/retire/ack/resend alone release every hold"
run broken_epoch s1 "-DQUIET_TIMERS -DBROKEN_EPOCH" "$fast" "$depth" \
  "the exporter applies operations without checking their epoch: must break S1"
run broken_dedup s1 "-DQUIET_TIMERS -DBROKEN_DEDUP" "$fast" "$depth" \
  "the exporter applies a duplicate of its last batch again: must break S1"
run broken_purge s1 "-DQUIET_TIMERS -DBROKEN_PURGE" "$fast" "$depth" \
  "the importer keeps queued operations when it revokes: must break S1"
run broken_retire s1 "-DQUIET_TIMERS -DBROKEN_RETIRE" "$fast" "$depth" \
  "the exporter honours a retire that crossed a re-send: must break S1"
run broken_stale s2 "-DQUIET_TIMERS -DBROKEN_STALE -DNO_S1" "$fast" "$depth" \
  "the importer imports refs of an ended epoch: must break S2"
run broken_resend cycle "-DLIVENESS $gc_only -DBROKEN_RESEND" "$live" "-a -f $depth" \
  "the importer never resends a batch: must break L3-gc"
run reclaim_without_leases cycle "-DLIVENESS -DLEASES=0" "$live" "-a -f $depth" \
  "without leases a lost message's count is never released (reconciliation is not modelled): L3 must fail"
if [ "$deep" -eq 1 ]; then
  run safety_deep pass "" "$safe" "-w26 $depth" \
    "S1 S2 V; timers at any moment and any 2 losses or duplications (the product of the two safety checks)"
fi

times >"$work/times.txt"   # the shell's own line, then its children's: user and system time
read -r child_user child_sys < <(tail -n 1 "$work/times.txt")
cpu=$(awk -v u="$child_user" -v s="$child_sys" 'function sec(x) { split(x, p, "m"); sub("s", "", p[2]); return p[1] * 60 + p[2] }
  BEGIN { printf "%.1f", sec(u) + sec(s) }')
if [ "$unexpected" -eq 0 ]; then
  echo "spin-check: $total checks, all as expected (CPU ${cpu} s)"
else
  echo "spin-check: $unexpected of $total checks NOT as expected (CPU ${cpu} s)"
  exit 1
fi
