#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a hardware GPU (bench/RESULTS.md has the figures):
# the kNN benchmark's gpu profile against PyTorch on the same card, the night's classify stage
# by rows per search (bench/gpu-batches.ts), the tfjs engine's WebGPU backend, then the webgpu
# kernel grid and the classify stage (bench/gpu-grid.ts). Name steps to run only those (a
# device call runs at most 10 minutes; all four need up to 12.5).
#
#   bash bench/gpu.sh [knn] [batches] [tfjs] [grid]   (logs and the grid's JSON go to $OUT, default /tmp/flowknn-gpu)
set -u
OUT=${OUT:-/tmp/flowknn-gpu}
mkdir -p "$OUT"
STEPS=${*:-knn batches tfjs grid}
want() { [[ " $STEPS " == *" $1 "* ]]; }
quiet() { grep -v '^Warning: max'; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu,memory.used --format=csv 2>&1
if want knn; then
  echo "== bench:knn (gpu profile: webgpu and cpu engines, PyTorch baseline)"
  timeout 200 npm run --silent bench:knn -- --profile gpu --engines webgpu,cpu 2>&1 | quiet | tee "$OUT/knn.log"
fi
if want batches; then
  echo "== bench:gpu-batches (a 1 M-row night's classify stage by rows per search, seed and 10^5-row models)"
  timeout 150 npm run --silent bench:gpu-batches -- --rows 1000000 --big 100000 --reps 2 2>&1 | quiet | tee "$OUT/batches.log"
fi
if want tfjs; then
  echo "== bench:knn (tfjs engine, 16384 queries)"
  timeout 100 npm run --silent bench:knn -- --profile gpu --engines tfjs --queries 16384 2>&1 | quiet | tee "$OUT/tfjs.log"
fi
if want grid; then
  echo "== kernel grid and classify stage"
  timeout 300 npm run --silent bench:gpu-grid -- --reps 5 --json "$OUT/grid.json" 2>&1 | quiet | tee "$OUT/grid.log"
fi
