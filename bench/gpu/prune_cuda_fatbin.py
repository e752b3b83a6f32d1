#!/usr/bin/env python3
"""Keeps only the GPU code of the chosen CUDA architectures in ONNX Runtime's CUDA provider library.

libonnxruntime_providers_cuda.so (Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0) is 284 MB, 219 MB of it the
.nv_fatbin section: one fat binary per CUDA source file, each with a zstd-compressed cubin per architecture
(sm_75, 80, 86, 89, 90, 120). xz cannot shrink compressed cubins, so the library alone is 187 MB as .tar.xz.

This rewrites each fat binary in place: the entries of the kept architectures move to its front, its size field
shrinks to them, and the rest of its slot is zero-filled (which xz then stores in almost nothing). Offsets and
sizes of the ELF sections do not change, so the library loads as before. A fat binary with no entry of a kept
architecture is left whole. A cubin runs only on its own major architecture, so a GPU whose architecture was
dropped gets CUDA's own error, "no kernel image is available for execution on the device", at the first kernel.

usage: prune_cuda_fatbin.py IN.so OUT.so --keep 90 [--keep 89 ...]   (prints what it kept and dropped)
"""
import argparse
import struct
import subprocess
import sys

BLOB_MAGIC = 0xBA55ED50
BLOB_HEADER = struct.Struct('<IHHQ')            # magic, version, header size, size of the entries that follow
ENTRY_HEADER = struct.Struct('<HHIQ')           # kind (2 = cubin, 1 = PTX), version, header size, payload size
ENTRY_ARCH_OFFSET = 28                           # uint32 sm number, after compressed size, unknown, minor, major


def section(path, name):
    out = subprocess.check_output(['readelf', '-SW', path], text=True)
    for line in out.splitlines():
        fields = line.split(']', 1)[-1].split()
        if fields and fields[0] == name:
            return int(fields[3], 16), int(fields[4], 16)
    sys.exit(f'prune_cuda_fatbin: {path} has no {name} section')


def entries(data, start, end):
    pos = start
    while pos < end:
        kind, _, header_size, payload_size = ENTRY_HEADER.unpack_from(data, pos)
        arch = struct.unpack_from('<I', data, pos + ENTRY_ARCH_OFFSET)[0]
        length = header_size + payload_size
        yield kind, arch, pos, length
        pos += length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input')
    parser.add_argument('output')
    parser.add_argument('--keep', type=int, action='append', required=True, help='an sm number to keep, e.g. 90 for H100/H200')
    args = parser.parse_args()
    keep = set(args.keep)

    data = bytearray(open(args.input, 'rb').read())
    offset, size = section(args.input, '.nv_fatbin')
    kept = dropped = untouched = blobs = 0
    pos, end = offset, offset + size
    while pos + BLOB_HEADER.size <= end:
        magic, _, header_size, body_size = BLOB_HEADER.unpack_from(data, pos)
        if magic != BLOB_MAGIC:
            pos += 8                                 # fat binaries are 8-byte aligned; skip alignment padding
            continue
        blobs += 1
        body, blob_end = pos + header_size, pos + header_size + body_size
        items = list(entries(data, body, blob_end))
        chosen = [(start, length) for _, arch, start, length in items if arch in keep]
        if not chosen:
            untouched += body_size
        else:
            packed = b''.join(bytes(data[start:start + length]) for start, length in chosen)
            data[body:blob_end] = packed + bytes(body_size - len(packed))
            BLOB_HEADER.pack_into(data, pos, magic, _, header_size, len(packed))
            kept += len(packed)
            dropped += body_size - len(packed)
        pos = blob_end

    open(args.output, 'wb').write(data)
    mb = 1e6
    print(f'prune_cuda_fatbin: {blobs} fat binaries; kept sm_{",".join(map(str, sorted(keep)))}: {kept / mb:.1f} MB, '
          f'zeroed {dropped / mb:.1f} MB, left whole (no kept architecture) {untouched / mb:.1f} MB')


if __name__ == '__main__':
    main()
