#!/usr/bin/env bash
# tests/test_setup_scripts.sh - the argument handling of scripts/setup.sh and
# scripts/get-mnist.sh: bad arguments exit 2 with a message that names the
# problem, --help prints the usage; nothing is installed or downloaded (every
# case here stops before apt-get or npm). shellcheck, when installed, finds
# nothing in either script.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fail=0

# expect CODE PATTERN CMD...: CMD exits with CODE and its output matches PATTERN
expect() {
  local code=$1 pattern=$2 out rc
  shift 2
  set +e
  out=$("$@" 2>&1)
  rc=$?
  set -e
  if [ "$rc" -ne "$code" ] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output:"
    echo "$out"
    echo "  (wanted a line matching: $pattern)"
    fail=1
  else
    echo "ok: $* -> exit $rc"
  fi
}

expect 2 "unknown argument '--bogus' (known: --with-mnist)" bash "$root/scripts/setup.sh" --bogus
expect 0 "scripts/setup.sh \[--with-mnist\]" bash "$root/scripts/setup.sh" --help
expect 2 "at most one argument (the target folder)" bash "$root/scripts/get-mnist.sh" a b
expect 0 "scripts/get-mnist.sh \[DIR\]" bash "$root/scripts/get-mnist.sh" --help

if command -v shellcheck > /dev/null; then
  if shellcheck "$root/scripts/setup.sh" "$root/scripts/get-mnist.sh"; then
    echo "ok: shellcheck"
  else
    fail=1
  fi
else
  echo "shellcheck not installed: that check skipped"
fi
exit "$fail"
