#!/usr/bin/env bash
# bench/gpu_vs_torch/bundle.sh - builds the GPU programs here (optimised, no
# sanitizers) and gathers them with the non-system shared libraries they need
# into gpu-bundle/, then packs it into gpu-carry/ (see the end), to carry to
# a GPU machine that has the NVIDIA libraries (cuDNN 9, cuBLAS 13,
# cudart 13, e.g. from PyTorch's nvidia/* wheels) but not Debian's.
#
# Usage (from the repository root):   bash bench/gpu_vs_torch/bundle.sh
# then on the GPU machine (carry gpu-carry): bash bench/gpu_vs_torch/run.sh
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
# What travels: gpu-carry/bundle.tar.xz (the folder above, compressed: the
# OpenBLAS library alone is 36 MB) and Fashion-MNIST for the accuracy run,
# together under the 64 MiB a device call carries. Both folders are
# git-ignored through .git/info/exclude.
mkdir -p .git/info gpu-carry
for d in /gpu-bundle/ /gpu-carry/; do
  grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done
tar -cJf gpu-carry/bundle.tar.xz gpu-bundle
data_src="${NAS_DATA_DIR:-/usr/share/datasets}/fashion-mnist"
if [ -d "$data_src" ]; then
  mkdir -p gpu-carry/fashion-mnist
  cp "$data_src"/*-ubyte.gz gpu-carry/fashion-mnist/
fi
du -sh gpu-bundle gpu-carry
echo 'device tool: carry ["gpu-carry"], command "bash bench/gpu_vs_torch/run.sh all" (or tests|train|infer|fmnist)'
