#!/usr/bin/env bash
# Installs what StreamDeblur needs on a fresh Debian 12 machine that has the .NET 10 SDK:
# Debian packages (OpenCV's GTK dependency, ffmpeg for live streams and checks, promtool, a GStreamer
# RTSP server for the stream tests) and the NuGet packages. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  libgtk-3-0                      # needed by OpenCvSharp4.official.runtime.linux-x64
  ffmpeg                          # live inputs/outputs (child process) and ffprobe checks
  prometheus                      # promtool check metrics
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-tools   # a real RTSP server on loopback for the stream tests
  gstreamer1.0-plugins-bad        # gaussianblur: rtsp_server.py --blur-period (latency test, soak)
  curl                            # bench/soak.sh reads /metrics
  binutils                        # readelf: GpuImageTests cross-checks its ELF reader
  xz-utils zstd                   # bench/gpu/build-bundle.sh: compresses the GPU check bundle, reads CUDA cubins
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi

# The Kubernetes schema validator (KubernetesManifestTests): kubernetes-models from npm, pinned by its lock file.
if [ ! -d tests/k8s-validate/node_modules ] || [ tests/k8s-validate/package-lock.json -nt tests/k8s-validate/node_modules ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: Node.js and npm are required for the Kubernetes manifest tests (node not found on PATH)" >&2
    exit 1
  fi
  npm ci --prefix tests/k8s-validate --silent --no-audit --no-fund
fi

# The GPU package too: GpuImageTests read the CUDA versions its provider libraries link. The solution's CPU
# restore runs last, so the build uses the default flavour.
dotnet restore src/StreamDeblur.Inference/StreamDeblur.Inference.csproj -p:OrtFlavor=gpu --verbosity quiet
dotnet restore StreamDeblur.sln --verbosity quiet
