"""The compiled part of ``otlp_wire``: one pass over the protobuf bytes of an OTLP metrics export.

numba compiles these functions to machine code on first use and keeps the result on disk
(``cache=True``: ``__pycache__`` beside this file, or numba's cache directory where that is not
writable), so a process after the first loads them in about a second.

``parse_metrics`` reads an ExportMetricsServiceRequest without building any Python object: for
each resource, scope and metric the offsets of its parts in the body, for each gauge and sum point
its times, value, flags and the offsets of its attributes. It reads what the full decoder would
read the same way, and answers ``UNSUPPORTED`` for anything whose reading it leaves to the full
decoder (histograms, summaries, exemplars, a field twice, a wire type other than the declared one,
a point without value...) and ``BAD`` for bytes that are no valid protobuf; ``otlp_wire`` then
hands the body to ``otlp_proto``, which accepts or refuses it as before.

``parse_metrics`` and ``dedupe_spans`` release the GIL: other threads run while they read a body.
Nested calls take their arrays as views without reference counts (``_view``): numba would
otherwise count a reference with an atomic operation for each array at each call, which tripled
the time of a pass.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

OK, BAD, UNSUPPORTED, FULL = 0, 1, 2, 3

# counters in ``cnt``
_RES, _SCOPE, _METRIC, _POINT = 0, 1, 2, 3

GAUGE, SUM = 1, 2
AS_DOUBLE, AS_INT = 1, 2


@intrinsic
def _pointer(typingctx, address):
    """The address as a void pointer (for ``carray``)."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@njit(cache=True)
def _view(array):
    """The same memory without reference counting: nested calls that take it cost no atomic operations."""
    return carray(_pointer(array.ctypes.data), array.shape, array.dtype)  # type: ignore[call-arg]


@njit(cache=True, inline="always")
def _varint(buf, pos, end):
    """(value, position after it); position -1 when the varint is cut or longer than 10 bytes."""
    result = np.int64(0)
    shift = 0
    while pos < end:
        b = np.int64(buf[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            return np.int64(0), -1
    return np.int64(0), -1


@njit(cache=True, inline="always")
def _fixed64(buf, pos):
    v = np.int64(0)
    for k in range(8):
        v |= np.int64(buf[pos + k]) << (8 * k)
    return v


@njit(cache=True, inline="always")
def _skip(buf, pos, end, wire):
    """Position after a field's value of wire type ``wire`` starting at ``pos``; -1 if malformed."""
    if wire == 0:
        _, pos = _varint(buf, pos, end)
        return pos
    if wire == 1:
        pos += 8
        return pos if pos <= end else -1
    if wire == 5:
        pos += 4
        return pos if pos <= end else -1
    if wire == 2:
        n, pos = _varint(buf, pos, end)
        if pos < 0 or n < 0 or n > end - pos:
            return -1
        return pos + n
    return -1  # groups (3, 4) and 6, 7: left to the full parser


@njit(cache=True, inline="always")
def _tag(buf, pos, end):
    """(field, wire type, position after the tag); field -1 if the tag is malformed."""
    tag, pos = _varint(buf, pos, end)
    if pos < 0 or tag <= 0 or tag > 0xFFFFFFFF:
        return -1, 0, -1
    field = tag >> 3
    if field == 0:
        return -1, 0, -1
    return field, tag & 7, pos


@njit(cache=True, inline="always")
def _length(buf, pos, end):
    """(start, end) of a length-delimited value whose length starts at ``pos``; start -1 if malformed."""
    n, pos = _varint(buf, pos, end)
    if pos < 0 or n < 0 or n > end - pos:
        return -1, -1
    return pos, pos + n


@njit(cache=True)
def _point(buf, pos, end, m, cnt, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr):
    i = cnt[_POINT]
    if i >= len(p_metric):
        return FULL
    cnt[_POINT] = i + 1
    p_metric[i] = m
    p_start[i] = 0
    p_time[i] = 0
    p_bits[i] = 0
    p_kind[i] = 0
    p_flags[i] = 0
    a_start = -1
    a_end = -1
    while pos < end:
        tag_at = pos
        field, wire, pos = _tag(buf, pos, end)
        if field < 0:
            return BAD
        if field == 2 or field == 3 or field == 4 or field == 6:
            if wire != 1:
                return UNSUPPORTED
            if pos + 8 > end:
                return BAD
            v = _fixed64(buf, pos)
            pos += 8
            if field == 2:
                p_start[i] = v
            elif field == 3:
                p_time[i] = v
            else:
                p_bits[i] = v
                p_kind[i] = AS_DOUBLE if field == 4 else AS_INT
        elif field == 7:
            if wire != 2:
                return UNSUPPORTED
            s, e = _length(buf, pos, end)
            if s < 0:
                return BAD
            if a_start < 0:
                a_start = tag_at
            elif tag_at != a_end:
                return UNSUPPORTED  # attributes interleaved with other fields
            a_end = e
            pos = e
        elif field == 8:
            if wire != 0:
                return UNSUPPORTED
            v, pos = _varint(buf, pos, end)
            if pos < 0:
                return BAD
            if v < 0 or v > 0xFFFFFFFF:
                return UNSUPPORTED
            p_flags[i] = v
        elif field == 5:
            return UNSUPPORTED  # exemplars
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return BAD
    if a_start < 0:
        p_attr[i, 0] = 0
        p_attr[i, 1] = 0
    else:
        p_attr[i, 0] = a_start
        p_attr[i, 1] = a_end
    if p_start[i] < 0 or p_time[i] < 0:
        return UNSUPPORTED  # beyond int64 nanoseconds: the full decoder refuses it
    if p_kind[i] == 0 and (p_flags[i] & 1) == 0:
        return UNSUPPORTED  # a point without value: rejected by the full decoder
    return OK


@njit(cache=True)
def _data(buf, pos, end, m, kind, cnt, m_info, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr):
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if field < 0:
            return BAD
        if field == 1:
            if wire != 2:
                return UNSUPPORTED
            s, e = _length(buf, pos, end)
            if s < 0:
                return BAD
            status = _point(buf, s, e, m, cnt, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr)
            if status != OK:
                return status
            pos = e
        elif kind == SUM and (field == 2 or field == 3):
            if wire != 0:
                return UNSUPPORTED
            v, pos = _varint(buf, pos, end)
            if pos < 0:
                return BAD
            if field == 2:
                if v < 0 or v > 127:
                    return UNSUPPORTED
                m_info[m, 1] = v
            else:
                m_info[m, 2] = 1 if v != 0 else 0
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return BAD
    return OK


@njit(cache=True)
def _metric(buf, pos, end, sc, cnt, m_scope, m_str, m_info, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr):
    m = cnt[_METRIC]
    if m >= len(m_scope):
        return FULL
    cnt[_METRIC] = m + 1
    m_scope[m] = sc
    for k in range(6):
        m_str[m, k] = 0
    m_info[m, 0] = 0
    m_info[m, 1] = 0
    m_info[m, 2] = 0
    seen = 0
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if field < 0:
            return BAD
        if field == 1 or field == 2 or field == 3:
            if wire != 2:
                return UNSUPPORTED
            s, e = _length(buf, pos, end)
            if s < 0:
                return BAD
            bit = 1 << field
            if seen & bit:
                return UNSUPPORTED  # a string field twice
            seen |= bit
            m_str[m, 2 * (field - 1)] = s
            m_str[m, 2 * (field - 1) + 1] = e
            pos = e
        elif field == 5 or field == 7:
            if wire != 2:
                return UNSUPPORTED
            if m_info[m, 0] != 0:
                return UNSUPPORTED  # data twice: merged or replaced by the full parser
            s, e = _length(buf, pos, end)
            if s < 0:
                return BAD
            kind = GAUGE if field == 5 else SUM
            m_info[m, 0] = kind
            status = _data(buf, s, e, m, kind, cnt, m_info, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr)
            if status != OK:
                return status
            pos = e
        elif field == 9 or field == 10 or field == 11 or field == 12:
            return UNSUPPORTED  # histograms, summaries, metadata
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return BAD
    if m_info[m, 0] == 0:
        return UNSUPPORTED  # a metric without data: rejected by the full decoder
    return OK


@njit(cache=True, nogil=True)
def parse_metrics(body, cap_points, cap_metrics, cap_scopes, cap_resources):
    """One pass over an ExportMetricsServiceRequest: spans and values of resources, scopes, metrics and
    gauge and sum points. Returns (status, counts, arrays...)."""
    cnt = np.zeros(4, np.int64)
    r_span = np.empty((cap_resources, 4), np.int64)  # resource message, schema_url
    s_res = np.empty(cap_scopes, np.int64)
    s_span = np.empty((cap_scopes, 4), np.int64)  # scope message, schema_url
    m_scope = np.empty(cap_metrics, np.int64)
    m_str = np.empty((cap_metrics, 6), np.int64)  # name, description, unit
    m_info = np.empty((cap_metrics, 3), np.int64)  # kind, temporality, monotonic
    p_metric = np.empty(cap_points, np.int64)
    p_start = np.empty(cap_points, np.int64)
    p_time = np.empty(cap_points, np.int64)
    p_bits = np.empty(cap_points, np.int64)
    p_kind = np.empty(cap_points, np.int8)
    p_flags = np.empty(cap_points, np.int64)
    p_attr = np.empty((cap_points, 2), np.int64)
    status = _request(
        _view(body),
        _view(cnt),
        _view(r_span),
        _view(s_res),
        _view(s_span),
        _view(m_scope),
        _view(m_str),
        _view(m_info),
        _view(p_metric),
        _view(p_start),
        _view(p_time),
        _view(p_bits),
        _view(p_kind),
        _view(p_flags),
        _view(p_attr),
    )
    return (
        status,
        cnt,
        r_span,
        s_res,
        s_span,
        m_scope,
        m_str,
        m_info,
        p_metric,
        p_start,
        p_time,
        p_bits,
        p_kind,
        p_flags,
        p_attr,
    )


@njit(cache=True)
def _request(
    buf, cnt, r_span, s_res, s_span, m_scope, m_str, m_info, p_metric, p_start, p_time, p_bits, p_kind, p_flags, p_attr
):
    end = len(buf)
    pos = 0
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if field < 0:
            return BAD
        if field != 1:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return BAD
            continue
        if wire != 2:
            return UNSUPPORTED
        rs, re_ = _length(buf, pos, end)
        if rs < 0:
            return BAD
        pos = re_
        r = cnt[_RES]
        if r >= len(r_span):
            return FULL
        cnt[_RES] = r + 1
        r_span[r, 0] = 0
        r_span[r, 1] = 0
        r_span[r, 2] = 0
        r_span[r, 3] = 0
        have_resource = False
        have_schema = False
        q = rs
        while q < re_:
            f, w, q = _tag(buf, q, re_)
            if f < 0:
                return BAD
            if f == 1 or f == 3:
                if w != 2:
                    return UNSUPPORTED
                s, e = _length(buf, q, re_)
                if s < 0:
                    return BAD
                if f == 1:
                    if have_resource:
                        return UNSUPPORTED
                    have_resource = True
                    r_span[r, 0] = s
                    r_span[r, 1] = e
                else:
                    if have_schema:
                        return UNSUPPORTED
                    have_schema = True
                    r_span[r, 2] = s
                    r_span[r, 3] = e
                q = e
            elif f == 2:
                if w != 2:
                    return UNSUPPORTED
                ss, se = _length(buf, q, re_)
                if ss < 0:
                    return BAD
                q = se
                sc = cnt[_SCOPE]
                if sc >= len(s_res):
                    return FULL
                cnt[_SCOPE] = sc + 1
                s_res[sc] = r
                s_span[sc, 0] = 0
                s_span[sc, 1] = 0
                s_span[sc, 2] = 0
                s_span[sc, 3] = 0
                have_scope = False
                have_scope_schema = False
                t = ss
                while t < se:
                    g, x, t = _tag(buf, t, se)
                    if g < 0:
                        return BAD
                    if g == 1 or g == 3:
                        if x != 2:
                            return UNSUPPORTED
                        s, e = _length(buf, t, se)
                        if s < 0:
                            return BAD
                        if g == 1:
                            if have_scope:
                                return UNSUPPORTED
                            have_scope = True
                            s_span[sc, 0] = s
                            s_span[sc, 1] = e
                        else:
                            if have_scope_schema:
                                return UNSUPPORTED
                            have_scope_schema = True
                            s_span[sc, 2] = s
                            s_span[sc, 3] = e
                        t = e
                    elif g == 2:
                        if x != 2:
                            return UNSUPPORTED
                        s, e = _length(buf, t, se)
                        if s < 0:
                            return BAD
                        status = _metric(
                            buf,
                            s,
                            e,
                            sc,
                            cnt,
                            m_scope,
                            m_str,
                            m_info,
                            p_metric,
                            p_start,
                            p_time,
                            p_bits,
                            p_kind,
                            p_flags,
                            p_attr,
                        )
                        if status != OK:
                            return status
                        t = e
                    else:
                        t = _skip(buf, t, se, x)
                        if t < 0:
                            return BAD
            else:
                q = _skip(buf, q, re_, w)
                if q < 0:
                    return BAD
    return OK
