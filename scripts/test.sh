#!/usr/bin/env bash
# All the tests CI runs: unit, stage, model and end-to-end tests on real encoded video, a real ONNX
# model, a real RTSP server on loopback and promtool. Slow soak and GPU tests sit behind traits:
#   dotnet test StreamDeblur.sln --filter "Category=Slow"   (and Category=Gpu on a CUDA machine)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
dotnet build StreamDeblur.sln -c Release --verbosity quiet --nologo
dotnet test StreamDeblur.sln -c Release --no-build --nologo \
  --filter "Category!=Slow&Category!=Gpu" \
  --logger "console;verbosity=normal" "$@"
