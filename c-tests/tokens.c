/*
 * tokens.c - the life of a host-call token, seen from the host.
 *
 * Late, double and invented completions are refused with
 * HC_ERR_UNKNOWN_TOKEN and disturb no other call; a host call times out
 * (host_call_timeout_ms) with its cancel notifier told once, on the loop
 * thread; first_profile cancels the fetches it no longer needs; an
 * overloaded context (max_in_flight) fails the call at once and cancels the
 * fetches it had started. A cancelled or timed-out token can no longer be
 * completed.
 */
#include "harness.h"

static const uint64_t INVENTED_SEED = 0x5eed;


static void call_one(void *ctx, const char *method, const char *arg, hc_reply *r) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, arg);
    CHECK_STATUS(hc_call(ctx, method, &e, r), HC_OK);
}

static void call_list(void *ctx, const char *method, const char *const *items, size_t n, hc_reply *r) {
    uint8_t buf[256];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, items, n);
    CHECK_STATUS(hc_call(ctx, method, &e, r), HC_OK);
}

static void check_session(hc_reply *r, const char *user_id, const char *greeting) {
    demo_session s;
    CHECK_REPLY_OK(r);
    CHECK(demo_decode_session(r->msg, r->len, &s), "reply is not a Session");
    CHECK(strcmp(s.user_id, user_id) == 0, "user_id \"%s\", expected \"%s\"", s.user_id, user_id);
    CHECK(strcmp(s.greeting, greeting) == 0, "greeting \"%s\", expected \"%s\"", s.greeting, greeting);
}

/* Completions of tokens that are not pending must all be refused. */
static void expect_unknown(void *ctx, uint64_t token, const char *what) {
    int rc = hc_complete_profile(ctx, token, "intruder", "Intruder", 1);
    CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "completing %s (%#llx) with RET_OK returned %s", what, (unsigned long long)token,
          hc_status_name(rc));
    rc = hc_complete_error(ctx, token, "intruder");
    CHECK(rc == HC_ERR_UNKNOWN_TOKEN, "completing %s (%#llx) with RET_ERR returned %s", what,
          (unsigned long long)token, hc_status_name(rc));
}

/* Inline completion, remembering the token for a late completion. */
static void *inline_ctx;
static uint64_t inline_token;

static void fetch_inline_remember(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX];
    (void)user_data;
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "request is not [text]");
    inline_token = token;
    CHECK_STATUS(hc_complete_profile(inline_ctx, token, user, "Inline", 1), HC_OK);
    /* A double completion from inside the host fn, right after the first. */
    CHECK_STATUS(hc_complete_profile(inline_ctx, token, user, "Twice", 2), HC_ERR_UNKNOWN_TOKEN);
}

static void test_late_double_invented(void) {
    void *ctx = hc_new_context(NULL, 0);
    hc_held held;
    hc_reply p, q, r;
    hc_rng rng;
    hc_rng_seed(&rng, INVENTED_SEED);
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);

    /* Two calls in flight. */
    call_one(ctx, DEMO_METHOD_LOGIN, "p", &p);
    call_one(ctx, DEMO_METHOD_LOGIN, "q", &q);
    hc_held_wait_calls(&held, 2);
    uint64_t tp = hc_held_token_of(&held, "p");
    uint64_t tq = hc_held_token_of(&held, "q");
    CHECK(tp != tq, "two pending calls share token %#llx", (unsigned long long)tp);

    /* Invented tokens. */
    uint64_t invented[] = {
        0,
        1,
        UINT64_MAX,
        tp + (UINT64_C(1) << 24),
        tq + (UINT64_C(1) << 24),
        tp - (UINT64_C(1) << 24),
        tp + (UINT64_C(1) << 40),
        tp | (UINT64_C(1) << 63),
        (tp & ((UINT64_C(1) << 24) - 1)) | (UINT64_C(0xffff) << 24),
        (UINT64_C(1) << 24) | 0xfffffe,
        (UINT64_C(1) << 24) | 1000,
        tp & ((UINT64_C(1) << 24) - 1),
    };
    for (size_t i = 0; i < sizeof invented / sizeof invented[0]; i++) {
        if (invented[i] != tp && invented[i] != tq) {
            expect_unknown(ctx, invented[i], "an invented token");
        }
    }
    for (int i = 0; i < 1000; i++) {
        uint64_t t = hc_rng_next(&rng);
        if (i % 2) {
            /* Small generations, where real tokens live. */
            t = (t & 0xffffff) | ((t >> 32) % 8) << 24;
        }
        if (t != tp && t != tq) {
            expect_unknown(ctx, t, "a random token");
        }
    }
    /* Nothing happened to the pending calls. */
    hc_barrier(ctx);
    CHECK(hc_reply_count(&p) == 0 && hc_reply_count(&q) == 0, "a pending call replied after invented completions");
    CHECK(hc_held_cancels(&held) == 0, "a pending call was cancelled by invented completions");

    /* Double completion from another thread's point of view: q twice. */
    CHECK_STATUS(hc_complete_profile(ctx, tq, "q", "Queue", 7), HC_OK);
    expect_unknown(ctx, tq, "q's token, already completed");
    hc_reply_wait(&q);
    check_session(&q, "q", "Hello, Queue");
    /* Late: after the reply. */
    expect_unknown(ctx, tq, "q's token, after its reply");
    hc_barrier(ctx);
    CHECK(hc_reply_count(&p) == 0, "p replied when q was completed");
    CHECK(hc_reply_count(&q) == 1, "q replied %d times", hc_reply_count(&q));

    /* p is still completable and gets its own answer. */
    CHECK_STATUS(hc_complete_profile(ctx, tp, "p", "Pea", 8), HC_OK);
    hc_reply_wait(&p);
    check_session(&p, "p", "Hello, Pea");
    expect_unknown(ctx, tp, "p's token, after its reply");

    /* A new call gets a new token, never an old one. */
    call_one(ctx, DEMO_METHOD_LOGIN, "s", &r);
    hc_held_wait_calls(&held, 3);
    uint64_t ts = hc_held_token_of(&held, "s");
    CHECK(ts != tp && ts != tq, "token %#llx was reused", (unsigned long long)ts);
    expect_unknown(ctx, tp, "p's token, while its slot may be reused");
    expect_unknown(ctx, tq, "q's token, while its slot may be reused");
    CHECK_STATUS(hc_complete_error(ctx, ts, "no s"), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: no s");
    CHECK(hc_held_cancels(&held) == 0, "completed calls were cancelled");
    hc_reply_free(&p);
    hc_reply_free(&q);
    hc_reply_free(&r);

    /* Inline completion: the late completion after the reply is refused. */
    inline_ctx = ctx;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_inline_remember, NULL), HC_OK);
    call_one(ctx, DEMO_METHOD_LOGIN, "inl", &r);
    hc_reply_wait(&r);
    check_session(&r, "inl", "Hello, Inline");
    expect_unknown(ctx, inline_token, "an inline-completed token, after its reply");
    hc_reply_free(&r);

    /* Tokens belong to their context: a live token of ctx means nothing to another. */
    void *other = hc_new_context(NULL, 0);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, &held), HC_OK);
    call_one(ctx, DEMO_METHOD_LOGIN, "mine", &r);
    hc_held_wait_calls(&held, 4);
    uint64_t tm = hc_held_token_of(&held, "mine");
    expect_unknown(other, tm, "a token of another context");
    CHECK_STATUS(hc_complete_profile(ctx, tm, "mine", "Mine", 3), HC_OK);
    hc_reply_wait(&r);
    check_session(&r, "mine", "Hello, Mine");
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(other), HC_OK);

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

static void test_timeout(void) {
    void *ctx = hc_new_context("host_call_timeout_ms", 50);
    hc_held held;
    hc_reply r;
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);

    double start = hc_now_ms();
    call_one(ctx, DEMO_METHOD_LOGIN, "slow", &r);
    /* The host never answers. The deadline is far above the 50 ms timeout. */
    CHECK(hc_reply_wait_for(&r, 1, 20000), "no reply 20 s after a 50 ms host call timeout");
    double elapsed = hc_now_ms() - start;
    printf("  timed out after %.1f ms: %s\n", elapsed, r.msg);
    /* The host call fails RET_TIMED_OUT inside the library; login maps the
     * error to its own text, so C gets demo's RET_ERR. */
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: host fn 'fetch_profile' timed out after 50 ms");
    CHECK(elapsed >= 50.0, "the call timed out after %.1f ms, before its 50 ms timeout", elapsed);

    CHECK(hc_held_calls(&held) == 1, "%d host fn calls", hc_held_calls(&held));
    uint64_t token = hc_held_token_of(&held, "slow");
    /* The notifier runs before the handler sees the timeout. Wait anyway (no
     * ordering is promised), then make sure it ran once and only once. */
    hc_held_wait_cancels(&held, 1);
    hc_barrier(ctx);
    CHECK(hc_held_cancels(&held) == 1, "cancel notifier ran %d times", hc_held_cancels(&held));
    CHECK(hc_held_cancel_count(&held, token) == 1, "cancel notifier got another token");
    CHECK(pthread_equal(held.cancel_threads[0], held.threads[0]),
          "the cancel notifier ran on a different thread than the host fn (the loop thread)");
    CHECK(pthread_equal(held.cancel_threads[0], r.thread), "the cancel notifier and the reply ran on different threads");
    CHECK(!pthread_equal(held.cancel_threads[0], pthread_self()), "the cancel notifier ran on the main thread");

    expect_unknown(ctx, token, "a timed-out token");
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "%d replies after completing the timed-out token", hc_reply_count(&r));
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    CHECK(hc_held_cancels(&held) == 1, "destroy cancelled the timed-out call again");
    hc_held_free(&held);
}

static void test_select_cancel(void) {
    void *ctx = hc_new_context(NULL, 0);
    hc_held held;
    hc_reply r;
    const char *ids[3] = {"a", "b", "c"};
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);

    call_list(ctx, DEMO_METHOD_FIRST_PROFILE, ids, 3, &r);
    hc_held_wait_calls(&held, 3);
    uint64_t ta = hc_held_token_of(&held, "a");
    uint64_t tb = hc_held_token_of(&held, "b");
    uint64_t tc = hc_held_token_of(&held, "c");
    CHECK(ta != tb && tb != tc && ta != tc, "first_profile's fetches share tokens");

    CHECK_STATUS(hc_complete_profile(ctx, tb, "b", "Bea", 22), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    demo_profile prof;
    CHECK(demo_decode_profile(r.msg, r.len, &prof), "first_profile reply is not a Profile");
    CHECK(strcmp(prof.user_id, "b") == 0 && strcmp(prof.name, "Bea") == 0 && prof.age == 22,
          "first_profile returned {%s, %s, %u}", prof.user_id, prof.name, prof.age);

    /* The two fetches no longer needed are cancelled, once each. */
    hc_held_wait_cancels(&held, 2);
    hc_barrier(ctx);
    CHECK(hc_held_cancels(&held) == 2, "%d cancellations, expected 2", hc_held_cancels(&held));
    CHECK(hc_held_cancel_count(&held, ta) == 1, "a's fetch was cancelled %d times", hc_held_cancel_count(&held, ta));
    CHECK(hc_held_cancel_count(&held, tc) == 1, "c's fetch was cancelled %d times", hc_held_cancel_count(&held, tc));
    CHECK(hc_held_cancel_count(&held, tb) == 0, "the completed fetch was cancelled");
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_equal(held.cancel_threads[i], held.threads[0]), "a cancel notifier ran off the loop thread");
    }
    expect_unknown(ctx, ta, "a cancelled token (a)");
    expect_unknown(ctx, tc, "a cancelled token (c)");
    expect_unknown(ctx, tb, "the winning token, again");
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 1, "first_profile replied %d times", hc_reply_count(&r));
    hc_reply_free(&r);

    /* When every fetch fails, the last error is reported. */
    call_list(ctx, DEMO_METHOD_FIRST_PROFILE, ids, 2, &r);
    hc_held_wait_calls(&held, 5);
    CHECK_STATUS(hc_complete_error(ctx, held.tokens[3], "first down"), HC_OK);
    CHECK_STATUS(hc_complete_error(ctx, held.tokens[4], "second down"), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_ERR_HAS(&r, "host fetch failed");
    CHECK_CONTAINS(r.msg, r.len, "down");
    hc_reply_free(&r);
    CHECK(hc_held_cancels(&held) == 2, "failed fetches were cancelled");

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

static void test_overload(void) {
    void *ctx = hc_new_context("max_in_flight", 2);
    hc_held held;
    hc_reply r;
    const char *ids[3] = {"a", "b", "c"};
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);

    /* The host holds every token; the third fetch cannot start. */
    call_list(ctx, DEMO_METHOD_LOGIN_MANY, ids, 3, &r);
    hc_reply_wait(&r);
    printf("  overloaded: %s\n", r.msg);
    /* RET_OVERLOADED inside the library; login_many's own text: RET_ERR. */
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: host fn 'fetch_profile' overloaded: 2 host calls already in flight "
                           "(max_in_flight)");
    CHECK(hc_held_calls(&held) == 2, "%d fetches started with max_in_flight 2", hc_held_calls(&held));

    /* The two started fetches were abandoned: cancelled, and refused later. */
    hc_held_wait_cancels(&held, 2);
    hc_barrier(ctx);
    CHECK(hc_held_cancels(&held) == 2, "%d cancellations, expected 2", hc_held_cancels(&held));
    for (int i = 0; i < 2; i++) {
        CHECK(hc_held_cancel_count(&held, held.tokens[i]) == 1, "held token %d cancelled %d times", i,
              hc_held_cancel_count(&held, held.tokens[i]));
        expect_unknown(ctx, held.tokens[i], "a token cancelled by overload");
    }
    hc_reply_free(&r);

    /* The slots were released: two fetches fit again. */
    call_list(ctx, DEMO_METHOD_LOGIN_MANY, ids, 2, &r);
    hc_held_wait_calls(&held, 4);
    CHECK_STATUS(hc_complete_profile(ctx, held.tokens[3], held.args[3], "Second", 2), HC_OK);
    CHECK_STATUS(hc_complete_profile(ctx, held.tokens[2], held.args[2], "First", 1), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    hc_reply_free(&r);
    CHECK(hc_held_cancels(&held) == 2, "completed fetches were cancelled");

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

int main(void) {
    test_late_double_invented();
    test_timeout();
    test_select_cancel();
    test_overload();
    return hc_done();
}
