#!/usr/bin/env bash
# Installs every build and test dependency of gpunas with apt-get (Debian 12).
# Safe to run twice: it installs only what is missing. CUDA is never installed
# here; the build uses /usr/local/cuda (or $CUDA_HOME) when it is present.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config meson ninja-build git
  libzmq3-dev libczmq-dev libsqlite3-dev sqlite3 libyaml-dev
  libprotobuf-c-dev protobuf-c-compiler libnlopt-dev libsvm-dev
  libopenblas-dev liblapacke-dev libcjson-dev libcmocka-dev zlib1g-dev
  libjpeg62-turbo-dev clang python3-torch
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
