/*
 * cbor.h - a small, bounds-checked CBOR encoder and decoder for the C tests
 * and the demo host. Header-only, no allocation, no external libraries.
 *
 * Encoder: writes into storage the caller provides. When the storage is
 * full, `overflow` is set and nothing more is written; check it once at the
 * end instead of after every call.
 *
 * Decoder: reads from a byte range. Every read checks the bytes it needs are
 * there and that the item has the expected type; on any failure the decoder
 * sets `err` and every later read fails too, so a sequence of reads can be
 * checked once at the end. Text read from the decoder points into the input
 * (it is not NUL-terminated); cbor_read_text_into copies it out.
 *
 * Covered: unsigned and negative integers, byte and text strings, arrays,
 * maps, false/true/null, definite lengths only (which is what ciborium
 * writes). Skipping understands floats and tags as well.
 */
#ifndef HC_CBOR_H
#define HC_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
    CBOR_UINT = 0,
    CBOR_NEGINT = 1,
    CBOR_BYTES = 2,
    CBOR_TEXT = 3,
    CBOR_ARRAY = 4,
    CBOR_MAP = 5,
    CBOR_TAG = 6,
    CBOR_SIMPLE = 7,
};

/* ------------------------------------------------------------------ encode */

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} cbor_enc;

static inline void cbor_enc_init(cbor_enc *e, void *buf, size_t cap) {
    e->buf = (uint8_t *)buf;
    e->cap = cap;
    e->len = 0;
    e->overflow = false;
}

/* The encoded bytes, typed for the demo_* entry points. */
static inline const char *cbor_enc_data(const cbor_enc *e) { return (const char *)e->buf; }

static inline void cbor_put_raw(cbor_enc *e, const void *bytes, size_t n) {
    if (e->overflow || n > e->cap - e->len) {
        e->overflow = true;
        return;
    }
    if (n > 0) {
        memcpy(e->buf + e->len, bytes, n);
    }
    e->len += n;
}

/* The initial byte(s) of an item: major type plus its argument. */
static inline void cbor_put_head(cbor_enc *e, int major, uint64_t arg) {
    uint8_t head[9];
    size_t n;
    uint8_t m = (uint8_t)(major << 5);
    if (arg < 24) {
        head[0] = (uint8_t)(m | arg);
        n = 1;
    } else if (arg <= 0xff) {
        head[0] = m | 24;
        head[1] = (uint8_t)arg;
        n = 2;
    } else if (arg <= 0xffff) {
        head[0] = m | 25;
        head[1] = (uint8_t)(arg >> 8);
        head[2] = (uint8_t)arg;
        n = 3;
    } else if (arg <= 0xffffffffu) {
        head[0] = m | 26;
        for (int i = 0; i < 4; i++) {
            head[1 + i] = (uint8_t)(arg >> (8 * (3 - i)));
        }
        n = 5;
    } else {
        head[0] = m | 27;
        for (int i = 0; i < 8; i++) {
            head[1 + i] = (uint8_t)(arg >> (8 * (7 - i)));
        }
        n = 9;
    }
    cbor_put_raw(e, head, n);
}

static inline void cbor_put_uint(cbor_enc *e, uint64_t value) { cbor_put_head(e, CBOR_UINT, value); }

static inline void cbor_put_int(cbor_enc *e, int64_t value) {
    if (value >= 0) {
        cbor_put_head(e, CBOR_UINT, (uint64_t)value);
    } else {
        /* -1 - value cannot overflow for any negative int64 (INT64_MIN gives INT64_MAX). */
        cbor_put_head(e, CBOR_NEGINT, (uint64_t)(-1 - value));
    }
}

static inline void cbor_put_text(cbor_enc *e, const char *text, size_t n) {
    cbor_put_head(e, CBOR_TEXT, n);
    cbor_put_raw(e, text, n);
}

static inline void cbor_put_cstr(cbor_enc *e, const char *text) { cbor_put_text(e, text, strlen(text)); }

static inline void cbor_put_bytes(cbor_enc *e, const void *bytes, size_t n) {
    cbor_put_head(e, CBOR_BYTES, n);
    cbor_put_raw(e, bytes, n);
}

static inline void cbor_put_array(cbor_enc *e, size_t n) { cbor_put_head(e, CBOR_ARRAY, n); }
static inline void cbor_put_map(cbor_enc *e, size_t n) { cbor_put_head(e, CBOR_MAP, n); }

static inline void cbor_put_bool(cbor_enc *e, bool value) {
    uint8_t b = value ? 0xf5 : 0xf4;
    cbor_put_raw(e, &b, 1);
}

static inline void cbor_put_null(cbor_enc *e) {
    uint8_t b = 0xf6;
    cbor_put_raw(e, &b, 1);
}

/* ------------------------------------------------------------------ decode */

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool err;
} cbor_dec;

static inline void cbor_dec_init(cbor_dec *d, const void *bytes, size_t len) {
    d->p = (const uint8_t *)bytes;
    d->len = len;
    d->pos = 0;
    d->err = (bytes == NULL && len > 0);
}

static inline size_t cbor_remaining(const cbor_dec *d) { return d->err ? 0 : d->len - d->pos; }

/* True when every byte was consumed without error. */
static inline bool cbor_at_end(const cbor_dec *d) { return !d->err && d->pos == d->len; }

static inline bool cbor_fail(cbor_dec *d) {
    d->err = true;
    return false;
}

/* The major type of the next item, or -1 at the end or after an error. */
static inline int cbor_peek_major(const cbor_dec *d) {
    if (d->err || d->pos >= d->len) {
        return -1;
    }
    return d->p[d->pos] >> 5;
}

/* Reads an item's head. `info` is the 5-bit additional information; for
 * major type 7 `arg` is the simple value or the raw float bits. Indefinite
 * lengths (info 31) and reserved values (28..30) are refused. */
static inline bool cbor_read_head(cbor_dec *d, int *major, int *info, uint64_t *arg) {
    if (d->err || d->pos >= d->len) {
        return cbor_fail(d);
    }
    uint8_t first = d->p[d->pos];
    int m = first >> 5;
    int ai = first & 0x1f;
    size_t extra;
    if (ai < 24) {
        extra = 0;
    } else if (ai == 24) {
        extra = 1;
    } else if (ai == 25) {
        extra = 2;
    } else if (ai == 26) {
        extra = 4;
    } else if (ai == 27) {
        extra = 8;
    } else {
        return cbor_fail(d);
    }
    if (extra > d->len - d->pos - 1) {
        return cbor_fail(d);
    }
    uint64_t value = (extra == 0) ? (uint64_t)ai : 0;
    for (size_t i = 0; i < extra; i++) {
        value = (value << 8) | d->p[d->pos + 1 + i];
    }
    d->pos += 1 + extra;
    *major = m;
    *info = ai;
    *arg = value;
    return true;
}

/* Reads a head of the wanted major type; fails (without consuming) otherwise. */
static inline bool cbor_expect(cbor_dec *d, int want, uint64_t *arg) {
    size_t start = d->pos;
    int major, info;
    if (!cbor_read_head(d, &major, &info, arg)) {
        return false;
    }
    if (major != want) {
        d->pos = start;
        return cbor_fail(d);
    }
    return true;
}

static inline bool cbor_read_uint(cbor_dec *d, uint64_t *out) { return cbor_expect(d, CBOR_UINT, out); }

static inline bool cbor_read_int(cbor_dec *d, int64_t *out) {
    size_t start = d->pos;
    int major, info;
    uint64_t arg;
    if (!cbor_read_head(d, &major, &info, &arg)) {
        return false;
    }
    if ((major != CBOR_UINT && major != CBOR_NEGINT) || arg > (uint64_t)INT64_MAX) {
        d->pos = start;
        return cbor_fail(d);
    }
    *out = (major == CBOR_UINT) ? (int64_t)arg : -1 - (int64_t)arg;
    return true;
}

/* A text string: `*text` points into the input, `*n` bytes, no NUL. */
static inline bool cbor_read_text(cbor_dec *d, const char **text, size_t *n) {
    uint64_t len;
    if (!cbor_expect(d, CBOR_TEXT, &len)) {
        return false;
    }
    if (len > d->len - d->pos) {
        return cbor_fail(d);
    }
    *text = (const char *)d->p + d->pos;
    *n = (size_t)len;
    d->pos += (size_t)len;
    return true;
}

/* A text string copied into `out` with a NUL; fails if it does not fit or
 * contains a NUL byte. */
static inline bool cbor_read_text_into(cbor_dec *d, char *out, size_t cap) {
    const char *text;
    size_t n;
    if (!cbor_read_text(d, &text, &n)) {
        return false;
    }
    if (cap == 0 || n > cap - 1 || memchr(text, 0, n) != NULL) {
        return cbor_fail(d);
    }
    memcpy(out, text, n);
    out[n] = 0;
    return true;
}

static inline bool cbor_read_bytes(cbor_dec *d, const uint8_t **bytes, size_t *n) {
    uint64_t len;
    if (!cbor_expect(d, CBOR_BYTES, &len)) {
        return false;
    }
    if (len > d->len - d->pos) {
        return cbor_fail(d);
    }
    *bytes = d->p + d->pos;
    *n = (size_t)len;
    d->pos += (size_t)len;
    return true;
}

/* An array header: `*n` items follow. Each item takes at least one byte, so
 * a count larger than what is left is refused up front. */
static inline bool cbor_read_array(cbor_dec *d, size_t *n) {
    uint64_t count;
    if (!cbor_expect(d, CBOR_ARRAY, &count)) {
        return false;
    }
    if (count > d->len - d->pos) {
        return cbor_fail(d);
    }
    *n = (size_t)count;
    return true;
}

/* A map header: `*n` key/value pairs follow. */
static inline bool cbor_read_map(cbor_dec *d, size_t *n) {
    uint64_t count;
    if (!cbor_expect(d, CBOR_MAP, &count)) {
        return false;
    }
    if (count > (d->len - d->pos) / 2) {
        return cbor_fail(d);
    }
    *n = (size_t)count;
    return true;
}

static inline bool cbor_read_simple(cbor_dec *d, uint64_t want) {
    size_t start = d->pos;
    int major, info;
    uint64_t arg;
    if (!cbor_read_head(d, &major, &info, &arg)) {
        return false;
    }
    if (major != CBOR_SIMPLE || info >= 24 || arg != want) {
        d->pos = start;
        return cbor_fail(d);
    }
    return true;
}

static inline bool cbor_read_null(cbor_dec *d) { return cbor_read_simple(d, 22); }

static inline bool cbor_read_bool(cbor_dec *d, bool *out) {
    if (d->err || d->pos >= d->len) {
        return cbor_fail(d);
    }
    uint8_t b = d->p[d->pos];
    if (b != 0xf4 && b != 0xf5) {
        return cbor_fail(d);
    }
    d->pos++;
    *out = (b == 0xf5);
    return true;
}

/* Skips one complete item of any type (nesting limited to 32 levels). */
static inline bool cbor_skip_depth(cbor_dec *d, int depth) {
    int major, info;
    uint64_t arg;
    if (depth > 32) {
        return cbor_fail(d);
    }
    if (!cbor_read_head(d, &major, &info, &arg)) {
        return false;
    }
    switch (major) {
    case CBOR_UINT:
    case CBOR_NEGINT:
    case CBOR_SIMPLE:
        return true;
    case CBOR_BYTES:
    case CBOR_TEXT:
        if (arg > d->len - d->pos) {
            return cbor_fail(d);
        }
        d->pos += (size_t)arg;
        return true;
    case CBOR_ARRAY:
    case CBOR_MAP: {
        if (arg > d->len - d->pos) {
            return cbor_fail(d);
        }
        uint64_t items = (major == CBOR_MAP) ? arg * 2 : arg;
        for (uint64_t i = 0; i < items; i++) {
            if (!cbor_skip_depth(d, depth + 1)) {
                return false;
            }
        }
        return true;
    }
    case CBOR_TAG:
        return cbor_skip_depth(d, depth + 1);
    default:
        return cbor_fail(d);
    }
}

static inline bool cbor_skip(cbor_dec *d) { return cbor_skip_depth(d, 0); }

/* Whether `n` bytes at `text` are exactly the C string `lit`. */
static inline bool cbor_text_is(const char *text, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(text, lit, n) == 0;
}

#endif /* HC_CBOR_H */
