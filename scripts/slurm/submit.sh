#!/usr/bin/env bash
# Submits one gpunas experiment to Slurm: nasd on a head node, then a worker
# array that starts once nasd runs.
#
#   scripts/slurm/submit.sh EXPERIMENT.yaml [NODES] [extra sbatch options for the workers...]
#
# NODES is the number of GPU nodes (array tasks, default 4); each runs one
# nas-worker per GPU it is given. NAS_RUN_DIR (default ./gpunas-run) is the
# shared directory both jobs use; see nasd.sbatch and workers.sbatch.
set -euo pipefail

if [ "$#" -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
experiment="$1"
nodes="${2:-4}"
shift $(($# >= 2 ? 2 : 1))
[ -r "$experiment" ] || { echo "submit.sh: cannot read $experiment" >&2; exit 1; }
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: NODES must be a positive number, not '$nodes'" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
export NAS_EXPERIMENT
NAS_EXPERIMENT="$(realpath "$experiment")"
export NAS_RUN_DIR="${NAS_RUN_DIR:-$PWD/gpunas-run}"
mkdir -p "$NAS_RUN_DIR"

nasd_job="$(sbatch --parsable --export=ALL "$here/nasd.sbatch")"
workers_job="$(sbatch --parsable --export=ALL --dependency="after:${nasd_job%%;*}" \
  --array="0-$((nodes - 1))" "$@" "$here/workers.sbatch")"
echo "nasd job ${nasd_job%%;*}, worker array ${workers_job%%;*} ($nodes nodes); run directory $NAS_RUN_DIR"
echo "progress: tail -f $NAS_RUN_DIR/logs/nasd.log    results: nas pareto --db $NAS_RUN_DIR/results.db"
