#!/usr/bin/env bash
# Build fastnn with AddressSanitizer in its own virtual environment and run
# the test suite under it.  Python itself is not instrumented, so the
# sanitizer runtime is preloaded; leak detection is off because CPython's
# interned objects are never freed by design.
#
#   bash tools/asan.sh              # whole suite
#   bash tools/asan.sh -k parity    # extra pytest arguments
#
# The suite includes tests/test_robustness.py: a refit racing a predict,
# hand-edited weights, fork and 64-bit strides, each in a child process that
# inherits the preloaded sanitizer (a report aborts the child and fails the
# test).
#
# The build happens in a scratch copy of the tracked files: setuptools
# reuses up-to-date objects in build/, so building in place would let
# sanitized objects leak into a later ordinary install (or the reverse).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$scratch"

python3 -m venv "$root/.asan-venv"
# shellcheck disable=SC1091
. "$root/.asan-venv/bin/activate"
python -m pip install --quiet --upgrade pip
# Test dependencies first (this builds an ordinary fastnn), then the
# sanitized build over it, from a clean build directory.
pip install --quiet "$scratch[test]"
rm -rf "$scratch/build"
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" \
LDFLAGS="-fsanitize=address" \
    pip install --quiet --no-cache-dir --force-reinstall --no-deps "$scratch"

cd "$scratch"
# libstdc++ is preloaded too: a C++ library loaded later (matplotlib's
# ft2font, which the inspection tests import) would otherwise throw through
# an interceptor that found no __cxa_throw at start-up, and ASan aborts.
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1" \
    pytest -q -p no:cacheprovider tests "$@"
