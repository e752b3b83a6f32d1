#!/usr/bin/env bash
# The main job on the shipped sample and model: deblurs samples/vtest-blur.mp4 into out/sample.mkv
# and writes a per-frame report to out/sample-frames.jsonl (both replaced on each run: --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
dotnet build src/StreamDeblur/StreamDeblur.csproj -c Release --verbosity quiet --nologo
MALLOC_ARENA_MAX=2 dotnet src/StreamDeblur/bin/Release/net10.0/streamdeblur.dll run \
  --input samples/vtest-blur.mp4 --output out/sample.mkv \
  --config config/streamdeblur.json --report out/sample-frames.jsonl --overwrite "$@"
ffprobe -v error -select_streams v:0 -count_frames \
  -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames -of default=noprint_wrappers=1 out/sample.mkv
