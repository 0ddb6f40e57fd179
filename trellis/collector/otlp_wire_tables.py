"""The compiled part of ``otlp_wire`` that finds what it has seen before: attribute sets of a body
that are the same bytes (``dedupe_spans``), and the series ids remembered under their keys
(``series_lookup``, ``series_insert``: an open-addressing table in numpy arrays).

As in ``otlp_wire_kernels``, numba compiles these on first use and keeps them on disk (``cache=True``),
and nested calls take their arrays as views without reference counts.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from trellis.collector.otlp_wire_kernels import _view


@intrinsic
def _word(typingctx, address):
    """The 8 bytes at ``address`` as an int64 (unaligned, the machine's byte order)."""
    sig = types.int64(types.int64)

    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load(pointer, align=1)

    return sig, codegen


@njit(cache=True, inline="always")
def _hash(buf, s, e):
    """A 64-bit hash of ``buf[s:e]``, eight bytes at a time (which bytes are equal is checked after)."""
    h = np.int64(-3750763034362895579) ^ (e - s)
    base = buf.ctypes.data
    while s + 8 <= e:
        word = _word(base + s)  # type: ignore[call-arg,var-annotated]
        h = (h ^ word) * np.int64(-7046029254386353131)
        h ^= h >> 31
        s += 8
    while s < e:
        h = (h ^ np.int64(buf[s])) * np.int64(0x100000001B3)
        s += 1
    return h ^ (h >> 29)


@njit(cache=True, nogil=True)
def dedupe_spans(body, spans, column):
    """Equal byte strings among ``spans[:, column:column + 2]``: each span's number among the distinct ones, and
    the row of the first span of each distinct one."""
    buf = _view(body)
    n = spans.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    table = np.full(cap, -1, np.int64)
    rep_hash = np.empty(n, np.int64)
    reps = np.empty(n, np.int64)
    ids = np.empty(n, np.int32)
    count = 0
    for i in range(n):
        s = spans[i, column]
        e = spans[i, column + 1]
        h = _hash(buf, s, e)
        slot = h & (cap - 1)
        while True:
            r = table[slot]
            if r < 0:
                table[slot] = count
                rep_hash[count] = h
                reps[count] = i
                ids[i] = count
                count += 1
                break
            if rep_hash[r] == h:
                j = reps[r]
                rs = spans[j, column]
                re_ = spans[j, column + 1]
                if re_ - rs == e - s:
                    same = True
                    for k in range(e - s):
                        if buf[s + k] != buf[rs + k]:
                            same = False
                            break
                    if same:
                        ids[i] = r
                        break
            slot = (slot + 1) & (cap - 1)
    return ids, reps[:count].copy()


@njit(cache=True)
def _mix(h, v):
    h = (h ^ v) * np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15
    return h ^ (h >> 29)


@njit(cache=True)
def series_lookup(keys, values, table, point_keys):
    """Known series ids of points by their exact key (a row of ``point_keys``): id and whether found."""
    n, width = point_keys.shape
    cap = len(table)
    out = np.zeros(n, np.int64)
    found = np.zeros(n, np.bool_)
    for i in range(n):
        h = np.int64(0)
        for k in range(width):
            h = _mix(h, point_keys[i, k])
        slot = h & (cap - 1)
        while True:
            r = table[slot]
            if r < 0:
                break
            same = True
            for k in range(width):
                if keys[r, k] != point_keys[i, k]:
                    same = False
                    break
            if same:
                out[i] = values[r]
                found[i] = True
                break
            slot = (slot + 1) & (cap - 1)
    return out, found


@njit(cache=True)
def series_insert(keys, values, table, count, point_keys, ids):
    """Add series ids by key; stops when the store is full. Returns the new count."""
    n, width = point_keys.shape
    cap = len(table)
    for i in range(n):
        if count >= len(values):
            return count
        h = np.int64(0)
        for k in range(width):
            h = _mix(h, point_keys[i, k])
        slot = h & (cap - 1)
        while True:
            r = table[slot]
            if r < 0:
                table[slot] = count
                for k in range(width):
                    keys[count, k] = point_keys[i, k]
                values[count] = ids[i]
                count += 1
                break
            same = True
            for k in range(width):
                if keys[r, k] != point_keys[i, k]:
                    same = False
                    break
            if same:
                break
            slot = (slot + 1) & (cap - 1)
    return count
