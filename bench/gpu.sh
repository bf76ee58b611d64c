#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a hardware GPU (bench/RESULTS.md has the figures):
# the kNN benchmark's gpu profile against PyTorch on the same card, the tfjs engine's WebGPU
# backend, then the webgpu kernel grid and the classify stage (bench/gpu-grid.ts).
#
#   bash bench/gpu.sh            (logs and the grid's JSON go to $OUT, default /tmp/flowknn-gpu)
set -u
OUT=${OUT:-/tmp/flowknn-gpu}
mkdir -p "$OUT"
quiet() { grep -v '^Warning: max'; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu,memory.used --format=csv 2>&1
echo "== bench:knn (gpu profile: webgpu and cpu engines, PyTorch baseline)"
timeout 200 npm run --silent bench:knn -- --profile gpu --engines webgpu,cpu 2>&1 | quiet | tee "$OUT/knn.log"
echo "== bench:knn (tfjs engine, 16384 queries)"
timeout 100 npm run --silent bench:knn -- --profile gpu --engines tfjs --queries 16384 2>&1 | quiet | tee "$OUT/tfjs.log"
echo "== kernel grid and classify stage"
timeout 300 npm run --silent bench:gpu-grid -- --reps 5 --json "$OUT/grid.json" 2>&1 | quiet | tee "$OUT/grid.log"
