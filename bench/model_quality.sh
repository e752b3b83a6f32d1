#!/usr/bin/env bash
# The model card's quality figures, through the product: `streamdeblur eval` of every shipped single-frame model
# (FP32 and INT8) on every held-out set, one JSON per run, and a summary table (bench/model_quality_table.py).
#
#   bench/model_quality.sh [out-dir] [metadata.json ...]
#
# Default out-dir: bench/results/model-quality-<date>; default models: models/deblur-fast.json and
# models/deblur-quality.json. The held-out sets are tests/data/eval (shipped) and out/heldout/{bsds-clean,
# bsds-noisy,vtest-shake}, which training/heldout.py builds from ../shared/datasets (and checks against its record).
# The outputs are saved under out/eval/<out-dir's name>/, so a candidate and the shipped model of the same name
# (two out-dirs) keep theirs apart.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/model-quality-$(date +%Y%m%d)}"
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(models/deblur-fast.json models/deblur-quality.json)
cli=src/StreamDeblur/bin/Release/net10.0/streamdeblur.dll
[ -f "$cli" ] || dotnet build src/StreamDeblur -c Release --verbosity quiet --nologo
[ -d out/heldout/bsds-clean ] || /usr/bin/python3 training/heldout.py --datasets ../shared/datasets
mkdir -p "$out"
int8_config="$out/int8-config.json"
echo '{ "model": { "int8": true } }' > "$int8_config"
for metadata in "${models[@]}"; do
  name="$(basename "$metadata" .json)"
  for variant in fp32 int8; do
    config=config/streamdeblur.json
    [ "$variant" = int8 ] && config="$int8_config"
    for set in tests/data/eval out/heldout/bsds-clean out/heldout/bsds-noisy out/heldout/vtest-shake; do
      json="$out/$name-$variant-$(basename "$set").json"
      [ -f "$json" ] && continue
      echo "== $name $variant $set"
      MALLOC_ARENA_MAX=2 dotnet "$cli" eval --dir "$set" --model "$metadata" --config "$config" --json "$json" \
        --save "out/eval/$(basename "$out")/$name-$variant-$(basename "$set")" | grep -v '^time per'
    done
  done
done
/usr/bin/python3 bench/model_quality_table.py "$out"
