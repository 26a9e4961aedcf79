/*
 * origin.c - demo_host_call_origin and the native entry points' _cancellable
 * forms (demo.h).
 *
 *   origin [requests per thread] [seed]
 *
 * host_call_origin(ctx, token), inside the host fn's invocation for token,
 * on the loop thread, is the call id of the request whose handler made the
 * call: call_cancellable's, or a native _cancellable form's (ping_host's
 * notify). It is 0 for a plain call or plain native request, for another
 * token, for NULL, another or a destroyed ctx, from another thread while
 * the host fn is still running, and after the invocation returned (from the
 * test thread, and on the loop thread in the reply callback and the cancel
 * notifier). A host fn may use it to withdraw the request it serves: one
 * RET_CANCELLED reply, the cancel notifier at most once.
 *
 * The native _cancellable forms: NULL call_id is HC_ERR_NULL_ARG (callback
 * never run); a pending ping_host withdrawn mid host call gets one
 * RET_CANCELLED reply through its callback and its notify call's notifier
 * runs once; queued add/version/panic_with withdrawn before they run reply
 * RET_CANCELLED through their own (typed) callbacks; a cancel after the reply
 * is HC_ERR_UNKNOWN_TOKEN; cancels race completions from many threads, and
 * race destroy, with every reply and every token accounted for.
 */
#include "harness.h"

#include <inttypes.h>

#define DEFAULT_PER_THREAD 300
#define RACE_THREADS 6
#define RACE_CANCELLERS 2
#define RACE_COMPLETERS 2

/* A native add's reply: the untyped collector plus the value. */
typedef struct {
    hc_reply r;
    int64_t value;
} i64_reply;

static void i64_reply_cb(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    i64_reply *x = (i64_reply *)user_data;
    CHECK(ret == RET_OK || ret == RET_ERR || ret == RET_CANCELLED || ret == RET_SHUTTING_DOWN,
          "native add replied ret %d %s", ret, hc_ret_name(ret));
    CHECK((ret == RET_OK) == (err == NULL), "native add: ret %s with err %p", hc_ret_name(ret), (const void *)err);
    CHECK(ret == RET_OK || value == 0, "native add: failure %s with value %" PRId64, hc_ret_name(ret), value);
    if (hc_reply_count(&x->r) == 0) {
        x->value = value;
    }
    hc_reply_record(&x->r, ret, err, err_len);
}

static void gate_wait(pthread_mutex_t *mu, pthread_cond_t *cv, bool *flag) {
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(mu);
    while (!*flag && hc_wait_until(cv, mu, &deadline)) {
    }
    bool ok = *flag;
    hc_unlock(mu);
    CHECK(ok, "no signal within %d ms", HC_WAIT_MS);
}

static void gate_set(pthread_mutex_t *mu, pthread_cond_t *cv, bool *flag) {
    hc_lock(mu);
    *flag = true;
    pthread_cond_broadcast(cv);
    hc_unlock(mu);
}

/* ------------------------------------------------ a probing host fn */

/* fetch_profile and notify: during each invocation records what
 * host_call_origin says for this token and for the wrong arguments, then
 * holds the token (in `held`). With `block_next`, the next invocation
 * blocks until the test has asked from its own thread. */
#define PROBES HC_HELD_MAX

typedef struct {
    void *ctx, *other, *dead;
    hc_held held;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    uint64_t token[PROBES];
    uint64_t origin[PROBES], wrong_token[PROBES], null_ctx[PROBES], other_ctx[PROBES], dead_ctx[PROBES];
    uint64_t other_thread[PROBES];
    bool block_next, blocked, released;
    /* for the reply callback and notifier checks */
    atomic_int late_nonzero, late_asked;
} prober;

static prober *the_prober;

typedef struct {
    void *ctx;
    uint64_t token;
    uint64_t got;
    hc_counter done;
} thread_probe;

static void *thread_probe_fn(void *arg) {
    thread_probe *p = (thread_probe *)arg;
    p->got = demo_host_call_origin(p->ctx, p->token);
    hc_counter_add(&p->done, 1);
    return NULL;
}

static void prober_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    prober *p = (prober *)user_data;
    hc_lock(&p->mu);
    int i = p->n++;
    bool block = p->block_next;
    p->block_next = false;
    hc_unlock(&p->mu);
    CHECK(i < PROBES, "too many probes");
    p->token[i] = token;
    p->origin[i] = demo_host_call_origin(p->ctx, token);
    p->wrong_token[i] = demo_host_call_origin(p->ctx, token + 1) | demo_host_call_origin(p->ctx, token ^ 0x1000000) |
                        demo_host_call_origin(p->ctx, 0) | demo_host_call_origin(p->ctx, UINT64_MAX);
    p->null_ctx[i] = demo_host_call_origin(NULL, token);
    p->other_ctx[i] = demo_host_call_origin(p->other, token);
    p->dead_ctx[i] = demo_host_call_origin(p->dead, token);
    /* Another thread, while this invocation runs. */
    thread_probe tp = {.ctx = p->ctx, .token = token, .got = 12345};
    hc_counter_init(&tp.done);
    pthread_t t;
    hc_spawn(&t, thread_probe_fn, &tp);
    hc_counter_wait(&tp.done, 1);
    hc_join(t);
    hc_counter_free(&tp.done);
    p->other_thread[i] = tp.got;
    if (block) {
        gate_set(&p->mu, &p->cv, &p->blocked);
        gate_wait(&p->mu, &p->cv, &p->released);
    }
    /* Still inside: the answer has not changed. */
    CHECK(demo_host_call_origin(p->ctx, token) == p->origin[i], "origin changed during the invocation");
    hc_held_fn(token, req, len, &p->held);
}

static void prober_cancel(uint64_t token, void *user_data) {
    prober *p = (prober *)user_data;
    atomic_fetch_add(&p->late_asked, 1);
    if (demo_host_call_origin(p->ctx, token) != 0) {
        atomic_fetch_add(&p->late_nonzero, 1);
    }
    hc_held_cancel(token, &p->held);
}

/* A reply callback that asks about every token probed so far. */
static void probing_reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    prober *p = the_prober;
    hc_lock(&p->mu);
    int n = p->n;
    hc_unlock(&p->mu);
    for (int i = 0; i < n; i++) {
        atomic_fetch_add(&p->late_asked, 1);
        if (demo_host_call_origin(p->ctx, p->token[i]) != 0) {
            atomic_fetch_add(&p->late_nonzero, 1);
        }
    }
    hc_reply_cancellable_cb(ret, msg, len, user_data);
}

static void prober_init(prober *p) {
    memset(p, 0, sizeof *p);
    hc_mutex_init(&p->mu);
    hc_cond_init(&p->cv);
    hc_held_init(&p->held);
    p->ctx = hc_new_context(NULL, 0);
    p->other = hc_new_context(NULL, 0);
    p->dead = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_destroy(p->dead), HC_OK);
    CHECK_STATUS(demo_register_host_fn_cancellable(p->ctx, DEMO_HOST_FN_FETCH_PROFILE, prober_fn, prober_cancel, p),
                 HC_OK);
    CHECK_STATUS(demo_register_host_fn_cancellable(p->ctx, DEMO_HOST_FN_NOTIFY, prober_fn, prober_cancel, p), HC_OK);
    the_prober = p;
}

static void prober_free(prober *p) {
    CHECK_STATUS(demo_destroy(p->ctx), HC_OK);
    CHECK_STATUS(demo_destroy(p->other), HC_OK);
    hc_held_free(&p->held);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* The probe index of `token`. */
static int probe_of(prober *p, uint64_t token) {
    hc_lock(&p->mu);
    int found = -1;
    for (int i = 0; i < p->n; i++) {
        if (p->token[i] == token) {
            found = i;
        }
    }
    hc_unlock(&p->mu);
    CHECK(found >= 0, "token %" PRIu64 " was never probed", token);
    return found;
}

/* CHECKs the probe of `arg`'s host call: origin `want`, 0 for the rest. */
static uint64_t check_probe(prober *p, const char *arg, uint64_t want) {
    uint64_t token = hc_held_token_of(&p->held, arg);
    int i = probe_of(p, token);
    CHECK(p->origin[i] == want, "%s: origin %" PRIu64 ", expected %" PRIu64, arg, p->origin[i], want);
    CHECK(p->wrong_token[i] == 0, "%s: origin of other tokens %" PRIu64, arg, p->wrong_token[i]);
    CHECK(p->null_ctx[i] == 0, "%s: origin with a NULL ctx %" PRIu64, arg, p->null_ctx[i]);
    CHECK(p->other_ctx[i] == 0, "%s: origin with another ctx %" PRIu64, arg, p->other_ctx[i]);
    CHECK(p->dead_ctx[i] == 0, "%s: origin with a destroyed ctx %" PRIu64, arg, p->dead_ctx[i]);
    CHECK(p->other_thread[i] == 0, "%s: origin from another thread during the invocation %" PRIu64, arg,
          p->other_thread[i]);
    /* After the invocation returned, from here. */
    CHECK(demo_host_call_origin(p->ctx, token) == 0, "%s: origin after the invocation", arg);
    return token;
}

static int login_with(void *ctx, const char *user, hc_reply *r, uint64_t *id, FFICallBack cb) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, user);
    hc_reply_init(r);
    if (id == NULL) {
        return demo_call(ctx, DEMO_METHOD_LOGIN, (const char *)cbor_enc_data(&e), e.len, cb, r);
    }
    return demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, (const char *)cbor_enc_data(&e), e.len, cb, r, id);
}

static void test_origin(void) {
    prober *p = calloc(1, sizeof *p);
    HC_REQUIRE(p != NULL, "calloc");
    prober_init(p);
    void *ctx = p->ctx;
    hc_reply plain, canc, canc2, nplain, ncanc, many;
    uint64_t id = 0, id2 = 0, nid = 0, mid = 0;

    /* A plain and a cancellable login in flight together, and a second
     * cancellable one: each token answers with its own request. */
    CHECK_STATUS(login_with(ctx, "plain", &plain, NULL, probing_reply_cb), HC_OK);
    CHECK_STATUS(login_with(ctx, "canc", &canc, &id, probing_reply_cb), HC_OK);
    CHECK_STATUS(login_with(ctx, "canc2", &canc2, &id2, probing_reply_cb), HC_OK);
    hc_held_wait_calls(&p->held, 3);
    CHECK(id != 0 && id2 > id, "ids %" PRIu64 ", %" PRIu64, id, id2);
    uint64_t t_plain = check_probe(p, "plain", 0);
    uint64_t t_canc = check_probe(p, "canc", id);
    uint64_t t_canc2 = check_probe(p, "canc2", id2);
    CHECK(demo_host_call_origin(ctx, t_canc) == 0 && demo_host_call_origin(ctx, t_canc2) == 0, "origin from outside");

    /* Native ping_host: notify serves the request. */
    hc_reply_init(&nplain);
    hc_reply_init(&ncanc);
    CHECK_STATUS(demo_native_ping_host(ctx, "nplain", 6, probing_reply_cb, &nplain), HC_OK);
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, "ncanc", 5, probing_reply_cb, &ncanc, &nid), HC_OK);
    hc_held_wait_calls(&p->held, 5);
    CHECK(nid > id2, "native id %" PRIu64 " after %" PRIu64, nid, id2);
    uint64_t t_nplain = check_probe(p, "nplain", 0);
    uint64_t t_ncanc = check_probe(p, "ncanc", nid);

    /* login_many through call_cancellable: every fetch has its origin. */
    const char *const users[] = {"m1", "m2", "m3"};
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, users, 3);
    hc_reply_init(&many);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN_MANY, (const char *)cbor_enc_data(&e), e.len,
                                       probing_reply_cb, &many, &mid),
                 HC_OK);
    hc_held_wait_calls(&p->held, 8);
    uint64_t tm[3];
    for (int i = 0; i < 3; i++) {
        tm[i] = check_probe(p, users[i], mid);
    }

    /* Blocked in the host fn: asked from this thread meanwhile, it is 0. */
    hc_reply blocked;
    uint64_t bid = 0;
    hc_lock(&p->mu);
    p->block_next = true;
    hc_unlock(&p->mu);
    CHECK_STATUS(login_with(ctx, "blocked", &blocked, &bid, probing_reply_cb), HC_OK);
    gate_wait(&p->mu, &p->cv, &p->blocked);
    hc_lock(&p->mu);
    uint64_t t_blocked = p->token[p->n - 1];
    hc_unlock(&p->mu);
    CHECK(demo_host_call_origin(ctx, t_blocked) == 0, "origin from the test thread while the host fn runs");
    CHECK(demo_host_call_origin(ctx, t_blocked + 1) == 0, "origin of another token from the test thread");
    gate_set(&p->mu, &p->cv, &p->released);
    hc_held_wait_calls(&p->held, 9);
    check_probe(p, "blocked", bid);

    /* Answer them all; in the reply callbacks (on the loop thread, after
     * the invocations) every token's origin is 0. Cancel two: in their
     * notifiers too. */
    CHECK_STATUS(hc_complete_profile(ctx, t_plain, "plain", "P", 1), HC_OK);
    CHECK_STATUS(hc_complete_profile(ctx, t_canc, "canc", "C", 1), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, id2), HC_OK);
    CHECK_STATUS(demo_host_complete(ctx, t_nplain, RET_OK, NULL, 0), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, nid), HC_OK);
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(hc_complete_profile(ctx, tm[i], users[i], "M", 1), HC_OK);
    }
    CHECK_STATUS(hc_complete_profile(ctx, t_blocked, "blocked", "B", 1), HC_OK);
    hc_reply *all[] = {&plain, &canc, &canc2, &nplain, &ncanc, &many, &blocked};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hc_reply_wait(all[i]);
    }
    CHECK_REPLY_OK(&plain);
    CHECK_REPLY_OK(&canc);
    CHECK_REPLY_CANCELLED(&canc2, DEMO_METHOD_LOGIN);
    CHECK_REPLY_OK(&nplain);
    CHECK(nplain.len == 0, "native ping_host replied %zu bytes", nplain.len);
    CHECK_REPLY_CANCELLED(&ncanc, DEMO_METHOD_PING_HOST);
    CHECK_REPLY_OK(&many);
    CHECK_REPLY_OK(&blocked);
    hc_held_wait_cancels(&p->held, 2);
    hc_barrier(ctx);
    CHECK(hc_held_cancel_count(&p->held, t_canc2) == 1 && hc_held_cancel_count(&p->held, t_ncanc) == 1,
          "cancel notices %d and %d", hc_held_cancel_count(&p->held, t_canc2), hc_held_cancel_count(&p->held, t_ncanc));
    CHECK(atomic_load(&p->late_asked) > 0 && atomic_load(&p->late_nonzero) == 0,
          "%d of %d asks after an invocation (reply callbacks, notifiers) were not 0", atomic_load(&p->late_nonzero),
          atomic_load(&p->late_asked));
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hc_reply_free(all[i]);
    }
    prober_free(p);
    /* Everything about a destroyed context is 0. */
    CHECK(demo_host_call_origin(p->ctx, t_canc) == 0, "origin of a destroyed context");
    CHECK(demo_host_call_origin(NULL, 0) == 0, "origin(NULL, 0)");
    free(p);
}

/* The context is destroyed from inside the host fn (destroy returns at
 * once there): its handle is dead, so origin is 0 for it, even though the
 * invocation is still running. Separate from test_origin so that a failure
 * is named. */
static struct {
    void *ctx;
    uint64_t before, after;
    int rc;
    hc_reply r;
} sd;

static void self_destroy_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req, (void)len, (void)user_data;
    sd.before = demo_host_call_origin(sd.ctx, token);
    sd.rc = demo_destroy(sd.ctx);
    sd.after = demo_host_call_origin(sd.ctx, token);
}

static void test_origin_after_destroy_inside(void) {
    memset(&sd, 0, sizeof sd);
    sd.ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn(sd.ctx, DEMO_HOST_FN_FETCH_PROFILE, self_destroy_fn, NULL), HC_OK);
    uint64_t id = 0;
    CHECK_STATUS(login_with(sd.ctx, "doomed", &sd.r, &id, hc_reply_cancellable_cb), HC_OK);
    hc_reply_wait(&sd.r);
    CHECK_REPLY_SHUTTING_DOWN(&sd.r);
    CHECK_STATUS(sd.rc, HC_OK);
    CHECK(sd.before == id, "origin before the destroy %" PRIu64 ", expected %" PRIu64, sd.before, id);
    CHECK(sd.after == 0, "origin after destroying the context from inside its host fn: %" PRIu64 " (expected 0: the "
                         "handle is dead)",
          sd.after);
    hc_reply_free(&sd.r);
}

/* ----------------------------------- a host fn withdrawing its own request */

enum { SELF_CANCEL, SELF_CANCEL_TWICE, SELF_COMPLETE_THEN_CANCEL, SELF_MODES };

typedef struct {
    void *ctx;
    int mode;
    uint64_t origin, token;
    int rc_cancel, rc_cancel2, rc_complete;
    hc_held held;
} self_cancel;

static void self_cancel_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    self_cancel *s = (self_cancel *)user_data;
    s->token = token;
    s->origin = demo_host_call_origin(s->ctx, token);
    if (s->mode == SELF_COMPLETE_THEN_CANCEL) {
        s->rc_complete = demo_host_complete(s->ctx, token, RET_OK, NULL, 0);
    }
    s->rc_cancel = demo_cancel_call(s->ctx, s->origin);
    if (s->mode == SELF_CANCEL_TWICE) {
        s->rc_cancel2 = demo_cancel_call(s->ctx, s->origin);
    }
    hc_held_fn(token, req, len, &s->held);
}

static void self_cancel_notifier(uint64_t token, void *user_data) {
    hc_held_cancel(token, &((self_cancel *)user_data)->held);
}

static void test_self_cancel(void) {
    for (int native = 0; native < 2; native++) {
        for (int mode = 0; mode < SELF_MODES; mode++) {
            self_cancel *s = calloc(1, sizeof *s);
            HC_REQUIRE(s != NULL, "calloc");
            s->ctx = hc_new_context(NULL, 0);
            s->mode = mode;
            s->rc_cancel = s->rc_cancel2 = s->rc_complete = 1;
            hc_held_init(&s->held);
            CHECK_STATUS(demo_register_host_fn_cancellable(s->ctx, native ? DEMO_HOST_FN_NOTIFY
                                                                           : DEMO_HOST_FN_FETCH_PROFILE,
                                                           self_cancel_fn, self_cancel_notifier, s),
                         HC_OK);
            hc_reply r;
            uint64_t id = 0;
            if (native) {
                hc_reply_init(&r);
                CHECK_STATUS(demo_native_ping_host_cancellable(s->ctx, "selfish", 7, hc_reply_cancellable_cb, &r, &id),
                             HC_OK);
            } else {
                CHECK_STATUS(login_with(s->ctx, "selfish", &r, &id, hc_reply_cancellable_cb), HC_OK);
            }
            hc_reply_wait(&r);
            const char *what = native ? "native ping_host" : "login";
            CHECK(s->origin == id, "%s: origin %" PRIu64 ", id %" PRIu64, what, s->origin, id);
            CHECK_STATUS(s->rc_cancel, HC_OK);
            if (mode == SELF_CANCEL_TWICE) {
                CHECK_STATUS(s->rc_cancel2, HC_ERR_UNKNOWN_TOKEN);
            }
            if (mode == SELF_COMPLETE_THEN_CANCEL) {
                CHECK_STATUS(s->rc_complete, HC_OK);
            }
            CHECK_REPLY_CANCELLED(&r, native ? DEMO_METHOD_PING_HOST : DEMO_METHOD_LOGIN);
            if (mode != SELF_COMPLETE_THEN_CANCEL) {
                hc_held_wait_cancels(&s->held, 1);
            }
            hc_barrier(s->ctx);
            int notices = hc_held_cancel_count(&s->held, s->token);
            CHECK(notices == (mode == SELF_COMPLETE_THEN_CANCEL ? 0 : 1), "%s mode %d: %d cancel notices", what, mode,
                  notices);
            CHECK_STATUS(demo_host_complete(s->ctx, s->token, RET_OK, NULL, 0), HC_ERR_UNKNOWN_TOKEN);
            CHECK_STATUS(demo_cancel_call(s->ctx, id), HC_ERR_UNKNOWN_TOKEN);
            hc_barrier(s->ctx);
            CHECK(hc_reply_count(&r) == 1, "%s: %d replies", what, hc_reply_count(&r));
            CHECK_STATUS(demo_destroy(s->ctx), HC_OK);
            CHECK(hc_held_cancels(&s->held) == notices, "destroy cancelled a withdrawn request's call");
            CHECK(hc_held_calls(&s->held) == 1, "%d host calls", hc_held_calls(&s->held));
            hc_reply_free(&r);
            hc_held_free(&s->held);
            free(s);
        }
    }
}

/* ------------------------------------------ native cancellable: the basics */

static void test_native_null_call_id(void) {
    void *ctx = hc_new_context(NULL, 0);
    int before = atomic_load(&hc_never_count);
    CHECK_STATUS(demo_native_version_cancellable(ctx, hc_never_cb, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_CONTAINS(hc_last_error(), strlen(hc_last_error()), "call_id");
    CHECK_STATUS(demo_native_add_cancellable(ctx, 1, 2, (FFICallBackI64)i64_reply_cb, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, "x", 1, hc_never_cb, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_panic_with_cancellable(ctx, "x", 1, hc_never_cb, NULL, NULL), HC_ERR_NULL_ARG);
    uint64_t id = 77;
    CHECK_STATUS(demo_native_version_cancellable(ctx, NULL, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, NULL, 1, hc_never_cb, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_version_cancellable(NULL, hc_never_cb, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_add_cancellable((void *)(uintptr_t)0x5eed0, 1, 2, (FFICallBackI64)i64_reply_cb, NULL, &id),
                 HC_ERR_INVALID_CONTEXT);
    CHECK(id == 77, "a refused call wrote call_id %" PRIu64, id);
    hc_barrier(ctx);
    /* The refusals took no id. */
    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_version_cancellable(ctx, hc_reply_cancellable_cb, &r, &id), HC_OK);
    CHECK(id >= 1 && id != 77, "first cancellable id %" PRIu64, id);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK_STATUS(demo_native_version_cancellable(ctx, hc_never_cb, NULL, &id), HC_ERR_INVALID_CONTEXT);
    CHECK(atomic_load(&hc_never_count) == before, "a refused call ran its callback");
}

static void test_native_after_reply(void) {
    void *ctx = hc_new_context(NULL, 0);
    i64_reply a;
    hc_reply_init(&a.r);
    uint64_t id = 0;
    CHECK_STATUS(demo_native_add_cancellable(ctx, 2, 3, i64_reply_cb, &a, &id), HC_OK);
    hc_reply_wait(&a.r);
    CHECK_REPLY_OK(&a.r);
    CHECK(a.value == 5, "2 + 3 = %" PRId64, a.value);
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&a.r);
    /* An overflow: RET_ERR through the typed callback, then nothing to cancel. */
    hc_reply_init(&a.r);
    CHECK_STATUS(demo_native_add_cancellable(ctx, INT64_MAX, 1, i64_reply_cb, &a, &id), HC_OK);
    hc_reply_wait(&a.r);
    CHECK_REPLY_ERR_HAS(&a.r, "integer overflow");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&a.r);
    /* panic_with: RET_PANIC, then nothing to cancel. */
    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_panic_with_cancellable(ctx, "boom", 4, hc_reply_cancellable_cb, &r, &id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "boom");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&r);
    /* ping_host answered normally. */
    hc_held h;
    hc_held_init(&h);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_NOTIFY, hc_held_fn, hc_held_cancel, &h), HC_OK);
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, "hi", 2, hc_reply_cancellable_cb, &r, &id), HC_OK);
    hc_held_wait_calls(&h, 1);
    CHECK_STATUS(demo_host_complete(ctx, hc_held_token_of(&h, "hi"), RET_OK, NULL, 0), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_held_cancels(&h) == 0 && hc_reply_count(&r) == 1, "a late cancel disturbed the request");
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&h);
}

/* A pending native ping_host withdrawn while notify holds its token. */
static void test_native_cancel_held(void) {
    hc_held h;
    hc_held_init(&h);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_NOTIFY, hc_held_fn, hc_held_cancel, &h), HC_OK);
    hc_reply r;
    hc_reply_init(&r);
    uint64_t id = 0;
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, "held", 4, hc_reply_cancellable_cb, &r, &id), HC_OK);
    hc_held_wait_calls(&h, 1);
    uint64_t token = hc_held_token_of(&h, "held");
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 0, "a held ping_host replied");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_PING_HOST);
    hc_held_wait_cancels(&h, 1);
    CHECK(pthread_equal(h.cancel_threads[0], h.threads[0]), "the notifier ran off the loop thread");
    CHECK(pthread_equal(r.thread, h.threads[0]), "the reply ran off the loop thread");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_host_complete(ctx, token, RET_OK, NULL, 0), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_held_cancel_count(&h, token) == 1, "notifier ran %d times", hc_held_cancel_count(&h, token));
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&h) == 1, "destroy cancelled %d more", hc_held_cancels(&h) - 1);
    hc_held_free(&h);
}

/* Queued native requests withdrawn before they run: the loop is held inside
 * a notify host fn (a gate) while they are issued and cancelled. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool blocked, released;
    void *ctx;
} gate;

static void gate_notify(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req, (void)len, (void)user_data;
    gate_set(&gate.mu, &gate.cv, &gate.blocked);
    gate_wait(&gate.mu, &gate.cv, &gate.released);
    CHECK_STATUS(demo_host_complete(gate.ctx, token, RET_OK, NULL, 0), HC_OK);
}

static void test_native_cancel_queued(void) {
    memset(&gate, 0, sizeof gate);
    hc_mutex_init(&gate.mu);
    hc_cond_init(&gate.cv);
    void *ctx = hc_new_context(NULL, 0);
    gate.ctx = ctx;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_NOTIFY, gate_notify, NULL), HC_OK);
    hc_reply hold, ver, pan, ping;
    i64_reply add, add_kept;
    hc_reply_init(&hold);
    CHECK_STATUS(demo_native_ping_host(ctx, "gate", 4, hc_reply_cb, &hold), HC_OK);
    gate_wait(&gate.mu, &gate.cv, &gate.blocked);
    uint64_t iv = 0, ia = 0, ik = 0, ip = 0, ig = 0;
    hc_reply_init(&ver);
    hc_reply_init(&pan);
    hc_reply_init(&ping);
    hc_reply_init(&add.r);
    hc_reply_init(&add_kept.r);
    CHECK_STATUS(demo_native_version_cancellable(ctx, hc_reply_cancellable_cb, &ver, &iv), HC_OK);
    CHECK_STATUS(demo_native_add_cancellable(ctx, 40, 2, i64_reply_cb, &add, &ia), HC_OK);
    CHECK_STATUS(demo_native_add_cancellable(ctx, 1, 1, i64_reply_cb, &add_kept, &ik), HC_OK);
    CHECK_STATUS(demo_native_panic_with_cancellable(ctx, "never", 5, hc_reply_cancellable_cb, &pan, &ip), HC_OK);
    CHECK_STATUS(demo_native_ping_host_cancellable(ctx, "never", 5, hc_reply_cancellable_cb, &ping, &ig), HC_OK);
    CHECK(iv < ia && ia < ik && ik < ip && ip < ig, "ids do not count up");
    CHECK_STATUS(demo_cancel_call(ctx, iv), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, ia), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, ip), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, ig), HC_OK);
    CHECK_STATUS(demo_cancel_call(ctx, ia), HC_ERR_UNKNOWN_TOKEN);
    gate_set(&gate.mu, &gate.cv, &gate.released);
    hc_reply *rs[] = {&hold, &ver, &pan, &ping, &add.r, &add_kept.r};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        hc_reply_wait(rs[i]);
    }
    hc_barrier(ctx);
    CHECK_REPLY_OK(&hold);
    CHECK_REPLY_CANCELLED(&ver, DEMO_METHOD_VERSION);
    CHECK_REPLY_CANCELLED(&add.r, DEMO_METHOD_ADD);
    CHECK(add.value == 0, "a cancelled add carried %" PRId64, add.value);
    CHECK_REPLY_OK(&add_kept.r);
    CHECK(add_kept.value == 2, "1 + 1 = %" PRId64, add_kept.value);
    CHECK_REPLY_CANCELLED(&pan, DEMO_METHOD_PANIC_WITH); /* never ran, so never panicked */
    CHECK_REPLY_CANCELLED(&ping, DEMO_METHOD_PING_HOST);
    CHECK_STATUS(demo_cancel_call(ctx, ik), HC_ERR_UNKNOWN_TOKEN);
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        CHECK(hc_reply_count(rs[i]) == 1, "reply %zu: %d replies", i, hc_reply_count(rs[i]));
        hc_reply_free(rs[i]);
    }
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    pthread_cond_destroy(&gate.cv);
    pthread_mutex_destroy(&gate.mu);
}

/* ------------------------------- cancels racing completions, many threads */

typedef struct {
    bool is_add;
    int64_t a, b;
    uint64_t id;
    atomic_bool issued;
    atomic_int replies, ret, cancel_ok;
    atomic_int started, tok_ok, tok_refused, tok_cancels;
    uint64_t token;
    atomic_int origin_bad;
    /* Isolated runs: whether a canceller has tried this request yet. */
    atomic_bool targeted;
    atomic_int defers;
} race_req;

static struct {
    void *ctx;
    race_req *reqs;
    int total, per_thread;
    uint64_t seed;
    hc_counter replies;
    hc_queue queue;
    atomic_long cancels_tried;
    /* Isolated runs: requests a canceller has tried. */
    atomic_int targeted;
} race;

static void race_check_cancelled_text(race_req *r, const char *msg, size_t len) {
    const char *want = hc_cancelled_text(r->is_add ? DEMO_METHOD_ADD : DEMO_METHOD_PING_HOST);
    CHECK(len == strlen(want) && memcmp(msg, want, len) == 0, "cancelled with \"%.*s\"", (int)len, msg);
}

static void race_reply(int ret, const char *msg, size_t len, void *user_data) {
    race_req *r = (race_req *)user_data;
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "a second reply (ret %s)", hc_ret_name(ret));
    atomic_store(&r->ret, ret);
    if (ret == RET_CANCELLED) {
        race_check_cancelled_text(r, msg, len);
    } else {
        CHECK(ret == RET_OK && len == 0, "ping_host replied %s \"%.*s\"", hc_ret_name(ret), (int)len, msg);
    }
    hc_counter_add(&race.replies, 1);
}

static void race_reply_i64(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    race_req *r = (race_req *)user_data;
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "a second add reply (ret %s)", hc_ret_name(ret));
    atomic_store(&r->ret, ret);
    if (ret == RET_CANCELLED) {
        CHECK(value == 0 && err != NULL, "cancelled add: value %" PRId64, value);
        race_check_cancelled_text(r, err, err_len);
    } else {
        CHECK(ret == RET_OK && err == NULL && value == r->a + r->b, "add(%" PRId64 ", %" PRId64 ") replied %s %" PRId64,
              r->a, r->b, hc_ret_name(ret), value);
    }
    hc_counter_add(&race.replies, 1);
}

static void race_notify(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)user_data;
    char msg[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, msg, sizeof msg), "notify request is not [text]");
    int idx = atoi(msg + 1);
    CHECK(msg[0] == 'p' && idx >= 0 && idx < race.total, "notify(\"%s\")", msg);
    race_req *r = &race.reqs[idx];
    CHECK(atomic_fetch_add(&r->started, 1) == 0, "request %d's notify ran twice", idx);
    if (demo_host_call_origin(race.ctx, token) != r->id) {
        atomic_store(&r->origin_bad, 1);
    }
    r->token = token;
    hc_queue_push(&race.queue, token, msg);
}

static void race_cancelled(uint64_t token, void *user_data) {
    (void)user_data;
    /* find the request by token: the tokens are few enough to scan */
    for (int i = 0; i < race.total; i++) {
        race_req *r = &race.reqs[i];
        if (atomic_load(&r->started) && r->token == token) {
            CHECK(atomic_fetch_add(&r->tok_cancels, 1) == 0, "token of request %d cancelled twice", i);
            return;
        }
    }
    CHECK(false, "a cancel notice for token %" PRIu64 ", never handed out", token);
}

static void *race_issuer(void *arg) {
    int t = (int)(intptr_t)arg;
    hc_rng rng;
    hc_rng_seed(&rng, race.seed * 131 + (uint64_t)t);
    for (int i = 0; i < race.per_thread; i++) {
        int idx = t * race.per_thread + i;
        race_req *r = &race.reqs[idx];
        r->is_add = hc_rng_below(&rng, 4) == 0;
        if (r->is_add) {
            r->a = (int64_t)hc_rng_below(&rng, 1000);
            r->b = idx;
            CHECK_STATUS(demo_native_add_cancellable(race.ctx, r->a, r->b, race_reply_i64, r, &r->id), HC_OK);
        } else {
            char msg[32];
            int n = snprintf(msg, sizeof msg, "p%d", idx);
            CHECK_STATUS(demo_native_ping_host_cancellable(race.ctx, msg, (size_t)n, race_reply, r, &r->id), HC_OK);
        }
        atomic_store(&r->issued, true);
        if (hc_rng_below(&rng, 3) == 0) {
            /* the issuer itself withdraws it at once */
            if (demo_cancel_call(race.ctx, r->id) == HC_OK) {
                atomic_fetch_add(&r->cancel_ok, 1);
            }
        }
    }
    return NULL;
}

static void *race_canceller(void *arg) {
    hc_rng rng;
    hc_rng_seed(&rng, race.seed * 7 + (uint64_t)(intptr_t)arg);
    /* Until every request has replied: most cancels meet a request that
     * has replied, some one whose notify call is held or being completed.
     * Isolated (every call crosses to a helper process and back, ~20x
     * slower), cancels without end would withdraw every request before it
     * replied and the race would never see a reply win: there each request
     * is tried once — every other one only after it has replied, which
     * finds nothing to cancel —, and the cancellers stop when all were. */
    bool isolated = hc_isolated();
    while (hc_counter_get(&race.replies) < race.total) {
        race_req *r = &race.reqs[hc_rng_below(&rng, (uint64_t)race.total)];
        if (!atomic_load(&r->issued)) {
            continue;
        }
        if (isolated) {
            bool late = (r - race.reqs) % 2 == 0;
            if (late && atomic_load(&r->replies) == 0) {
                continue;
            }
            if (atomic_exchange(&r->targeted, true)) {
                if (atomic_load(&race.targeted) >= race.total) {
                    break;
                }
                continue;
            }
            atomic_fetch_add(&race.targeted, 1);
        }
        int rc = demo_cancel_call(race.ctx, r->id);
        CHECK(rc == HC_OK || rc == HC_ERR_UNKNOWN_TOKEN, "cancel returned %s", hc_status_name(rc));
        if (rc == HC_OK) {
            atomic_fetch_add(&r->cancel_ok, 1);
        }
        atomic_fetch_add(&race.cancels_tried, 1);
    }
    return NULL;
}

/* Puts `job` back at the tail of `q`, unless `q` is closed. */
static bool requeue(hc_queue *q, const hc_job *job) {
    hc_job *copy = (hc_job *)calloc(1, sizeof *copy);
    HC_REQUIRE(copy != NULL, "calloc");
    *copy = *job;
    copy->next = NULL;
    hc_lock(&q->mu);
    bool open = !q->closed;
    if (open) {
        if (q->tail) {
            q->tail->next = copy;
        } else {
            q->head = copy;
        }
        q->tail = copy;
        pthread_cond_broadcast(&q->cv);
    }
    hc_unlock(&q->mu);
    if (!open) {
        free(copy);
    }
    return open;
}

static void *race_completer(void *arg) {
    (void)arg;
    hc_job job;
    hc_rng rng;
    hc_rng_seed(&rng, race.seed * 3 + (uint64_t)(uintptr_t)&rng);
    while (hc_queue_pop(&race.queue, &job)) {
        race_req *r = &race.reqs[atoi(job.arg + 1)];
        /* Hold some tokens a while longer (to the back of the queue, at
         * most 3 times) so that cancels meet held notify calls. */
        if (atomic_load(&r->defers) < 3 && hc_rng_below(&rng, 2) == 0) {
            atomic_fetch_add(&r->defers, 1);
            if (requeue(&race.queue, &job)) {
                continue;
            }
        }
        int rc = demo_host_complete(race.ctx, job.token, RET_OK, NULL, 0);
        CHECK(rc == HC_OK || rc == HC_ERR_UNKNOWN_TOKEN, "completion returned %s", hc_status_name(rc));
        atomic_fetch_add(rc == HC_OK ? &r->tok_ok : &r->tok_refused, 1);
    }
    return NULL;
}

static void test_race(int per_thread, uint64_t seed) {
    memset(&race, 0, sizeof race);
    race.per_thread = per_thread;
    race.total = per_thread * RACE_THREADS;
    race.seed = seed;
    race.reqs = calloc((size_t)race.total, sizeof *race.reqs);
    HC_REQUIRE(race.reqs != NULL, "calloc");
    for (int i = 0; i < race.total; i++) {
        atomic_store(&race.reqs[i].ret, -1);
    }
    hc_counter_init(&race.replies);
    hc_queue_init(&race.queue);
    race.ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn_cancellable(race.ctx, DEMO_HOST_FN_NOTIFY, race_notify, race_cancelled, NULL),
                 HC_OK);
    pthread_t issuers[RACE_THREADS], cancellers[RACE_CANCELLERS], completers[RACE_COMPLETERS];
    for (int i = 0; i < RACE_COMPLETERS; i++) {
        hc_spawn(&completers[i], race_completer, NULL);
    }
    for (int i = 0; i < RACE_CANCELLERS; i++) {
        hc_spawn(&cancellers[i], race_canceller, (void *)(intptr_t)i);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
        hc_spawn(&issuers[i], race_issuer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
        hc_join(issuers[i]);
    }
    for (int i = 0; i < RACE_CANCELLERS; i++) {
        hc_join(cancellers[i]);
    }
    hc_counter_wait(&race.replies, race.total);
    hc_queue_close(&race.queue);
    for (int i = 0; i < RACE_COMPLETERS; i++) {
        hc_join(completers[i]);
    }
    hc_barrier(race.ctx);
    long cancelled = 0, ok = 0, notices = 0, window = 0;
    for (int i = 0; i < race.total; i++) {
        race_req *r = &race.reqs[i];
        int ret = atomic_load(&r->ret), cancel_ok = atomic_load(&r->cancel_ok);
        CHECK(atomic_load(&r->replies) == 1, "request %d: %d replies", i, atomic_load(&r->replies));
        CHECK(cancel_ok <= 1, "request %d: %d cancels returned HC_OK", i, cancel_ok);
        CHECK((ret == RET_CANCELLED) == (cancel_ok == 1), "request %d: reply %s and %d cancels returned HC_OK", i,
              hc_ret_name(ret), cancel_ok);
        CHECK(!atomic_load(&r->origin_bad), "request %d: its notify's origin was not its id", i);
        if (r->is_add) {
            CHECK(!atomic_load(&r->started), "add made a host call");
        } else if (atomic_load(&r->started)) {
            int tok_ok = atomic_load(&r->tok_ok), tok_cancels = atomic_load(&r->tok_cancels);
            CHECK(tok_ok + tok_cancels == 1, "request %d: token completed %d and cancelled %d times", i, tok_ok,
                  tok_cancels);
            CHECK(tok_cancels == 0 || ret == RET_CANCELLED, "request %d: token cancelled, reply %s", i,
                  hc_ret_name(ret));
            window += ret == RET_CANCELLED && tok_ok == 1;
        } else {
            CHECK(ret == RET_CANCELLED, "request %d never called notify but replied %s", i, hc_ret_name(ret));
        }
        cancelled += ret == RET_CANCELLED;
        ok += ret == RET_OK;
        notices += atomic_load(&r->tok_cancels);
    }
    printf("cancel racing completion: %d native requests: %ld ok, %ld withdrawn (%ld notify calls cancelled, %ld "
           "completed in the window and discarded); %ld cancels tried\n",
           race.total, ok, cancelled, notices, window, atomic_load(&race.cancels_tried));
    CHECK(cancelled > 0 && ok > 0, "no mix: %ld withdrawn, %ld ok", cancelled, ok);
    CHECK_STATUS(demo_destroy(race.ctx), HC_OK);
    for (int i = 0; i < race.total; i++) {
        CHECK(atomic_load(&race.reqs[i].replies) == 1, "destroy replied again to request %d", i);
    }
    hc_queue_free(&race.queue);
    hc_counter_free(&race.replies);
    free(race.reqs);
}

/* ------------------------------------------------ cancels racing destroy */

#define DR_REQS 24
#define DR_CANCELLERS 2

static struct {
    void *ctx;
    race_req reqs[DR_REQS];
    hc_held held;
    uint64_t seed;
    int round;
    atomic_bool destroy_returned;
    atomic_int late;
    pthread_barrier_t go;
    hc_counter replies;
} dr;

static void dr_reply(int ret, const char *msg, size_t len, void *user_data) {
    race_req *r = (race_req *)user_data;
    if (atomic_load(&dr.destroy_returned)) {
        atomic_store(&dr.late, 1);
    }
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "round %d: a second reply", dr.round);
    atomic_store(&r->ret, ret);
    if (ret == RET_CANCELLED) {
        race_check_cancelled_text(r, msg, len);
    } else if (ret == RET_SHUTTING_DOWN) {
        CHECK_SHUTTING_DOWN(ret, msg, len, "native ping_host");
    } else {
        CHECK(ret == RET_OK, "round %d: ping_host replied %s", dr.round, hc_ret_name(ret));
    }
    hc_counter_add(&dr.replies, 1);
}

static void dr_reply_i64(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    race_req *r = (race_req *)user_data;
    if (atomic_load(&dr.destroy_returned)) {
        atomic_store(&dr.late, 1);
    }
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "round %d: a second add reply", dr.round);
    atomic_store(&r->ret, ret);
    if (ret == RET_CANCELLED) {
        race_check_cancelled_text(r, err, err_len);
    } else if (ret == RET_SHUTTING_DOWN) {
        CHECK_SHUTTING_DOWN(ret, err, err_len, "native add");
    } else {
        CHECK(ret == RET_OK && value == r->a + r->b, "round %d: add replied %s %" PRId64, dr.round, hc_ret_name(ret),
              value);
    }
    hc_counter_add(&dr.replies, 1);
}

static void *dr_canceller(void *arg) {
    hc_rng rng;
    hc_rng_seed(&rng, dr.seed * 7919 + (uint64_t)dr.round * 31 + (uint64_t)(intptr_t)arg);
    pthread_barrier_wait(&dr.go);
    for (int k = 0; k < DR_REQS; k++) {
        race_req *r = &dr.reqs[hc_rng_below(&rng, DR_REQS)];
        bool dead = atomic_load(&dr.destroy_returned);
        int rc = demo_cancel_call(dr.ctx, r->id);
        if (rc == HC_OK) {
            CHECK(!dead, "a cancel after destroy returned got HC_OK");
            atomic_fetch_add(&r->cancel_ok, 1);
        } else if (rc == HC_ERR_UNKNOWN_TOKEN) {
            CHECK(!dead, "a cancel after destroy returned got HC_ERR_UNKNOWN_TOKEN");
        } else {
            CHECK(rc == HC_ERR_INVALID_CONTEXT, "cancel racing destroy returned %s", hc_status_name(rc));
        }
    }
    return NULL;
}

static void *dr_completer(void *arg) {
    (void)arg;
    pthread_barrier_wait(&dr.go);
    int n = hc_held_calls(&dr.held);
    for (int i = 0; i < n; i++) {
        hc_lock(&dr.held.mu);
        uint64_t token = dr.held.tokens[i];
        int idx = atoi(dr.held.args[i] + 1);
        hc_unlock(&dr.held.mu);
        int rc = demo_host_complete(dr.ctx, token, RET_OK, NULL, 0);
        CHECK(rc == HC_OK || rc == HC_ERR_UNKNOWN_TOKEN || rc == HC_ERR_INVALID_CONTEXT,
              "completion racing destroy returned %s", hc_status_name(rc));
        if (rc == HC_OK) {
            atomic_fetch_add(&dr.reqs[idx].tok_ok, 1);
        }
    }
    return NULL;
}

static void *dr_destroyer(void *arg) {
    hc_rng rng;
    hc_rng_seed(&rng, dr.seed * 15485863 + (uint64_t)dr.round + (uint64_t)(intptr_t)arg);
    pthread_barrier_wait(&dr.go);
    volatile unsigned spin = 0;
    for (uint64_t n = hc_rng_below(&rng, 20000); n > 0; n--) {
        spin++;
    }
    CHECK_STATUS(demo_destroy(dr.ctx), HC_OK);
    atomic_store(&dr.destroy_returned, true);
    return NULL;
}

static void test_race_destroy(int rounds, uint64_t seed) {
    long by_ret[RET_ERR_TYPED + 1] = {0};
    for (int round = 0; round < rounds; round++) {
        memset(dr.reqs, 0, sizeof dr.reqs);
        dr.seed = seed;
        dr.round = round;
        atomic_store(&dr.destroy_returned, false);
        atomic_store(&dr.late, 0);
        hc_counter_init(&dr.replies);
        hc_held_init(&dr.held);
        HC_REQUIRE(pthread_barrier_init(&dr.go, NULL, DR_CANCELLERS + 3) == 0, "barrier init");
        dr.ctx = hc_new_context(NULL, 0);
        CHECK_STATUS(demo_register_host_fn_cancellable(dr.ctx, DEMO_HOST_FN_NOTIFY, hc_held_fn, hc_held_cancel,
                                                       &dr.held),
                     HC_OK);
        int pings = 0;
        for (int i = 0; i < DR_REQS; i++) {
            race_req *r = &dr.reqs[i];
            atomic_store(&r->ret, -1);
            r->is_add = i % 4 == 3;
            if (r->is_add) {
                r->a = i;
                r->b = 1;
                CHECK_STATUS(demo_native_add_cancellable(dr.ctx, r->a, r->b, dr_reply_i64, r, &r->id), HC_OK);
            } else {
                char msg[16];
                int n = snprintf(msg, sizeof msg, "d%d", i);
                CHECK_STATUS(demo_native_ping_host_cancellable(dr.ctx, msg, (size_t)n, dr_reply, r, &r->id), HC_OK);
                pings++;
            }
        }
        hc_held_wait_calls(&dr.held, pings);
        pthread_t cancellers[DR_CANCELLERS], completer, destroyer;
        for (int i = 0; i < DR_CANCELLERS; i++) {
            hc_spawn(&cancellers[i], dr_canceller, (void *)(intptr_t)i);
        }
        hc_spawn(&completer, dr_completer, NULL);
        hc_spawn(&destroyer, dr_destroyer, NULL);
        pthread_barrier_wait(&dr.go);
        for (int i = 0; i < DR_CANCELLERS; i++) {
            hc_join(cancellers[i]);
        }
        hc_join(completer);
        hc_join(destroyer);
        CHECK(hc_counter_get(&dr.replies) == DR_REQS, "round %d: %ld of %d replies when destroy returned", round,
              hc_counter_get(&dr.replies), DR_REQS);
        CHECK(!atomic_load(&dr.late), "round %d: a reply ran after destroy returned", round);
        for (int i = 0; i < DR_REQS; i++) {
            race_req *r = &dr.reqs[i];
            int ret = atomic_load(&r->ret), cancel_ok = atomic_load(&r->cancel_ok);
            CHECK(atomic_load(&r->replies) == 1, "round %d: request %d: %d replies", round, i,
                  atomic_load(&r->replies));
            CHECK(cancel_ok <= 1 && (ret == RET_CANCELLED) == (cancel_ok == 1),
                  "round %d: request %d: reply %s, %d cancels returned HC_OK", round, i, hc_ret_name(ret), cancel_ok);
            if (!r->is_add) {
                char arg[16];
                snprintf(arg, sizeof arg, "d%d", i);
                uint64_t token = hc_held_token_of(&dr.held, arg);
                int ends = atomic_load(&r->tok_ok) + hc_held_cancel_count(&dr.held, token);
                CHECK(ends == 1, "round %d: request %d: its notify token ended %d times", round, i, ends);
                CHECK(ret != RET_OK || atomic_load(&r->tok_ok) == 1, "round %d: ping %d RET_OK without completion",
                      round, i);
            }
            if (ret >= 0 && ret <= RET_ERR_TYPED) {
                by_ret[ret]++;
            }
        }
        pthread_barrier_destroy(&dr.go);
        hc_held_free(&dr.held);
        hc_counter_free(&dr.replies);
    }
    printf("native cancels racing destroy: %d rounds of %d: %ld RET_OK, %ld RET_CANCELLED, %ld RET_SHUTTING_DOWN\n",
           rounds, DR_REQS, by_ret[RET_OK], by_ret[RET_CANCELLED], by_ret[RET_SHUTTING_DOWN]);
}

int main(int argc, char **argv) {
    int per_thread = argc > 1 ? atoi(argv[1]) : DEFAULT_PER_THREAD;
    HC_REQUIRE(per_thread > 0, "usage: origin [requests per thread] [seed]");
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    bool only_destroy_inside = argc > 3 && strcmp(argv[3], "destroy-inside") == 0;
    printf("seed %" PRIu64 "\n", seed);
    if (only_destroy_inside) {
        test_origin_after_destroy_inside();
        return hc_done();
    }
    test_origin();
    test_self_cancel();
    test_native_null_call_id();
    test_native_after_reply();
    test_native_cancel_held();
    test_native_cancel_queued();
    test_race(per_thread, seed);
    test_race_destroy(per_thread / 10 < 8 ? 8 : per_thread / 10, seed);
    return hc_done();
}
