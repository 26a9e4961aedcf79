/*
 * demo_records.h - the records of libdemo (see demo.h) in C: Profile,
 * Session and Progress, with their CBOR encoders/decoders, plus the request
 * shapes the tests use. Records are CBOR maps keyed by field name; decoders
 * accept any key order, skip unknown keys and require every known field.
 */
#ifndef HC_DEMO_RECORDS_H
#define HC_DEMO_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cbor.h"

#define DEMO_TEXT_MAX 128

typedef struct {
    char user_id[DEMO_TEXT_MAX];
    char name[DEMO_TEXT_MAX];
    uint32_t age;
} demo_profile;

typedef struct {
    char user_id[DEMO_TEXT_MAX];
    char greeting[DEMO_TEXT_MAX];
} demo_session;

typedef struct {
    uint32_t done;
    uint32_t total;
} demo_progress;

static inline void demo_put_profile(cbor_enc *e, const char *user_id, const char *name, uint32_t age) {
    cbor_put_map(e, 3);
    cbor_put_cstr(e, "user_id");
    cbor_put_cstr(e, user_id);
    cbor_put_cstr(e, "name");
    cbor_put_cstr(e, name);
    cbor_put_cstr(e, "age");
    cbor_put_uint(e, age);
}

static inline bool demo_read_u32(cbor_dec *d, uint32_t *out) {
    uint64_t v;
    if (!cbor_read_uint(d, &v)) {
        return false;
    }
    if (v > UINT32_MAX) {
        return cbor_fail(d);
    }
    *out = (uint32_t)v;
    return true;
}

static inline bool demo_read_profile(cbor_dec *d, demo_profile *out) {
    size_t n;
    unsigned seen = 0;
    if (!cbor_read_map(d, &n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t key_len;
        if (!cbor_read_text(d, &key, &key_len)) {
            return false;
        }
        bool ok;
        if (cbor_text_is(key, key_len, "user_id")) {
            ok = cbor_read_text_into(d, out->user_id, sizeof out->user_id);
            seen |= 1;
        } else if (cbor_text_is(key, key_len, "name")) {
            ok = cbor_read_text_into(d, out->name, sizeof out->name);
            seen |= 2;
        } else if (cbor_text_is(key, key_len, "age")) {
            ok = demo_read_u32(d, &out->age);
            seen |= 4;
        } else {
            ok = cbor_skip(d);
        }
        if (!ok) {
            return false;
        }
    }
    return seen == 7 ? true : cbor_fail(d);
}

static inline bool demo_read_session(cbor_dec *d, demo_session *out) {
    size_t n;
    unsigned seen = 0;
    if (!cbor_read_map(d, &n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t key_len;
        if (!cbor_read_text(d, &key, &key_len)) {
            return false;
        }
        bool ok;
        if (cbor_text_is(key, key_len, "user_id")) {
            ok = cbor_read_text_into(d, out->user_id, sizeof out->user_id);
            seen |= 1;
        } else if (cbor_text_is(key, key_len, "greeting")) {
            ok = cbor_read_text_into(d, out->greeting, sizeof out->greeting);
            seen |= 2;
        } else {
            ok = cbor_skip(d);
        }
        if (!ok) {
            return false;
        }
    }
    return seen == 3 ? true : cbor_fail(d);
}

static inline bool demo_read_progress(cbor_dec *d, demo_progress *out) {
    size_t n;
    unsigned seen = 0;
    if (!cbor_read_map(d, &n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t key_len;
        if (!cbor_read_text(d, &key, &key_len)) {
            return false;
        }
        bool ok;
        if (cbor_text_is(key, key_len, "done")) {
            ok = demo_read_u32(d, &out->done);
            seen |= 1;
        } else if (cbor_text_is(key, key_len, "total")) {
            ok = demo_read_u32(d, &out->total);
            seen |= 2;
        } else {
            ok = cbor_skip(d);
        }
        if (!ok) {
            return false;
        }
    }
    return seen == 3 ? true : cbor_fail(d);
}

/* Decodes a whole payload holding one Session. */
static inline bool demo_decode_session(const void *bytes, size_t len, demo_session *out) {
    cbor_dec d;
    cbor_dec_init(&d, bytes, len);
    return demo_read_session(&d, out) && cbor_at_end(&d);
}

static inline bool demo_decode_profile(const void *bytes, size_t len, demo_profile *out) {
    cbor_dec d;
    cbor_dec_init(&d, bytes, len);
    return demo_read_profile(&d, out) && cbor_at_end(&d);
}

static inline bool demo_decode_progress(const void *bytes, size_t len, demo_progress *out) {
    cbor_dec d;
    cbor_dec_init(&d, bytes, len);
    return demo_read_progress(&d, out) && cbor_at_end(&d);
}

/* Decodes the request of a host fn taking one text argument ([text]),
 * e.g. fetch_profile(user_id) or notify(message). */
static inline bool demo_decode_text_arg(const void *req, size_t len, char *out, size_t cap) {
    cbor_dec d;
    size_t n;
    cbor_dec_init(&d, req, len);
    return cbor_read_array(&d, &n) && n == 1 && cbor_read_text_into(&d, out, cap) && cbor_at_end(&d);
}

/* Encodes the request [text]. */
static inline void demo_put_text_request(cbor_enc *e, const char *text) {
    cbor_put_array(e, 1);
    cbor_put_cstr(e, text);
}

/* Encodes the request [[text, ...]]. */
static inline void demo_put_list_request(cbor_enc *e, const char *const *items, size_t n) {
    cbor_put_array(e, 1);
    cbor_put_array(e, n);
    for (size_t i = 0; i < n; i++) {
        cbor_put_cstr(e, items[i]);
    }
}

/* Encodes the request [a, b] of add. */
static inline void demo_put_add_request(cbor_enc *e, int64_t a, int64_t b) {
    cbor_put_array(e, 2);
    cbor_put_int(e, a);
    cbor_put_int(e, b);
}

#endif /* HC_DEMO_RECORDS_H */
