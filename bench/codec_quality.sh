#!/usr/bin/env bash
# Size and quality of the output codecs on the shipped sample, each against the frames the pipeline fed to
# its encoder: a lossless run (x264 --crf 0) gives those frames exactly, since runs are deterministic.
#   bench/codec_quality.sh [input]      (default samples/vtest-blur.mp4; outputs under /tmp/streamdeblur-codecs)
set -euo pipefail
cd "$(dirname "$0")/.."
input=${1:-samples/vtest-blur.mp4}
out=/tmp/streamdeblur-codecs
mkdir -p "$out"
cli=(dotnet src/StreamDeblur/bin/Release/net10.0/streamdeblur.dll)
run() { "${cli[@]}" run --input "$input" --output "$out/$1" --overwrite --progress off "${@:2}" >/dev/null 2>"$out/$1.log"; }
psnr() { ffmpeg -i "$out/$1" -i "$out/lossless.mkv" -lavfi "[0:v][1:v]psnr" -f null - 2>&1 | grep -o 'average:[0-9.inf]*' | cut -d: -f2; }
run lossless.mkv --crf 0
echo "| output | settings | size (bytes) | size / input | PSNR against the frames fed to the encoder |"
echo "|---|---|---|---|---|"
row() {
  local name=$1 settings=$2; shift 2
  run "$name" "$@"
  local size; size=$(stat -c %s "$out/$name")
  printf '| %s | %s | %s | %.2f | %s dB |\n' "$name" "$settings" "$size" "$(echo "$size / $(stat -c %s "$input")" | bc -l)" "$(psnr "$name")"
}
row mpeg4-opencv.mkv "before issue 14: decoder and encoder opencv, mp4v" --decoder opencv --encoder opencv
row mpeg4-libav.mkv "mpeg4 -q:v 4 (libav)" --codec mpeg4
for crf in 16 18 20 23; do row "h264-crf$crf.mkv" "h264 crf $crf, preset medium" --crf "$crf"; done
row h264-crf18-veryfast.mkv "h264 crf 18, preset veryfast" --crf 18 --preset veryfast
row hevc-crf18.mkv "hevc crf 18 (its default), preset medium" --codec hevc
row hevc-crf22.mkv "hevc crf 22, preset medium" --codec hevc --crf 22
