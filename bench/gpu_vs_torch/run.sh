#!/usr/bin/env bash
# bench/gpu_vs_torch/run.sh - on a GPU machine, with gpu-bundle/ carried
# (bundle.sh): runs the GPU tests, then our trainer and PyTorch on the same
# GPU, and writes the tables to $OUT/gpu_vs_torch.md (or ./gpu_vs_torch.md).
#
#   bash bench/gpu_vs_torch/run.sh [tests|train|infer|fmnist|all]   (default all
#   = tests, train, infer and fmnist; carry gpu-carry/, made by bundle.sh)
#
# Figures (issue 6): training images/s of genet-normal at 192x192, batch 256,
# bf16, ours vs PyTorch eager AMP and torch.compile (channels_last); inference
# ms/image at batch 1 and 64 in fp16 for genet-light/normal/large and
# gpunet-0, ours (BN folded, CUDA graph) vs PyTorch eager and compiled.
set -uo pipefail
cd "$(dirname "$0")/../.."
what="${1:-all}"
out_dir="${OUT:-.}"
report="$out_dir/gpu_vs_torch.md"
bin=gpu-bundle/bin
if [ ! -x "$bin/gpu_bench" ] && [ -f gpu-carry/bundle.tar.xz ]; then
  tar -xJf gpu-carry/bundle.tar.xz
fi
[ -x "$bin/gpu_bench" ] || { echo "run.sh: no gpu-bundle: run bundle.sh here and carry gpu-carry"; exit 1; }
# NVIDIA libraries from PyTorch's wheels, our Debian libraries from the bundle.
site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
nv_dirs=$(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:${nv_dirs}:${LD_LIBRARY_PATH:-}"
export NAS_CONFIG_DIR="$PWD/configs"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 \
  | tee "$out_dir/device.txt"
status=0

if [ "$what" = tests ] || [ "$what" = all ]; then
  echo "== GPU tests"
  for t in test_cuda_host test_cuda_eval test_cuda_parity; do
    "$bin/$t" 2>&1 | tee "$out_dir/$t.log" | tail -40
    rc=${PIPESTATUS[0]}
    echo "$t exit $rc"
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || status=1   # 77: skipped (no GPU)
  done
fi

{
  echo "### $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%Y-%m-%d)"
  echo
  echo "| model | what | input | precision | batch | result | by |"
  echo "|---|---|---|---|---|---|---|"
} > "$report"

if [ "$what" = train ] || [ "$what" = all ]; then
  echo "== training throughput"
  "$bin/gpu_bench" --model genet-normal --res 192 --batch 256 --precision bf16 --steps 30 \
    --no-latency 2>&1 | grep '^|' | sed 's/ |$/ | gpunas |/' | tee -a "$report"
  for c in "" --compile; do
    python3 bench/gpu_vs_torch/torch_bench.py --model genet-normal --res 192 --mode train \
      --batch 256 --precision bf16 $c 2>&1 | grep '^|' | tee -a "$report"
  done
fi

if [ "$what" = infer ] || [ "$what" = all ]; then
  echo "== inference latency"
  for m in genet-light:192 genet-normal:192 genet-large:256 gpunet-0:320; do
    model=${m%%:*}; res=${m##*:}
    "$bin/gpu_bench" --model "$model" --no-train --latency 1,64 --latency-precision fp16 2>&1 \
      | grep '^|' | sed 's/ |$/ | gpunas |/' | tee -a "$report"
    module=()
    if [ "$model" = gpunet-0 ]; then
      "$bin/gpu_bench" --model "$model" --export-pytorch "/tmp/$model.py"
      module=(--module "/tmp/$model.py")
    fi
    for c in "" --compile; do
      python3 bench/gpu_vs_torch/torch_bench.py --model "$model" --res "$res" --mode infer \
        --latency 1,64 --latency-precision fp16 "${module[@]}" $c 2>&1 | grep '^|' | tee -a "$report"
    done
  done
fi
if [ "$what" = fmnist ] || [ "$what" = all ]; then
  # The CPU issue's accuracy run (mini-fmnist, 3 epochs, full Fashion-MNIST),
  # on the GPU in fp32 and in bf16.
  export NAS_DATA_DIR="$PWD/gpu-carry"
  for p in fp32 bf16; do
    echo "== Fashion-MNIST, mini-fmnist, 3 epochs, $p"
    echo "{\"precision\": \"$p\"}" > "/tmp/recipe_$p.json"
    "$bin/nas" train --model mini-fmnist --data fashion-mnist --epochs 3 --backend cuda --quiet \
      --recipe "/tmp/recipe_$p.json" 2>&1 | tail -5 | tee "$out_dir/fmnist_$p.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  done
fi
echo "tables in $report"
exit $status
