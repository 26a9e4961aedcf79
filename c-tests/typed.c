/*
 * typed.c - typed errors both ways: sign_in awaiting find_account (demo.h).
 *
 *   typed [sign-ins per thread] [seed]
 *
 * The host completes find_account with RET_OK and a Profile, RET_ERR_TYPED
 * and an AccountError, or RET_ERR and text; sign_in replies RET_OK and a
 * Session, or RET_ERR_TYPED and a SignInError: the same-named variant with
 * the same fields for each AccountError, EmptyUserId for "" (the host is
 * not asked), Unavailable(text) when the host call failed otherwise (the
 * host's RET_ERR text exactly, "host fn 'find_account' not registered",
 * a timeout, a malformed typed or untyped payload). RET_ERR_TYPED for a host
 * fn that declares no error type (fetch_profile, notify) fails that host
 * call as a malformed reply. host_complete refuses every other code with
 * HC_ERR_INVALID_ARG and the token stays completable. Completions come
 * inline from the host fn and later from worker threads; at the end many
 * threads sign in at once with random variants and every reply is accounted
 * for exactly once.
 *
 * Each sign-in's user id says how the host answers it ("<tag>:<rest>"):
 *   ok:<name>          RET_OK, Profile {user_id, name, 30}
 *   nf:<id>            RET_ERR_TYPED {"NotFound": {"user_id": id}}
 *   lk:<n>             RET_ERR_TYPED {"Locked": {"until_unix_s": n}}
 *   su:<n>:<reason>    RET_ERR_TYPED {"Suspended": [reason, n]}
 *   er:<text>          RET_ERR text
 *   bad:<k>            RET_ERR_TYPED with malformed payload k (BAD_TYPED)
 *   okbad:<k>          RET_OK with malformed payload k (BAD_OK)
 */
#include "harness.h"

#include <inttypes.h>
#include <limits.h>

#define DEFAULT_PER_THREAD 300
#define MANY_THREADS 8
#define MANY_WORKERS 3

#define UNAVAILABLE_MALFORMED_TYPED "host fn 'find_account' sent a malformed reply: not a valid AccountError: "
#define UNAVAILABLE_MALFORMED_OK "host fn 'find_account' sent a malformed reply: "
#define UNTYPED_TYPED_REASON "a typed error (RET_ERR_TYPED) from a host fn that declares no error type"

/* A byte string literal and its length (NULs included). */
#define B(s) s, sizeof(s) - 1

/* Malformed AccountError payloads (bad:<k>). */
static const struct {
    const char *what;
    const char *bytes;
    size_t len;
} BAD_TYPED[] = {
    {"an unknown variant", B("\xa1\x64Gone\xa1\x67user_id\x61x")},
    {"SignInError's unit variant", B("\x6b" "EmptyUserId")},
    {"a text until_unix_s", B("\xa1\x66Locked\xa1\x6cuntil_unix_s\x64soon")},
    {"a one-element Suspended", B("\xa1\x69Suspended\x81\x61r")},
    {"no CBOR at all", B("\xff")},
    {"trailing bytes", B("\xa1\x68NotFound\xa1\x67user_id\x61x\x00")},
    {"a negative until_unix_s", B("\xa1\x66Locked\xa1\x6cuntil_unix_s\x20")},
    {"an empty payload", NULL, 0},
    {"NotFound without its field", B("\xa1\x68NotFound\xa0")},
    {"NotFound as a unit variant", B("\x68NotFound")},
    {"a truncated map", B("\xa1\x66Locked\xa1\x6cuntil_unix_s")},
    {"an integer", B("\x05")},
};
#define N_BAD_TYPED (sizeof BAD_TYPED / sizeof BAD_TYPED[0])

/* Malformed Profile payloads (okbad:<k>). */
static const struct {
    const char *what;
    const char *bytes;
    size_t len;
} BAD_OK[] = {
    {"a Profile without name and age", B("\xa1\x67user_id\x61x")},
    {"an AccountError as the value", B("\xa1\x66Locked\xa1\x6cuntil_unix_s\x01")},
    {"null (an empty payload)", NULL, 0},
};
#define N_BAD_OK (sizeof BAD_OK / sizeof BAD_OK[0])

/* ------------------------------------------------ what a user id means */

/* The completion the host makes for `uid`. */
typedef struct {
    int ret;
    uint8_t buf[512];
    const char *bytes;
    size_t len;
} completion;

/* The reply sign_in must give for `uid`. */
typedef struct {
    int ret;              /* RET_OK or RET_ERR_TYPED */
    char name[DEMO_TEXT_MAX]; /* RET_OK: the profile's name */
    demo_error err;       /* RET_ERR_TYPED */
    bool prefix_only;     /* Unavailable: err.text is a prefix of the real text */
} expectation;

static const char *after_tag(const char *uid, const char *tag) {
    size_t n = strlen(tag);
    if (strncmp(uid, tag, n) == 0 && uid[n] == ':') {
        return uid + n + 1;
    }
    return NULL;
}

/* The account error `uid` names, if it names one. */
static bool account_error_of(const char *uid, demo_error *out) {
    const char *rest;
    if ((rest = after_tag(uid, "nf")) != NULL) {
        *out = demo_error_of(DEMO_ERR_NOT_FOUND, rest, 0);
        return true;
    }
    if ((rest = after_tag(uid, "lk")) != NULL) {
        *out = demo_error_of(DEMO_ERR_LOCKED, NULL, strtoull(rest, NULL, 10));
        return true;
    }
    if ((rest = after_tag(uid, "su")) != NULL) {
        char *end;
        uint64_t since = strtoull(rest, &end, 10);
        CHECK(*end == ':', "user id \"%s\" is not su:<n>:<reason>", uid);
        *out = demo_error_of(DEMO_ERR_SUSPENDED, end + 1, since);
        return true;
    }
    return false;
}

static unsigned index_after(const char *uid, const char *tag, unsigned n) {
    const char *rest = after_tag(uid, tag);
    unsigned k = (unsigned)strtoul(rest, NULL, 10);
    CHECK(k < n, "user id \"%s\": index %u of %u", uid, k, n);
    return k;
}

static void completion_of(const char *uid, completion *c) {
    cbor_enc e;
    cbor_enc_init(&e, c->buf, sizeof c->buf);
    demo_error err;
    const char *rest;
    if ((rest = after_tag(uid, "ok")) != NULL) {
        demo_put_profile(&e, uid, rest, 30);
        c->ret = RET_OK;
    } else if (account_error_of(uid, &err)) {
        demo_put_error(&e, &err);
        c->ret = RET_ERR_TYPED;
    } else if ((rest = after_tag(uid, "er")) != NULL) {
        c->ret = RET_ERR;
        c->bytes = rest;
        c->len = strlen(rest);
        return;
    } else if (after_tag(uid, "bad") != NULL) {
        unsigned k = index_after(uid, "bad", N_BAD_TYPED);
        c->ret = RET_ERR_TYPED;
        c->bytes = BAD_TYPED[k].bytes;
        c->len = BAD_TYPED[k].len;
        return;
    } else if (after_tag(uid, "okbad") != NULL) {
        unsigned k = index_after(uid, "okbad", N_BAD_OK);
        c->ret = RET_OK;
        c->bytes = BAD_OK[k].bytes;
        c->len = BAD_OK[k].len;
        return;
    } else {
        CHECK(false, "user id \"%s\" names no answer", uid);
    }
    CHECK(!e.overflow, "completion buffer too small");
    c->bytes = (const char *)cbor_enc_data(&e);
    c->len = e.len;
}

static void expectation_of(const char *uid, expectation *x) {
    memset(x, 0, sizeof *x);
    const char *rest;
    x->ret = RET_ERR_TYPED;
    if (uid[0] == 0) {
        x->err = demo_error_of(DEMO_ERR_EMPTY_USER_ID, NULL, 0);
    } else if ((rest = after_tag(uid, "ok")) != NULL) {
        x->ret = RET_OK;
        snprintf(x->name, sizeof x->name, "%s", rest);
    } else if (account_error_of(uid, &x->err)) {
        /* the same-named SignInError, the same fields */
    } else if ((rest = after_tag(uid, "er")) != NULL) {
        x->err = demo_error_of(DEMO_ERR_UNAVAILABLE, rest, 0);
    } else if (after_tag(uid, "bad") != NULL) {
        x->err = demo_error_of(DEMO_ERR_UNAVAILABLE, UNAVAILABLE_MALFORMED_TYPED, 0);
        x->prefix_only = true;
    } else if (after_tag(uid, "okbad") != NULL) {
        x->err = demo_error_of(DEMO_ERR_UNAVAILABLE, UNAVAILABLE_MALFORMED_OK, 0);
        x->prefix_only = true;
    } else {
        CHECK(false, "user id \"%s\" names no answer", uid);
    }
}

/* CHECKs that (ret, msg, len) is the reply sign_in(uid) must give. */
static void check_outcome(const char *uid, int ret, const char *msg, size_t len) {
    expectation x;
    expectation_of(uid, &x);
    CHECK(ret == x.ret, "sign_in(\"%s\"): ret %d %s, expected %s (payload \"%.*s\")", uid, ret, hc_ret_name(ret),
          hc_ret_name(x.ret), (int)len, msg ? msg : "");
    if (ret == RET_OK) {
        demo_session s;
        char greeting[DEMO_TEXT_MAX + 8];
        snprintf(greeting, sizeof greeting, "Hello, %s", x.name);
        CHECK(demo_decode_session(msg, len, &s), "sign_in(\"%s\"): RET_OK payload is not a Session", uid);
        CHECK(strcmp(s.user_id, uid) == 0, "sign_in(\"%s\"): session of \"%s\"", uid, s.user_id);
        CHECK(strcmp(s.greeting, greeting) == 0, "sign_in(\"%s\"): greeting \"%s\", expected \"%s\"", uid, s.greeting,
              greeting);
        return;
    }
    demo_error got;
    CHECK(demo_decode_sign_in_error(msg, len, &got), "sign_in(\"%s\"): RET_ERR_TYPED payload (%zu bytes) is not a "
                                                     "SignInError",
          uid, len);
    if (x.prefix_only) {
        size_t n = strlen(x.err.text);
        CHECK(got.kind == DEMO_ERR_UNAVAILABLE && strncmp(got.text, x.err.text, n) == 0 && strlen(got.text) > n,
              "sign_in(\"%s\"): %s \"%s\", expected Unavailable \"%s…\"", uid, demo_err_kind_name(got.kind), got.text,
              x.err.text);
    } else {
        CHECK(demo_error_eq(&got, &x.err), "sign_in(\"%s\"): %s(\"%s\", %" PRIu64 "), expected %s(\"%s\", %" PRIu64 ")",
              uid, demo_err_kind_name(got.kind), got.text, got.num, demo_err_kind_name(x.err.kind), x.err.text,
              x.err.num);
    }
}

/* ------------------------------------------------ the host's find_account */

enum { ANSWER_INLINE, ANSWER_LATER, ANSWER_RANDOM };

typedef struct {
    void *ctx;
    int mode;
    hc_queue queue; /* ANSWER_LATER: (token, user id) for the workers */
    atomic_int calls;
    atomic_int doubles; /* second completions tried (and refused) */
    hc_rng rng;     /* loop thread only */
} host;

/* Makes the completion `uid` calls for; returns host_complete's status. */
static int answer(void *ctx, uint64_t token, const char *uid) {
    completion c;
    completion_of(uid, &c);
    return demo_host_complete(ctx, token, c.ret, c.bytes, c.len);
}

static void find_account_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    host *h = (host *)user_data;
    char uid[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, uid, sizeof uid), "find_account request is not [text] (%zu bytes)", len);
    CHECK(uid[0] != 0, "find_account was asked about the empty user id");
    atomic_fetch_add(&h->calls, 1);
    bool inline_now = h->mode == ANSWER_INLINE || (h->mode == ANSWER_RANDOM && hc_rng_below(&h->rng, 3) == 0);
    if (inline_now) {
        CHECK_STATUS(answer(h->ctx, token, uid), HC_OK);
        if (h->mode == ANSWER_RANDOM && hc_rng_below(&h->rng, 4) == 0) {
            CHECK_STATUS(answer(h->ctx, token, uid), HC_ERR_UNKNOWN_TOKEN);
            atomic_fetch_add(&h->doubles, 1);
        }
    } else {
        hc_queue_push(&h->queue, token, uid);
    }
}

static void *worker(void *arg) {
    host *h = (host *)arg;
    hc_job job;
    hc_rng rng;
    hc_rng_seed(&rng, (uint64_t)(uintptr_t)&rng);
    while (hc_queue_pop(&h->queue, &job)) {
        CHECK_STATUS(answer(h->ctx, job.token, job.arg), HC_OK);
        if (hc_rng_below(&rng, 4) == 0) {
            CHECK_STATUS(answer(h->ctx, job.token, job.arg), HC_ERR_UNKNOWN_TOKEN);
            atomic_fetch_add(&h->doubles, 1);
        }
    }
    return NULL;
}

static void host_start(host *h, int mode, int workers, pthread_t *threads, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->ctx = hc_new_context(NULL, 0);
    h->mode = mode;
    hc_queue_init(&h->queue);
    hc_rng_seed(&h->rng, seed);
    CHECK_STATUS(demo_register_host_fn(h->ctx, DEMO_HOST_FN_FIND_ACCOUNT, find_account_fn, h), HC_OK);
    for (int i = 0; i < workers; i++) {
        hc_spawn(&threads[i], worker, h);
    }
}

static void host_stop(host *h, int workers, pthread_t *threads) {
    CHECK_STATUS(demo_destroy(h->ctx), HC_OK);
    hc_queue_close(&h->queue);
    for (int i = 0; i < workers; i++) {
        hc_join(threads[i]);
    }
    hc_queue_free(&h->queue);
}

/* sign_in(uid), replying into r (initialised here). */
static int sign_in(void *ctx, const char *uid, hc_reply *r) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, uid);
    CHECK(!e.overflow, "request buffer too small");
    hc_reply_init(r);
    return demo_call(ctx, DEMO_METHOD_SIGN_IN, (const char *)cbor_enc_data(&e), e.len, hc_reply_typed_cb, r);
}

static void check_reply(const char *uid, hc_reply *r) {
    CHECK(hc_reply_count(r) == 1, "sign_in(\"%s\"): %d replies", uid, hc_reply_count(r));
    check_outcome(uid, r->ret, r->msg, r->len);
}

/* ------------------------------------------------ the encoder, checked */

static void test_codec(void) {
    /* The encoder writes what demo.h documents, byte for byte. */
    uint8_t buf[128];
    cbor_enc e;
    demo_error err = demo_error_of(DEMO_ERR_LOCKED, NULL, 1);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_error(&e, &err);
    CHECK(e.len == 23 && memcmp(buf, BAD_OK[1].bytes, 23) == 0, "Locked(1) encodes as %zu bytes", e.len);
    err = demo_error_of(DEMO_ERR_EMPTY_USER_ID, NULL, 0);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_error(&e, &err);
    CHECK(e.len == 12 && memcmp(buf, "\x6b" "EmptyUserId", 12) == 0, "EmptyUserId encodes as %zu bytes", e.len);
    /* Every AccountError round-trips; SignInError's own variants are not AccountErrors. */
    demo_error all[] = {
        demo_error_of(DEMO_ERR_NOT_FOUND, "x", 0),
        demo_error_of(DEMO_ERR_LOCKED, NULL, UINT64_MAX),
        demo_error_of(DEMO_ERR_SUSPENDED, "why", 77),
        demo_error_of(DEMO_ERR_EMPTY_USER_ID, NULL, 0),
        demo_error_of(DEMO_ERR_UNAVAILABLE, "down", 0),
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        demo_error back;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_error(&e, &all[i]);
        bool account = all[i].kind != DEMO_ERR_EMPTY_USER_ID && all[i].kind != DEMO_ERR_UNAVAILABLE;
        CHECK(demo_decode_sign_in_error(buf, e.len, &back) && demo_error_eq(&back, &all[i]), "%s does not round-trip",
              demo_err_kind_name(all[i].kind));
        CHECK(demo_decode_account_error(buf, e.len, &back) == account, "%s as an AccountError",
              demo_err_kind_name(all[i].kind));
    }
    for (size_t k = 0; k < N_BAD_TYPED; k++) {
        demo_error back;
        CHECK(!demo_decode_account_error(BAD_TYPED[k].bytes, BAD_TYPED[k].len, &back), "bad payload %zu (%s) decodes",
              k, BAD_TYPED[k].what);
    }
}

/* ------------------------------------ every variant, inline and later */

static const char *const VARIANTS[] = {
    "ok:Alice",
    "ok:Zoë",
    "nf:alice",
    "nf:",
    "nf:someone-else-entirely-with-a-long-id-0123456789",
    "lk:0",
    "lk:23",
    "lk:24",
    "lk:255",
    "lk:256",
    "lk:65535",
    "lk:65536",
    "lk:4294967295",
    "lk:4294967296",
    "lk:1893456000",
    "lk:18446744073709551615",
    "su:0:",
    "su:1700000000:spam",
    "su:18446744073709551615:a reason, with ünïcode",
    "er:the store is down",
    "er:x",
    "er:Locked",
};
#define N_VARIANTS (sizeof VARIANTS / sizeof VARIANTS[0])

static void test_variants(int mode) {
    host h;
    pthread_t workers[2];
    int nworkers = mode == ANSWER_LATER ? 2 : 0;
    host_start(&h, mode, nworkers, workers, 1);
    char uids[N_VARIANTS + N_BAD_TYPED + N_BAD_OK][HC_ARG_MAX];
    size_t n = 0;
    for (size_t i = 0; i < N_VARIANTS; i++) {
        snprintf(uids[n++], HC_ARG_MAX, "%s", VARIANTS[i]);
    }
    for (size_t k = 0; k < N_BAD_TYPED; k++) {
        snprintf(uids[n++], HC_ARG_MAX, "bad:%zu", k);
    }
    for (size_t k = 0; k < N_BAD_OK; k++) {
        snprintf(uids[n++], HC_ARG_MAX, "okbad:%zu", k);
    }

    /* One at a time. */
    for (size_t i = 0; i < n; i++) {
        hc_reply r;
        CHECK_STATUS(sign_in(h.ctx, uids[i], &r), HC_OK);
        hc_reply_wait(&r);
        check_reply(uids[i], &r);
        CHECK(atomic_load(&h.calls) == (int)i + 1, "find_account asked %d times after %zu sign-ins",
              atomic_load(&h.calls), i + 1);
        hc_reply_free(&r);
    }
    /* All at once. */
    static hc_reply rs[N_VARIANTS + N_BAD_TYPED + N_BAD_OK];
    for (size_t i = 0; i < n; i++) {
        CHECK_STATUS(sign_in(h.ctx, uids[i], &rs[i]), HC_OK);
    }
    for (size_t i = 0; i < n; i++) {
        hc_reply_wait(&rs[i]);
    }
    hc_barrier(h.ctx);
    for (size_t i = 0; i < n; i++) {
        check_reply(uids[i], &rs[i]);
        hc_reply_free(&rs[i]);
    }
    CHECK(atomic_load(&h.calls) == (int)(2 * n), "find_account asked %d times for %zu sign-ins",
          atomic_load(&h.calls), 2 * n);
    host_stop(&h, nworkers, workers);
    printf("%s: %zu answers, each arrived as its SignInError\n", mode == ANSWER_INLINE ? "inline" : "later", n);
}

/* A RET_ERR text that is not UTF-8 is replaced, not refused: Unavailable
 * carries U+FFFD. */
static void test_err_text_not_utf8(void) {
    hc_held held;
    hc_held_init(&held);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FIND_ACCOUNT, hc_held_fn, &held), HC_OK);
    hc_reply r;
    CHECK_STATUS(sign_in(ctx, "er:bytes", &r), HC_OK);
    hc_held_wait_calls(&held, 1);
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&held, "er:bytes"), RET_ERR, "a\xff" "b", 3), HC_OK);
    hc_reply_wait(&r);
    demo_error got;
    CHECK(r.ret == RET_ERR_TYPED && demo_decode_sign_in_error(r.msg, r.len, &got), "ret %s", hc_ret_name(r.ret));
    CHECK(got.kind == DEMO_ERR_UNAVAILABLE && strcmp(got.text, "a\xef\xbf\xbd" "b") == 0, "%s \"%s\"",
          demo_err_kind_name(got.kind), got.text);
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

/* ------------------------------------------------------- EmptyUserId */

static void test_empty_user_id(void) {
    host h;
    host_start(&h, ANSWER_INLINE, 0, NULL, 2);
    for (int i = 0; i < 3; i++) {
        hc_reply r;
        CHECK_STATUS(sign_in(h.ctx, "", &r), HC_OK);
        hc_reply_wait(&r);
        check_reply("", &r);
        /* exactly the CBOR text "EmptyUserId" */
        CHECK(r.len == 12 && memcmp(r.msg, "\x6b" "EmptyUserId", 12) == 0, "EmptyUserId is %zu bytes", r.len);
        hc_reply_free(&r);
    }
    /* Through call_cancellable: replied, so there is nothing to cancel. */
    hc_reply r;
    uint64_t id = 0;
    hc_reply_init(&r);
    CHECK_STATUS(demo_call_cancellable(h.ctx, DEMO_METHOD_SIGN_IN, "\x81\x60", 2, hc_reply_typed_cb, &r, &id), HC_OK);
    hc_reply_wait(&r);
    check_reply("", &r);
    CHECK_STATUS(demo_cancel_call(h.ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&r);
    hc_barrier(h.ctx);
    CHECK(atomic_load(&h.calls) == 0, "find_account was asked %d times for empty user ids", atomic_load(&h.calls));
    /* A request that does not decode is the runtime's, not a SignInError. */
    hc_reply_init(&r);
    CHECK_STATUS(demo_call(h.ctx, DEMO_METHOD_SIGN_IN, "\x81\x01", 2, hc_reply_typed_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_FAIL_HAS(&r, RET_INVALID_ARG, "bad request for 'sign_in': ");
    hc_reply_free(&r);
    host_stop(&h, 0, NULL);
}

/* ------------------------------------------ the host call failed otherwise */

static void check_unavailable(hc_reply *r, const char *text) {
    demo_error got;
    CHECK(hc_reply_count(r) == 1, "%d replies", hc_reply_count(r));
    CHECK(r->ret == RET_ERR_TYPED, "ret %d %s, expected RET_ERR_TYPED (\"%s\")", r->ret, hc_ret_name(r->ret), r->msg);
    CHECK(demo_decode_sign_in_error(r->msg, r->len, &got), "the payload is not a SignInError");
    CHECK(got.kind == DEMO_ERR_UNAVAILABLE && strcmp(got.text, text) == 0, "%s \"%s\", expected Unavailable \"%s\"",
          demo_err_kind_name(got.kind), got.text, text);
}

static void test_not_registered(void) {
    void *ctx = hc_new_context(NULL, 0);
    hc_held held;
    hc_held_init(&held);
    /* fetch_profile and notify registered, find_account not. */
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, &held), HC_OK);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_NOTIFY, hc_held_fn, &held), HC_OK);
    hc_reply r;
    CHECK_STATUS(sign_in(ctx, "nf:nobody", &r), HC_OK);
    hc_reply_wait(&r);
    check_unavailable(&r, "host fn 'find_account' not registered");
    hc_reply_free(&r);
    /* EmptyUserId comes first: the host is not needed for it. */
    CHECK_STATUS(sign_in(ctx, "", &r), HC_OK);
    hc_reply_wait(&r);
    check_reply("", &r);
    hc_reply_free(&r);
    hc_barrier(ctx);
    CHECK(hc_held_calls(&held) == 0, "another host fn was asked");
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

static void test_timeout(void) {
    void *ctx = hc_new_context("host_call_timeout_ms", 30);
    hc_held held;
    hc_held_init(&held);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FIND_ACCOUNT, hc_held_fn, hc_held_cancel, &held),
                 HC_OK);
    hc_reply r;
    CHECK_STATUS(sign_in(ctx, "lk:5", &r), HC_OK);
    hc_reply_wait(&r); /* the library's timer ends it */
    check_unavailable(&r, "host fn 'find_account' timed out after 30 ms");
    hc_held_wait_cancels(&held, 1);
    uint64_t token = hc_held_token_of(&held, "lk:5");
    CHECK(hc_held_cancel_count(&held, token) == 1, "cancelled %d times", hc_held_cancel_count(&held, token));
    CHECK_STATUS(answer(ctx, token, "lk:5"), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&held) == 1, "%d cancellations", hc_held_cancels(&held));
    hc_held_free(&held);
}

/* ------------------------------------------- host fns without an error type */

static void test_untyped_host_fns(void) {
    hc_held held;
    hc_held_init(&held);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, &held), HC_OK);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_NOTIFY, hc_held_fn, &held), HC_OK);
    uint8_t buf[128];
    cbor_enc e;
    /* A valid AccountError, even: fetch_profile declares no error type. */
    demo_error err = demo_error_of(DEMO_ERR_NOT_FOUND, "alice", 0);
    uint8_t typed[64];
    cbor_enc te;
    cbor_enc_init(&te, typed, sizeof typed);
    demo_put_error(&te, &err);

    hc_reply login, ping, native_ping;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "alice");
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN, &e, &login), HC_OK);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "hello");
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_PING_HOST, &e, &ping), HC_OK);
    hc_reply_init(&native_ping);
    CHECK_STATUS(demo_native_ping_host(ctx, "native", 6, hc_reply_cb, &native_ping), HC_OK);
    hc_held_wait_calls(&held, 3);
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&held, "alice"), RET_ERR_TYPED, (const char *)typed, te.len),
                 HC_OK);
    /* A payload that is no CBOR at all: refused just the same. */
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&held, "hello"), RET_ERR_TYPED, "\xff", 1), HC_OK);
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&held, "native"), RET_ERR_TYPED, NULL, 0), HC_OK);
    hc_reply_wait(&login);
    hc_reply_wait(&ping);
    hc_reply_wait(&native_ping);
    CHECK_REPLY_ERR_IS(&login, "host fetch failed: host fn 'fetch_profile' sent a malformed reply: " UNTYPED_TYPED_REASON);
    CHECK_REPLY_ERR_IS(&ping, "host notify failed: host fn 'notify' sent a malformed reply: " UNTYPED_TYPED_REASON);
    CHECK_REPLY_ERR_IS(&native_ping,
                       "host notify failed: host fn 'notify' sent a malformed reply: " UNTYPED_TYPED_REASON);
    /* Each token was accepted once. */
    CHECK_STATUS(hc_complete_profile(ctx, hc_held_token_of(&held, "alice"), "alice", "A", 1), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&login);
    hc_reply_free(&ping);
    hc_reply_free(&native_ping);

    /* login_many: the first typed completion fails the whole call; the other
     * fetch is dropped. */
    const char *const users[] = {"m1", "m2"};
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, users, 2);
    hc_reply many;
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN_MANY, &e, &many), HC_OK);
    hc_held_wait_calls(&held, 5);
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&held, "m2"), RET_ERR_TYPED, (const char *)typed, te.len),
                 HC_OK);
    hc_reply_wait(&many);
    CHECK_REPLY_ERR_IS(&many, "host fetch failed: host fn 'fetch_profile' sent a malformed reply: " UNTYPED_TYPED_REASON);
    CHECK_STATUS(hc_complete_profile(ctx, hc_held_token_of(&held, "m1"), "m1", "M", 1), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&many);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

/* --------------------------------------------------- refused completions */

static void test_refused_codes(void) {
    hc_held held;
    hc_held_init(&held);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FIND_ACCOUNT, hc_held_fn, &held), HC_OK);
    hc_reply r;
    CHECK_STATUS(sign_in(ctx, "lk:42", &r), HC_OK);
    hc_held_wait_calls(&held, 1);
    uint64_t token = hc_held_token_of(&held, "lk:42");
    completion c;
    completion_of("lk:42", &c);
    const int refused[] = {-1, RET_SHUTTING_DOWN, RET_OVERLOADED, RET_TIMED_OUT, RET_CANCELLED, RET_NOT_REGISTERED,
                           RET_INVALID_ARG, RET_PANIC, 10, 11, 255, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_STATUS(demo_host_complete(ctx, token, refused[i], c.bytes, c.len), HC_ERR_INVALID_ARG);
    }
    CHECK_STATUS(demo_host_complete(ctx, token, RET_ERR_TYPED, NULL, c.len), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_host_complete(NULL, token, RET_ERR_TYPED, c.bytes, c.len), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_host_complete((void *)(uintptr_t)0x5eed0, token, RET_ERR_TYPED, c.bytes, c.len),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_host_complete(ctx, token ^ 0x1000000, RET_ERR_TYPED, c.bytes, c.len), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_host_complete(ctx, 7, RET_ERR_TYPED, c.bytes, c.len), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 0, "a refused completion ended the sign-in");
    /* The token is still completable, once. */
    CHECK_STATUS(demo_host_complete(ctx, token, RET_ERR_TYPED, c.bytes, c.len), HC_OK);
    CHECK_STATUS(demo_host_complete(ctx, token, RET_ERR_TYPED, c.bytes, c.len), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_host_complete(ctx, token, RET_OK, NULL, 0), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_wait(&r);
    check_reply("lk:42", &r);
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK_STATUS(demo_host_complete(ctx, token, RET_ERR_TYPED, c.bytes, c.len), HC_ERR_INVALID_CONTEXT);
    hc_held_free(&held);
}

/* ------------------------------------------- cancelled, and at teardown */

static void test_cancel_and_teardown(void) {
    hc_held held;
    hc_held_init(&held);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FIND_ACCOUNT, hc_held_fn, hc_held_cancel, &held),
                 HC_OK);
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "nf:withdrawn");
    hc_reply r, down;
    uint64_t id = 0;
    hc_reply_init(&r);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_SIGN_IN, (const char *)cbor_enc_data(&e), e.len,
                                       hc_reply_typed_cb, &r, &id),
                 HC_OK);
    CHECK_STATUS(sign_in(ctx, "nf:torn-down", &down), HC_OK);
    hc_held_wait_calls(&held, 2);
    uint64_t t1 = hc_held_token_of(&held, "nf:withdrawn"), t2 = hc_held_token_of(&held, "nf:torn-down");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_SIGN_IN);
    hc_held_wait_cancels(&held, 1);
    CHECK(hc_held_cancel_count(&held, t1) == 1, "cancelled %d times", hc_held_cancel_count(&held, t1));
    CHECK_STATUS(answer(ctx, t1, "nf:withdrawn"), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK_REPLY_SHUTTING_DOWN(&down);
    CHECK(hc_held_cancel_count(&held, t2) == 1, "destroy cancelled %d times", hc_held_cancel_count(&held, t2));
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    hc_reply_free(&r);
    hc_reply_free(&down);
    hc_held_free(&held);
}

/* ------------------------------------------- many threads, random variants */

typedef struct {
    char uid[HC_ARG_MAX];
    atomic_int replies;
    atomic_int ret;
} many_rec;

static struct {
    host h;
    many_rec *recs;
    int per_thread;
    uint64_t seed;
    hc_counter replies;
    atomic_long by_kind[DEMO_ERR_KINDS + 1];
} many;

static void many_reply(int ret, const char *msg, size_t len, void *user_data) {
    many_rec *r = (many_rec *)user_data;
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "sign_in(\"%s\") replied twice", r->uid);
    atomic_store(&r->ret, ret);
    check_outcome(r->uid, ret, msg, len);
    demo_error got;
    if (ret == RET_OK) {
        atomic_fetch_add(&many.by_kind[DEMO_ERR_KINDS], 1);
    } else if (demo_decode_sign_in_error(msg, len, &got)) {
        atomic_fetch_add(&many.by_kind[got.kind], 1);
    }
    hc_counter_add(&many.replies, 1);
}

static void random_uid(hc_rng *rng, int idx, char *out, size_t cap) {
    switch (hc_rng_below(rng, 9)) {
    case 0: snprintf(out, cap, "ok:N%d", idx); break;
    case 1: snprintf(out, cap, "nf:u%d", idx); break;
    case 2: snprintf(out, cap, "lk:%" PRIu64, hc_rng_next(rng) >> hc_rng_below(rng, 64)); break;
    case 3: snprintf(out, cap, "su:%" PRIu64 ":r%d", hc_rng_next(rng) >> hc_rng_below(rng, 64), idx); break;
    case 4: snprintf(out, cap, "er:down %d", idx); break;
    case 5: snprintf(out, cap, "bad:%" PRIu64, hc_rng_below(rng, N_BAD_TYPED)); break;
    case 6: snprintf(out, cap, "okbad:%" PRIu64, hc_rng_below(rng, N_BAD_OK)); break;
    case 7: out[0] = 0; break;
    default: snprintf(out, cap, "su:%d:", idx); break;
    }
}

static void *many_issuer(void *arg) {
    int t = (int)(intptr_t)arg;
    hc_rng rng;
    hc_rng_seed(&rng, many.seed * 31 + (uint64_t)t);
    for (int i = 0; i < many.per_thread; i++) {
        int idx = t * many.per_thread + i;
        many_rec *r = &many.recs[idx];
        random_uid(&rng, idx, r->uid, sizeof r->uid);
        uint8_t buf[128];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_text_request(&e, r->uid);
        CHECK_STATUS(demo_call(many.h.ctx, DEMO_METHOD_SIGN_IN, (const char *)cbor_enc_data(&e), e.len, many_reply, r),
                     HC_OK);
    }
    return NULL;
}

static void test_many_threads(int per_thread, uint64_t seed) {
    memset(&many, 0, sizeof many);
    many.per_thread = per_thread;
    many.seed = seed;
    int total = per_thread * MANY_THREADS;
    many.recs = calloc((size_t)total, sizeof *many.recs);
    HC_REQUIRE(many.recs != NULL, "calloc");
    hc_counter_init(&many.replies);
    pthread_t workers[MANY_WORKERS], issuers[MANY_THREADS];
    host_start(&many.h, ANSWER_RANDOM, MANY_WORKERS, workers, seed);
    for (int i = 0; i < MANY_THREADS; i++) {
        hc_spawn(&issuers[i], many_issuer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < MANY_THREADS; i++) {
        hc_join(issuers[i]);
    }
    hc_counter_wait(&many.replies, total);
    hc_barrier(many.h.ctx);
    int asked = 0;
    for (int i = 0; i < total; i++) {
        CHECK(atomic_load(&many.recs[i].replies) == 1, "sign_in(\"%s\"): %d replies", many.recs[i].uid,
              atomic_load(&many.recs[i].replies));
        asked += many.recs[i].uid[0] != 0;
    }
    CHECK(hc_counter_get(&many.replies) == total, "%ld replies for %d sign-ins", hc_counter_get(&many.replies), total);
    CHECK(atomic_load(&many.h.calls) == asked, "find_account asked %d times for %d non-empty user ids",
          atomic_load(&many.h.calls), asked);
    host_stop(&many.h, MANY_WORKERS, workers);
    for (int i = 0; i < total; i++) {
        CHECK(atomic_load(&many.recs[i].replies) == 1, "destroy replied again to \"%s\"", many.recs[i].uid);
    }
    printf("many threads: %d sign-ins: %ld ok, %ld EmptyUserId, %ld NotFound, %ld Locked, %ld Suspended, "
           "%ld Unavailable; %d second completions refused\n",
           total, atomic_load(&many.by_kind[DEMO_ERR_KINDS]), atomic_load(&many.by_kind[DEMO_ERR_EMPTY_USER_ID]),
           atomic_load(&many.by_kind[DEMO_ERR_NOT_FOUND]), atomic_load(&many.by_kind[DEMO_ERR_LOCKED]),
           atomic_load(&many.by_kind[DEMO_ERR_SUSPENDED]), atomic_load(&many.by_kind[DEMO_ERR_UNAVAILABLE]),
           atomic_load(&many.h.doubles));
    for (int k = 0; k <= DEMO_ERR_KINDS; k++) {
        CHECK(total < 200 || atomic_load(&many.by_kind[k]) > 0, "no reply of kind %d among %d", k, total);
    }
    hc_counter_free(&many.replies);
    free(many.recs);
}

int main(int argc, char **argv) {
    int per_thread = argc > 1 ? atoi(argv[1]) : DEFAULT_PER_THREAD;
    HC_REQUIRE(per_thread > 0, "usage: typed [sign-ins per thread] [seed]");
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    printf("seed %" PRIu64 "\n", seed);
    test_codec();
    test_variants(ANSWER_INLINE);
    test_variants(ANSWER_LATER);
    test_err_text_not_utf8();
    test_empty_user_id();
    test_not_registered();
    test_timeout();
    test_untyped_host_fns();
    test_refused_codes();
    test_cancel_and_teardown();
    test_many_threads(per_thread, seed);
    return hc_done();
}
