#!/usr/bin/env bash
# Builds the GPU check bundle, bench/gpu/dist/streamdeblur-gpu-check.tar.xz, for a machine with an NVIDIA GPU and
# no .NET (bench/gpu/README.md). It is one file, under 64 MiB. What it holds, and what was trimmed to make it small:
#   app/     `dotnet publish` of the GPU flavour, self-contained, trimmed (TrimMode=partial: only the framework's own
#            assemblies are trimmed, and ASP.NET Core's MVC, Razor and Blazor ones left out; ours, OpenCvSharp's and
#            prometheus-net's are kept whole, so reflection works); libonnxruntime_providers_cuda.so with the GPU
#            code of CUDA_ARCH only, and without the attention, LLM and mixture-of-experts kernels
#            (prune_cuda_fatbin.py); libOpenCvSharpExtern.so stripped of its symbol table, with its library path
#            set to app/gui (and, with PRUNE_OPENCV=1, not yet verified, the code of the OpenCV modules the worker
#            never calls and IPP's SSE4.2 copy filled with int3: prune_elf_functions.py); the runtime's debugger,
#            tracing and spare-GC libraries left out
#   stubs/   stand-ins for the desktop libraries OpenCvSharp links (make_gui_stubs.sh); gpu-check.sh links them
#            into app/gui where the machine lacks the real ones, so that only this process, never its ffmpeg
#            children, sees them
# Not in it: the models and the configs (the device call carries the repository's models/ and config/, and the
# check runs in the repository's root), and the benchmark's clip (gpu-check.sh makes it there with the bundle's
# OpenCV: streamdeblur bench --make-clip).
#   usage: bench/gpu/build-bundle.sh    (CUDA_ARCH=90: H100/H200; KEEP_ALL_KERNELS=1 keeps every CUDA kernel;
#                                        PRUNE_OPENCV=1 fills OpenCV's unused code; PUBLISHED=DIR takes that publish
#                                        instead of publishing again; NICE=19 runs the heavy steps niced;
#                                        PART_MIB=N splits it into parts of N MiB, for consecutive device calls)
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${CUDA_ARCH:-90}
out=bench/gpu/dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for tool in dotnet python3 zstd readelf nm strip patchelf gcc xz; do
  command -v "$tool" >/dev/null || { echo "build-bundle: $tool is needed (./scripts/setup.sh installs the Debian ones)" >&2; exit 1; }
done

if [ -n "${PUBLISHED:-}" ]; then
  echo "build-bundle: taking the publish in $PUBLISHED"
  cp -a "$PUBLISHED" "$stage/app"
else
  echo "build-bundle: publishing the GPU flavour (self-contained, trimmed)"
  nice -n "${NICE:-0}" dotnet publish src/StreamDeblur/StreamDeblur.csproj -c Release -r linux-x64 --self-contained true -p:OrtFlavor=gpu \
    -p:PublishTrimmed=true -p:TrimMode=partial -p:JsonSerializerIsReflectionEnabledByDefault=true \
    -p:DebuggerSupport=false -p:UseSystemResourceKeys=true -p:SuppressTrimAnalysisWarnings=true -p:DebugType=none \
    -o "$stage/app" --nologo -v quiet
fi
# The models and configs come from the repository, where the check runs: they are not carried twice.
rm -rf "$stage/app/models" "$stage/app/config"

cuda="$stage/app/libonnxruntime_providers_cuda.so"
drop='flash|llm|[Mm]oe|[Aa]ttention|cutlass|deep_gemm|NBits|kgemm|gated_delta|Longformer|[Mm]ultihead|QOrder|dequantizeThread|Rotary|GroupQuery|[Ss]parse'
if [ "${KEEP_ALL_KERNELS:-0}" = 1 ]; then
  python3 bench/gpu/prune_cuda_fatbin.py "$cuda" "$cuda" --keep "$arch"
else
  python3 bench/gpu/prune_cuda_fatbin.py "$cuda" "$cuda" --keep "$arch" --drop-kernels "$drop"
fi
opencv="$stage/app/libOpenCvSharpExtern.so"
if [ "${PRUNE_OPENCV:-0}" = 1 ]; then
  # The OpenCV modules the worker never calls (it uses core, imgproc, imgcodecs, videoio and video), and IPP's
  # SSE4.2 copy, which IPP runs only on a CPU without AVX2 (gpu-check.sh refuses such a CPU). See bench/gpu/README.md.
  modules='cv::dnn:: tesseract:: cv::text:: cv::face:: cv::aruco:: zxing:: cv::wechat_qrcode:: cv::xfeatures2d:: cv::ximgproc::
    cv::xphoto:: cv::ml:: cv::saliency:: cv::tracking:: cvflann:: cv::usac:: cv::detail:: google::protobuf:: opencv_caffe::
    opencv_tensorflow:: opencv_onnx::'
  apis='dnn_ text_ face_ aruco_ wechat_qrcode_ xfeatures2d_ ximgproc_ xphoto_ ml_ tracking_ flann_ stitching_'
  args=(--drop-dispatched 'icv_y8_')
  for m in $modules; do args+=(--drop "$m"); done
  for a in $apis; do args+=(--drop-api "$a"); done
  nice -n "${NICE:-0}" python3 bench/gpu/prune_elf_functions.py "$opencv" "$opencv" "${args[@]}"
fi
strip --strip-unneeded "$opencv"
bench/gpu/make_gui_stubs.sh "$stage/app/libOpenCvSharpExtern.so" "$stage/stubs"
patchelf --set-rpath '$ORIGIN/gui' "$stage/app/libOpenCvSharpExtern.so"
rm -f "$stage/app/createdump" "$stage/app/libmscordaccore.so" "$stage/app/libmscordbi.so" \
  "$stage/app/libcoreclrtraceptprovider.so" "$stage/app/libclrgc.so" "$stage/app/libclrgcexp.so"
echo "cuda_arch=$arch keep_all_kernels=${KEEP_ALL_KERNELS:-0} prune_opencv=${PRUNE_OPENCV:-0} commit=$(git rev-parse --short HEAD)" > "$stage/BUILD"

# One thread (more would cut the stream into blocks, each compressed alone), the x86 filter for the ELF files'
# code, and preset 9 (a 64 MiB dictionary; 9e, far slower, made OpenCV 316 bytes smaller of 31.5 MB).
echo "build-bundle: compressing (xz --x86 --lzma2=preset=9, one thread: 5 to 20 minutes)"
rm -rf "$out" && mkdir -p "$out"
tar -C "$stage" --sort=name --owner=0 --group=0 -cf - . | nice -n "${NICE:-0}" xz -T1 --x86 --lzma2=preset=9 -c > "$out/streamdeblur-gpu-check.tar.xz"
if [ -n "${PART_MIB:-}" ]; then
  # Parts for consecutive device calls, where one file and the repository's tracked files exceed one call's 64 MiB.
  split -b "${PART_MIB}M" -d -a 2 "$out/streamdeblur-gpu-check.tar.xz" "$out/streamdeblur-gpu-check.tar.xz."
  rm "$out/streamdeblur-gpu-check.tar.xz"
fi
(cd "$out" && sha256sum streamdeblur-gpu-check.tar.xz* > SHA256SUMS)
du -sh "$stage/app" "$stage/stubs" | sed 's/^/build-bundle: unpacked /'
ls -l "$out" | awk 'NR > 1 {printf "build-bundle: %s %.1f MiB (%d bytes)\n", $NF, $5 / 1048576, $5}'
