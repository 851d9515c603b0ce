#!/usr/bin/env bash
# Build fastnn with AddressSanitizer in its own virtual environment and run
# the test suite under it.  Python itself is not instrumented, so the
# sanitizer runtime is preloaded; leak detection is off because CPython's
# interned objects are never freed by design.
#
#   bash tools/asan.sh              # whole suite
#   bash tools/asan.sh -k parity    # extra pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .asan-venv
# shellcheck disable=SC1091
. .asan-venv/bin/activate
python -m pip install --quiet --upgrade pip
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" \
LDFLAGS="-fsanitize=address" \
    pip install --quiet --no-cache-dir --force-reinstall --no-deps . 
pip install --quiet ".[test]"

LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1" \
    pytest -q -p no:cacheprovider tests "$@"
