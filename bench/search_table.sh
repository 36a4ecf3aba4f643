#!/bin/sh
# bench/search_table.sh - the search benchmark table of bench/RESULTS.md.
#
# Runs `nas bench-search` for ackley, levy and rosenbrock at 20 dimensions,
# 300 evaluations and 10 seeds, for random, evolution, bo and lamcts-bo, with
# W=1 (sequential) and W=8 pending proposals, every strategy at its defaults.
# Use an optimised build without sanitizers:
#   meson setup build-rel --buildtype=release -Dtests=false && ninja -C build-rel cli/nas
#   bench/search_table.sh build-rel/cli/nas > search_table.txt
# Environment: FUNCS, WORKERS, STRATEGIES, SEEDS, FIRST_SEED select a part,
# e.g. STRATEGIES=lamcts-bo FUNCS=levy WORKERS=8 for one row.
# OpenBLAS is pinned to one thread: the matrices are small (n <= 300) and the
# machine is shared, so threads only add contention. Takes about 15 CPU minutes.
set -eu
NAS=${1:-build-rel/cli/nas}
FUNCS=${FUNCS:-"ackley levy rosenbrock"}
WORKERS=${WORKERS:-"1 8"}
STRATEGIES=${STRATEGIES:-random,evolution,bo,lamcts-bo}
FIRST_SEED=${FIRST_SEED:-1} # tune on other seeds (e.g. 101), report 1..10
SEEDS=${SEEDS:-10}
export OPENBLAS_NUM_THREADS=1
for w in $WORKERS; do
  for f in $FUNCS; do
    "$NAS" bench-search --func "$f" --dims 20 --budget 300 --seeds "$SEEDS" --workers "$w" \
      --seed "$FIRST_SEED" --strategy "$STRATEGIES"
    echo
  done
done
