#!/usr/bin/env python3
"""Fills the code of functions that never run with int3 (0xCC), so that xz shrinks it to nothing.

For libOpenCvSharpExtern.so in the GPU check bundle (bench/gpu/README.md): it statically links all of OpenCV and
its contrib modules, and Intel IPP three times over (one copy per instruction set). The worker calls core,
imgproc, imgcodecs, videoio and video (FindTransformECC) alone. A function is filled when its demangled name
matches a --drop pattern and nothing that may run reaches it. What may run: the library's static constructors and
destructors (.init_array, .fini_array), and every exported C function (OpenCvSharp's P/Invoke entry points, IPP's,
FFmpeg's, ...) except those whose name starts with a --drop-api prefix (the entry points of the modules dropped).
"Reaches" is conservative: every 4-byte window of a reached function that, read as a rip-relative displacement or
call, lands on a function, a PLT stub, a GOT slot or a data object (a vtable, a table of function pointers) makes
that target reached too, and a reached data object reaches every function its relocations point to.
--drop-dispatched names a CPU-dispatched copy (IPP's SSE4.2 one, which IPP picks only on a CPU without AVX2): it is
filled although IPP's dispatch tables reach it, and what it calls is not followed.

A filled function that does run stops the process with SIGTRAP ("Trace/breakpoint trap"; .NET turns it into an
abort, exit 134); the bundle's --cpu self-check runs the worker's OpenCV paths here. build-bundle.sh runs this
step only with PRUNE_OPENCV=1: the first attempt (the modules' functions filled with no reachability analysis)
stopped at the library's load, in a static constructor; this analysis is not yet verified by a --cpu self-check. The symbols come from the library's own symbol table (nm), so this runs before
`strip`. Bytes that a kept symbol also covers (identical code folded into one copy) are kept. Nothing moves: sizes,
sections, program headers and dynamic symbols are as they were.

  usage: prune_elf_functions.py LIB [OUT] --drop REGEX ... [--drop-api PREFIX ...] [--drop-dispatched REGEX ...] [--list]
         (a REGEX matches a demangled name from its start)
"""
import argparse
import bisect
import collections
import re
import shutil
import struct
import subprocess
import sys

import numpy as np

R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_RELATIVE = 1, 6, 7, 8


class Elf:
    def __init__(self, data):
        self.data = data
        shoff, = struct.unpack_from('<Q', data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
        raw = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
        names = raw[shstrndx][4]
        self.sections = {}
        for name, _, _, addr, offset, size, link, _, _, entsize in raw:
            start = names + name
            self.sections[data[start:data.index(b'\0', start)].decode()] = (addr, offset, size, link)
        self.alloc = sorted((a, o, sz) for a, o, sz, _ in self.sections.values() if a)

    def offset(self, addr):
        i = bisect.bisect_right(self.alloc, (addr, float('inf'), 0)) - 1
        a, o, sz = self.alloc[i]
        return o + addr - a

    def words(self, name):
        addr, offset, size, _ = self.sections[name]
        return [(addr + i, struct.unpack_from('<Q', self.data, offset + i)[0]) for i in range(0, size, 8)]

    def dynsym(self):
        _, offset, size, link = self.sections['.dynsym']
        strings = list(self.sections.values())[link][1]
        out = []
        for i in range(0, size, 24):
            name, info, _, shndx, value, _ = struct.unpack_from('<IBBHQQ', self.data, offset + i)
            start = strings + name
            out.append((self.data[start:self.data.index(b'\0', start)].decode(), value, shndx, info & 0xF))
        return out

    def relocations(self, name):
        addr, offset, size, _ = self.sections.get(name, (0, 0, 0, 0))
        for i in range(0, size, 24):
            yield struct.unpack_from('<QQq', self.data, offset + i)


def symbols(path):
    """(address, size, type, demangled name) of every sized symbol."""
    out = subprocess.run(['nm', '-S', '-C', '--defined-only', '--no-sort', path],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split(' ', 3)
        if len(fields) == 4 and int(fields[1], 16):
            yield int(fields[0], 16), int(fields[1], 16), fields[2], fields[3]


def merge(ranges):
    out = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(ranges, keep):
    """The parts of the merged ranges that no range of the merged keep covers."""
    out = []
    k = 0
    for start, end in ranges:
        while k < len(keep) and keep[k][1] <= start:
            k += 1
        j = k
        while start < end:
            if j < len(keep) and keep[j][0] < end:
                if keep[j][0] > start:
                    out.append((start, keep[j][0]))
                start = max(start, keep[j][1])
                j += 1
            else:
                out.append((start, end))
                break
    return out


def main():
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('lib')
    parser.add_argument('out', nargs='?')
    parser.add_argument('--drop', action='append', default=[], help='regex on the demangled name, from its start')
    parser.add_argument('--drop-api', action='append', default=[], help='exported C functions with this prefix are no roots')
    parser.add_argument('--drop-dispatched', action='append', default=[], help='regex: filled even when reached')
    parser.add_argument('--list', action='store_true', help='only say what would be filled')
    args = parser.parse_args()
    thunk = r'(?:(?:non-)?virtual thunk to |covariant return thunk to )?'
    patterns = [(p, re.compile(thunk + '(?:' + p + ')')) for p in args.drop + args.drop_dispatched]
    dispatched = re.compile(thunk + '(?:' + '|'.join(args.drop_dispatched) + ')') if args.drop_dispatched else None

    with open(args.lib, 'rb') as f:
        data = bytearray(f.read())
    elf = Elf(data)
    text_addr, text_offset, text_size, _ = elf.sections['.text']
    text_end = text_addr + text_size

    functions, objects = {}, []
    for addr, size, kind, name in symbols(args.lib):
        if kind in 'tTwW' and text_addr <= addr and addr + size <= text_end:
            functions.setdefault(addr, (size, name))
        elif kind in 'dDrRvVbB':
            objects.append((addr, addr + size))
    objects = merge(objects)
    object_starts = [a for a, _ in objects]

    # Where a pointer to code can sit: relocated words (vtables, tables, the GOT) and the PLT's stubs.
    dynsym = elf.dynsym()
    slot = {}
    for offset, info, addend in list(elf.relocations('.rela.dyn')) + list(elf.relocations('.rela.plt')):
        kind, index = info & 0xFFFFFFFF, info >> 32
        if kind == R_X86_64_RELATIVE:
            slot[offset] = addend
        elif kind in (R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT) and dynsym[index][2]:
            slot[offset] = dynsym[index][1] + addend
    plt_addr = elf.sections['.plt'][0]
    stub = {plt_addr + 16 * (i + 1): slot.get(offset, 0) for i, (offset, _, _) in enumerate(elf.relocations('.rela.plt'))}
    slot_addrs = np.array(sorted(slot), dtype=np.int64)

    # Every 4-byte window of .text read as a rip-relative displacement: where it would point, and from which function.
    starts = np.array(sorted(functions), dtype=np.int64)
    ends = starts + np.array([functions[int(a)][0] for a in starts], dtype=np.int64)
    code_keys = np.concatenate([starts, np.array(sorted(stub), dtype=np.int64)])
    code_vals = np.concatenate([starts, np.array([stub[k] for k in sorted(stub)], dtype=np.int64)])
    order = np.argsort(code_keys)
    code_keys, code_vals = code_keys[order], code_vals[order]
    slot_vals = np.array([slot[int(a)] for a in slot_addrs], dtype=np.int64)
    obj_lo = np.array([o[0] for o in objects], dtype=np.int64)
    obj_hi = np.array([o[1] for o in objects], dtype=np.int64)
    edges_src, edges_dst = [], []
    chunk = 1 << 22
    text = np.frombuffer(bytes(data[text_offset:text_offset + text_size + 3]), dtype=np.uint8)
    for lo in range(0, text_size, chunk):
        b = text[lo:lo + chunk + 3].astype(np.int64)
        disp = b[:-3] | (b[1:-2] << 8) | (b[2:-1] << 16) | (b[3:] << 24)
        disp -= (disp >= 1 << 31) * (1 << 32)
        where = text_addr + lo + np.arange(len(disp), dtype=np.int64)
        dest = where + 4 + disp
        src = np.searchsorted(starts, where, 'right') - 1
        inside = (src >= 0) & (where < ends[np.maximum(src, 0)])
        for keys, vals in ((code_keys, code_vals), (slot_addrs, slot_vals)):
            i = np.minimum(np.searchsorted(keys, dest), len(keys) - 1)
            hit = inside & (keys[i] == dest)
            edges_src.append(src[hit])
            edges_dst.append(vals[i[hit]])
        i = np.searchsorted(obj_lo, dest, 'right') - 1
        hit = inside & (i >= 0) & (dest < obj_hi[np.maximum(i, 0)])
        # A data object stands for every code pointer in it: node -(1 + object index).
        edges_src.append(src[hit])
        edges_dst.append(-1 - i[hit])
    src = np.concatenate(edges_src)
    dst = np.concatenate(edges_dst)
    pairs = np.unique(np.stack([src, dst]), axis=1)
    graph = collections.defaultdict(list)
    for s_, d_ in pairs.T:
        graph[int(starts[s_])].append(int(d_))
    lo_slot = np.searchsorted(slot_addrs, obj_lo)
    hi_slot = np.searchsorted(slot_addrs, obj_hi)

    roots = [slot.get(a, v) or v for (a, v) in elf.words('.init_array') + elf.words('.fini_array')]
    for name, value, shndx, kind in dynsym:
        if shndx and kind == 2 and not name.startswith('_Z') and not any(name.startswith(p) for p in args.drop_api) \
                and not any(regex.match(name) for _, regex in patterns):
            roots.append(value)
    reached = set()
    seen_objects = set()
    work = [r for r in roots if r in functions]
    while work:
        addr = work.pop()
        if addr in reached:
            continue
        reached.add(addr)
        if dispatched and dispatched.match(functions[addr][1]):
            continue
        for d_ in graph.get(addr, ()):
            if d_ >= 0:
                if d_ in functions and d_ not in reached:
                    work.append(d_)
            elif d_ not in seen_objects:
                seen_objects.add(d_)
                k = -1 - d_
                work += [int(v) for v in slot_vals[lo_slot[k]:hi_slot[k]] if int(v) in functions]

    drop, keep = [], []
    per_pattern, kept_reached = collections.Counter(), collections.Counter()
    for addr, (size, name) in functions.items():
        hit = next((p for p, regex in patterns if regex.match(name)), None)
        if hit and (addr not in reached or (dispatched and dispatched.match(name))):
            drop.append((addr, addr + size))
            per_pattern[hit] += size
        else:
            keep.append((addr, addr + size))
            if hit:
                kept_reached[hit] += size
    filled = subtract(merge(drop), merge(keep))
    total = sum(end - start for start, end in filled)
    print(f'{len(reached)} functions reachable from the constructors, destructors and the kept entry points')
    for p, _ in patterns:
        print(f'{per_pattern[p]:12d} bytes to fill, {kept_reached[p]:10d} kept as reachable: {p}')
    print(f'{total:12d} bytes filled with int3 ({total / text_size:.0%} of .text)')
    if args.list:
        return
    if not args.out:
        sys.exit('prune_elf_functions: OUT is needed (or --list)')
    for start, end in filled:
        offset = start - text_addr + text_offset
        data[offset:offset + end - start] = b'\xcc' * (end - start)
    with open(args.out, 'wb') as f:
        f.write(data)
    if args.out != args.lib:
        shutil.copymode(args.lib, args.out)


doc = __doc__
if __name__ == '__main__':
    main()
