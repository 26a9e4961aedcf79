/*
 * teardown.c - destroying contexts.
 *
 * Destroy with requests pending (held host calls, queued requests): before
 * demo_destroy returns, every request has exactly one reply (RET_SHUTTING_DOWN
 * "context shutting down" for the unfinished ones) and every held host call was
 * cancelled through its notifier; afterwards every entry point refuses the
 * context. Destroy from inside a reply callback, a host fn and an event
 * listener (on the loop thread) returns HC_OK without deadlocking. Contexts
 * are independent. Destroy races with calls from other threads.
 */
#include "harness.h"

static void call_text(void *ctx, const char *method, const char *arg, hc_reply *r) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, arg);
    CHECK_STATUS(hc_call(ctx, method, &e, r), HC_OK);
}

static void call_add(void *ctx, int64_t a, int64_t b, FFICallBack cb, void *user_data) {
    uint8_t buf[32];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, a, b);
    CHECK_STATUS(demo_call(ctx, DEMO_METHOD_ADD, cbor_enc_data(&e), e.len, cb, user_data), HC_OK);
}

/* Every entry point refuses a destroyed context. */
static void expect_dead(void *ctx, const uint64_t *tokens, int n_tokens) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    CHECK_STATUS(demo_call(ctx, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, hc_never_cb, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_never_host_fn, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_NOTIFY, hc_never_host_fn, hc_never_cancel, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK(demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, hc_never_cb, NULL) == 0, "listener on a dead context");
    CHECK_STATUS(demo_remove_event_listener(ctx, 1), HC_ERR_INVALID_CONTEXT);
    for (int i = 0; i < n_tokens; i++) {
        CHECK_STATUS(hc_complete_profile(ctx, tokens[i], "late", "Late", 1), HC_ERR_INVALID_CONTEXT);
        CHECK_STATUS(hc_complete_error(ctx, tokens[i], "late"), HC_ERR_INVALID_CONTEXT);
    }
    CHECK_STATUS(demo_destroy(ctx), HC_ERR_INVALID_CONTEXT);
}

/* ------------------------------------------------ destroy with pending work */

#define PENDING_LOGINS 20
#define QUEUED_ADDS 50

/* Replies of add(i, 1000) must be i + 1000, or RET_SHUTTING_DOWN. */
typedef struct {
    atomic_int replies[QUEUED_ADDS];
    atomic_int answered;
    atomic_int shut_down;
} add_tally;

static add_tally adds;

static void queued_add_cb(int ret, const char *msg, size_t len, void *user_data) {
    int i = (int)(intptr_t)user_data;
    CHECK(i >= 0 && i < QUEUED_ADDS, "bad user_data %d", i);
    atomic_fetch_add(&adds.replies[i], 1);
    if (ret == RET_OK) {
        cbor_dec d;
        int64_t sum = 0;
        cbor_dec_init(&d, msg, len);
        CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d) && sum == i + 1000, "add(%d, 1000) = %lld", i,
              (long long)sum);
        atomic_fetch_add(&adds.answered, 1);
    } else {
        CHECK_SHUTTING_DOWN(ret, msg, len, "queued add");
        atomic_fetch_add(&adds.shut_down, 1);
    }
}

static void test_destroy_with_pending(void) {
    void *ctx = hc_demo_new(NULL, 0);
    CHECK(ctx != NULL, "demo_new: %s", hc_last_error());
    hc_held held;
    hc_reply logins[PENDING_LOGINS], many;
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);
    uint64_t listener = demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, hc_never_cb, NULL);
    CHECK(listener != 0, "listener: %s", hc_last_error());

    for (int i = 0; i < PENDING_LOGINS; i++) {
        char id[16];
        snprintf(id, sizeof id, "user%d", i);
        call_text(ctx, DEMO_METHOD_LOGIN, id, &logins[i]);
    }
    {
        const char *ids[3] = {"m1", "m2", "m3"};
        uint8_t buf[64];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_list_request(&e, ids, 3);
        CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN_MANY, &e, &many), HC_OK);
    }
    const int held_calls = PENDING_LOGINS + 3;
    hc_held_wait_calls(&held, held_calls);
    /* And a burst of requests that may or may not start before the destroy. */
    for (int i = 0; i < QUEUED_ADDS; i++) {
        call_add(ctx, i, 1000, queued_add_cb, (void *)(intptr_t)i);
    }

    CHECK_STATUS(demo_destroy(ctx), HC_OK);

    /* Everything was answered and cancelled before destroy returned. */
    for (int i = 0; i < PENDING_LOGINS; i++) {
        CHECK_REPLY_SHUTTING_DOWN(&logins[i]);
    }
    CHECK_REPLY_SHUTTING_DOWN(&many);
    for (int i = 0; i < QUEUED_ADDS; i++) {
        CHECK(atomic_load(&adds.replies[i]) == 1, "queued add %d got %d replies", i, atomic_load(&adds.replies[i]));
    }
    CHECK(atomic_load(&adds.answered) + atomic_load(&adds.shut_down) == QUEUED_ADDS, "add tally");
    printf("  destroy with pending: %d logins and login_many failed, %d/%d queued adds answered, %d shut down\n",
           PENDING_LOGINS, atomic_load(&adds.answered), QUEUED_ADDS, atomic_load(&adds.shut_down));

    CHECK(hc_held_calls(&held) == held_calls, "host fn ran %d times", hc_held_calls(&held));
    CHECK(hc_held_cancels(&held) == held_calls, "%d cancellations for %d held calls", hc_held_cancels(&held),
          held_calls);
    for (int i = 0; i < held_calls; i++) {
        CHECK(hc_held_cancel_count(&held, held.tokens[i]) == 1, "held token %d cancelled %d times", i,
              hc_held_cancel_count(&held, held.tokens[i]));
        CHECK(pthread_equal(held.cancel_threads[i], held.threads[0]), "cancel notifier ran off the loop thread");
    }
    for (int i = 0; i < PENDING_LOGINS; i++) {
        CHECK(pthread_equal(logins[i].thread, held.threads[0]), "a shutdown reply ran off the loop thread");
    }

    expect_dead(ctx, held.tokens, held_calls);
    CHECK_STATUS(demo_remove_event_listener(ctx, listener), HC_ERR_INVALID_CONTEXT);
    for (int i = 0; i < PENDING_LOGINS; i++) {
        CHECK(hc_reply_count(&logins[i]) == 1, "a late completion produced another reply");
        hc_reply_free(&logins[i]);
    }
    hc_reply_free(&many);
    CHECK(hc_held_cancels(&held) == held_calls, "more cancellations after destroy");
    hc_held_free(&held);
}

/* ------------------------------------------- destroy from a reply callback */

typedef struct {
    void *ctx;
    uint64_t held_token;
    int destroy_rc;
    int call_rc;
    int destroy_again_rc;
    int complete_rc;
    hc_reply done;
} reentrant_destroy;

static void destroy_in_reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    reentrant_destroy *s = (reentrant_destroy *)user_data;
    s->destroy_rc = demo_destroy(s->ctx);
    s->call_rc = demo_call(s->ctx, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, hc_never_cb, NULL);
    s->destroy_again_rc = demo_destroy(s->ctx);
    s->complete_rc = hc_complete_profile(s->ctx, s->held_token, "held", "Held", 1);
    hc_reply_cb(ret, msg, len, &s->done);
}

static void test_destroy_from_reply_callback(void) {
    static reentrant_destroy s;
    hc_held held;
    hc_reply login;
    hc_held_init(&held);
    s.ctx = hc_demo_new(NULL, 0);
    CHECK(s.ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(
        demo_register_host_fn_cancellable(s.ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);
    call_text(s.ctx, DEMO_METHOD_LOGIN, "held", &login);
    hc_held_wait_calls(&held, 1);
    s.held_token = hc_held_token_of(&held, "held");

    hc_reply_init(&s.done);
    call_add(s.ctx, 1, 2, destroy_in_reply_cb, &s);
    hc_reply_wait(&s.done);
    CHECK_REPLY_OK(&s.done);
    CHECK(s.destroy_rc == HC_OK, "demo_destroy from a reply callback returned %s", hc_status_name(s.destroy_rc));
    CHECK(s.call_rc == HC_ERR_INVALID_CONTEXT, "demo_call after that destroy returned %s", hc_status_name(s.call_rc));
    CHECK(s.destroy_again_rc == HC_ERR_INVALID_CONTEXT, "second destroy returned %s",
          hc_status_name(s.destroy_again_rc));
    CHECK(s.complete_rc == HC_ERR_INVALID_CONTEXT, "completing after destroy returned %s",
          hc_status_name(s.complete_rc));

    /* Teardown finishes once the callback returned: the held login fails and
     * its host call is cancelled, on the (detached) loop thread. */
    hc_reply_wait(&login);
    CHECK_REPLY_SHUTTING_DOWN(&login);
    hc_held_wait_cancels(&held, 1);
    CHECK(hc_held_cancel_count(&held, s.held_token) == 1, "held token cancelled %d times",
          hc_held_cancel_count(&held, s.held_token));
    expect_dead(s.ctx, &s.held_token, 1);
    hc_reply_free(&login);
    hc_reply_free(&s.done);
    hc_held_free(&held);
}

/* ------------------------------------------------ destroy from a host fn */

static struct {
    void *ctx;
    hc_held held;
    bool complete_first;
    int complete_rc;
    int destroy_rc;
    int complete_after_rc;
} in_host_fn;

static void destroying_fetch(uint64_t token, const char *req, size_t len, void *user_data) {
    CHECK(user_data == &in_host_fn.held, "wrong user_data");
    hc_held_fn(token, req, len, &in_host_fn.held);
    if (in_host_fn.complete_first) {
        in_host_fn.complete_rc = hc_complete_profile(in_host_fn.ctx, token, "x", "First", 1);
    }
    in_host_fn.destroy_rc = demo_destroy(in_host_fn.ctx);
    in_host_fn.complete_after_rc = hc_complete_profile(in_host_fn.ctx, token, "x", "After", 2);
}

static void test_destroy_from_host_fn(bool complete_first) {
    hc_reply login;
    memset(&in_host_fn, 0, sizeof in_host_fn);
    in_host_fn.complete_first = complete_first;
    hc_held_init(&in_host_fn.held);
    in_host_fn.ctx = hc_demo_new(NULL, 0);
    CHECK(in_host_fn.ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn_cancellable(in_host_fn.ctx, DEMO_HOST_FN_FETCH_PROFILE, destroying_fetch,
                                                   hc_held_cancel, &in_host_fn.held),
                 HC_OK);
    call_text(in_host_fn.ctx, DEMO_METHOD_LOGIN, "x", &login);
    hc_reply_wait(&login);
    hc_held_wait_calls(&in_host_fn.held, 1);
    uint64_t token = in_host_fn.held.tokens[0];
    CHECK(in_host_fn.destroy_rc == HC_OK, "demo_destroy from a host fn returned %s",
          hc_status_name(in_host_fn.destroy_rc));
    CHECK(in_host_fn.complete_after_rc == HC_ERR_INVALID_CONTEXT, "completing after destroy returned %s",
          hc_status_name(in_host_fn.complete_after_rc));
    if (complete_first) {
        /* Completed before the destroy: either outcome is a valid single reply,
         * and the token was not cancelled (it had been claimed). */
        CHECK(in_host_fn.complete_rc == HC_OK, "inline completion returned %s",
              hc_status_name(in_host_fn.complete_rc));
        CHECK(hc_reply_count(&login) == 1, "%d replies", hc_reply_count(&login));
        if (login.ret == RET_OK) {
            demo_session s;
            CHECK(demo_decode_session(login.msg, login.len, &s), "not a Session");
            CHECK(strcmp(s.greeting, "Hello, First") == 0, "greeting \"%s\"", s.greeting);
        } else {
            CHECK_SHUTTING_DOWN(login.ret, login.msg, login.len, "login completed inline, then destroyed");
        }
        printf("  destroy from a host fn after completing inline: %s\n", login.ret == RET_OK ? "RET_OK" : login.msg);
    } else {
        CHECK_REPLY_SHUTTING_DOWN(&login);
        hc_held_wait_cancels(&in_host_fn.held, 1);
        CHECK(hc_held_cancel_count(&in_host_fn.held, token) == 1, "token cancelled %d times",
              hc_held_cancel_count(&in_host_fn.held, token));
    }
    expect_dead(in_host_fn.ctx, &token, 1);
    hc_reply_free(&login);
    hc_held_free(&in_host_fn.held);
}

/* -------------------------------------------- destroy from an event listener */

static struct {
    void *ctx;
    atomic_int events;
    int destroy_rc;
} in_listener;

static void destroying_listener(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret, (void)msg, (void)len, (void)user_data;
    if (atomic_fetch_add(&in_listener.events, 1) == 0) {
        in_listener.destroy_rc = demo_destroy(in_listener.ctx);
    }
}

static void fetch_inline(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX];
    void *ctx = user_data;
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "request is not [text]");
    int rc = hc_complete_profile(ctx, token, user, "Inline", 1);
    CHECK(rc == HC_OK || rc == HC_ERR_INVALID_CONTEXT, "inline completion returned %s", hc_status_name(rc));
}

static void test_destroy_from_listener(void) {
    hc_reply r;
    const char *ids[3] = {"e1", "e2", "e3"};
    uint8_t buf[64];
    cbor_enc e;
    in_listener.ctx = hc_demo_new(NULL, 0);
    CHECK(in_listener.ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn(in_listener.ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_inline, in_listener.ctx),
                 HC_OK);
    CHECK(demo_add_event_listener(in_listener.ctx, DEMO_EVENT_PROGRESS, destroying_listener, NULL) != 0, "listener");
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, ids, 3);
    CHECK_STATUS(hc_call(in_listener.ctx, DEMO_METHOD_LOGIN_MANY, &e, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK(in_listener.destroy_rc == HC_OK, "demo_destroy from a listener returned %s",
          hc_status_name(in_listener.destroy_rc));
    CHECK(hc_reply_count(&r) == 1, "%d replies", hc_reply_count(&r));
    if (RET_IS_ERROR(r.ret)) {
        CHECK_SHUTTING_DOWN(r.ret, r.msg, r.len, "login_many destroyed from a listener");
    }
    printf("  destroy from a listener: login_many %s after %d events\n", r.ret == RET_OK ? "succeeded" : r.msg,
           atomic_load(&in_listener.events));
    expect_dead(in_listener.ctx, NULL, 0);
    hc_reply_free(&r);
}

/* ------------------------------------------------- independent contexts */

typedef struct {
    void *ctx;
} destroyer_arg;

static void *destroyer_main(void *arg) {
    destroyer_arg *d = (destroyer_arg *)arg;
    CHECK_STATUS(demo_destroy(d->ctx), HC_OK);
    return NULL;
}

#define CHURN_THREADS 4
#define CHURN_ROUNDS 8

static void *churn_main(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        void *c = hc_demo_new(NULL, 0);
        CHECK(c != NULL, "demo_new in thread %d: %s", id, hc_last_error());
        CHECK(hc_add(c, id, i) == id + i, "add on a churned context");
        CHECK_STATUS(demo_destroy(c), HC_OK);
        CHECK_STATUS(demo_destroy(c), HC_ERR_INVALID_CONTEXT);
    }
    return NULL;
}

static void test_independent_contexts(void) {
    void *ctxs[3];
    hc_held held[3];
    hc_reply logins[3];
    const char *names[3] = {"A", "B", "C"};
    for (int i = 0; i < 3; i++) {
        hc_held_init(&held[i]);
        ctxs[i] = hc_demo_new(NULL, 0);
        CHECK(ctxs[i] != NULL, "demo_new: %s", hc_last_error());
        CHECK_STATUS(demo_register_host_fn_cancellable(ctxs[i], DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel,
                                                       &held[i]),
                     HC_OK);
        call_text(ctxs[i], DEMO_METHOD_LOGIN, names[i], &logins[i]);
    }
    for (int i = 0; i < 3; i++) {
        hc_held_wait_calls(&held[i], 1);
    }
    CHECK(ctxs[0] != ctxs[1] && ctxs[1] != ctxs[2] && ctxs[0] != ctxs[2], "contexts share a handle");
    CHECK(!pthread_equal(held[0].threads[0], held[1].threads[0]) &&
              !pthread_equal(held[1].threads[0], held[2].threads[0]),
          "contexts share a loop thread");

    /* Destroy B from another thread while A and C have calls pending. */
    pthread_t destroyer;
    destroyer_arg d = {ctxs[1]};
    hc_spawn(&destroyer, destroyer_main, &d);
    hc_join(destroyer);
    CHECK_REPLY_SHUTTING_DOWN(&logins[1]);
    CHECK(hc_held_cancels(&held[1]) == 1, "B's held call cancelled %d times", hc_held_cancels(&held[1]));
    expect_dead(ctxs[1], held[1].tokens, 1);

    /* A and C did not notice. */
    for (int i = 0; i < 3; i += 2) {
        hc_barrier(ctxs[i]);
        CHECK(hc_reply_count(&logins[i]) == 0, "%s replied when B was destroyed", names[i]);
        CHECK(hc_held_cancels(&held[i]) == 0, "%s's call was cancelled when B was destroyed", names[i]);
        CHECK_STATUS(hc_complete_profile(ctxs[i], held[i].tokens[0], names[i], names[i], 1), HC_OK);
        hc_reply_wait(&logins[i]);
        CHECK_REPLY_OK(&logins[i]);
        CHECK(hc_add(ctxs[i], 2, i) == 2 + i, "add on %s", names[i]);
    }

    /* Contexts come and go on several threads while A and C live on. */
    pthread_t churn[CHURN_THREADS];
    for (int i = 0; i < CHURN_THREADS; i++) {
        hc_spawn(&churn[i], churn_main, (void *)(intptr_t)i);
    }
    for (int i = 0; i < CHURN_THREADS; i++) {
        hc_join(churn[i]);
    }
    CHECK(hc_add(ctxs[0], 1, 1) == 2 && hc_add(ctxs[2], 2, 2) == 4, "A and C after the churn");

    CHECK_STATUS(demo_destroy(ctxs[0]), HC_OK);
    CHECK(hc_add(ctxs[2], 3, 3) == 6, "C after A was destroyed");
    CHECK_STATUS(demo_destroy(ctxs[2]), HC_OK);
    for (int i = 0; i < 3; i++) {
        hc_reply_free(&logins[i]);
        hc_held_free(&held[i]);
    }
}

/* ------------------------------------------ destroy racing with callers */

#define RACE_THREADS 3
#define RACE_MAX_CALLS 60000
#define RACE_DESTROY_AFTER 300

static struct {
    void *ctx;
    atomic_int next_id;
    atomic_int replies[RACE_MAX_CALLS];
    atomic_int accepted;
    atomic_int refused;
    atomic_int ok_replies;
    atomic_int shutdown_replies;
    hc_counter submitted;
} race;

static void race_cb(int ret, const char *msg, size_t len, void *user_data) {
    int id = (int)(intptr_t)user_data;
    CHECK(id >= 0 && id < RACE_MAX_CALLS, "bad id %d", id);
    CHECK(atomic_fetch_add(&race.replies[id], 1) == 0, "request %d replied twice", id);
    if (ret == RET_OK) {
        cbor_dec d;
        int64_t sum = 0;
        cbor_dec_init(&d, msg, len);
        CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d) && sum == (int64_t)id + 1, "add(%d, 1) = %lld", id,
              (long long)sum);
        atomic_fetch_add(&race.ok_replies, 1);
    } else {
        CHECK_SHUTTING_DOWN(ret, msg, len, "add racing destroy");
        atomic_fetch_add(&race.shutdown_replies, 1);
    }
}

static void *race_caller(void *arg) {
    uint8_t buf[32];
    cbor_enc e;
    (void)arg;
    for (;;) {
        int id = atomic_fetch_add(&race.next_id, 1);
        if (id >= RACE_MAX_CALLS) {
            return NULL;
        }
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_add_request(&e, id, 1);
        int rc = demo_call(race.ctx, DEMO_METHOD_ADD, cbor_enc_data(&e), e.len, race_cb, (void *)(intptr_t)id);
        if (rc == HC_OK) {
            atomic_fetch_add(&race.accepted, 1);
            hc_counter_add(&race.submitted, 1);
            continue;
        }
        CHECK(rc == HC_ERR_INVALID_CONTEXT || rc == HC_ERR_SHUTTING_DOWN, "demo_call during destroy returned %s",
              hc_status_name(rc));
        atomic_fetch_add(&race.refused, 1);
        if (rc == HC_ERR_INVALID_CONTEXT) {
            return NULL;
        }
    }
}

static void test_destroy_races_callers(void) {
    pthread_t callers[RACE_THREADS];
    race.ctx = hc_demo_new(NULL, 0);
    CHECK(race.ctx != NULL, "demo_new: %s", hc_last_error());
    hc_counter_init(&race.submitted);
    for (int i = 0; i < RACE_THREADS; i++) {
        hc_spawn(&callers[i], race_caller, NULL);
    }
    hc_counter_wait(&race.submitted, RACE_DESTROY_AFTER);
    CHECK_STATUS(demo_destroy(race.ctx), HC_OK);
    for (int i = 0; i < RACE_THREADS; i++) {
        hc_join(callers[i]);
    }
    int accepted = atomic_load(&race.accepted);
    int issued = atomic_load(&race.next_id);
    if (issued > RACE_MAX_CALLS) {
        issued = RACE_MAX_CALLS;
    }
    int replied = 0;
    for (int id = 0; id < issued; id++) {
        int n = atomic_load(&race.replies[id]);
        CHECK(n <= 1, "request %d got %d replies", id, n);
        replied += n;
    }
    CHECK(replied == accepted, "%d accepted calls, %d replies", accepted, replied);
    CHECK(atomic_load(&race.ok_replies) + atomic_load(&race.shutdown_replies) == accepted, "reply tally");
    printf("  destroy racing %d callers: %d accepted (%d answered, %d shut down), %d refused\n", RACE_THREADS,
           accepted, atomic_load(&race.ok_replies), atomic_load(&race.shutdown_replies), atomic_load(&race.refused));
    expect_dead(race.ctx, NULL, 0);
    hc_counter_free(&race.submitted);
}

/* ------------------------------- requests queued when destroy is called */

/* The loop is held inside a reply callback while requests queue up behind
 * it; then that callback destroys the context. The queued requests were
 * accepted (HC_OK) and unanswered when demo_destroy was called, so by the
 * header ("Pending requests get one "context shutting down" reply";
 * RET_SHUTTING_DOWN by hostcall.h) and DESIGN.md ("fails every queued or
 * running request") each must get exactly one RET_SHUTTING_DOWN "context
 * shutting down" reply. Deterministic: no timing is involved. */

#define QUEUED_BEHIND 10

static struct {
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered;
    bool go;
    int destroy_rc;
    hc_reply done;
} gate;

static void gate_cb(int ret, const char *msg, size_t len, void *user_data) {
    (void)user_data;
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&gate.mu);
    gate.entered = true;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.go && hc_wait_until(&gate.cv, &gate.mu, &deadline)) {
    }
    bool released = gate.go;
    hc_unlock(&gate.mu);
    CHECK(released, "the main thread never released the loop");
    gate.destroy_rc = demo_destroy(gate.ctx);
    hc_reply_cb(ret, msg, len, &gate.done);
}

static void test_destroy_fails_queued_requests(void) {
    hc_held held;
    hc_reply queued_adds[QUEUED_BEHIND], queued_login, queued_version;
    static const uint8_t empty_args[] = {0x80};
    hc_held_init(&held);
    hc_mutex_init(&gate.mu);
    hc_cond_init(&gate.cv);
    hc_reply_init(&gate.done);
    gate.ctx = hc_demo_new(NULL, 0);
    CHECK(gate.ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(
        demo_register_host_fn_cancellable(gate.ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);

    /* Hold the loop thread inside a reply callback. */
    call_add(gate.ctx, 1, 2, gate_cb, NULL);
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&gate.mu);
    while (!gate.entered && hc_wait_until(&gate.cv, &gate.mu, &deadline)) {
    }
    bool entered = gate.entered;
    hc_unlock(&gate.mu);
    CHECK(entered, "the gate callback never ran");

    /* These are queued behind it: accepted, not started. */
    for (int i = 0; i < QUEUED_BEHIND; i++) {
        uint8_t buf[32];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_add_request(&e, i, 1000);
        CHECK_STATUS(hc_call(gate.ctx, DEMO_METHOD_ADD, &e, &queued_adds[i]), HC_OK);
    }
    call_text(gate.ctx, DEMO_METHOD_LOGIN, "queued", &queued_login);
    hc_reply_init(&queued_version);
    CHECK_STATUS(demo_call(gate.ctx, DEMO_METHOD_VERSION, (const char *)empty_args, sizeof empty_args, hc_reply_cb,
                           &queued_version),
                 HC_OK);

    /* Release the loop: the callback destroys the context. */
    hc_lock(&gate.mu);
    gate.go = true;
    pthread_cond_broadcast(&gate.cv);
    hc_unlock(&gate.mu);
    hc_reply_wait(&gate.done);
    CHECK(gate.destroy_rc == HC_OK, "demo_destroy from the gate callback returned %s", hc_status_name(gate.destroy_rc));

    int answered = 0;
    for (int i = 0; i < QUEUED_BEHIND; i++) {
        hc_reply_wait(&queued_adds[i]);
        answered += queued_adds[i].ret == RET_OK;
    }
    hc_reply_wait(&queued_login);
    hc_reply_wait(&queued_version);
    printf("  requests queued when destroy was called: %d/%d adds answered RET_OK, version %s, login \"%s\"\n",
           answered, QUEUED_BEHIND, queued_version.ret == RET_OK ? "answered RET_OK" : queued_version.msg,
           queued_login.msg);
    CHECK(hc_held_calls(&held) == 0, "a host fn ran for a request queued before the destroy");
    CHECK_REPLY_SHUTTING_DOWN(&queued_login);
    for (int i = 0; i < QUEUED_BEHIND; i++) {
        CHECK_REPLY_SHUTTING_DOWN(&queued_adds[i]);
        hc_reply_free(&queued_adds[i]);
    }
    CHECK_REPLY_SHUTTING_DOWN(&queued_version);
    expect_dead(gate.ctx, NULL, 0);
    hc_reply_free(&queued_login);
    hc_reply_free(&queued_version);
    hc_reply_free(&gate.done);
    hc_held_free(&held);
}

int main(void) {
    test_destroy_with_pending();
    test_destroy_from_reply_callback();
    test_destroy_from_host_fn(false);
    test_destroy_from_host_fn(true);
    test_destroy_from_listener();
    test_independent_contexts();
    test_destroy_races_callers();
    /* Last: it currently fails (see its comment), and a failure stops the program. */
    test_destroy_fails_queued_requests();
    CHECK(atomic_load(&hc_never_count) == 0, "%d callbacks of refused calls ran", atomic_load(&hc_never_count));
    return hc_done();
}
