#!/usr/bin/env bash
# bench/gpu_vs_torch/bundle.sh - builds the GPU programs here (optimised, no
# sanitizers) and gathers them with the non-system shared libraries they need
# into gpu-bundle/ (git-ignored through .git/info/exclude), small enough to
# carry to a GPU machine that has the NVIDIA libraries (cuDNN 9, cuBLAS 13,
# cudart 13, e.g. from PyTorch's nvidia/* wheels) but not Debian's.
#
# Usage (from the repository root):   bash bench/gpu_vs_torch/bundle.sh
# then on the GPU machine:             bash bench/gpu_vs_torch/run.sh   (see there)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD_DIR:-build-gpu}"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release -Db_sanitize=none -Dcuda=enabled
fi
targets=(bench/gpu_vs_torch/gpu_bench bench/gpu_vs_torch/test_cuda_parity
         bench/gpu_vs_torch/test_cuda_eval trainer/cuda/test_cuda_host cli/nas worker/nas-worker)
ninja -C "$build" "${targets[@]}"
rm -rf gpu-bundle
mkdir -p gpu-bundle/bin gpu-bundle/lib
for t in "${targets[@]}"; do
  cp "$build/$t" gpu-bundle/bin/
  strip --strip-debug "gpu-bundle/bin/$(basename "$t")"
done
# Libraries: everything ldd resolves except glibc's own and NVIDIA's (the GPU
# machine brings matching ones with its driver and PyTorch).
for t in gpu-bundle/bin/*; do
  ldd "$t" | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) ;;
    libcuda.so*|libcudart.so*|libcublas*|libcudnn*|libnvrtc*|libnvJitLink*) ;;
    *) cp -L "$lib" gpu-bundle/lib/ ;;
  esac
done
grep -qx '/gpu-bundle/' .git/info/exclude 2>/dev/null || echo '/gpu-bundle/' >> .git/info/exclude
# Fashion-MNIST for the accuracy run, as a separate folder: it and the bundle
# together pass the 64 MiB a device call carries, so they travel in two calls
# (a carried ignored folder stays on the machine for the next call).
data_src="${NAS_DATA_DIR:-/usr/share/datasets}/fashion-mnist"
if [ -d "$data_src" ]; then
  mkdir -p gpu-data/fashion-mnist
  cp "$data_src"/*-ubyte.gz gpu-data/fashion-mnist/
  grep -qx '/gpu-data/' .git/info/exclude || echo '/gpu-data/' >> .git/info/exclude
fi
du -sh gpu-bundle gpu-bundle/bin gpu-bundle/lib gpu-data 2>/dev/null
echo "carry [\"gpu-bundle\"] for run.sh tests|train|infer, [\"gpu-data\"] for run.sh fmnist"
