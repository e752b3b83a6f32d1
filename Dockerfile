# syntax=docker/dockerfile:1
# StreamDeblur worker images (docs/operations.md).
#   CPU (default):  docker build -t streamdeblur .
#   CUDA:           docker build --target gpu -t streamdeblur:gpu .
# Both run `streamdeblur run --config /app/config/streamdeblur.json --port 9464` as a non-root user, with
# /metrics, /healthz and /readyz on port 9464. Config and models are volumes: mount your own over them.
# The shipped config processes the sample clip into /app/out, so a bare `docker run` shows the pipeline working.

ARG DOTNET_VERSION=10.0

# ---- build: restore once, publish per ONNX Runtime flavour --------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
# Project files first, so that the restore layer is reused until a dependency changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/StreamDeblur.Core/StreamDeblur.Core.csproj src/StreamDeblur.Core/
COPY src/StreamDeblur.Video/StreamDeblur.Video.csproj src/StreamDeblur.Video/
COPY src/StreamDeblur.Inference/StreamDeblur.Inference.csproj src/StreamDeblur.Inference/
COPY src/StreamDeblur/StreamDeblur.csproj src/StreamDeblur/
RUN dotnet restore src/StreamDeblur/StreamDeblur.csproj -r linux-x64 -p:OrtFlavor=cpu \
 && dotnet restore src/StreamDeblur/StreamDeblur.csproj -r linux-x64 -p:OrtFlavor=gpu
COPY src/ src/

FROM build AS publish-cpu
RUN dotnet publish src/StreamDeblur/StreamDeblur.csproj -c Release -r linux-x64 --self-contained false \
      -p:OrtFlavor=cpu -o /out

FROM build AS publish-gpu
# Microsoft.ML.OnnxRuntime.Gpu.Linux: the CUDA and TensorRT execution providers. Its libonnxruntime_providers_cuda.so
# needs libcudart.so.13, libcublas.so.13 and libcublasLt.so.13: CUDA 13 (GpuImageTests reads them off the package).
RUN dotnet publish src/StreamDeblur/StreamDeblur.csproj -c Release -r linux-x64 --self-contained false \
      -p:OrtFlavor=gpu -o /out

# The ASP.NET Core runtime (the HTTP endpoint needs it). Microsoft ships no Debian image for .NET 10, so the
# runtime folder is copied from the official image onto the Debian 12 / CUDA bases below.
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS dotnet-runtime

# ---- gpu: NVIDIA CUDA 13 + cuDNN 9 runtime (Ubuntu 24.04) -------------------------------------------------
# The CUDA major version must be the one the ONNX Runtime GPU package links (GpuImageTests checks it), or the CUDA
# provider cannot load and every GPU user silently gets the CPU. Ubuntu 24.04's FFmpeg is 6.1 (libavformat 60):
# decoder/encoder "libav" (bound to FFmpeg 5.1) refuses to start there with one line; use "ffmpeg" I/O.
FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04 AS gpu
ARG UID=10001
ENV DEBIAN_FRONTEND=noninteractive \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    STREAMDEBLUR_HTTP_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
# libgtk-3-0t64 (Ubuntu 24.04's name for libgtk-3-0): OpenCvSharp's native library links it; ffmpeg: live
# inputs/outputs; curl: HEALTHCHECK; tini: PID 1 that forwards SIGTERM and reaps the ffmpeg children.
# CUDA_CACHE_PATH: the CUDA JIT cache must be writable with a read-only root (deploy/kubernetes mounts /tmp).
ENV CUDA_CACHE_PATH=/tmp/cuda-cache
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgtk-3-0t64 ffmpeg curl tini libssl3t64 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && useradd --system --uid ${UID} --home-dir /app --shell /usr/sbin/nologin streamdeblur \
 && mkdir -p /app/config /app/models /app/out && chown streamdeblur /app/out
WORKDIR /app
COPY --from=publish-gpu /out/ /app/bin/
COPY config/streamdeblur.json /app/config/
COPY models/ /app/models/
COPY samples/vtest-blur.mp4 /app/samples/
USER streamdeblur
VOLUME ["/app/config", "/app/models", "/app/out"]
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "dotnet", "/app/bin/streamdeblur.dll"]
CMD ["run", "--config", "/app/config/streamdeblur.json", "--port", "9464"]

# ---- cpu (default, last): Debian 12 ------------------------------------------------------------------------
FROM debian:12-slim AS cpu
ARG UID=10001
ENV DEBIAN_FRONTEND=noninteractive \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    STREAMDEBLUR_HTTP_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgtk-3-0 ffmpeg curl tini libssl3 zlib1g libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && useradd --system --uid ${UID} --home-dir /app --shell /usr/sbin/nologin streamdeblur \
 && mkdir -p /app/config /app/models /app/out && chown streamdeblur /app/out
WORKDIR /app
COPY --from=publish-cpu /out/ /app/bin/
COPY config/streamdeblur.json /app/config/
COPY models/ /app/models/
COPY samples/vtest-blur.mp4 /app/samples/
USER streamdeblur
VOLUME ["/app/config", "/app/models", "/app/out"]
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "dotnet", "/app/bin/streamdeblur.dll"]
CMD ["run", "--config", "/app/config/streamdeblur.json", "--port", "9464"]
