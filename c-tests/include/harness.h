/*
 * harness.h - test helpers for the C programs that drive libdemo.
 *
 * Include this header first (it selects POSIX 2008 before any system header).
 *
 *  - CHECK(cond, fmt, ...) and friends count every check and, on failure,
 *    print file:line, the condition and a message, then exit(1) at once from
 *    whatever thread failed. hc_done() prints the final "ok: N checks" line.
 *  - hc_reply: a reply collector (mutex + condvar) whose hc_reply_cb is an
 *    FFICallBack (hc_reply_typed_cb also takes RET_ERR_TYPED, for sign_in);
 *    hc_reply_wait blocks until the reply arrives, with a deadline that only
 *    exists to turn a hang into a loud failure.
 *  - hc_counter: a counter others can wait on.
 *  - hc_held: a host fn (and cancel notifier) that records each call and
 *    holds the token for the test to complete later.
 *  - hc_queue: a blocking token queue to hand host calls to worker threads.
 *  - hc_spawn/hc_join, hc_rng (a per-thread PRNG).
 *
 * Nothing here sleeps: every wait is on a condition variable.
 */
#ifndef HC_HARNESS_H
#define HC_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cbor.h"
#include "demo.h"
#include "demo_records.h"
#include "demo_errors.h"

#define HC_UNUSED __attribute__((unused))

/* How long any wait may take before it counts as a hang (ms). Far above
 * anything the tests need, even under valgrind. */
#define HC_WAIT_MS 60000

/* ------------------------------------------------------------------ checks */

static atomic_ulong hc_checks HC_UNUSED;

static inline _Noreturn void hc_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    va_list args;
    fflush(stdout);
    fprintf(stderr, "FAILED %s:%d: CHECK(%s): ", file, line, expr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\n");
    fflush(stderr);
    /* _exit: other threads (the loop thread among them) may be mid-call;
     * running atexit handlers under them could hang instead of failing. */
    _exit(1);
}

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        atomic_fetch_add_explicit(&hc_checks, 1, memory_order_relaxed);                                       \
        if (!(cond)) {                                                                                        \
            hc_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                                  \
        }                                                                                                     \
    } while (0)

/* Like CHECK, but not counted: for the harness's own plumbing (locks,
 * thread creation, allocation), whose count would vary with timing. */
#define HC_REQUIRE(cond, ...)                                                                                 \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            hc_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                                  \
        }                                                                                                     \
    } while (0)

static inline const char *hc_status_name(int status) {
    switch (status) {
    case HC_OK: return "HC_OK";
    case HC_ERR_NULL_ARG: return "HC_ERR_NULL_ARG";
    case HC_ERR_INVALID_ARG: return "HC_ERR_INVALID_ARG";
    case HC_ERR_INVALID_CONTEXT: return "HC_ERR_INVALID_CONTEXT";
    case HC_ERR_UNKNOWN_TOKEN: return "HC_ERR_UNKNOWN_TOKEN";
    case HC_ERR_UNKNOWN_METHOD: return "HC_ERR_UNKNOWN_METHOD";
    case HC_ERR_SHUTTING_DOWN: return "HC_ERR_SHUTTING_DOWN";
    case HC_ERR_OVERLOADED: return "HC_ERR_OVERLOADED";
    case HC_ERR_PANIC: return "HC_ERR_PANIC";
    default: return "(not a status code)";
    }
}

/* The name of an outcome code (the `ret` of a callback). */
static inline const char *hc_ret_name(int ret) {
    switch (ret) {
    case RET_OK: return "RET_OK";
    case RET_ERR: return "RET_ERR";
    case RET_SHUTTING_DOWN: return "RET_SHUTTING_DOWN";
    case RET_OVERLOADED: return "RET_OVERLOADED";
    case RET_TIMED_OUT: return "RET_TIMED_OUT";
    case RET_CANCELLED: return "RET_CANCELLED";
    case RET_NOT_REGISTERED: return "RET_NOT_REGISTERED";
    case RET_INVALID_ARG: return "RET_INVALID_ARG";
    case RET_PANIC: return "RET_PANIC";
    case RET_ERR_TYPED: return "RET_ERR_TYPED";
    case RET_PROCESS_DIED: return "RET_PROCESS_DIED";
    default: return "(not an outcome code)";
    }
}

/* The mode every context of this run is isolated in
 * (HOSTCALL_TEST_ISOLATION=process: a helper each context starts; =socket:
 * the helper listening at $HOSTCALL_TEST_ADDRESS), or NULL: in process. */
static inline HC_UNUSED const char *hc_isolation(void) {
    const char *mode = getenv("HOSTCALL_TEST_ISOLATION");
    if (mode == NULL || mode[0] == '\0') {
        return NULL;
    }
    HC_REQUIRE(strcmp(mode, "process") == 0 || strcmp(mode, "socket") == 0,
               "HOSTCALL_TEST_ISOLATION must be process or socket, not '%s'", mode);
    return mode;
}

/* Whether this run isolates every context. */
static inline HC_UNUSED bool hc_isolated(void) {
    return hc_isolation() != NULL;
}

/* Whether a reply of demo may carry `ret`. demo's handlers turn every host
 * call error into their own text (RET_ERR), so of the runtime's own codes
 * only those it sets itself reach C: RET_SHUTTING_DOWN (teardown),
 * RET_INVALID_ARG (arguments that do not decode) and RET_PANIC — and, in
 * an isolated run, RET_PROCESS_DIED (its helper died). */
static inline bool hc_ret_demo_may_reply(int ret) {
    return ret == RET_OK || ret == RET_ERR || ret == RET_SHUTTING_DOWN || ret == RET_INVALID_ARG || ret == RET_PANIC ||
           (ret == RET_PROCESS_DIED && hc_isolated());
}

/* The exact text of a RET_SHUTTING_DOWN reply. */
#define HC_SHUTTING_DOWN_TEXT "context shutting down"

/* This thread's demo_last_error, in a static-per-thread buffer. */
static inline const char *hc_last_error(void) {
    static _Thread_local char buf[512];
    demo_last_error(buf, sizeof buf);
    return buf;
}

/* demo_new, or, when this run isolates every context, demo_new of the
 * same config with the isolation keys put first: "isolation": "process"
 * and "helper_path": $HOSTCALL_TEST_HELPER, or "isolation": "socket" and
 * "address": $HOSTCALL_TEST_ADDRESS (docs/isolation.md). A config that is
 * no small map (an error case) is passed as it is, so that its refusal is
 * the library's own; the keys go first so that a config's own faults (a
 * duplicate, trailing bytes) stay what they were. */
static inline HC_UNUSED void *hc_demo_new(const char *config, size_t len) {
    const char *mode = hc_isolation();
    if (mode == NULL) {
        return demo_new(config, len);
    }
    const uint8_t *in = (const uint8_t *)config;
    size_t entries = 0;
    if (len > 0) {
        if (in == NULL || in[0] < 0xa0 || in[0] > 0xa0 + 21) {
            return demo_new(config, len);
        }
        entries = in[0] - 0xa0u;
    }
    bool spawned = strcmp(mode, "process") == 0;
    const char *key = spawned ? "helper_path" : "address";
    const char *value = getenv(spawned ? "HOSTCALL_TEST_HELPER" : "HOSTCALL_TEST_ADDRESS");
    HC_REQUIRE(value != NULL, "HOSTCALL_TEST_ISOLATION=%s needs %s", mode,
               spawned ? "HOSTCALL_TEST_HELPER (the hostcall-helper to start)"
                       : "HOSTCALL_TEST_ADDRESS (the socket of a listening hostcall-helper)");
    size_t cap = len + strlen(value) + 64;
    uint8_t *buf = malloc(cap);
    HC_REQUIRE(buf != NULL, "out of memory");
    cbor_enc e;
    cbor_enc_init(&e, buf, cap);
    cbor_put_map(&e, entries + 2);
    cbor_put_cstr(&e, "isolation");
    cbor_put_cstr(&e, mode);
    cbor_put_cstr(&e, key);
    cbor_put_cstr(&e, value);
    if (len > 1) {
        cbor_put_raw(&e, in + 1, len - 1);
    }
    HC_REQUIRE(!e.overflow, "the isolated config does not fit");
    void *ctx = demo_new(cbor_enc_data(&e), e.len);
    free(buf);
    return ctx;
}

/* CHECK that `expr` (an entry point call) returns status `want`. */
#define CHECK_STATUS(expr, want)                                                                              \
    do {                                                                                                      \
        int hc_got_ = (expr);                                                                                 \
        int hc_want_ = (want);                                                                                \
        CHECK(hc_got_ == hc_want_, "%s returned %s (%d), expected %s (%d); last error: %s", #expr,             \
              hc_status_name(hc_got_), hc_got_, hc_status_name(hc_want_), hc_want_, hc_last_error());         \
    } while (0)

/* Whether `len` bytes at `text` contain the C string `needle`. */
/* A context with one config key set (`key` NULL: the defaults). */
static inline HC_UNUSED void *hc_new_context(const char *key, uint64_t value) {
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    if (key) {
        cbor_put_map(&e, 1);
        cbor_put_cstr(&e, key);
        cbor_put_uint(&e, value);
    }
    void *ctx = hc_demo_new(key ? cbor_enc_data(&e) : NULL, e.len);
    CHECK(ctx != NULL, "demo_new(%s = %llu): %s", key ? key : "defaults", (unsigned long long)value, hc_last_error());
    return ctx;
}

static inline bool hc_contains(const char *text, size_t len, const char *needle) {
    size_t n = strlen(needle);
    if (text == NULL || n > len) {
        return n == 0;
    }
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(text + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

#define CHECK_CONTAINS(text, len, needle)                                                                     \
    CHECK(hc_contains((text), (len), (needle)), "expected \"%s\" in \"%.*s\"", (needle), (int)(len),           \
          (text) ? (const char *)(text) : "(null)")

/* Prints the final line the cargo test looks for; returns the exit status. */
static inline int hc_done(void) {
    printf("ok: %lu checks\n", atomic_load(&hc_checks));
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------ sync helpers */

static inline void hc_mutex_init(pthread_mutex_t *mu) { HC_REQUIRE(pthread_mutex_init(mu, NULL) == 0, "mutex init"); }

/* Condition variables time out against CLOCK_MONOTONIC. */
static inline void hc_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    HC_REQUIRE(pthread_condattr_init(&attr) == 0, "condattr init");
    HC_REQUIRE(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0, "condattr setclock");
    HC_REQUIRE(pthread_cond_init(cv, &attr) == 0, "cond init");
    pthread_condattr_destroy(&attr);
}

static inline void hc_lock(pthread_mutex_t *mu) { HC_REQUIRE(pthread_mutex_lock(mu) == 0, "mutex lock"); }
static inline void hc_unlock(pthread_mutex_t *mu) { HC_REQUIRE(pthread_mutex_unlock(mu) == 0, "mutex unlock"); }

static inline struct timespec hc_deadline(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec += 1;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Waits on `cv` until `deadline`; false once the deadline has passed. */
static inline bool hc_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline) {
    int rc = pthread_cond_timedwait(cv, mu, deadline);
    HC_REQUIRE(rc == 0 || rc == ETIMEDOUT, "pthread_cond_timedwait: %d", rc);
    return rc == 0;
}

static inline double hc_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void hc_spawn(pthread_t *thread, void *(*fn)(void *), void *arg) {
    HC_REQUIRE(pthread_create(thread, NULL, fn, arg) == 0, "pthread_create");
}

static inline void hc_join(pthread_t thread) { HC_REQUIRE(pthread_join(thread, NULL) == 0, "pthread_join"); }

/* ---------------------------------------------------------- reply collector */

/* Collects the reply of one call. Pass the hc_reply as user_data with
 * hc_reply_cb. The first reply's payload is copied (NUL-terminated, so
 * error text can be printed); every reply is counted. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int ret;
    char *msg;
    size_t len;
    pthread_t thread;
} hc_reply;

static inline void hc_reply_init(hc_reply *r) {
    hc_mutex_init(&r->mu);
    hc_cond_init(&r->cv);
    r->count = 0;
    r->ret = -1;
    r->msg = NULL;
    r->len = 0;
}

static inline void hc_reply_free(hc_reply *r) {
    free(r->msg);
    r->msg = NULL;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* Records one reply into r (the body of hc_reply_cb and hc_reply_cancellable_cb). */
static inline void hc_reply_record(hc_reply *r, int ret, const char *msg, size_t len) {
    CHECK(msg != NULL || len == 0, "reply with NULL msg and len %zu", len);
    CHECK(ret == RET_OK || len > 0, "%s reply with empty error text", hc_ret_name(ret));
    hc_lock(&r->mu);
    if (r->count == 0) {
        r->ret = ret;
        r->msg = (char *)malloc(len + 1);
        HC_REQUIRE(r->msg != NULL, "malloc");
        if (len > 0) {
            memcpy(r->msg, msg, len);
        }
        r->msg[len] = 0;
        r->len = len;
        r->thread = pthread_self();
    }
    r->count++;
    pthread_cond_broadcast(&r->cv);
    hc_unlock(&r->mu);
}

static inline void hc_reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    CHECK(hc_ret_demo_may_reply(ret), "reply with ret %d %s", ret, hc_ret_name(ret));
    hc_reply_record((hc_reply *)user_data, ret, msg, len);
}

/* As hc_reply_cb, for a request made with demo_call_cancellable: its reply
 * may also be RET_CANCELLED. */
static inline void hc_reply_cancellable_cb(int ret, const char *msg, size_t len, void *user_data) {
    CHECK(ret == RET_CANCELLED || hc_ret_demo_may_reply(ret), "reply with ret %d %s", ret, hc_ret_name(ret));
    hc_reply_record((hc_reply *)user_data, ret, msg, len);
}

/* As hc_reply_cb, for a handler with a typed error (sign_in): its reply may
 * also be RET_ERR_TYPED (the CBOR of the error), and RET_CANCELLED. */
static inline void hc_reply_typed_cb(int ret, const char *msg, size_t len, void *user_data) {
    CHECK(ret == RET_ERR_TYPED || ret == RET_CANCELLED || hc_ret_demo_may_reply(ret), "reply with ret %d %s", ret,
          hc_ret_name(ret));
    hc_reply_record((hc_reply *)user_data, ret, msg, len);
}

/* Waits up to `ms` for `n` replies; false on timeout. */
static inline bool hc_reply_wait_for(hc_reply *r, int n, long ms) {
    struct timespec deadline = hc_deadline(ms);
    bool ok = true;
    hc_lock(&r->mu);
    while (r->count < n && ok) {
        ok = hc_wait_until(&r->cv, &r->mu, &deadline);
    }
    ok = r->count >= n;
    hc_unlock(&r->mu);
    return ok;
}

#define hc_reply_wait(r) CHECK(hc_reply_wait_for((r), 1, HC_WAIT_MS), "no reply within %d ms", HC_WAIT_MS)

static inline int hc_reply_count(hc_reply *r) {
    hc_lock(&r->mu);
    int n = r->count;
    hc_unlock(&r->mu);
    return n;
}

/* CHECK that exactly one reply came and it failed with outcome `code` and
 * exactly `text`. */
#define CHECK_REPLY_FAIL_IS(r, code, text)                                                                    \
    do {                                                                                                      \
        int hc_code_ = (code);                                                                                \
        CHECK(hc_reply_count(r) == 1, "%d replies", hc_reply_count(r));                                       \
        CHECK((r)->ret == hc_code_, "ret %d %s, expected %s (error text \"%s\")", (r)->ret,                  \
              hc_ret_name((r)->ret), hc_ret_name(hc_code_), (r)->msg);                                        \
        CHECK(RET_IS_ERROR((r)->ret), "ret %d is not an error", (r)->ret);                                    \
        CHECK((r)->len == strlen(text) && memcmp((r)->msg, (text), (r)->len) == 0,                            \
              "error text \"%s\", expected \"%s\"", (r)->msg, (text));                                        \
    } while (0)

/* CHECK that exactly one reply came and it failed with outcome `code` and
 * text containing `needle`. */
#define CHECK_REPLY_FAIL_HAS(r, code, needle)                                                                 \
    do {                                                                                                      \
        int hc_code_ = (code);                                                                                \
        CHECK(hc_reply_count(r) == 1, "%d replies", hc_reply_count(r));                                       \
        CHECK((r)->ret == hc_code_, "ret %d %s, expected %s (payload %zu bytes: \"%s\")", (r)->ret,          \
              hc_ret_name((r)->ret), hc_ret_name(hc_code_), (r)->len, (r)->msg);                              \
        CHECK(RET_IS_ERROR((r)->ret), "ret %d is not an error", (r)->ret);                                    \
        CHECK_CONTAINS((r)->msg, (r)->len, (needle));                                                         \
    } while (0)

/* CHECK, in a reply callback, that a failed reply is teardown's:
 * RET_SHUTTING_DOWN with exactly "context shutting down". */
#define CHECK_SHUTTING_DOWN(ret, msg, len, what)                                                              \
    do {                                                                                                      \
        CHECK((ret) == RET_SHUTTING_DOWN, "%s: ret %d %s, expected RET_SHUTTING_DOWN (\"%.*s\")", (what),      \
              (ret), hc_ret_name(ret), (int)(len), (msg) ? (const char *)(msg) : "");                         \
        CHECK((len) == strlen(HC_SHUTTING_DOWN_TEXT) && memcmp((msg), HC_SHUTTING_DOWN_TEXT, (len)) == 0,      \
              "%s: RET_SHUTTING_DOWN with text \"%.*s\"", (what), (int)(len), (msg) ? (const char *)(msg) : ""); \
    } while (0)

/* CHECK that exactly one reply came and it was RET_ERR (the library's own
 * error) with exactly `text`. */
#define CHECK_REPLY_ERR_IS(r, text) CHECK_REPLY_FAIL_IS((r), RET_ERR, (text))

/* CHECK that exactly one reply came and it was RET_ERR containing `needle`. */
#define CHECK_REPLY_ERR_HAS(r, needle) CHECK_REPLY_FAIL_HAS((r), RET_ERR, (needle))

/* CHECK that exactly one reply came and it was teardown's: RET_SHUTTING_DOWN
 * with exactly "context shutting down". */
#define CHECK_REPLY_SHUTTING_DOWN(r) CHECK_REPLY_FAIL_IS((r), RET_SHUTTING_DOWN, HC_SHUTTING_DOWN_TEXT)

/* CHECK that exactly one reply came and it was a caught panic of `method`:
 * RET_PANIC with text "handler '<method>' panicked: " + `detail`. */
#define CHECK_REPLY_PANIC(r, method, detail)                                                                  \
    do {                                                                                                      \
        char hc_panic_text_[256];                                                                             \
        snprintf(hc_panic_text_, sizeof hc_panic_text_, "handler '%s' panicked: %s", (method), (detail));     \
        CHECK_REPLY_FAIL_IS((r), RET_PANIC, hc_panic_text_);                                                  \
    } while (0)

#define CHECK_REPLY_OK(r)                                                                                     \
    do {                                                                                                      \
        CHECK(hc_reply_count(r) == 1, "%d replies", hc_reply_count(r));                                       \
        CHECK((r)->ret == RET_OK, "ret %d, expected RET_OK; error text: %s", (r)->ret, (r)->msg);             \
    } while (0)

/* Starts `method` with the request in `e`, replying into `r` (initialised here). */
static inline int hc_call(void *ctx, const char *method, const cbor_enc *e, hc_reply *r) {
    CHECK(!e->overflow, "request buffer too small");
    hc_reply_init(r);
    return demo_call(ctx, method, cbor_enc_data(e), e->len, hc_reply_cb, r);
}

/* As hc_call, through demo_call_cancellable: `*id` receives the call id. */
static inline int hc_call_cancellable(void *ctx, const char *method, const cbor_enc *e, hc_reply *r, uint64_t *id) {
    CHECK(!e->overflow, "request buffer too small");
    hc_reply_init(r);
    return demo_call_cancellable(ctx, method, cbor_enc_data(e), e->len, hc_reply_cancellable_cb, r, id);
}

/* The exact text of the RET_CANCELLED reply of a withdrawn `method` request. */
static inline const char *hc_cancelled_text(const char *method) {
    static _Thread_local char text[128];
    snprintf(text, sizeof text, "request '%s' cancelled", method);
    return text;
}

/* CHECK that exactly one reply came and it was a withdrawal's:
 * RET_CANCELLED with exactly "request '<method>' cancelled". */
#define CHECK_REPLY_CANCELLED(r, method) CHECK_REPLY_FAIL_IS((r), RET_CANCELLED, hc_cancelled_text(method))

/* Calls add(a, b) and waits for the reply. Because the loop handles its
 * inbox in order, everything queued before (requests, completions,
 * registrations) has been handled when this returns: a barrier. Returns
 * the sum, CHECKing the reply was RET_OK. */
static inline int64_t hc_add(void *ctx, int64_t a, int64_t b) {
    uint8_t buf[32];
    cbor_enc e;
    hc_reply r;
    int64_t sum = 0;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, a, b);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_ADD, &e, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    cbor_dec d;
    cbor_dec_init(&d, r.msg, r.len);
    CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d), "add reply is not one CBOR integer");
    hc_reply_free(&r);
    return sum;
}

#define hc_barrier(ctx) CHECK(hc_add((ctx), 20, 22) == 42, "barrier add(20, 22)")

/* Completes `token` with a Profile. */
static inline int hc_complete_profile(void *ctx, uint64_t token, const char *user_id, const char *name, uint32_t age) {
    uint8_t buf[512];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_profile(&e, user_id, name, age);
    CHECK(!e.overflow, "profile buffer too small");
    return demo_host_complete(ctx, token, RET_OK, cbor_enc_data(&e), e.len);
}

static inline int hc_complete_error(void *ctx, uint64_t token, const char *text) {
    return demo_host_complete(ctx, token, RET_ERR, text, strlen(text));
}

/* ----------------------------------------------------------------- counter */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long value;
} hc_counter;

static inline void hc_counter_init(hc_counter *c) {
    hc_mutex_init(&c->mu);
    hc_cond_init(&c->cv);
    c->value = 0;
}

static inline void hc_counter_free(hc_counter *c) {
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static inline long hc_counter_add(hc_counter *c, long n) {
    hc_lock(&c->mu);
    c->value += n;
    long v = c->value;
    pthread_cond_broadcast(&c->cv);
    hc_unlock(&c->mu);
    return v;
}

static inline long hc_counter_get(hc_counter *c) {
    hc_lock(&c->mu);
    long v = c->value;
    hc_unlock(&c->mu);
    return v;
}

/* Waits until the counter reaches `n`; CHECK-fails after HC_WAIT_MS. */
static inline void hc_counter_wait(hc_counter *c, long n) {
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&c->mu);
    while (c->value < n) {
        if (!hc_wait_until(&c->cv, &c->mu, &deadline)) {
            break;
        }
    }
    long v = c->value;
    hc_unlock(&c->mu);
    CHECK(v >= n, "counter reached %ld, waited for %ld within %d ms", v, n, HC_WAIT_MS);
}

/* ------------------------------------------------------ held host calls */

#define HC_HELD_MAX 256
#define HC_ARG_MAX 64

/* A host fn that records every call and holds the token; the test
 * completes it (or not) later. The same object is the cancel notifier's
 * user data, so it also records cancellations. `ctx` is informational. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    uint64_t tokens[HC_HELD_MAX];
    char args[HC_HELD_MAX][HC_ARG_MAX];
    pthread_t threads[HC_HELD_MAX];
    int cancels;
    uint64_t cancelled[HC_HELD_MAX];
    pthread_t cancel_threads[HC_HELD_MAX];
} hc_held;

static inline void hc_held_init(hc_held *h) {
    memset(h, 0, sizeof *h);
    hc_mutex_init(&h->mu);
    hc_cond_init(&h->cv);
}

static inline void hc_held_free(hc_held *h) {
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* FFIHostFn: records (token, text argument, thread) and returns. */
static inline void hc_held_fn(uint64_t token, const char *req, size_t req_len, void *user_data) {
    hc_held *h = (hc_held *)user_data;
    char arg[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, req_len, arg, sizeof arg), "host fn request is not [text] (%zu bytes)", req_len);
    hc_lock(&h->mu);
    CHECK(h->calls < HC_HELD_MAX, "too many held calls");
    h->tokens[h->calls] = token;
    memcpy(h->args[h->calls], arg, sizeof arg);
    h->threads[h->calls] = pthread_self();
    h->calls++;
    pthread_cond_broadcast(&h->cv);
    hc_unlock(&h->mu);
}

/* FFIHostCancelFn: records (token, thread). */
static inline void hc_held_cancel(uint64_t token, void *user_data) {
    hc_held *h = (hc_held *)user_data;
    hc_lock(&h->mu);
    CHECK(h->cancels < HC_HELD_MAX, "too many cancellations");
    h->cancelled[h->cancels] = token;
    h->cancel_threads[h->cancels] = pthread_self();
    h->cancels++;
    pthread_cond_broadcast(&h->cv);
    hc_unlock(&h->mu);
}

static inline void hc_held_wait(hc_held *h, int calls, int cancels) {
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&h->mu);
    while (h->calls < calls || h->cancels < cancels) {
        if (!hc_wait_until(&h->cv, &h->mu, &deadline)) {
            break;
        }
    }
    int got_calls = h->calls, got_cancels = h->cancels;
    hc_unlock(&h->mu);
    CHECK(got_calls >= calls && got_cancels >= cancels,
          "held host fn: %d calls and %d cancellations, waited for %d and %d within %d ms", got_calls, got_cancels,
          calls, cancels, HC_WAIT_MS);
}

#define hc_held_wait_calls(h, n) hc_held_wait((h), (n), 0)
#define hc_held_wait_cancels(h, n) hc_held_wait((h), 0, (n))

static inline int hc_held_calls(hc_held *h) {
    hc_lock(&h->mu);
    int n = h->calls;
    hc_unlock(&h->mu);
    return n;
}

static inline int hc_held_cancels(hc_held *h) {
    hc_lock(&h->mu);
    int n = h->cancels;
    hc_unlock(&h->mu);
    return n;
}

/* The token of the (only) held call whose argument is `arg`. */
static inline uint64_t hc_held_token_of(hc_held *h, const char *arg) {
    uint64_t token = 0;
    int found = 0;
    hc_lock(&h->mu);
    for (int i = 0; i < h->calls; i++) {
        if (strcmp(h->args[i], arg) == 0) {
            token = h->tokens[i];
            found++;
        }
    }
    hc_unlock(&h->mu);
    CHECK(found == 1, "%d held calls for \"%s\", expected 1", found, arg);
    return token;
}

/* How many times `token` was cancelled. */
static inline int hc_held_cancel_count(hc_held *h, uint64_t token) {
    int n = 0;
    hc_lock(&h->mu);
    for (int i = 0; i < h->cancels; i++) {
        n += h->cancelled[i] == token;
    }
    hc_unlock(&h->mu);
    return n;
}

/* -------------------------------------------------------------- token queue */

/* A blocking FIFO of (token, text argument) for worker threads. */
typedef struct hc_job {
    uint64_t token;
    char arg[HC_ARG_MAX];
    struct hc_job *next;
} hc_job;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hc_job *head;
    hc_job *tail;
    bool closed;
} hc_queue;

static inline void hc_queue_init(hc_queue *q) {
    hc_mutex_init(&q->mu);
    hc_cond_init(&q->cv);
    q->head = q->tail = NULL;
    q->closed = false;
}

static inline void hc_queue_push(hc_queue *q, uint64_t token, const char *arg) {
    hc_job *job = (hc_job *)calloc(1, sizeof *job);
    HC_REQUIRE(job != NULL, "calloc");
    job->token = token;
    CHECK(strlen(arg) < sizeof job->arg, "queue argument too long");
    strcpy(job->arg, arg);
    hc_lock(&q->mu);
    CHECK(!q->closed, "push on a closed queue");
    if (q->tail) {
        q->tail->next = job;
    } else {
        q->head = job;
    }
    q->tail = job;
    pthread_cond_broadcast(&q->cv);
    hc_unlock(&q->mu);
}

/* Blocks for the next job; false once the queue is closed and empty. */
static inline bool hc_queue_pop(hc_queue *q, hc_job *out) {
    hc_lock(&q->mu);
    while (q->head == NULL && !q->closed) {
        HC_REQUIRE(pthread_cond_wait(&q->cv, &q->mu) == 0, "cond wait");
    }
    hc_job *job = q->head;
    if (job) {
        q->head = job->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
    }
    hc_unlock(&q->mu);
    if (job == NULL) {
        return false;
    }
    *out = *job;
    out->next = NULL;
    free(job);
    return true;
}

static inline void hc_queue_close(hc_queue *q) {
    hc_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    hc_unlock(&q->mu);
}

static inline void hc_queue_free(hc_queue *q) {
    while (q->head) {
        hc_job *next = q->head->next;
        free(q->head);
        q->head = next;
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

/* ------------------------------------------------------------------- PRNG */

/* xorshift64*, one per thread; never seed with 0. */
typedef struct {
    uint64_t state;
} hc_rng;

static inline void hc_rng_seed(hc_rng *r, uint64_t seed) {
    /* splitmix64 scramble so small seeds give unrelated streams */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    r->state = z ? z : 1;
}

static inline uint64_t hc_rng_next(hc_rng *r) {
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-enough in [0, n) for test purposes; n > 0. */
static inline uint64_t hc_rng_below(hc_rng *r, uint64_t n) { return hc_rng_next(r) % n; }

/* ------------------------------------------------- callbacks that must not run */

/* Callbacks handed to calls that must be refused: any invocation is counted
 * and the program checks the count stays 0. */
static atomic_int hc_never_count HC_UNUSED;

static inline void hc_never_cb(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret, (void)msg, (void)len, (void)user_data;
    atomic_fetch_add(&hc_never_count, 1);
}

static inline void hc_never_host_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)token, (void)req, (void)len, (void)user_data;
    atomic_fetch_add(&hc_never_count, 1);
}

static inline void hc_never_cancel(uint64_t token, void *user_data) {
    (void)token, (void)user_data;
    atomic_fetch_add(&hc_never_count, 1);
}

#endif /* HC_HARNESS_H */
