#!/usr/bin/env bash
# All the tests CI runs: unit, stage, model and end-to-end tests on real encoded video, a real ONNX
# model, a real RTSP server on loopback and promtool. GPU tests sit behind a trait:
#   dotnet test StreamDeblur.sln -p:OrtFlavor=gpu --filter "Category=Gpu"   (on a CUDA machine)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
dotnet build StreamDeblur.sln -c Release --verbosity quiet --nologo
log=$(mktemp)
status=0
dotnet test StreamDeblur.sln -c Release --no-build --nologo \
  --filter "Category!=Slow&Category!=Gpu" \
  --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test assembly.
passed=$( (grep -E '^\s+Passed: [0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
failed=$( (grep -E '^\s+Failed: [0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
