/*
 * demo_errors.h - the error types of libdemo (see demo.h) in C: AccountError
 * (what the host completes find_account with, RET_ERR_TYPED) and SignInError
 * (what sign_in replies with, RET_ERR_TYPED), with their CBOR encoders and
 * decoders.
 *
 * Wire form (serde's externally tagged enum): a unit variant is its name as
 * CBOR text; any other variant is a map of one entry, name to its fields (a
 * struct variant: a map keyed by field name; a tuple variant: an array; a
 * newtype variant: the value itself).
 *
 *   AccountError: {"NotFound": {"user_id": text}}
 *                 {"Locked": {"until_unix_s": uint}}
 *                 {"Suspended": [text, uint]}
 *   SignInError:  "EmptyUserId" | the three above | {"Unavailable": text}
 *
 * The decoders are strict: every known field is required, unknown keys are
 * refused (a test that wants to see a field must see exactly it), and the
 * whole payload must be consumed.
 */
#ifndef HC_DEMO_ERRORS_H
#define HC_DEMO_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cbor.h"

/* The variants of both types; AccountError has only NOT_FOUND, LOCKED and
 * SUSPENDED. */
typedef enum {
    DEMO_ERR_EMPTY_USER_ID,
    DEMO_ERR_NOT_FOUND,
    DEMO_ERR_LOCKED,
    DEMO_ERR_SUSPENDED,
    DEMO_ERR_UNAVAILABLE,
    DEMO_ERR_KINDS
} demo_err_kind;

/* Room for an Unavailable text (a host's error text, or the runtime's
 * description of a malformed reply, which quotes the decoder). */
#define DEMO_ERR_TEXT_MAX 512

/* One value of either type. `text` is the user_id (NotFound), the reason
 * (Suspended) or the description (Unavailable); `num` is until_unix_s
 * (Locked) or since (Suspended). Unused fields are empty / 0. */
typedef struct {
    demo_err_kind kind;
    char text[DEMO_ERR_TEXT_MAX];
    uint64_t num;
} demo_error;

static inline const char *demo_err_kind_name(demo_err_kind kind) {
    switch (kind) {
    case DEMO_ERR_EMPTY_USER_ID: return "EmptyUserId";
    case DEMO_ERR_NOT_FOUND: return "NotFound";
    case DEMO_ERR_LOCKED: return "Locked";
    case DEMO_ERR_SUSPENDED: return "Suspended";
    case DEMO_ERR_UNAVAILABLE: return "Unavailable";
    default: return "(not a variant)";
    }
}

/* Encodes `err` in the wire form above. For an AccountError pass only
 * NOT_FOUND, LOCKED or SUSPENDED. */
static inline void demo_put_error(cbor_enc *e, const demo_error *err) {
    if (err->kind == DEMO_ERR_EMPTY_USER_ID) {
        cbor_put_cstr(e, "EmptyUserId");
        return;
    }
    cbor_put_map(e, 1);
    cbor_put_cstr(e, demo_err_kind_name(err->kind));
    switch (err->kind) {
    case DEMO_ERR_NOT_FOUND:
        cbor_put_map(e, 1);
        cbor_put_cstr(e, "user_id");
        cbor_put_cstr(e, err->text);
        break;
    case DEMO_ERR_LOCKED:
        cbor_put_map(e, 1);
        cbor_put_cstr(e, "until_unix_s");
        cbor_put_uint(e, err->num);
        break;
    case DEMO_ERR_SUSPENDED:
        cbor_put_array(e, 2);
        cbor_put_cstr(e, err->text);
        cbor_put_uint(e, err->num);
        break;
    default: /* DEMO_ERR_UNAVAILABLE */
        cbor_put_cstr(e, err->text);
        break;
    }
}

/* Builders. */
static inline demo_error demo_error_of(demo_err_kind kind, const char *text, uint64_t num) {
    demo_error err;
    memset(&err, 0, sizeof err);
    err.kind = kind;
    if (text != NULL) {
        size_t n = strlen(text);
        if (n >= sizeof err.text) {
            n = sizeof err.text - 1;
        }
        memcpy(err.text, text, n);
    }
    err.num = num;
    return err;
}

/* A map of exactly one entry whose key is `key` and whose value is read by
 * the caller next. */
static inline bool demo_read_single_key(cbor_dec *d, const char *key) {
    size_t n;
    const char *k;
    size_t k_len;
    if (!cbor_read_map(d, &n) || n != 1 || !cbor_read_text(d, &k, &k_len)) {
        return cbor_fail(d);
    }
    return cbor_text_is(k, k_len, key) ? true : cbor_fail(d);
}

/* Reads one SignInError (or AccountError: `account` refuses the two
 * variants AccountError lacks). */
static inline bool demo_read_error(cbor_dec *d, demo_error *out, bool account) {
    memset(out, 0, sizeof *out);
    if (cbor_peek_major(d) == CBOR_TEXT) {
        const char *name;
        size_t n;
        if (!cbor_read_text(d, &name, &n) || account || !cbor_text_is(name, n, "EmptyUserId")) {
            return cbor_fail(d);
        }
        out->kind = DEMO_ERR_EMPTY_USER_ID;
        return true;
    }
    size_t n;
    const char *name;
    size_t name_len;
    if (!cbor_read_map(d, &n) || n != 1 || !cbor_read_text(d, &name, &name_len)) {
        return cbor_fail(d);
    }
    if (cbor_text_is(name, name_len, "NotFound")) {
        out->kind = DEMO_ERR_NOT_FOUND;
        return demo_read_single_key(d, "user_id") && cbor_read_text_into(d, out->text, sizeof out->text);
    }
    if (cbor_text_is(name, name_len, "Locked")) {
        out->kind = DEMO_ERR_LOCKED;
        return demo_read_single_key(d, "until_unix_s") && cbor_read_uint(d, &out->num);
    }
    if (cbor_text_is(name, name_len, "Suspended")) {
        size_t items;
        out->kind = DEMO_ERR_SUSPENDED;
        if (!cbor_read_array(d, &items) || items != 2) {
            return cbor_fail(d);
        }
        return cbor_read_text_into(d, out->text, sizeof out->text) && cbor_read_uint(d, &out->num);
    }
    if (!account && cbor_text_is(name, name_len, "Unavailable")) {
        out->kind = DEMO_ERR_UNAVAILABLE;
        return cbor_read_text_into(d, out->text, sizeof out->text);
    }
    return cbor_fail(d);
}

/* Decodes a whole RET_ERR_TYPED payload of sign_in: one SignInError. */
static inline bool demo_decode_sign_in_error(const void *bytes, size_t len, demo_error *out) {
    cbor_dec d;
    cbor_dec_init(&d, bytes, len);
    return demo_read_error(&d, out, false) && cbor_at_end(&d);
}

/* Decodes a whole AccountError payload (what a host completes find_account
 * with); the tests use it to check their own encoder. */
static inline bool demo_decode_account_error(const void *bytes, size_t len, demo_error *out) {
    cbor_dec d;
    cbor_dec_init(&d, bytes, len);
    return demo_read_error(&d, out, true) && cbor_at_end(&d);
}

/* Whether two values are the same variant with the same fields. */
static inline bool demo_error_eq(const demo_error *a, const demo_error *b) {
    return a->kind == b->kind && strcmp(a->text, b->text) == 0 && a->num == b->num;
}

#endif /* HC_DEMO_ERRORS_H */
