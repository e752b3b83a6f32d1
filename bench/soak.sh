#!/usr/bin/env bash
# Soak benchmark for live streams (not a CI test).
#
# Starts N loopback RTSP servers (tests/tools/rtsp_server.py), runs `streamdeblur run` on all of them at once
# (one process, N live streams, segmented .mkv outputs, HTTP metrics), and samples the worker every
# SAMPLE_SECONDS: resident memory (VmRSS), the managed heap (dotnet_total_memory_bytes), open file descriptors (/proc/<pid>/fd), threads, and the frames
# written so far (from /metrics). Writes bench/results/soak-<date>.csv and prints a Markdown table.
#
#   bench/soak.sh                                   # 4 streams, 10 minutes, a sample a minute
#   STREAMS=2 DURATION=120 SAMPLE_SECONDS=10 bench/soak.sh
#
# Needs: a Release build of the CLI (dotnet build src/StreamDeblur/StreamDeblur.csproj -c Release),
# models/deblur-fast.json, /usr/bin/python3 with gir1.2-gst-rtsp-server-1.0, ffmpeg, curl.
set -euo pipefail

STREAMS=${STREAMS:-4}
DURATION=${DURATION:-600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-60}
WIDTH=${WIDTH:-320}
HEIGHT=${HEIGHT:-240}
FPS=${FPS:-15}
PATTERN=${PATTERN:-smpte}        # videotestsrc pattern; smpte has edges for the blur estimator to judge
BLUR_PERIOD=${BLUR_PERIOD:-5}    # blur 1 s in every BLUR_PERIOD seconds, so the deblur path runs too
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DLL=${DLL:-$ROOT/src/StreamDeblur/bin/Release/net10.0/streamdeblur.dll}
STAMP=$(date +%Y%m%d-%H%M%S)
CSV=${CSV:-$ROOT/bench/results/soak-$STAMP.csv}
WORK=$(mktemp -d /tmp/streamdeblur-soak.XXXXXX)
PIDS=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

[[ -f $DLL ]] || { echo "soak: build the CLI first: $DLL is missing" >&2; exit 1; }
mkdir -p "$(dirname "$CSV")"

# N RTSP servers, one per stream (each its own encoder, like N cameras).
streams_json=""
for i in $(seq 1 "$STREAMS"); do
  port=$(free_port)
  /usr/bin/python3 "$ROOT/tests/tools/rtsp_server.py" --port "$port" --path "cam$i" \
    --width "$WIDTH" --height "$HEIGHT" --fps "$FPS" --pattern "$PATTERN" --blur-period "$BLUR_PERIOD" > "$WORK/rtsp$i.log" 2>&1 &
  PIDS+=($!)
  [[ -n $streams_json ]] && streams_json+=","
  streams_json+="{\"id\":\"cam$i\",\"input\":\"rtsp://soak:pw@127.0.0.1:$port/cam$i\",\"output\":\"$WORK/out/cam$i.mkv\",\"segment_seconds\":60,
    \"reconnect\":{\"initial_delay_seconds\":0.5,\"max_delay_seconds\":5,\"stall_timeout_seconds\":5,\"open_timeout_seconds\":10}}"
done
for i in $(seq 1 "$STREAMS"); do
  for _ in $(seq 1 50); do grep -q READY "$WORK/rtsp$i.log" && break; sleep 0.2; done
  grep -q READY "$WORK/rtsp$i.log" || { echo "soak: RTSP server $i did not start: $(cat "$WORK/rtsp$i.log")" >&2; exit 1; }
done

http_port=$(free_port)
cat > "$WORK/soak.json" <<JSON
{
  "streams": [$streams_json],
  "model": { "metadata": "$ROOT/models/deblur-fast.json", "intra_op_threads": 1 },
  "http": { "port": $http_port }
}
JSON

dotnet "$DLL" run --config "$WORK/soak.json" > "$WORK/worker.out" 2> "$WORK/worker.err" &
WORKER=$!
PIDS+=($WORKER)
echo "soak: $STREAMS streams ${WIDTH}x${HEIGHT}@${FPS}, ${DURATION} s, worker pid $WORKER, work dir $WORK, csv $CSV" >&2

metric_sum() { # metric_sum <name>: the sum of a counter over all its series (0 before the endpoint is up)
  local body
  body=$(curl -s "http://127.0.0.1:$http_port/metrics" || true)
  awk -v m="$1" '$1 ~ "^"m"(\\{|$)" { s += $2 } END { printf "%d", s }' <<< "$body"
}

echo "elapsed_s,rss_kib,managed_heap_kib,fds,threads,frames_written,frames_deblurred,frames_dropped,frames_skipped,reconnects" > "$CSV"
start=$(date +%s)
while :; do
  now=$(( $(date +%s) - start ))
  kill -0 "$WORKER" 2>/dev/null || { echo "soak: the worker exited early: $(tail -5 "$WORK/worker.err")" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$WORKER/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$WORKER/status")
  fds=$(ls "/proc/$WORKER/fd" | wc -l)
  written=$(metric_sum streamdeblur_frames_written_total)
  deblurred=$(metric_sum streamdeblur_frames_deblurred_total)
  dropped=$(metric_sum streamdeblur_frames_dropped_total)
  skipped=$(metric_sum streamdeblur_frames_deblur_skipped_total)
  reconnects=$(metric_sum streamdeblur_reconnects_total)
  managed=$(( $(metric_sum dotnet_total_memory_bytes) / 1024 ))
  echo "$now,$rss,$managed,$fds,$threads,$written,$deblurred,$dropped,$skipped,$reconnects" | tee -a "$CSV" >&2
  (( now >= DURATION )) && break
  sleep $(( SAMPLE_SECONDS - ( ( $(date +%s) - start ) % SAMPLE_SECONDS ) ))
done

kill -TERM "$WORKER"
wait "$WORKER" || echo "soak: the worker exited with $?" >&2
cat "$WORK/worker.out" >&2

echo
echo "| elapsed (s) | VmRSS (MiB) | managed heap (MiB) | fds | threads | frames written | deblurred | dropped | deblur skipped | reconnects |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
tail -n +2 "$CSV" | awk -F, '{ printf "| %d | %.1f | %.1f | %d | %d | %d | %d | %d | %d | %d |\n", $1, $2/1024, $3/1024, $4, $5, $6, $7, $8, $9, $10 }'
