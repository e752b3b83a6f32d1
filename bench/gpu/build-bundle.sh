#!/usr/bin/env bash
# Builds the GPU check bundle, bench/gpu/dist/streamdeblur-gpu-check.tar.xz.NN, for a machine with an NVIDIA GPU
# and no .NET (bench/gpu/README.md). What it holds, and what was trimmed to make it small:
#   app/     `dotnet publish` of the GPU flavour, self-contained, trimmed (TrimMode=partial: only the framework's own
#            assemblies are trimmed; ours, OpenCvSharp's and prometheus-net's are kept whole, so reflection works);
#            libonnxruntime_providers_cuda.so with the GPU code of CUDA_ARCH only, and without the attention, LLM and
#            mixture-of-experts kernels (prune_cuda_fatbin.py); libOpenCvSharpExtern.so stripped of its symbol table,
#            with its library path set to app/gui; the runtime's debugger, tracing and spare-GC libraries left out
#   stubs/   stand-ins for the desktop libraries OpenCvSharp links (make_gui_stubs.sh); gpu-check.sh links them
#            into app/gui where the machine lacks the real ones, so that only this process, never its ffmpeg
#            children, sees them
#   clip-720p.mp4   the benchmark's clip (150 frames), made here, so the GPU machine needs no ffmpeg
# The bundle is split into parts of PART_MIB MiB, so that each part, with the repository, fits one device call.
#   usage: bench/gpu/build-bundle.sh        (CUDA_ARCH=90: H100/H200; PART_MIB=40; KEEP_ALL_KERNELS=1 keeps them)
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${CUDA_ARCH:-90}
part_mib=${PART_MIB:-40}
out=bench/gpu/dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for tool in dotnet python3 zstd readelf strip patchelf gcc ffmpeg xz; do
  command -v "$tool" >/dev/null || { echo "build-bundle: $tool is needed (./scripts/setup.sh installs the Debian ones)" >&2; exit 1; }
done

echo "build-bundle: publishing the GPU flavour (self-contained, trimmed)"
dotnet publish src/StreamDeblur/StreamDeblur.csproj -c Release -r linux-x64 --self-contained true -p:OrtFlavor=gpu \
  -p:PublishTrimmed=true -p:TrimMode=partial -p:JsonSerializerIsReflectionEnabledByDefault=true \
  -p:DebuggerSupport=false -p:UseSystemResourceKeys=true -p:SuppressTrimAnalysisWarnings=true -p:DebugType=none \
  -o "$stage/app" --nologo -v quiet

cuda="$stage/app/libonnxruntime_providers_cuda.so"
drop='flash|llm|[Mm]oe|[Aa]ttention|cutlass|deep_gemm|NBits|kgemm|gated_delta|Longformer|[Mm]ultihead|QOrder|dequantizeThread|Rotary|GroupQuery|[Ss]parse'
if [ "${KEEP_ALL_KERNELS:-0}" = 1 ]; then
  python3 bench/gpu/prune_cuda_fatbin.py "$cuda" "$cuda" --keep "$arch"
else
  python3 bench/gpu/prune_cuda_fatbin.py "$cuda" "$cuda" --keep "$arch" --drop-kernels "$drop"
fi
strip --strip-unneeded "$stage/app/libOpenCvSharpExtern.so"
bench/gpu/make_gui_stubs.sh "$stage/app/libOpenCvSharpExtern.so" "$stage/stubs"
patchelf --set-rpath '$ORIGIN/gui' "$stage/app/libOpenCvSharpExtern.so"
rm -f "$stage/app/createdump" "$stage/app/libmscordaccore.so" "$stage/app/libmscordbi.so" \
  "$stage/app/libcoreclrtraceptprovider.so" "$stage/app/libclrgc.so" "$stage/app/libclrgcexp.so"

echo "build-bundle: the benchmark's 1280x720 clip (150 frames, made as streamdeblur bench makes its own)"
ffmpeg -v error -stream_loop -1 -i samples/vtest-blur.mp4 -frames:v 150 -vf scale=1280:720 \
  -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an -y "$stage/clip-720p.mp4"
echo "cuda_arch=$arch keep_all_kernels=${KEEP_ALL_KERNELS:-0} commit=$(git rev-parse --short HEAD)" > "$stage/BUILD"

echo "build-bundle: compressing (xz -9)"
rm -rf "$out" && mkdir -p "$out"
tar -C "$stage" -cf - . | xz -T2 -9 -c | split -b "${part_mib}M" -d -a 2 - "$out/streamdeblur-gpu-check.tar.xz."
(cd "$out" && sha256sum streamdeblur-gpu-check.tar.xz.* > SHA256SUMS)
du -sh "$stage/app" "$stage/stubs" "$stage/clip-720p.mp4" | sed 's/^/build-bundle: unpacked /'
ls -l "$out" | awk 'NR > 1 {printf "build-bundle: %s %.1f MiB\n", $NF, $5 / 1048576}'
