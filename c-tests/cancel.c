/*
 * cancel.c - withdrawing requests: demo_call_cancellable and demo_cancel_call
 * (docs/abi.md).
 *
 *   cancel [requests per thread]
 *
 * A cancel that returns HC_OK owns the request's one reply, RET_CANCELLED
 * "request '<m>' cancelled"; the handler's pending host calls are cancelled
 * (each cancel notifier once, each token refused from then on). A cancel
 * after the reply, a second cancel, an unknown id: HC_ERR_UNKNOWN_TOKEN and
 * nothing more. After destroy: HC_ERR_INVALID_CONTEXT. NULL call_id:
 * HC_ERR_NULL_ARG. Ids count up from 1, per context, never reused. Cancels
 * from inside a host fn (of the request it serves, and of a request still
 * queued), a reply callback, a cancel notifier and an event listener. Many
 * threads issuing and cancelling while helpers complete host calls in random
 * order (with late and double completions); cancels racing destroy; a
 * withdrawn request frees its max_pending_requests slot before its reply
 * runs.
 */
#include "harness.h"

#include <inttypes.h>

/* Requests each stress thread issues, unless argv[1] says otherwise. */
#define DEFAULT_PER_THREAD 400


/* A default context whose fetch_profile holds its tokens in h. */
static void *held_context(hc_held *h, const char *key, uint64_t value) {
    void *ctx = hc_new_context(key, value);
    hc_held_init(h);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, h),
                 HC_OK);
    return ctx;
}

/* login(user) through demo_call_cancellable, replying into r. */
static int login_c(void *ctx, const char *user, hc_reply *r, uint64_t *id) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, user);
    return hc_call_cancellable(ctx, DEMO_METHOD_LOGIN, &e, r, id);
}

static int add_c(void *ctx, int64_t a, int64_t b, hc_reply *r, uint64_t *id) {
    uint8_t buf[32];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, a, b);
    return hc_call_cancellable(ctx, DEMO_METHOD_ADD, &e, r, id);
}

static void check_session(hc_reply *r, const char *user_id, const char *greeting) {
    demo_session s;
    CHECK_REPLY_OK(r);
    CHECK(demo_decode_session(r->msg, r->len, &s), "reply is not a Session");
    CHECK(strcmp(s.user_id, user_id) == 0, "user_id \"%s\", expected \"%s\"", s.user_id, user_id);
    CHECK(strcmp(s.greeting, greeting) == 0, "greeting \"%s\", expected \"%s\"", s.greeting, greeting);
}

/* Both completions of a token that is no longer pending are refused. */
static void expect_refused(void *ctx, uint64_t token, const char *what) {
    int rc = hc_complete_profile(ctx, token, "late", "Late", 1);
    CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "completing %s (token %" PRIu64 ") with RET_OK returned %s", what, token,
          hc_status_name(rc));
    rc = hc_complete_error(ctx, token, "late");
    CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "completing %s (token %" PRIu64 ") with RET_ERR returned %s", what, token,
          hc_status_name(rc));
}

/* ------------------------------------------------ a held login, cancelled */

static void test_cancel_held(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    hc_reply r;
    uint64_t id = 0;

    CHECK_STATUS(login_c(ctx, "alice", &r, &id), HC_OK);
    CHECK(id >= 1, "call id %" PRIu64, id);
    hc_held_wait_calls(&h, 1);
    uint64_t token = hc_held_token_of(&h, "alice");
    pthread_t loop = h.threads[0];
    CHECK(hc_reply_count(&r) == 0, "a held login replied");

    CHECK_STATUS(demo_cancel_call(ctx, id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN);
    CHECK(pthread_equal(r.thread, loop), "the cancelled reply ran off the loop thread");
    hc_held_wait_cancels(&h, 1);
    CHECK(hc_held_cancel_count(&h, token) == 1, "the fetch's cancel notifier ran %d times",
          hc_held_cancel_count(&h, token));
    CHECK(pthread_equal(h.cancel_threads[0], loop), "the cancel notifier ran off the loop thread");

    /* The withdrawn request's token is gone, and so is the request. */
    expect_refused(ctx, token, "the withdrawn login's fetch");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    CHECK_CONTAINS(hc_last_error(), strlen(hc_last_error()), "unknown or has already replied");
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies to the withdrawn login", hc_reply_count(&r));
    CHECK(hc_held_cancels(&h) == 1, "%d cancellations", hc_held_cancels(&h));
    CHECK(hc_held_calls(&h) == 1, "%d host calls", hc_held_calls(&h));
    hc_reply_free(&r);

    /* The context goes on: the next login is answered normally. */
    uint64_t id2 = 0;
    CHECK_STATUS(login_c(ctx, "bob", &r, &id2), HC_OK);
    CHECK(id2 > id, "ids %" PRIu64 " then %" PRIu64, id, id2);
    hc_held_wait_calls(&h, 2);
    CHECK_STATUS(hc_complete_profile(ctx, hc_held_token_of(&h, "bob"), "bob", "Bob", 40), HC_OK);
    hc_reply_wait(&r);
    check_session(&r, "bob", "Hello, Bob");
    hc_reply_free(&r);

    /* login_many with three fetches held, one completed: withdrawn, the two
     * still pending are cancelled once each, the completed one not at all. */
    const char *const users[] = {"m1", "m2", "m3"};
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, users, 3);
    uint64_t id3 = 0;
    CHECK_STATUS(hc_call_cancellable(ctx, DEMO_METHOD_LOGIN_MANY, &e, &r, &id3), HC_OK);
    CHECK(id3 > id2, "ids %" PRIu64 " then %" PRIu64, id2, id3);
    hc_held_wait_calls(&h, 5);
    uint64_t t1 = hc_held_token_of(&h, "m1"), t2 = hc_held_token_of(&h, "m2"), t3 = hc_held_token_of(&h, "m3");
    CHECK_STATUS(hc_complete_profile(ctx, t1, "m1", "M1", 1), HC_OK);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 0, "login_many replied with two fetches held");
    CHECK_STATUS(demo_cancel_call(ctx, id3), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN_MANY);
    hc_held_wait_cancels(&h, 3);
    hc_barrier(ctx);
    CHECK(hc_held_cancel_count(&h, t1) == 0, "the completed fetch was cancelled");
    CHECK(hc_held_cancel_count(&h, t2) == 1 && hc_held_cancel_count(&h, t3) == 1,
          "the pending fetches were cancelled %d and %d times", hc_held_cancel_count(&h, t2),
          hc_held_cancel_count(&h, t3));
    CHECK(hc_held_cancels(&h) == 3, "%d cancellations", hc_held_cancels(&h));
    expect_refused(ctx, t1, "a completed fetch");
    expect_refused(ctx, t2, "a cancelled fetch");
    expect_refused(ctx, t3, "a cancelled fetch");
    CHECK_STATUS(demo_cancel_call(ctx, id3), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    hc_reply_free(&r);

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&h) == 3, "destroy cancelled %d more", hc_held_cancels(&h) - 3);
    hc_held_free(&h);
}

/* ---------------------------------------------- a cancel after the reply */

static void test_cancel_after_reply(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    hc_reply r;
    uint64_t id = 0;

    /* A login answered normally. */
    CHECK_STATUS(login_c(ctx, "carol", &r, &id), HC_OK);
    hc_held_wait_calls(&h, 1);
    uint64_t token = hc_held_token_of(&h, "carol");
    CHECK_STATUS(hc_complete_profile(ctx, token, "carol", "Carol", 33), HC_OK);
    hc_reply_wait(&r);
    check_session(&r, "carol", "Hello, Carol");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies after a late cancel", hc_reply_count(&r));
    CHECK(hc_held_cancels(&h) == 0, "a late cancel ran a cancel notifier");
    hc_reply_free(&r);

    /* A login that failed (the host said no). */
    CHECK_STATUS(login_c(ctx, "dave", &r, &id), HC_OK);
    hc_held_wait_calls(&h, 2);
    CHECK_STATUS(hc_complete_error(ctx, hc_held_token_of(&h, "dave"), "no such thing as dave"), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: no such thing as dave");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&r);

    /* add, which needs no host: replied before the cancel. */
    CHECK_STATUS(add_c(ctx, 2, 3, &r, &id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_reply_free(&r);

    /* A malformed request: RET_INVALID_ARG, then nothing to cancel. */
    hc_reply_init(&r);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_ADD, "\x81\x01", 2, hc_reply_cancellable_cb, &r, &id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_FAIL_HAS(&r, RET_INVALID_ARG, "bad request for 'add': ");
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    hc_reply_free(&r);

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&h);
}

/* --------------------------------------------------------- unknown ids */

static void test_unknown_ids(void) {
    hc_held ha, hb;
    void *a = held_context(&ha, NULL, 0);
    void *b = held_context(&hb, NULL, 0);
    hc_reply r, rb;
    uint64_t id = 0, idb = 0;

    CHECK_STATUS(demo_cancel_call(a, 0), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, 1), HC_ERR_UNKNOWN_TOKEN); /* not issued yet */
    CHECK_STATUS(demo_cancel_call(a, UINT64_MAX), HC_ERR_UNKNOWN_TOKEN);

    /* a: two adds, then a held login (id 3); b: one held login (id 1). */
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(add_c(a, i, i, &r, &id), HC_OK);
        hc_reply_wait(&r);
        CHECK_REPLY_OK(&r);
        hc_reply_free(&r);
    }
    CHECK_STATUS(login_c(a, "erin", &r, &id), HC_OK);
    CHECK(id == 3, "the third request of a context has id %" PRIu64 ", expected 3", id);
    CHECK_STATUS(login_c(b, "frank", &rb, &idb), HC_OK);
    CHECK(idb == 1, "the first request of a context has id %" PRIu64 ", expected 1", idb);
    hc_held_wait_calls(&ha, 1);
    hc_held_wait_calls(&hb, 1);

    /* Ids are per context: a's id means nothing to b, and the reverse is
     * another request (b has no id 3, a's id 1 has replied). */
    CHECK_STATUS(demo_cancel_call(b, id), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, idb), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, id + 1), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, id + 1000), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, UINT64_MAX), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(a, 0), HC_ERR_UNKNOWN_TOKEN);
    CHECK_STATUS(demo_cancel_call(NULL, id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_cancel_call((void *)(uintptr_t)0x5eed0, id), HC_ERR_INVALID_CONTEXT);
    hc_barrier(a);
    hc_barrier(b);
    CHECK(hc_reply_count(&r) == 0 && hc_reply_count(&rb) == 0, "refused cancels disturbed a request");
    CHECK(hc_held_cancels(&ha) == 0 && hc_held_cancels(&hb) == 0, "refused cancels cancelled a host call");

    /* Both requests still answer normally. */
    CHECK_STATUS(hc_complete_profile(a, hc_held_token_of(&ha, "erin"), "erin", "Erin", 2), HC_OK);
    CHECK_STATUS(hc_complete_profile(b, hc_held_token_of(&hb, "frank"), "frank", "Frank", 3), HC_OK);
    hc_reply_wait(&r);
    hc_reply_wait(&rb);
    check_session(&r, "erin", "Hello, Erin");
    check_session(&rb, "frank", "Hello, Frank");
    hc_reply_free(&r);
    hc_reply_free(&rb);

    CHECK_STATUS(demo_destroy(a), HC_OK);
    CHECK_STATUS(demo_destroy(b), HC_OK);
    hc_held_free(&ha);
    hc_held_free(&hb);
}

/* --------------------------------------------------------- after destroy */

static void test_after_destroy(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    hc_reply r;
    uint64_t id = 0;

    CHECK_STATUS(login_c(ctx, "gina", &r, &id), HC_OK);
    hc_held_wait_calls(&h, 1);
    uint64_t token = hc_held_token_of(&h, "gina");
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    /* destroy (off the loop thread) has answered and cancelled everything. */
    CHECK_REPLY_SHUTTING_DOWN(&r);
    CHECK(hc_held_cancel_count(&h, token) == 1, "destroy cancelled the fetch %d times", hc_held_cancel_count(&h, token));
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_cancel_call(ctx, 0), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_cancel_call(ctx, UINT64_MAX), HC_ERR_INVALID_CONTEXT);
    uint64_t id2 = 0xabcdef;
    int before = atomic_load(&hc_never_count);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_ADD, "\x82\x01\x02", 3, hc_never_cb, NULL, &id2),
                 HC_ERR_INVALID_CONTEXT);
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    CHECK(atomic_load(&hc_never_count) == before, "a refused call ran its callback");
    hc_reply_free(&r);
    hc_held_free(&h);
}

/* ---------------------------------------------------- refused arguments */

static void test_null_call_id(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "nobody");
    const char *req = (const char *)cbor_enc_data(&e);
    uint64_t id = 0;
    int before = atomic_load(&hc_never_count);

    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, req, e.len, hc_never_cb, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_CONTAINS(hc_last_error(), strlen(hc_last_error()), "call_id");
    CHECK_STATUS(demo_call_cancellable(NULL, DEMO_METHOD_LOGIN, req, e.len, hc_never_cb, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_call_cancellable(ctx, NULL, req, e.len, hc_never_cb, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, req, e.len, NULL, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, NULL, e.len, hc_never_cb, NULL, &id), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_call_cancellable(ctx, "logout", req, e.len, hc_never_cb, NULL, &id), HC_ERR_UNKNOWN_METHOD);
    CHECK_STATUS(demo_call_cancellable((void *)(uintptr_t)0x5eed0, DEMO_METHOD_LOGIN, req, e.len, hc_never_cb, NULL,
                                       &id),
                 HC_ERR_INVALID_CONTEXT);
    hc_barrier(ctx);
    CHECK(hc_held_calls(&h) == 0, "a refused login ran its handler");
    CHECK(atomic_load(&hc_never_count) == before, "a refused call ran its callback");

    /* None of the refusals took an id: the first accepted request is 1. */
    hc_reply r;
    CHECK_STATUS(add_c(ctx, 1, 1, &r, &id), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    hc_reply_free(&r);
    CHECK(id >= 1, "id %" PRIu64, id);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(atomic_load(&hc_never_count) == before, "a refused call ran its callback");
    hc_held_free(&h);
}

/* ------------------------------------------------- ids count up, unique */

#define ID_CALLS 120

static void test_ids_increase(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    static hc_reply replies[ID_CALLS];
    uint64_t ids[ID_CALLS];
    int accepted = 0;

    for (int i = 0; i < ID_CALLS; i++) {
        uint64_t id = 0;
        if (i % 7 == 3) {
            /* refusals and plain calls in between */
            CHECK_STATUS(demo_call_cancellable(ctx, "nope", NULL, 0, hc_never_cb, NULL, &id), HC_ERR_UNKNOWN_METHOD);
            hc_barrier(ctx);
        }
        if (i % 3 == 0) {
            char user[16];
            snprintf(user, sizeof user, "id%d", i);
            CHECK_STATUS(login_c(ctx, user, &replies[i], &id), HC_OK);
        } else {
            CHECK_STATUS(add_c(ctx, i, 1, &replies[i], &id), HC_OK);
        }
        ids[i] = id;
        CHECK(i > 0 || id == 1, "the first id of a fresh context is %" PRIu64, id);
        CHECK(i == 0 || id > ids[i - 1], "id %" PRIu64 " after %" PRIu64, id, ids[i - 1]);
        accepted++;
        /* withdraw every other login (held: none replies by itself) */
        if (i % 6 == 0) {
            CHECK_STATUS(demo_cancel_call(ctx, id), HC_OK);
        }
    }
    for (int i = 0; i < ID_CALLS; i++) {
        if (i % 3 == 0 && i % 6 != 0) {
            char user[16];
            snprintf(user, sizeof user, "id%d", i);
            /* wait for this login's fetch, then complete it */
            struct timespec deadline = hc_deadline(HC_WAIT_MS);
            uint64_t token = 0;
            bool found = false;
            hc_lock(&h.mu);
            while (!found) {
                for (int k = 0; k < h.calls && !found; k++) {
                    if (strcmp(h.args[k], user) == 0) {
                        token = h.tokens[k];
                        found = true;
                    }
                }
                if (!found && !hc_wait_until(&h.cv, &h.mu, &deadline)) {
                    break;
                }
            }
            hc_unlock(&h.mu);
            CHECK(found, "no fetch for %s", user);
            CHECK_STATUS(hc_complete_profile(ctx, token, user, "X", 1), HC_OK);
        }
    }
    for (int i = 0; i < ID_CALLS; i++) {
        hc_reply_wait(&replies[i]);
        if (i % 6 == 0) {
            CHECK_REPLY_CANCELLED(&replies[i], DEMO_METHOD_LOGIN);
        } else {
            CHECK_REPLY_OK(&replies[i]);
        }
        /* every id, cancelled or replied, is spent */
        CHECK_STATUS(demo_cancel_call(ctx, ids[i]), HC_ERR_UNKNOWN_TOKEN);
    }
    hc_barrier(ctx);
    for (int i = 0; i < ID_CALLS; i++) {
        CHECK(hc_reply_count(&replies[i]) == 1, "request %d: %d replies", i, hc_reply_count(&replies[i]));
        hc_reply_free(&replies[i]);
    }
    CHECK(accepted == ID_CALLS, "accepted %d", accepted);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&h);

    /* A new context counts from 1 again. */
    void *ctx2 = hc_new_context(NULL, 0);
    hc_reply r;
    uint64_t id = 0;
    CHECK_STATUS(add_c(ctx2, 1, 2, &r, &id), HC_OK);
    CHECK(id == 1, "the first id of a new context is %" PRIu64, id);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx2), HC_OK);
}

/* ---------------------------------------------- cancels from callbacks */

/* A reply collector that first cancels `target` (if nonzero) and its own
 * request, recording both statuses. */
typedef struct {
    void *ctx;
    uint64_t self_id;
    uint64_t target;
    int rc_target;
    int rc_self;
    hc_reply reply;
} cancelling_reply;

static void cancelling_reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    cancelling_reply *c = (cancelling_reply *)user_data;
    if (c->target != 0) {
        c->rc_target = demo_cancel_call(c->ctx, c->target);
    }
    c->rc_self = demo_cancel_call(c->ctx, c->self_id);
    hc_reply_cancellable_cb(ret, msg, len, &c->reply);
}


static void test_cancel_from_reply_cb(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    uint8_t buf[32];
    cbor_enc e;

    /* add's reply callback withdraws a held login, and tries its own id. */
    hc_reply victim;
    uint64_t vid = 0;
    CHECK_STATUS(login_c(ctx, "victim", &victim, &vid), HC_OK);
    hc_held_wait_calls(&h, 1);
    uint64_t tv = hc_held_token_of(&h, "victim");
    cancelling_reply c = {.ctx = ctx, .target = vid, .rc_target = 1, .rc_self = 1};
    hc_reply_init(&c.reply);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, 4, 5);
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_ADD, cbor_enc_data(&e), e.len, cancelling_reply_cb, &c,
                                       &c.self_id),
                 HC_OK);
    hc_reply_wait(&c.reply);
    CHECK_REPLY_OK(&c.reply);
    CHECK_STATUS(c.rc_target, HC_OK);
    CHECK_STATUS(c.rc_self, HC_ERR_UNKNOWN_TOKEN); /* its own reply is running: it has replied */
    hc_reply_wait(&victim);
    CHECK_REPLY_CANCELLED(&victim, DEMO_METHOD_LOGIN);
    hc_held_wait_cancels(&h, 1);
    CHECK(hc_held_cancel_count(&h, tv) == 1, "victim's fetch cancelled %d times", hc_held_cancel_count(&h, tv));
    expect_refused(ctx, tv, "the fetch of a login withdrawn from a reply callback");
    hc_reply_free(&c.reply);
    hc_reply_free(&victim);

    /* A RET_CANCELLED reply callback withdraws the next request (a chain). */
    hc_reply v3;
    uint64_t vid3 = 0;
    cancelling_reply c2 = {.ctx = ctx, .rc_target = 1, .rc_self = 1};
    hc_reply_init(&c2.reply);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "v2");
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, cancelling_reply_cb, &c2,
                                       &c2.self_id),
                 HC_OK);
    CHECK_STATUS(login_c(ctx, "v3", &v3, &vid3), HC_OK);
    c2.target = vid3; /* read by the reply callback, which runs after the cancel below */
    hc_held_wait_calls(&h, 3);
    uint64_t t2 = hc_held_token_of(&h, "v2"), t3 = hc_held_token_of(&h, "v3");
    CHECK_STATUS(demo_cancel_call(ctx, c2.self_id), HC_OK);
    hc_reply_wait(&c2.reply);
    CHECK_REPLY_CANCELLED(&c2.reply, DEMO_METHOD_LOGIN);
    CHECK_STATUS(c2.rc_target, HC_OK);
    CHECK_STATUS(c2.rc_self, HC_ERR_UNKNOWN_TOKEN);
    hc_reply_wait(&v3);
    CHECK_REPLY_CANCELLED(&v3, DEMO_METHOD_LOGIN);
    hc_held_wait_cancels(&h, 3);
    hc_barrier(ctx);
    CHECK(hc_held_cancel_count(&h, t2) == 1 && hc_held_cancel_count(&h, t3) == 1, "fetches cancelled %d and %d times",
          hc_held_cancel_count(&h, t2), hc_held_cancel_count(&h, t3));
    CHECK(hc_reply_count(&c2.reply) == 1 && hc_reply_count(&v3) == 1, "replies %d and %d",
          hc_reply_count(&c2.reply), hc_reply_count(&v3));
    hc_reply_free(&c2.reply);
    hc_reply_free(&v3);

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&h) == 3, "%d cancellations", hc_held_cancels(&h));
    hc_held_free(&h);
}

/* A host fn that withdraws the request it serves (or one queued behind it). */
enum { SELF_CANCEL, SELF_COMPLETE_THEN_CANCEL, SELF_CANCEL_QUEUED, SELF_MODES };

typedef struct {
    void *ctx;
    uint64_t id; /* the request it serves: written by call_cancellable before the request is queued */
    int mode;
    uint64_t token;
    int rc_cancel, rc_cancel2, rc_complete;
    uint64_t queued_id;
    int rc_queued_call, rc_queued_cancel;
    hc_reply queued_reply; /* initialised by the test before the call */
    hc_held held;
} self_cancel;

static void self_cancel_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    self_cancel *s = (self_cancel *)user_data;
    char user[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "request is not [text]");
    if (strcmp(user, "selfish") != 0) {
        hc_held_fn(token, req, len, &s->held); /* recorded, checked by the test */
        return;
    }
    s->token = token;
    if (s->mode == SELF_CANCEL_QUEUED) {
        /* Queued behind this callback, so withdrawn before it can run. */
        uint8_t buf[64];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_text_request(&e, "never-runs");
        s->rc_queued_call = demo_call_cancellable(s->ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len,
                                                  hc_reply_cancellable_cb, &s->queued_reply, &s->queued_id);
        s->rc_queued_cancel = demo_cancel_call(s->ctx, s->queued_id);
    } else {
        if (s->mode == SELF_COMPLETE_THEN_CANCEL) {
            s->rc_complete = hc_complete_profile(s->ctx, token, user, "Inline", 5);
        }
        s->rc_cancel = demo_cancel_call(s->ctx, s->id);
        s->rc_cancel2 = demo_cancel_call(s->ctx, s->id);
    }
    hc_held_fn(token, req, len, &s->held);
}

static void self_cancel_notifier(uint64_t token, void *user_data) {
    hc_held_cancel(token, &((self_cancel *)user_data)->held);
}

static void test_cancel_from_host_fn(void) {
    for (int mode = 0; mode < SELF_MODES; mode++) {
        void *ctx = hc_new_context(NULL, 0);
        self_cancel *s = calloc(1, sizeof *s);
        HC_REQUIRE(s != NULL, "calloc");
        s->ctx = ctx;
        s->mode = mode;
        s->rc_cancel = s->rc_cancel2 = s->rc_complete = s->rc_queued_call = s->rc_queued_cancel = 1;
        hc_held_init(&s->held);
        hc_reply_init(&s->queued_reply);
        CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, self_cancel_fn,
                                                       self_cancel_notifier, s),
                     HC_OK);
        hc_reply r;
        uint8_t buf[64];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_text_request(&e, "selfish");
        CHECK_STATUS(hc_call_cancellable(ctx, DEMO_METHOD_LOGIN, &e, &r, &s->id), HC_OK);
        hc_held_wait_calls(&s->held, 1);
        if (mode == SELF_CANCEL_QUEUED) {
            CHECK_STATUS(s->rc_queued_call, HC_OK);
            CHECK_STATUS(s->rc_queued_cancel, HC_OK);
            CHECK(s->queued_id > s->id, "queued id %" PRIu64 " after %" PRIu64, s->queued_id, s->id);
            hc_reply_wait(&s->queued_reply);
            CHECK_REPLY_CANCELLED(&s->queued_reply, DEMO_METHOD_LOGIN);
            hc_barrier(ctx);
            CHECK(hc_held_calls(&s->held) == 1, "a login withdrawn while queued ran (%d host calls)",
                  hc_held_calls(&s->held));
            CHECK(hc_held_cancels(&s->held) == 0, "%d cancellations", hc_held_cancels(&s->held));
            CHECK(hc_reply_count(&r) == 0, "the held login replied");
            CHECK_STATUS(demo_cancel_call(ctx, s->queued_id), HC_ERR_UNKNOWN_TOKEN);
            /* Now withdraw the held one from here. */
            CHECK_STATUS(demo_cancel_call(ctx, s->id), HC_OK);
            hc_reply_wait(&r);
            CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN);
            hc_held_wait_cancels(&s->held, 1);
            CHECK(hc_held_cancel_count(&s->held, s->token) == 1, "cancelled %d times",
                  hc_held_cancel_count(&s->held, s->token));
        } else {
            hc_reply_wait(&r);
            CHECK_STATUS(s->rc_cancel, HC_OK);
            CHECK_STATUS(s->rc_cancel2, HC_ERR_UNKNOWN_TOKEN);
            CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN);
            if (mode == SELF_COMPLETE_THEN_CANCEL) {
                /* Completed inline, then withdrawn before the handler saw
                 * it: nothing is pending, so no cancel notice. */
                CHECK_STATUS(s->rc_complete, HC_OK);
                hc_barrier(ctx);
                CHECK(hc_held_cancels(&s->held) == 0, "a completed fetch got %d cancel notices",
                      hc_held_cancels(&s->held));
            } else {
                hc_held_wait_cancels(&s->held, 1);
                CHECK(hc_held_cancel_count(&s->held, s->token) == 1, "cancelled %d times",
                      hc_held_cancel_count(&s->held, s->token));
            }
            expect_refused(ctx, s->token, "the fetch of a request withdrawn by its host fn");
        }
        CHECK_STATUS(demo_cancel_call(ctx, s->id), HC_ERR_UNKNOWN_TOKEN);
        hc_barrier(ctx);
        CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
        int cancels = hc_held_cancels(&s->held);
        CHECK_STATUS(demo_destroy(ctx), HC_OK);
        CHECK(hc_held_cancels(&s->held) == cancels, "destroy cancelled a fetch of a withdrawn request");
        hc_reply_free(&r);
        hc_reply_free(&s->queued_reply);
        hc_held_free(&s->held);
        free(s);
    }
}

/* The cancel notifier of notifier_ctx: records, and when `notifier_trigger`
 * is cancelled withdraws request `notifier_target`. */
static void *notifier_ctx;
static uint64_t notifier_trigger, notifier_target;
static int notifier_rc = 1;

static void cancelling_notifier(uint64_t token, void *user_data) {
    hc_held_cancel(token, user_data);
    if (token == notifier_trigger) {
        notifier_rc = demo_cancel_call(notifier_ctx, notifier_target);
    }
}

/* A progress listener that withdraws the login_many it reports on (the
 * first event only). */
static void *listener_ctx;
static _Atomic uint64_t listener_target;
static int listener_rc = 1;
static atomic_int listener_events;

static void cancelling_listener(int ret, const char *msg, size_t len, void *user_data) {
    (void)msg, (void)len, (void)user_data;
    CHECK(ret == RET_OK, "progress event with ret %d", ret);
    if (atomic_fetch_add(&listener_events, 1) == 0) {
        listener_rc = demo_cancel_call(listener_ctx, atomic_load(&listener_target));
    }
}

static void test_cancel_from_notifier_and_listener(void) {
    hc_held h;
    hc_held_init(&h);
    void *ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, cancelling_notifier, &h),
                 HC_OK);

    /* n1's cancel notifier withdraws n2. */
    hc_reply r1, r2;
    uint64_t id1 = 0, id2 = 0;
    CHECK_STATUS(login_c(ctx, "n1", &r1, &id1), HC_OK);
    CHECK_STATUS(login_c(ctx, "n2", &r2, &id2), HC_OK);
    hc_held_wait_calls(&h, 2);
    notifier_ctx = ctx;
    notifier_trigger = hc_held_token_of(&h, "n1");
    notifier_target = id2;
    uint64_t tok2 = hc_held_token_of(&h, "n2");
    CHECK_STATUS(demo_cancel_call(ctx, id1), HC_OK);
    hc_reply_wait(&r1);
    hc_reply_wait(&r2);
    CHECK_REPLY_CANCELLED(&r1, DEMO_METHOD_LOGIN);
    CHECK_REPLY_CANCELLED(&r2, DEMO_METHOD_LOGIN);
    hc_held_wait_cancels(&h, 2);
    hc_barrier(ctx);
    CHECK_STATUS(notifier_rc, HC_OK);
    CHECK(hc_held_cancel_count(&h, notifier_trigger) == 1 && hc_held_cancel_count(&h, tok2) == 1,
          "cancel notices %d and %d", hc_held_cancel_count(&h, notifier_trigger), hc_held_cancel_count(&h, tok2));
    expect_refused(ctx, tok2, "the fetch of a login withdrawn from a cancel notifier");
    hc_reply_free(&r1);
    hc_reply_free(&r2);

    /* A progress listener withdraws the login_many it reports on. */
    listener_ctx = ctx;
    uint64_t lid = demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, cancelling_listener, NULL);
    CHECK(lid != 0, "add_event_listener: %s", hc_last_error());
    const char *const users[] = {"l1", "l2"};
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, users, 2);
    hc_reply r;
    uint64_t mid = 0;
    CHECK_STATUS(hc_call_cancellable(ctx, DEMO_METHOD_LOGIN_MANY, &e, &r, &mid), HC_OK);
    atomic_store(&listener_target, mid);
    hc_held_wait_calls(&h, 4);
    uint64_t l1 = hc_held_token_of(&h, "l1"), l2 = hc_held_token_of(&h, "l2");
    CHECK_STATUS(hc_complete_profile(ctx, l1, "l1", "L1", 1), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN_MANY);
    hc_held_wait_cancels(&h, 3);
    hc_barrier(ctx);
    CHECK_STATUS(listener_rc, HC_OK);
    CHECK(atomic_load(&listener_events) == 1, "%d progress events", atomic_load(&listener_events));
    CHECK(hc_held_cancel_count(&h, l1) == 0 && hc_held_cancel_count(&h, l2) == 1, "cancel notices %d and %d",
          hc_held_cancel_count(&h, l1), hc_held_cancel_count(&h, l2));
    CHECK_STATUS(demo_remove_event_listener(ctx, lid), HC_OK);
    hc_reply_free(&r);

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&h) == 3, "%d cancellations", hc_held_cancels(&h));
    hc_held_free(&h);
}

/* --------------------- a completion between cancel_call and the drop */

/* The loop thread is held inside notify's host fn (ping_host), so the
 * cancel's drop of a held login cannot have run yet when the test completes
 * that login's fetch. docs/abi.md says of HC_OK that the handler's pending
 * host calls are cancelled (their notifiers run once, completing such a
 * token returns HC_ERR_UNKNOWN_TOKEN); the drop happens on the loop thread,
 * so a completion in that window is accepted instead and the notifier never
 * runs. What must hold either way: the token ends exactly once, and the
 * reply is RET_CANCELLED. The window's outcome is printed. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool blocked, released;
    void *ctx;
} gate;

static void gate_notify(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req, (void)len, (void)user_data;
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&gate.mu);
    gate.blocked = true;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.released && hc_wait_until(&gate.cv, &gate.mu, &deadline)) {
    }
    bool released = gate.released;
    hc_unlock(&gate.mu);
    CHECK(released, "the gate was not released within %d ms", HC_WAIT_MS);
    CHECK_STATUS(demo_host_complete(gate.ctx, token, RET_OK, "\xf6", 1), HC_OK);
}

static void test_complete_in_cancel_window(void) {
    hc_held h;
    void *ctx = held_context(&h, NULL, 0);
    memset(&gate, 0, sizeof gate);
    hc_mutex_init(&gate.mu);
    hc_cond_init(&gate.cv);
    gate.ctx = ctx;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_NOTIFY, gate_notify, NULL), HC_OK);

    hc_reply r, ping;
    uint64_t id = 0;
    CHECK_STATUS(login_c(ctx, "window", &r, &id), HC_OK);
    hc_held_wait_calls(&h, 1);
    uint64_t token = hc_held_token_of(&h, "window");
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "hold the loop");
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_PING_HOST, &e, &ping), HC_OK);
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&gate.mu);
    while (!gate.blocked && hc_wait_until(&gate.cv, &gate.mu, &deadline)) {
    }
    bool blocked = gate.blocked;
    hc_unlock(&gate.mu);
    CHECK(blocked, "notify was not called within %d ms", HC_WAIT_MS);

    CHECK_STATUS(demo_cancel_call(ctx, id), HC_OK);
    int rc = hc_complete_profile(ctx, token, "window", "Window", 1);
    CHECK(rc == HC_OK || rc == HC_ERR_UNKNOWN_TOKEN, "completion after the cancel returned %s", hc_status_name(rc));
    CHECK_STATUS(demo_cancel_call(ctx, id), HC_ERR_UNKNOWN_TOKEN);

    hc_lock(&gate.mu);
    gate.released = true;
    pthread_cond_broadcast(&gate.cv);
    hc_unlock(&gate.mu);
    hc_reply_wait(&ping);
    CHECK_REPLY_OK(&ping);
    hc_reply_wait(&r);
    CHECK_REPLY_CANCELLED(&r, DEMO_METHOD_LOGIN);
    hc_barrier(ctx);
    int notices = hc_held_cancel_count(&h, token);
    CHECK((rc == HC_OK) == (notices == 0) && notices <= 1,
          "the fetch was completed (%s) and cancelled %d times", hc_status_name(rc), notices);
    expect_refused(ctx, token, "the fetch of a withdrawn login");
    printf("completion between cancel_call's HC_OK and the drop: %s, cancel notices %d%s\n", hc_status_name(rc),
           notices,
           rc == HC_OK ? " (docs/abi.md: completing a withdrawn request's pending token returns HC_ERR_UNKNOWN_TOKEN "
                         "and its notifier runs; here the completion was accepted and no notice came)"
                       : "");
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_reply_free(&r);
    hc_reply_free(&ping);
    pthread_cond_destroy(&gate.cv);
    pthread_mutex_destroy(&gate.mu);
    hc_held_free(&h);
}

/* ------------------------------------------------- max_pending_requests */

#define MAX_PENDING 4

/* A reply callback that starts a login as its reply runs. */
typedef struct {
    void *ctx;
    int rc;
    uint64_t id;
    hc_reply inner; /* the inner login's reply */
    hc_reply reply;
} admitting_reply;

static void admitting_reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    admitting_reply *a = (admitting_reply *)user_data;
    a->rc = login_c(a->ctx, "inside", &a->inner, &a->id);
    hc_reply_cancellable_cb(ret, msg, len, &a->reply);
}

static void test_max_pending(void) {
    hc_held h;
    void *ctx = held_context(&h, "max_pending_requests", MAX_PENDING);
    hc_reply r[MAX_PENDING];
    uint64_t ids[MAX_PENDING];
    uint8_t buf[64];
    cbor_enc e;
    int before = atomic_load(&hc_never_count);

    /* p0 replies through admitting_reply; p1..p3 plainly. */
    admitting_reply a = {.ctx = ctx, .rc = 1};
    hc_reply_init(&a.reply);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "p0");
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, admitting_reply_cb, &a, &ids[0]),
                 HC_OK);
    for (int i = 1; i < MAX_PENDING; i++) {
        char user[8];
        snprintf(user, sizeof user, "p%d", i);
        CHECK_STATUS(login_c(ctx, user, &r[i], &ids[i]), HC_OK);
    }
    hc_held_wait_calls(&h, MAX_PENDING);
    uint64_t extra = 0;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "p-extra");
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, hc_never_cb, NULL, &extra),
                 HC_ERR_OVERLOADED);

    /* p0 withdrawn: its slot is free before its reply runs, so the login
     * its reply callback starts is admitted. */
    CHECK_STATUS(demo_cancel_call(ctx, ids[0]), HC_OK);
    hc_reply_wait(&a.reply);
    CHECK_REPLY_CANCELLED(&a.reply, DEMO_METHOD_LOGIN);
    CHECK(a.rc == HC_OK, "a login started from a withdrawn request's reply returned %s (%d): the slot was not "
                         "released before the reply ran",
          hc_status_name(a.rc), a.rc);
    if (a.rc == HC_OK) {
        hc_held_wait_calls(&h, MAX_PENDING + 1);
        /* The slot is taken again. */
        CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, hc_never_cb, NULL, &extra),
                     HC_ERR_OVERLOADED);
        CHECK_STATUS(demo_cancel_call(ctx, a.id), HC_OK);
        hc_reply_wait(&a.inner);
        CHECK_REPLY_CANCELLED(&a.inner, DEMO_METHOD_LOGIN);
        hc_reply_free(&a.inner);
    }
    hc_reply_free(&a.reply);
    for (int i = 1; i < MAX_PENDING; i++) {
        CHECK_STATUS(demo_cancel_call(ctx, ids[i]), HC_OK);
    }
    for (int i = 1; i < MAX_PENDING; i++) {
        hc_reply_wait(&r[i]);
        CHECK_REPLY_CANCELLED(&r[i], DEMO_METHOD_LOGIN);
        hc_reply_free(&r[i]);
    }

    /* Every slot is free: N more are admitted, and the next is refused. */
    int calls = hc_held_calls(&h);
    for (int i = 0; i < MAX_PENDING; i++) {
        char user[8];
        snprintf(user, sizeof user, "q%d", i);
        CHECK_STATUS(login_c(ctx, user, &r[i], &ids[i]), HC_OK);
    }
    CHECK_STATUS(demo_call_cancellable(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, hc_never_cb, NULL, &extra),
                 HC_ERR_OVERLOADED);
    hc_held_wait_calls(&h, calls + MAX_PENDING);
    /* Half answered, half withdrawn: all slots free again. */
    for (int i = 0; i < MAX_PENDING; i++) {
        char user[8];
        snprintf(user, sizeof user, "q%d", i);
        if (i % 2 == 0) {
            CHECK_STATUS(hc_complete_profile(ctx, hc_held_token_of(&h, user), user, "Q", 1), HC_OK);
        } else {
            CHECK_STATUS(demo_cancel_call(ctx, ids[i]), HC_OK);
        }
    }
    for (int i = 0; i < MAX_PENDING; i++) {
        hc_reply_wait(&r[i]);
        if (i % 2 == 0) {
            char user[8];
            snprintf(user, sizeof user, "q%d", i);
            check_session(&r[i], user, "Hello, Q");
        } else {
            CHECK_REPLY_CANCELLED(&r[i], DEMO_METHOD_LOGIN);
        }
        hc_reply_free(&r[i]);
    }
    for (int i = 0; i < MAX_PENDING; i++) {
        CHECK_STATUS(add_c(ctx, i, i, &r[i], &ids[i]), HC_OK);
    }
    for (int i = 0; i < MAX_PENDING; i++) {
        hc_reply_wait(&r[i]);
        CHECK_REPLY_OK(&r[i]);
        hc_reply_free(&r[i]);
    }
    CHECK(hc_held_cancels(&h) == MAX_PENDING + 1 + MAX_PENDING / 2, "%d cancellations", hc_held_cancels(&h));
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(atomic_load(&hc_never_count) == before, "a refused call ran its callback");
    hc_held_free(&h);
}

/* ------------------------------------------ shared: token map, token bag */

/* token -> request index, for cancel notifiers (which get only the token). */
typedef struct {
    pthread_mutex_t mu;
    size_t cap; /* a power of two */
    uint64_t *keys;
    int *vals;
    bool *used;
} tokmap;

static void tokmap_init(tokmap *m, size_t n) {
    hc_mutex_init(&m->mu);
    m->cap = 64;
    while (m->cap < 2 * n) {
        m->cap *= 2;
    }
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    m->used = calloc(m->cap, sizeof *m->used);
    HC_REQUIRE(m->keys && m->vals && m->used, "calloc");
}

static void tokmap_free(tokmap *m) {
    free(m->keys);
    free(m->vals);
    free(m->used);
    pthread_mutex_destroy(&m->mu);
}

static size_t tokmap_slot(const tokmap *m, uint64_t token) {
    return (size_t)((token * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
}

static void tokmap_put(tokmap *m, uint64_t token, int val) {
    hc_lock(&m->mu);
    size_t i = tokmap_slot(m, token);
    while (m->used[i]) {
        CHECK(m->keys[i] != token, "token %" PRIu64 " handed to two host calls", token);
        i = (i + 1) & (m->cap - 1);
    }
    m->used[i] = true;
    m->keys[i] = token;
    m->vals[i] = val;
    hc_unlock(&m->mu);
}

static int tokmap_get(tokmap *m, uint64_t token) {
    int val = -1;
    hc_lock(&m->mu);
    for (size_t i = tokmap_slot(m, token); m->used[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == token) {
            val = m->vals[i];
            break;
        }
    }
    hc_unlock(&m->mu);
    return val;
}

/* Request indexes whose host call awaits completion; taken in random order. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int *items;
    int n, cap;
    int min;       /* takers wait for this many items ... */
    bool draining; /* ... until this is set */
    bool closed;
} bag;

static void bag_init(bag *b, int cap) {
    hc_mutex_init(&b->mu);
    hc_cond_init(&b->cv);
    b->items = calloc((size_t)cap, sizeof *b->items);
    HC_REQUIRE(b->items != NULL, "calloc");
    b->n = 0;
    b->cap = cap;
    b->min = 1;
    b->draining = false;
    b->closed = false;
}

static void bag_free(bag *b) {
    free(b->items);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

static void bag_put(bag *b, int item) {
    hc_lock(&b->mu);
    HC_REQUIRE(b->n < b->cap, "bag full");
    b->items[b->n++] = item;
    pthread_cond_broadcast(&b->cv);
    hc_unlock(&b->mu);
}

/* A random item; blocks while empty and open (wait = true); -1 once empty
 * and closed (or empty, without wait). */
static int bag_take(bag *b, hc_rng *rng, bool wait) {
    hc_lock(&b->mu);
    while (wait && (b->n == 0 || (b->n < b->min && !b->draining)) && !b->closed) {
        HC_REQUIRE(pthread_cond_wait(&b->cv, &b->mu) == 0, "cond wait");
    }
    int item = -1;
    if (b->n > 0) {
        int k = (int)hc_rng_below(rng, (uint64_t)b->n);
        item = b->items[k];
        b->items[k] = b->items[--b->n];
    }
    hc_unlock(&b->mu);
    return item;
}

/* A random item left in place; -1 if empty. */
static int bag_peek(bag *b, hc_rng *rng) {
    hc_lock(&b->mu);
    int item = b->n > 0 ? b->items[hc_rng_below(rng, (uint64_t)b->n)] : -1;
    hc_unlock(&b->mu);
    return item;
}

/* Takers no longer wait for `min` items. */
static void bag_drain(bag *b) {
    hc_lock(&b->mu);
    b->draining = true;
    pthread_cond_broadcast(&b->cv);
    hc_unlock(&b->mu);
}

static void bag_close(bag *b) {
    hc_lock(&b->mu);
    b->closed = true;
    pthread_cond_broadcast(&b->cv);
    hc_unlock(&b->mu);
}

/* One request of the concurrent tests and everything that happened to it. */
typedef struct {
    char user[16];
    bool is_add;
    uint64_t id;
    atomic_int published; /* id is valid */
    atomic_int cancel_ok, cancel_refused, cancel_dead;
    atomic_int replies;
    atomic_int ret;
    atomic_bool late; /* a callback ran after destroy had returned */
    uint64_t token;
    atomic_int tok_started, tok_ok, tok_refused, tok_cancels, tok_err;
} req_rec;

/* ---------------------------------------- many threads, random cancels */

#define ST_THREADS 8
#define ST_HELPERS 3

static struct {
    void *ctx;
    req_rec *reqs;
    int per_thread, total;
    uint64_t seed;
    hc_counter replies;
    tokmap map;
    bag bag;
    atomic_long double_refused, late_refused, helper_cancels;
} st;

static void st_fetch(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)user_data;
    char user[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch request is not [text]");
    int idx = atoi(user + 1);
    CHECK(user[0] == 's' && idx >= 0 && idx < st.total, "fetch of \"%s\"", user);
    req_rec *r = &st.reqs[idx];
    CHECK(atomic_fetch_add(&r->tok_started, 1) == 0, "login %s fetched twice", user);
    r->token = token;
    tokmap_put(&st.map, token, idx);
    bag_put(&st.bag, idx);
}

static void st_cancelled(uint64_t token, void *user_data) {
    (void)user_data;
    int idx = tokmap_get(&st.map, token);
    CHECK(idx >= 0, "cancel notice for token %" PRIu64 ", never handed out", token);
    CHECK(atomic_fetch_add(&st.reqs[idx].tok_cancels, 1) == 0, "token %" PRIu64 " cancelled twice", token);
}

static void st_reply(int ret, const char *msg, size_t len, void *user_data) {
    req_rec *r = (req_rec *)user_data;
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "duplicate reply to login %s", r->user);
    atomic_store(&r->ret, ret);
    if (ret == RET_OK) {
        demo_session s;
        char greeting[64];
        snprintf(greeting, sizeof greeting, "Hello, N%s", r->user);
        CHECK(demo_decode_session(msg, len, &s), "login %s: reply is not a Session", r->user);
        CHECK(strcmp(s.user_id, r->user) == 0 && strcmp(s.greeting, greeting) == 0,
              "login %s: session of \"%s\" greeting \"%s\"", r->user, s.user_id, s.greeting);
    } else if (ret == RET_ERR) {
        char want[64];
        snprintf(want, sizeof want, "host fetch failed: no such thing as %s", r->user);
        CHECK(len == strlen(want) && memcmp(msg, want, len) == 0, "login %s: error \"%.*s\"", r->user, (int)len, msg);
    } else {
        const char *want = hc_cancelled_text(DEMO_METHOD_LOGIN);
        CHECK(ret == RET_CANCELLED, "login %s: ret %d %s \"%.*s\"", r->user, ret, hc_ret_name(ret), (int)len, msg);
        CHECK(len == strlen(want) && memcmp(msg, want, len) == 0, "login %s: cancelled with \"%.*s\"", r->user,
              (int)len, msg);
    }
    hc_counter_add(&st.replies, 1);
}

static void st_cancel(int idx) {
    req_rec *r = &st.reqs[idx];
    if (!atomic_load(&r->published)) {
        return;
    }
    int rc = demo_cancel_call(st.ctx, r->id);
    if (rc == HC_OK) {
        atomic_fetch_add(&r->cancel_ok, 1);
    } else {
        CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "cancel of login %s returned %s", r->user, hc_status_name(rc));
        atomic_fetch_add(&r->cancel_refused, 1);
    }
}

static void *st_issuer(void *arg) {
    int t = (int)(intptr_t)arg;
    hc_rng rng;
    hc_rng_seed(&rng, st.seed * 131 + (uint64_t)t);
    int first = t * st.per_thread;
    for (int i = 0; i < st.per_thread; i++) {
        int idx = first + i;
        req_rec *r = &st.reqs[idx];
        uint8_t buf[64];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_text_request(&e, r->user);
        CHECK_STATUS(demo_call_cancellable(st.ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, st_reply, r, &r->id),
                     HC_OK);
        atomic_store(&r->published, 1);
        uint64_t x = hc_rng_below(&rng, 100);
        if (x < 15) {
            st_cancel(idx); /* at once: queued, running or held */
            if (x < 3) {
                st_cancel(idx); /* and again */
            }
        } else if (x < 45) {
            /* one of its last few: most are held by now, some answered */
            int back = (int)hc_rng_below(&rng, (uint64_t)(i < 24 ? i + 1 : 24));
            st_cancel(idx - back);
        } else if (x < 55) {
            st_cancel((int)hc_rng_below(&rng, (uint64_t)st.total)); /* anyone's, if issued yet */
        } else if (x < 70) {
            int held = bag_peek(&st.bag, &rng); /* one whose fetch awaits a helper */
            if (held >= 0) {
                st_cancel(held);
            }
        }
    }
    /* Later: some of its own again, most of them answered by now. */
    for (int i = 0; i < st.per_thread / 4; i++) {
        st_cancel(first + (int)hc_rng_below(&rng, (uint64_t)st.per_thread));
    }
    return NULL;
}

static void *st_helper(void *arg) {
    int t = (int)(intptr_t)arg;
    hc_rng rng;
    hc_rng_seed(&rng, st.seed * 977 + (uint64_t)t);
    uint64_t done[32];
    int n_done = 0;
    for (;;) {
        int idx = bag_take(&st.bag, &rng, true);
        if (idx < 0) {
            return NULL;
        }
        req_rec *r = &st.reqs[idx];
        bool err = hc_rng_below(&rng, 10) == 0;
        int rc;
        if (err) {
            char text[64];
            snprintf(text, sizeof text, "no such thing as %s", r->user);
            rc = hc_complete_error(st.ctx, r->token, text);
        } else {
            char name[32];
            snprintf(name, sizeof name, "N%s", r->user);
            rc = hc_complete_profile(st.ctx, r->token, r->user, name, 7);
        }
        if (rc == HC_OK) {
            CHECK(atomic_fetch_add(&r->tok_ok, 1) == 0, "token of %s completed twice", r->user);
            atomic_store(&r->tok_err, err);
            done[n_done++ % 32] = r->token;
        } else {
            CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "completing %s's fetch returned %s", r->user, hc_status_name(rc));
            atomic_fetch_add(&r->tok_refused, 1);
        }
        if (hc_rng_below(&rng, 5) == 0) {
            /* a double completion */
            rc = hc_complete_profile(st.ctx, r->token, r->user, "Twice", 8);
            CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "a second completion of %s's fetch returned %s", r->user,
                  hc_status_name(rc));
            atomic_fetch_add(&st.double_refused, 1);
        }
        if (n_done > 0 && hc_rng_below(&rng, 8) == 0) {
            /* a late completion of a token this helper completed before */
            uint64_t old = done[hc_rng_below(&rng, (uint64_t)(n_done < 32 ? n_done : 32))];
            rc = hc_complete_error(st.ctx, old, "late");
            CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "a late completion of token %" PRIu64 " returned %s", old,
                  hc_status_name(rc));
            atomic_fetch_add(&st.late_refused, 1);
        }
        if (hc_rng_below(&rng, 10) == 0) {
            st_cancel((int)hc_rng_below(&rng, (uint64_t)st.total));
            atomic_fetch_add(&st.helper_cancels, 1);
        }
    }
}

static void test_many_threads(int per_thread, uint64_t seed) {
    memset(&st, 0, sizeof st);
    st.per_thread = per_thread;
    st.total = per_thread * ST_THREADS;
    st.seed = seed;
    st.reqs = calloc((size_t)st.total, sizeof *st.reqs);
    HC_REQUIRE(st.reqs != NULL, "calloc");
    for (int i = 0; i < st.total; i++) {
        snprintf(st.reqs[i].user, sizeof st.reqs[i].user, "s%d", i);
        atomic_store(&st.reqs[i].ret, -1);
    }
    hc_counter_init(&st.replies);
    tokmap_init(&st.map, (size_t)st.total);
    bag_init(&st.bag, st.total);
    st.bag.min = 48; /* helpers complete in random order among at least 48 held calls */
    st.ctx = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn_cancellable(st.ctx, DEMO_HOST_FN_FETCH_PROFILE, st_fetch, st_cancelled, NULL),
                 HC_OK);

    pthread_t helpers[ST_HELPERS], issuers[ST_THREADS];
    for (int i = 0; i < ST_HELPERS; i++) {
        hc_spawn(&helpers[i], st_helper, (void *)(intptr_t)i);
    }
    for (int i = 0; i < ST_THREADS; i++) {
        hc_spawn(&issuers[i], st_issuer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < ST_THREADS; i++) {
        hc_join(issuers[i]);
    }
    bag_drain(&st.bag);
    hc_counter_wait(&st.replies, st.total);
    bag_close(&st.bag);
    for (int i = 0; i < ST_HELPERS; i++) {
        hc_join(helpers[i]);
    }
    hc_barrier(st.ctx);

    long cancelled = 0, ok = 0, err = 0, notices = 0, refused_completions = 0, never_ran = 0;
    for (int i = 0; i < st.total; i++) {
        req_rec *r = &st.reqs[i];
        int ret = atomic_load(&r->ret), cancel_ok = atomic_load(&r->cancel_ok);
        int started = atomic_load(&r->tok_started), tok_ok = atomic_load(&r->tok_ok);
        int tok_cancels = atomic_load(&r->tok_cancels);
        CHECK(atomic_load(&r->replies) == 1, "login %s: %d replies", r->user, atomic_load(&r->replies));
        CHECK(cancel_ok <= 1, "login %s: %d cancels returned HC_OK", r->user, cancel_ok);
        CHECK((ret == RET_CANCELLED) == (cancel_ok == 1), "login %s: reply %s, and %d cancels returned HC_OK", r->user,
              hc_ret_name(ret), cancel_ok);
        if (started) {
            CHECK(tok_ok + tok_cancels == 1, "login %s: its fetch was completed %d times and cancelled %d times",
                  r->user, tok_ok, tok_cancels);
        } else {
            CHECK(cancel_ok == 1, "login %s never fetched, and was not withdrawn", r->user);
            never_ran++;
        }
        CHECK(tok_cancels == 0 || cancel_ok == 1, "login %s: fetch cancelled, request not withdrawn", r->user);
        CHECK(atomic_load(&r->tok_refused) == 0 || cancel_ok == 1, "login %s: completion refused, not withdrawn",
              r->user);
        if (ret == RET_OK || ret == RET_ERR) {
            CHECK(tok_ok == 1 && atomic_load(&r->tok_err) == (ret == RET_ERR), "login %s: reply %s for a %s completion",
                  r->user, hc_ret_name(ret), atomic_load(&r->tok_err) ? "RET_ERR" : "RET_OK");
        }
        cancelled += ret == RET_CANCELLED;
        ok += ret == RET_OK;
        err += ret == RET_ERR;
        notices += tok_cancels;
        refused_completions += atomic_load(&r->tok_refused);
    }
    printf("many threads: %d logins: %ld ok, %ld host errors, %ld withdrawn (%ld before they ran, %ld fetches "
           "cancelled, %ld completions refused); %ld double and %ld late completions refused\n",
           st.total, ok, err, cancelled, never_ran, notices, refused_completions, atomic_load(&st.double_refused),
           atomic_load(&st.late_refused));
    CHECK(cancelled > 0 && ok > 0, "no mix: %ld withdrawn, %ld ok", cancelled, ok);

    CHECK_STATUS(demo_destroy(st.ctx), HC_OK);
    for (int i = 0; i < st.total; i++) {
        CHECK(atomic_load(&st.reqs[i].replies) == 1, "destroy replied again to %s", st.reqs[i].user);
    }
    bag_free(&st.bag);
    tokmap_free(&st.map);
    hc_counter_free(&st.replies);
    free(st.reqs);
}

/* ------------------------------------------------ cancels racing destroy */

#define DR_REQS 32
#define DR_CANCELLERS 3

static struct {
    void *ctx;
    req_rec reqs[DR_REQS];
    uint64_t seed;
    int round;
    atomic_bool destroy_returned;
    hc_counter replies, fetches;
    tokmap map;
    bag bag;
    pthread_barrier_t go;
    atomic_long cancel_dead, complete_dead;
} dr;

static void dr_fetch(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)user_data;
    char user[HC_ARG_MAX];
    CHECK(!atomic_load(&dr.destroy_returned), "host fn ran after destroy returned");
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch request is not [text]");
    int idx = atoi(user + 1);
    CHECK(user[0] == 'd' && idx >= 0 && idx < DR_REQS, "fetch of \"%s\"", user);
    req_rec *r = &dr.reqs[idx];
    CHECK(atomic_fetch_add(&r->tok_started, 1) == 0, "login %s fetched twice", user);
    r->token = token;
    tokmap_put(&dr.map, token, idx);
    bag_put(&dr.bag, idx);
    hc_counter_add(&dr.fetches, 1);
}

static void dr_cancelled(uint64_t token, void *user_data) {
    (void)user_data;
    int idx = tokmap_get(&dr.map, token);
    CHECK(idx >= 0, "cancel notice for token %" PRIu64 ", never handed out", token);
    if (atomic_load(&dr.destroy_returned)) {
        atomic_store(&dr.reqs[idx].late, true);
    }
    CHECK(atomic_fetch_add(&dr.reqs[idx].tok_cancels, 1) == 0, "token %" PRIu64 " cancelled twice", token);
}

static void dr_reply(int ret, const char *msg, size_t len, void *user_data) {
    req_rec *r = (req_rec *)user_data;
    if (atomic_load(&dr.destroy_returned)) {
        atomic_store(&r->late, true);
    }
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "round %d: duplicate reply to %s (ret %s)", dr.round, r->user,
          hc_ret_name(ret));
    atomic_store(&r->ret, ret);
    if (ret == RET_CANCELLED) {
        const char *want = hc_cancelled_text(r->is_add ? DEMO_METHOD_ADD : DEMO_METHOD_LOGIN);
        CHECK(len == strlen(want) && memcmp(msg, want, len) == 0, "%s: cancelled with \"%.*s\"", r->user, (int)len,
              msg);
    } else if (ret == RET_SHUTTING_DOWN) {
        CHECK_SHUTTING_DOWN(ret, msg, len, r->user);
    } else {
        CHECK(ret == RET_OK, "round %d: %s: ret %d %s \"%.*s\"", dr.round, r->user, ret, hc_ret_name(ret), (int)len,
              msg);
    }
    hc_counter_add(&dr.replies, 1);
}

static void dr_jitter(hc_rng *rng) {
    volatile unsigned spin = 0;
    for (uint64_t n = hc_rng_below(rng, 20000); n > 0; n--) {
        spin++;
    }
}

static void *dr_canceller(void *arg) {
    int t = (int)(intptr_t)arg;
    hc_rng rng;
    hc_rng_seed(&rng, dr.seed * 7919 + (uint64_t)dr.round * 31 + (uint64_t)t);
    pthread_barrier_wait(&dr.go);
    for (int k = 0; k < DR_REQS; k++) {
        req_rec *r = &dr.reqs[hc_rng_below(&rng, DR_REQS)];
        bool dead = atomic_load(&dr.destroy_returned);
        int rc = demo_cancel_call(dr.ctx, r->id);
        if (rc == HC_OK) {
            CHECK(!dead, "a cancel after destroy returned got HC_OK");
            atomic_fetch_add(&r->cancel_ok, 1);
        } else if (rc == HC_ERR_UNKNOWN_TOKEN) {
            CHECK(!dead, "a cancel after destroy returned got HC_ERR_UNKNOWN_TOKEN");
            atomic_fetch_add(&r->cancel_refused, 1);
        } else {
            CHECK(rc == HC_ERR_INVALID_CONTEXT, "cancel racing destroy returned %s", hc_status_name(rc));
            atomic_fetch_add(&dr.cancel_dead, 1);
        }
    }
    return NULL;
}

static void *dr_completer(void *arg) {
    (void)arg;
    hc_rng rng;
    hc_rng_seed(&rng, dr.seed * 104729 + (uint64_t)dr.round);
    pthread_barrier_wait(&dr.go);
    for (int idx; (idx = bag_take(&dr.bag, &rng, false)) >= 0;) {
        req_rec *r = &dr.reqs[idx];
        char name[32];
        snprintf(name, sizeof name, "N%s", r->user);
        int rc = hc_complete_profile(dr.ctx, r->token, r->user, name, 9);
        if (rc == HC_OK) {
            CHECK(atomic_fetch_add(&r->tok_ok, 1) == 0, "token of %s completed twice", r->user);
        } else {
            CHECK(rc == HC_ERR_UNKNOWN_TOKEN || rc == HC_ERR_INVALID_CONTEXT,
                  "completion racing destroy returned %s", hc_status_name(rc));
            if (rc == HC_ERR_UNKNOWN_TOKEN) {
                atomic_fetch_add(&r->tok_refused, 1);
            } else {
                atomic_fetch_add(&dr.complete_dead, 1);
            }
        }
    }
    return NULL;
}

static void *dr_destroyer(void *arg) {
    (void)arg;
    hc_rng rng;
    hc_rng_seed(&rng, dr.seed * 15485863 + (uint64_t)dr.round);
    pthread_barrier_wait(&dr.go);
    dr_jitter(&rng);
    CHECK_STATUS(demo_destroy(dr.ctx), HC_OK);
    atomic_store(&dr.destroy_returned, true);
    return NULL;
}

static void test_cancel_racing_destroy(int rounds, uint64_t seed) {
    long by_ret[RET_ERR_TYPED + 1] = {0};
    long late = 0;
    for (int round = 0; round < rounds; round++) {
        memset(dr.reqs, 0, sizeof dr.reqs);
        dr.seed = seed;
        dr.round = round;
        atomic_store(&dr.destroy_returned, false);
        hc_counter_init(&dr.replies);
        hc_counter_init(&dr.fetches);
        tokmap_init(&dr.map, DR_REQS);
        bag_init(&dr.bag, DR_REQS);
        HC_REQUIRE(pthread_barrier_init(&dr.go, NULL, DR_CANCELLERS + 3) == 0, "barrier init");
        dr.ctx = hc_new_context(NULL, 0);
        CHECK_STATUS(
            demo_register_host_fn_cancellable(dr.ctx, DEMO_HOST_FN_FETCH_PROFILE, dr_fetch, dr_cancelled, NULL), HC_OK);
        int logins = 0;
        for (int i = 0; i < DR_REQS; i++) {
            req_rec *r = &dr.reqs[i];
            snprintf(r->user, sizeof r->user, "d%d", i);
            atomic_store(&r->ret, -1);
            r->is_add = i % 4 == 3;
            uint8_t buf[64];
            cbor_enc e;
            cbor_enc_init(&e, buf, sizeof buf);
            if (r->is_add) {
                demo_put_add_request(&e, i, 1);
            } else {
                demo_put_text_request(&e, r->user);
                logins++;
            }
            CHECK_STATUS(demo_call_cancellable(dr.ctx, r->is_add ? DEMO_METHOD_ADD : DEMO_METHOD_LOGIN,
                                               cbor_enc_data(&e), e.len, dr_reply, r, &r->id),
                         HC_OK);
        }
        /* Most rounds start with every fetch held; some race the start too. */
        if (round % 4 != 0) {
            hc_counter_wait(&dr.fetches, logins);
        }
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
        /* destroy (off the loop thread) returned: every reply has run. */
        long got = hc_counter_get(&dr.replies);
        CHECK(got == DR_REQS, "round %d: %ld of %d requests had replied when destroy returned", round, got, DR_REQS);
        for (int i = 0; i < DR_REQS; i++) {
            req_rec *r = &dr.reqs[i];
            int ret = atomic_load(&r->ret), cancel_ok = atomic_load(&r->cancel_ok);
            CHECK(atomic_load(&r->replies) == 1, "round %d: %s: %d replies", round, r->user, atomic_load(&r->replies));
            CHECK(!atomic_load(&r->late), "round %d: %s: a callback ran after destroy returned", round, r->user);
            CHECK(cancel_ok <= 1, "round %d: %s: %d cancels returned HC_OK", round, r->user, cancel_ok);
            CHECK((ret == RET_CANCELLED) == (cancel_ok == 1), "round %d: %s: reply %s, and %d cancels returned HC_OK",
                  round, r->user, hc_ret_name(ret), cancel_ok);
            if (ret == RET_OK && !r->is_add) {
                CHECK(atomic_load(&r->tok_ok) == 1, "round %d: %s replied RET_OK without its fetch", round, r->user);
            }
            if (atomic_load(&r->tok_started)) {
                int ok = atomic_load(&r->tok_ok), cancels = atomic_load(&r->tok_cancels);
                CHECK(ok + cancels == 1, "round %d: %s: fetch completed %d times and cancelled %d times", round,
                      r->user, ok, cancels);
            }
            if (ret >= 0 && ret <= RET_ERR_TYPED) {
                by_ret[ret]++;
            }
            late += atomic_load(&r->late);
        }
        pthread_barrier_destroy(&dr.go);
        bag_free(&dr.bag);
        tokmap_free(&dr.map);
        hc_counter_free(&dr.fetches);
        hc_counter_free(&dr.replies);
    }
    printf("cancels racing destroy: %d rounds of %d requests: %ld RET_OK, %ld RET_CANCELLED, %ld RET_SHUTTING_DOWN; "
           "%ld cancels and %ld completions refused as the handle died\n",
           rounds, DR_REQS, by_ret[RET_OK], by_ret[RET_CANCELLED], by_ret[RET_SHUTTING_DOWN],
           atomic_load(&dr.cancel_dead), atomic_load(&dr.complete_dead));
}

int main(int argc, char **argv) {
    int per_thread = argc > 1 ? atoi(argv[1]) : DEFAULT_PER_THREAD;
    HC_REQUIRE(per_thread > 0, "usage: cancel [requests per thread]");
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    printf("seed %" PRIu64 "\n", seed);
    test_cancel_held();
    test_cancel_after_reply();
    test_unknown_ids();
    test_after_destroy();
    test_null_call_id();
    test_ids_increase();
    test_cancel_from_reply_cb();
    test_cancel_from_host_fn();
    test_cancel_from_notifier_and_listener();
    test_complete_in_cancel_window();
    test_max_pending();
    test_many_threads(per_thread, seed);
    test_cancel_racing_destroy(per_thread / 4 < 8 ? 8 : per_thread / 4, seed);
    return hc_done();
}
