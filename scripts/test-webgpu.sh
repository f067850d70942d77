#!/usr/bin/env bash
# WebGPU correctness tests on Mesa 25 lavapipe (no GPU needed): sets up .cache/mesa25 (scripts/mesa25.sh, cached),
# builds dist/ when it is missing, and runs test/gpu/*.test.ts with the lavapipe env. Extra args go to node --test.
# Needs the system Vulkan loader: apt-get install -y --no-install-recommends libvulkan1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/mesa25.sh)"
[[ -f dist/cli.js ]] || node scripts/build.mjs
exec node --import tsx --test --test-concurrency=1 "$@" test/gpu/*.test.ts
