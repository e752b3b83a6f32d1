#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and no .NET (bench/gpu/README.md). From the repository root:
#   bench/gpu/gpu-check.sh                  the check: GpuTests' parity (CUDA and TensorRT against the CPU on the
#                                           shipped models), then the batch and streams benchmark on each provider
#   bench/gpu/gpu-check.sh --discover-only  only find the CUDA 13, cuDNN 9 and TensorRT 10 libraries, and say where
#   bench/gpu/gpu-check.sh --cpu            no GPU: check the bundle itself (it runs without .NET, its CPU fallback)
# It runs the self-contained bundle bench/gpu/dist/streamdeblur-gpu-check.tar.xz, or its parts .00, .01, ...
# (bench/gpu/build-bundle.sh makes it)
# on the repository's models/, config/ and samples/, so it runs in a copy of the repository (a device call carries
# its tracked files), and takes the CUDA libraries that the machine has: CUDA's own folders, the loader's cache, or
# an installed PyTorch's nvidia wheels.
# Settings: GPU_CHECK_LIB_DIRS (more folders to search, colon-separated), GPU_CHECK_DIR (where the bundle is
# unpacked, default /tmp/streamdeblur-gpu-check), GPU_CHECK_STREAMS (most streams tried, default 32),
# GPU_CHECK_STUBS=1 (the stand-ins for the desktop libraries even where the real ones are installed: to test them).
# Results go to $OUT (a device run's folder) or bench/gpu/results.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=gpu
case "${1:-}" in
  --cpu) mode=cpu ;;
  --discover-only) mode=discover ;;
  "") ;;
  *) echo "gpu-check: unknown option $1 (expected --cpu or --discover-only)" >&2; exit 2 ;;
esac
dir=${GPU_CHECK_DIR:-/tmp/streamdeblur-gpu-check}
results=${OUT:-bench/gpu/results}
mkdir -p "$results"

# ---- the GPU ----------------------------------------------------------------------------------------------------
if [ "$mode" = gpu ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: no NVIDIA GPU found (nvidia-smi is missing or lists no GPU); --cpu checks the bundle on a machine without one" >&2
    exit 2
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu-check: GPU /'
fi

# ---- the CUDA 13, cuDNN 9 and TensorRT 10 libraries -------------------------------------------------------------
# What ONNX Runtime's providers link (GpuImageTests reads it off the package) and what the CUDA provider loads.
cuda_libs=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9)
tensorrt_libs=(libnvinfer.so.10 libnvonnxparser.so.10)
search=()
IFS=: read -r -a extra <<< "${GPU_CHECK_LIB_DIRS:-}"
search+=("${extra[@]}")
IFS=: read -r -a loader <<< "${LD_LIBRARY_PATH:-}"
search+=("${loader[@]}")
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64; do
  search+=("$d")
done
if command -v python3 >/dev/null 2>&1; then
  # An installed PyTorch brings CUDA in pip wheels: site-packages/nvidia/<part>/lib (cu13/lib for CUDA 13).
  while read -r site; do
    for d in "$site"/nvidia/*/lib "$site"/nvidia/cu13/lib "$site"/tensorrt_libs "$site"/torch/lib; do search+=("$d"); done
  done < <(python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
fi

found_dirs=()
missing_cuda=()
missing_tensorrt=()
locate() {
  local lib=$1 d
  for d in "${search[@]}"; do
    if [ -n "$d" ] && [ -e "$d/$lib" ]; then echo "$d"; return 0; fi
  done
  if ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$lib "; then echo "(loader cache)"; return 0; fi
  return 1
}
for lib in "${cuda_libs[@]}" "${tensorrt_libs[@]}"; do
  if where=$(locate "$lib"); then
    echo "gpu-check: $lib: $where"
    [ "$where" != "(loader cache)" ] && found_dirs+=("$where")
  else
    echo "gpu-check: $lib: not found"
    if [[ " ${tensorrt_libs[*]} " == *" $lib "* ]]; then missing_tensorrt+=("$lib"); else missing_cuda+=("$lib"); fi
  fi
done
library_path=$(printf '%s\n' "${found_dirs[@]}" | awk 'NF && !seen[$0]++' | paste -sd: -)
if ((${#missing_cuda[@]})) && [ "$mode" != cpu ]; then
  echo "gpu-check: CUDA 13 libraries not found: ${missing_cuda[*]} (searched CUDA's folders, the loader cache, python3's site-packages and GPU_CHECK_LIB_DIRS)" >&2
  exit 3
fi
tensorrt=yes
if ((${#missing_tensorrt[@]})); then
  tensorrt=no
  echo "gpu-check: TensorRT 10 not found (${missing_tensorrt[*]}): the tensorrt runs fall back to CUDA, and are reported as such"
fi
[ "$mode" = discover ] && exit 0

# ---- the bundle -------------------------------------------------------------------------------------------------
bundle=bench/gpu/dist/streamdeblur-gpu-check.tar.xz
# One file, or (built with PART_MIB) parts .00, .01, ... carried in consecutive calls while the machine stays warm.
parts=("$bundle")
[ -f "$bundle" ] || parts=("$bundle".[0-9][0-9])
if [ ! -f "${parts[0]}" ] || [ ! -f bench/gpu/dist/SHA256SUMS ]; then
  echo "gpu-check: the bundle is missing: build it with bench/gpu/build-bundle.sh, and carry bench/gpu/dist" >&2
  exit 4
fi
if ! (cd bench/gpu/dist && sha256sum --quiet -c SHA256SUMS); then
  echo "gpu-check: the bundle does not match bench/gpu/dist/SHA256SUMS (a part is missing or damaged)" >&2
  exit 4
fi
# The bundle carries no models: the repository's, beside this script, are the ones checked.
for file in models/deblur-fast.json config/streamdeblur.json samples/vtest-blur.mp4 tests/data/eval/000_blurry.png; do
  if [ ! -f "$file" ]; then
    echo "gpu-check: $file is missing: run it in a copy of the repository (a device call carries its tracked files)" >&2
    exit 4
  fi
done
if ! cmp -s bench/gpu/dist/SHA256SUMS "$dir/SHA256SUMS" 2>/dev/null; then
  rm -rf "$dir" && mkdir -p "$dir"
  if command -v xz >/dev/null 2>&1; then
    cat "${parts[@]}" | xz -dc | tar -x -C "$dir"
  else
    cat "${parts[@]}" | python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)' | tar -x -C "$dir"
  fi || { echo "gpu-check: cannot unpack the bundle into $dir" >&2; exit 4; }
  cp bench/gpu/dist/SHA256SUMS "$dir/"
fi
# A bundle built with PRUNE_OPENCV=1 lacks IPP's SSE4.2 copy, which IPP would run on a CPU without AVX2.
if grep -q 'prune_opencv=1' "$dir/BUILD" && ! grep -qw avx2 /proc/cpuinfo; then
  echo "gpu-check: this CPU lacks AVX2, which the bundle's pruned OpenCV needs: rebuild it without PRUNE_OPENCV=1" >&2
  exit 4
fi
echo "gpu-check: bundle $(cat "$dir/BUILD") in $dir"

# OpenCvSharp's native library links GTK and other desktop libraries; a headless machine lacks them.
gui=(libgtk-3.so.0 libgdk-3.so.0 libpangocairo-1.0.so.0 libpango-1.0.so.0 libatk-1.0.so.0 libcairo-gobject.so.2 libcairo.so.2
     libgdk_pixbuf-2.0.so.0 libgio-2.0.so.0 libgobject-2.0.so.0 libglib-2.0.so.0 libX11.so.6 libdrm.so.2 libfreetype.so.6 libharfbuzz.so.0)
absent=()
for lib in "${gui[@]}"; do ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$lib " || absent+=("$lib"); done
# The stand-ins go where libOpenCvSharpExtern.so alone looks first (its RUNPATH, app/gui): not on LD_LIBRARY_PATH,
# which the worker's ffmpeg and ffprobe children would inherit.
rm -rf "$dir/app/gui" && mkdir -p "$dir/app/gui"
if ((${#absent[@]})) || [ "${GPU_CHECK_STUBS:-0}" = 1 ]; then
  echo "gpu-check: desktop libraries missing (${absent[*]:-forced by GPU_CHECK_STUBS=1}): using the bundle's stand-ins, which no code path here calls"
  ln -s "$dir"/stubs/* "$dir/app/gui/"
fi
export LD_LIBRARY_PATH="$library_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CUDA_MODULE_LOADING=LAZY MALLOC_ARENA_MAX=2 DOTNET_CLI_TELEMETRY_OPTOUT=1
worker="$dir/app/streamdeblur"

# ---- the checks -------------------------------------------------------------------------------------------------
for provider in cpu cuda tensorrt; do
  cat > "$dir/$provider.json" <<JSON
{ "batching": { "max_batch_size": 8, "max_queue_delay_ms": 40 }, "model": { "metadata": "models/deblur-fast.json", "execution_provider": "$provider" } }
JSON
done

echo "gpu-check: providers against the CPU (GpuTests' check)"
"$worker" bench --parts providers --log-level warning 2>&1 | tee "$results/providers.md"
parity=${PIPESTATUS[0]}

# The benchmark's clip, made here with the bundle's OpenCV (this machine may have no ffmpeg): the sample looped to
# 150 frames and scaled to 1280x720, MPEG-4.
"$worker" bench --make-clip "$dir/clip-720p.mp4" --frames 150 --log-level warning 2>&1 | tee "$results/clip.txt"
clip=${PIPESTATUS[0]}

if [ "$mode" = cpu ]; then
  # Without a GPU both providers must fall back to the CPU, and the check must say so (exit 1). The sample is
  # deblurred through OpenCV's I/O, the only I/O the GPU machine has.
  out_clip=$(mktemp -d)/sample.mkv
  "$worker" run --input samples/vtest-blur.mp4 --output "$out_clip" --config "$dir/cpu.json" --decoder opencv --encoder opencv --progress off 2>&1 | tail -n 3 | tee "$results/cpu-run.txt"
  run=${PIPESTATUS[0]}
  if [ "$parity" = 1 ] && grep -q '| cuda | cpu | fp32 |' "$results/providers.md" && [ "$clip" = 0 ] && [ "$run" = 0 ]; then
    echo "gpu-check: --cpu: the bundle runs without .NET, and with no GPU every provider falls back to the CPU and fails the parity check, as it must"
    exit 0
  fi
  echo "gpu-check: --cpu: unexpected result (parity exit $parity, clip exit $clip, run exit $run)" >&2
  exit 1
fi

status=$parity
[ "$clip" = 0 ] || { echo "gpu-check: the benchmark's clip could not be made: no benchmark" >&2; exit 1; }
for provider in cuda tensorrt; do
  if [ "$provider" = tensorrt ] && [ "$tensorrt" = no ]; then
    echo "gpu-check: tensorrt benchmark not run: TensorRT 10 is not installed here"
    continue
  fi
  echo "gpu-check: batch and streams benchmark on $provider"
  "$worker" bench --parts batches,streams --clip "$dir/clip-720p.mp4" \
    --streams "${GPU_CHECK_STREAMS:-32}" --config "$dir/$provider.json" --json "$results/bench-$provider.json" --log-level warning 2>&1 \
    | tee "$results/bench-$provider.md"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
done
echo "gpu-check: results in $results"
exit "$status"
