#!/usr/bin/env bash
# tests/test_slurm_scripts.sh - the cluster launch scripts against the real
# programs, on this machine, without Slurm (the scripts fall back to plain
# process ids and a local temp directory when no SLURM_* variables are set).
#
#   tests/test_slurm_scripts.sh NASD NAS_WORKER NAS
#
# 1. nasd.sbatch + workers.sbatch (sim backend, two workers, CURVE keys made
#    on first use) run a small experiment to its budget; the snapshot in the
#    run directory holds every result; no bootstrap key stays allowed.
# 2. A second experiment is stopped half-way with SIGTERM, as Slurm does at a
#    time limit: both scripts exit, nasd with 143 and a snapshot of the
#    results so far; started again, the experiment resumes from the snapshot
#    and ends with exactly its budget of distinct results.
#    A worker task that starts after the end exits at once.
# 3. shellcheck (when installed) finds nothing in the scripts.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 NASD NAS_WORKER NAS" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")/.." && pwd)"
export NASD="$1" NAS_WORKER="$2" NAS="$3"
if ! command -v sqlite3 >/dev/null; then
  echo "SKIP: the sqlite3 program is needed (scripts/setup.sh installs it)"
  exit 77
fi

work="$(mktemp -d /tmp/test_slurm_scripts.XXXXXX)"
pids=()
# Each script runs in its own process group (setsid) so that a failing test
# can stop it together with the nasd and nas-worker processes it started.
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/run*/logs/*.log; do
    [ -f "$f" ] && { echo "---- $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

# experiment NAME EVALUATIONS DELAY: a sim experiment file in $work.
experiment() {
  sed -e "s/^name: .*/name: $1/" -e "s/^  evaluations: .*/  evaluations: $2/" \
    -e "s/^    delay_seconds: .*/    delay_seconds: $3/" -e "s/^    failure_rate: .*/    failure_rate: 0/" \
    "$here/configs/sim-small.yaml" >"$work/$1.yaml"
  echo "$work/$1.yaml"
}

# wait_for PID SECONDS: waits for a background script and sets `status` to
# its exit status (a global: in $(...) the subshell could not wait for it).
status=0
wait_for() {
  local pid="$1" limit="$2" waited=0
  while kill -0 "$pid" 2>/dev/null; do
    [ "$waited" -ge "$((limit * 10))" ] && fail "process $pid still running after ${limit} s"
    sleep 0.1
    waited=$((waited + 1))
  done
  status=0
  wait "$pid" || status=$?
}

count_results() {
  sqlite3 -readonly "$1" "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job WHERE j.kind = 'train';"
}

export NAS_BACKEND=sim NAS_WORKERS=2 NAS_SNAPSHOT_SECONDS=1 NAS_WAIT_SECONDS=60 NAS_ORPHAN_SECONDS=4

# ---- 1. a run to the end ----
export NAS_RUN_DIR="$work/run1" NAS_LOCAL_DIR="$work/local1"
NAS_EXPERIMENT="$(experiment slurm-one 20 0.05)"
export NAS_EXPERIMENT
setsid bash "$here/scripts/slurm/nasd.sbatch" >"$work/nasd1.out" 2>&1 &
nasd_script=$!
pids+=("$nasd_script")
setsid bash "$here/scripts/slurm/workers.sbatch" >"$work/workers1.out" 2>&1 &
workers_script=$!
pids+=("$workers_script")
wait_for "$workers_script" 180
[ "$status" = 0 ] || fail "workers.sbatch exited $status after the budget was spent, not 0"
wait_for "$nasd_script" 60
[ "$status" = 0 ] || fail "nasd.sbatch exited $status after the budget was spent, not 0"
[ -f "$NAS_RUN_DIR/results.db" ] || fail "no snapshot $NAS_RUN_DIR/results.db"
[ "$(count_results "$NAS_RUN_DIR/results.db")" = 20 ] || fail "the snapshot holds $(count_results "$NAS_RUN_DIR/results.db") results, not 20"
[ "$(find "$NAS_RUN_DIR/keys/allowed" -name '*.cert' | wc -l)" = 2 ] || fail "expected 2 allowed worker keys"
[ ! -e "$NAS_RUN_DIR/keys/allowed/bootstrap.cert" ] || fail "the bootstrap key is still allowed"
[ ! -e "$NAS_RUN_DIR/endpoint" ] || fail "the endpoint file outlived nasd"
[ ! -e "$NAS_LOCAL_DIR/results.db" ] || fail "the node-local store was not cleaned up"
[ -f "$NAS_RUN_DIR/finished" ] || fail "nasd.sbatch did not mark the run finished"
echo "ok 1 - a run to the end: 20 results in the snapshot, 2 worker keys"
# A worker task that starts after the end (queued behind others) exits at once.
setsid bash "$here/scripts/slurm/workers.sbatch" >"$work/workers-late.out" 2>&1 &
late=$!
pids+=("$late")
wait_for "$late" 30
{ [ "$status" = 0 ] && grep -q "already finished" "$work/workers-late.out"; } || fail "a late worker task did not exit 0 at once"
echo "ok 2 - a worker task that starts after the end exits at once"

# ---- 2. stopped by SIGTERM half-way, then resumed ----
export NAS_RUN_DIR="$work/run2" NAS_LOCAL_DIR="$work/local2"
NAS_EXPERIMENT="$(experiment slurm-two 40 0.3)"
export NAS_EXPERIMENT
NAS_WORKERS=1 setsid bash "$here/scripts/slurm/workers.sbatch" >"$work/workers2.out" 2>&1 &
workers_script=$!
pids+=("$workers_script")
setsid bash "$here/scripts/slurm/nasd.sbatch" >"$work/nasd2.out" 2>&1 &
nasd_script=$!
pids+=("$nasd_script")
# Stop once a snapshot holds a few results.
for _ in $(seq 1 600); do
  if [ -f "$NAS_RUN_DIR/results.db" ] && [ "$(count_results "$NAS_RUN_DIR/results.db" 2>/dev/null || echo 0)" -ge 3 ]; then break; fi
  sleep 0.1
done
kill -TERM "$nasd_script" "$workers_script"
wait_for "$nasd_script" 60
[ "$status" = 143 ] || fail "nasd.sbatch exited $status after SIGTERM, not 143"
wait_for "$workers_script" 90
stopped_at="$(count_results "$NAS_RUN_DIR/results.db")"
{ [ "$stopped_at" -ge 3 ] && [ "$stopped_at" -lt 40 ]; } || fail "after SIGTERM the snapshot holds $stopped_at results (expected 3..39)"

setsid bash "$here/scripts/slurm/nasd.sbatch" >"$work/nasd3.out" 2>&1 &
nasd_script=$!
pids+=("$nasd_script")
setsid bash "$here/scripts/slurm/workers.sbatch" >"$work/workers3.out" 2>&1 &
workers_script=$!
pids+=("$workers_script")
wait_for "$workers_script" 180
[ "$status" = 0 ] || fail "resumed workers.sbatch exited $status, not 0"
wait_for "$nasd_script" 60
[ "$status" = 0 ] || fail "resumed nasd.sbatch exited $status, not 0"
grep -q "resuming from the snapshot" "$work/nasd3.out" || fail "the second nasd.sbatch did not resume from the snapshot"
final="$(count_results "$NAS_RUN_DIR/results.db")"
distinct="$(sqlite3 -readonly "$NAS_RUN_DIR/results.db" "SELECT count(DISTINCT j.arch_hash) FROM results r JOIN jobs j ON j.id = r.job WHERE j.kind = 'train';")"
{ [ "$final" = 40 ] && [ "$distinct" = 40 ]; } || fail "resumed experiment ended with $final results ($distinct distinct), not 40"
echo "ok 3 - SIGTERM at $stopped_at results: nasd 143 with a snapshot; resumed to 40 distinct results"

# ---- 3. shellcheck ----
if command -v shellcheck >/dev/null; then
  shellcheck "$here"/scripts/slurm/*.sbatch "$here/scripts/slurm/submit.sh" "$0" || fail "shellcheck found problems"
  echo "ok 4 - shellcheck clean"
else
  echo "ok 4 - shellcheck not installed; skipped"
fi
