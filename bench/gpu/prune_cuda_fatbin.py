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

With --drop-kernels REGEX, a fat binary whose every kernel (the entry points of its kept cubin, read with zstd
and readelf) matches REGEX keeps no usable code either: its kept entries are zero-filled and relabelled sm_52, an
architecture CUDA 13 no longer runs, so the GPU finds no image for it, exactly as an sm_80 GPU finds none in the
library's own sm_90-only fat binaries. build-bundle.sh drops the attention, LLM and mixture-of-experts kernels
this way, which a convolutional network never launches.

usage: prune_cuda_fatbin.py IN.so OUT.so --keep 90 [--keep 89 ...] [--drop-kernels REGEX]
       prune_cuda_fatbin.py IN.so --list        (one line per architecture: entries and bytes)
"""
import argparse
import re
import struct
import subprocess
import sys
import tempfile

BLOB_MAGIC = 0xBA55ED50
BLOB_HEADER = struct.Struct('<IHHQ')            # magic, version, header size, size of the entries that follow
ENTRY_HEADER = struct.Struct('<HHIQ')           # kind (2 = cubin, 1 = PTX), version, header size, payload size
ENTRY_ARCH_OFFSET = 28                           # uint32 sm number, after compressed size, unknown, minor, major
ENTRY_COMPRESSED_SIZE_OFFSET = 16
NO_GPU_ARCH = 52                                 # relabels dropped code: no GPU that CUDA 13 supports is sm_52


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


def kernels(data, start):
    """The entry points of the (zstd-compressed) cubin of the entry at start."""
    header_size = ENTRY_HEADER.unpack_from(data, start)[2]
    compressed = struct.unpack_from('<I', data, start + ENTRY_COMPRESSED_SIZE_OFFSET)[0]
    cubin = subprocess.run(['zstd', '-d', '-c'], input=bytes(data[start + header_size:start + header_size + compressed]),
                           capture_output=True, check=True).stdout
    with tempfile.NamedTemporaryFile(suffix='.cubin') as file:
        file.write(cubin)
        file.flush()
        symbols = subprocess.run(['readelf', '-sW', file.name], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in symbols.splitlines() if ' FUNC ' in line and not line.split()[-1].startswith('$')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input')
    parser.add_argument('output', nargs='?')
    parser.add_argument('--list', action='store_true', help='list the architectures and sizes of the entries, change nothing')
    parser.add_argument('--keep', type=int, action='append', help='an sm number to keep, e.g. 90 for H100/H200')
    parser.add_argument('--drop-kernels', help='drop fat binaries all of whose kernels match this regular expression')
    args = parser.parse_args()
    if not args.list and (not args.output or not args.keep):
        parser.error('give OUT.so and --keep, or --list')
    keep = set(args.keep or [])
    drop = re.compile(args.drop_kernels) if args.drop_kernels else None

    data = bytearray(open(args.input, 'rb').read())
    offset, size = section(args.input, '.nv_fatbin')
    if args.list:
        listing = {}
        pos, end = offset, offset + size
        while pos + BLOB_HEADER.size <= end:
            magic, _, header_size, body_size = BLOB_HEADER.unpack_from(data, pos)
            if magic != BLOB_MAGIC:
                pos += 8
                continue
            for kind, arch, _, length in entries(data, pos + header_size, pos + header_size + body_size):
                count, total = listing.get(arch, (0, 0))
                listing[arch] = (count + 1, total + length)
            pos += header_size + body_size
        for arch, (count, total) in sorted(listing.items()):
            print(f'sm_{arch} {count} {total}')
        return

    kept = dropped = untouched = blobs = unlaunched = 0
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
            names = kernels(data, chosen[0][0]) if drop else []
            if names and all(drop.search(name) for name in names):
                for start, length in chosen:
                    header_size = ENTRY_HEADER.unpack_from(data, start)[2]
                    struct.pack_into('<I', data, start + ENTRY_ARCH_OFFSET, NO_GPU_ARCH)
                    data[start + header_size:start + length] = bytes(length - header_size)
                    unlaunched += length
            packed = b''.join(bytes(data[start:start + length]) for start, length in chosen)
            data[body:blob_end] = packed + bytes(body_size - len(packed))
            BLOB_HEADER.pack_into(data, pos, magic, _, header_size, len(packed))
            kept += len(packed)
            dropped += body_size - len(packed)
        pos = blob_end

    open(args.output, 'wb').write(data)
    mb = 1e6
    print(f'prune_cuda_fatbin: {blobs} fat binaries; kept sm_{",".join(map(str, sorted(keep)))}: {kept / mb:.1f} MB, '
          f'of which relabelled sm_{NO_GPU_ARCH} and zeroed (--drop-kernels) {unlaunched / mb:.1f} MB; '
          f'zeroed {dropped / mb:.1f} MB, left whole (no kept architecture) {untouched / mb:.1f} MB')


if __name__ == '__main__':
    main()
