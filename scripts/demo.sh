#!/usr/bin/env bash
# scripts/demo.sh - the README's main job: set up, build, run a real search,
# show the result.
#
#   scripts/demo.sh              # fresh search into demo.db (about 10 minutes on 2 idle cores)
#   scripts/demo.sh --resume     # continue a stopped demo (Ctrl-C stops it cleanly)
#
# Steps: scripts/setup.sh (Debian packages; skipped with --skip-setup), a
# release build without sanitizers in build-release/ (meson setup when the
# folder is new), `nas run configs/demo.yaml --workers 2 --db demo.db`
# (LA-MCTS-BO over the `mini` space on Fashion-MNIST, two local cpu workers,
# real training and real CPU latency), then `nas pareto` (front, best per
# latency tier, hypervolume), front.svg and, when this build has `nas
# report`, report.html. Files are written into the current folder.
# Exits non-zero as soon as a step fails, naming the step.
set -euo pipefail

usage() {
  cat <<EOF
usage: scripts/demo.sh [--resume] [--workers N] [--db FILE] [--config FILE]
                       [--build-dir DIR] [--skip-setup] [--skip-build]

  --resume        continue the experiment stored in the DB instead of starting fresh
  --workers N     local cpu workers (default 2; each job uses one thread)
  --db FILE       SQLite store (default demo.db; deleted first unless --resume)
  --config FILE   experiment file (default configs/demo.yaml)
  --build-dir DIR release build folder (default build-release; created if missing)
  --skip-setup    do not run scripts/setup.sh (packages already installed)
  --skip-build    use the binaries already in the build folder
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESUME=0 WORKERS=2 DB=demo.db SETUP=1 BUILD_STEP=1
CONFIG="$REPO/configs/demo.yaml"
BUILD="$REPO/build-release"
while [ $# -gt 0 ]; do
  case "$1" in
    --resume) RESUME=1 ;;
    --workers) WORKERS="${2:?--workers needs a number}"; shift ;;
    --db) DB="${2:?--db needs a file}"; shift ;;
    --config) CONFIG="${2:?--config needs a file}"; shift ;;
    --build-dir) BUILD="${2:?--build-dir needs a folder}"; shift ;;
    --skip-setup) SETUP=0 ;;
    --skip-build) BUILD_STEP=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$WORKERS" in ''|*[!0-9]*|0) echo "demo: --workers takes a positive number, not '$WORKERS'" >&2; exit 2 ;; esac
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac

STEP=""
step() { STEP="$1"; printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$1"; }
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then echo "demo: FAILED during: $STEP (exit $rc)" >&2; fi
}
trap on_exit EXIT
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

if [ "$SETUP" = 1 ]; then
  step "setup: Debian packages (scripts/setup.sh)"
  "$REPO/scripts/setup.sh"
fi

NAS="$BUILD/cli/nas"
if [ "$BUILD_STEP" = 1 ]; then
  step "build: release, no sanitizers, in $BUILD"
  if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$REPO" --buildtype=release -Db_sanitize=none -Dtests=false
  elif ! grep -q '"name": "b_sanitize", "value": "none"' "$BUILD/meson-info/intro-buildoptions.json"; then
    echo "demo: $BUILD was configured with sanitizers (training several times slower);" \
         "give another --build-dir or reconfigure it with -Db_sanitize=none" >&2
    exit 1
  fi
  ninja -C "$BUILD" cli/nas server/nasd worker/nas-worker
fi
STEP="looking for $NAS"
[ -x "$NAS" ] || { echo "demo: $NAS is missing: build first (drop --skip-build)" >&2; exit 1; }

step "search: $(basename "$CONFIG") with $WORKERS cpu workers into $DB"
if [ "$RESUME" = 0 ]; then
  # a fresh experiment: the store keeps experiments by name, so an old demo.db
  # would otherwise be resumed (or refused as already finished)
  rm -f "$DB" "$DB-wal" "$DB-shm"
  echo "fresh store $DB (use --resume to continue a stopped run)"
fi
echo "machine: $(nproc) cores, load average $(load) at start"
START=$(date +%s)
# bash's `time` reports CPU time summed over every process nas run waited for
# (nasd, the workers and their job children): the load-independent cost.
TIMEFORMAT='cpu: %U s user + %S s system over all processes'
time "$NAS" run "$CONFIG" --workers "$WORKERS" --db "$DB"
WALL=$(( $(date +%s) - START ))
printf 'search done in %dm%02ds wall; load average %s at the end\n' $((WALL / 60)) $((WALL % 60)) "$(load)"

step "results: Pareto front, best per latency tier, hypervolume"
"$NAS" pareto --db "$DB" --svg front.svg
echo "wrote front.svg (every trained result, the Pareto front as a step line)"

if "$NAS" report --help >/dev/null 2>&1; then
  step "report: report.html"
  "$NAS" report --db "$DB" --out report.html
  echo "wrote report.html (open it in a browser; it fetches nothing)"
else
  echo "(this build has no nas report; skipped report.html)"
fi

STEP="done"
echo
echo "Next: $NAS status --db $DB | $NAS jobs --db $DB | $NAS export JOB --db $DB --format pytorch"
