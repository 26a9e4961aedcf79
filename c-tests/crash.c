/* What a crash in an isolated library looks like from C
 * (docs/isolation.md): run only with every context isolated
 * (HOSTCALL_TEST_ISOLATION=process), since demo_crash kills the process it
 * runs in.
 *
 * For each crash kind, with logins pending whose fetch_profile the host
 * holds:
 *   1. demo_crash(kind) is answered RET_PROCESS_DIED, its text naming the
 *      signal; every pending login is answered RET_PROCESS_DIED, once;
 *   2. the host's cancel notifier ran once for each held fetch, and
 *      completing a held token now is refused (HC_ERR_UNKNOWN_TOKEN);
 *   3. the next call is served by a new helper, with fetch_profile still
 *      registered.
 * Then, with restart off, a crash leaves the context refusing new calls
 * with HC_ERR_SHUTTING_DOWN, and demo_destroy still returns HC_OK.
 *
 * A C host does not ignore SIGPIPE: the process must survive writing to a
 * helper that has just died. Under valgrind the host's side of every death
 * (its threads joined, the helper reaped) must leak nothing. */

#include "harness.h"

#define PENDING 3

static const struct {
    const char *kind;
    const char *text;
} crashes[] = {
    {"segfault", "library process died: signal 11 (SIGSEGV)"},
    {"abort", "library process died: signal 6 (SIGABRT)"},
    {"stack_overflow", "library process died: signal 11 (SIGSEGV)"},
};

static void call_text(void *ctx, const char *method, const char *text, hc_reply *r) {
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, text);
    CHECK_STATUS(hc_call(ctx, method, &e, r), HC_OK);
}

static int call_add(void *ctx, int64_t a, int64_t b, hc_reply *r) {
    uint8_t buf[32];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, a, b);
    return hc_call(ctx, DEMO_METHOD_ADD, &e, r);
}

static void test_crashes(void) {
    void *ctx = hc_new_context(NULL, 0);
    hc_held held;
    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);
    int cancels = 0;
    for (size_t k = 0; k < sizeof crashes / sizeof crashes[0]; k++) {
        hc_reply logins[PENDING], crash;
        int calls = held.calls;
        for (int i = 0; i < PENDING; i++) {
            hc_reply_init(&logins[i]);
            call_text(ctx, DEMO_METHOD_LOGIN, "x", &logins[i]);
        }
        hc_held_wait(&held, calls + PENDING, cancels);
        hc_reply_init(&crash);
        call_text(ctx, DEMO_METHOD_CRASH, crashes[k].kind, &crash);
        hc_reply_wait(&crash);
        printf("  crash(%s): %s \"%s\"\n", crashes[k].kind, hc_ret_name(crash.ret), crash.msg);
        CHECK_REPLY_FAIL_IS(&crash, RET_PROCESS_DIED, crashes[k].text);
        for (int i = 0; i < PENDING; i++) {
            hc_reply_wait(&logins[i]);
            CHECK_REPLY_FAIL_IS(&logins[i], RET_PROCESS_DIED, crashes[k].text);
            hc_reply_free(&logins[i]);
        }
        cancels += PENDING;
        hc_held_wait(&held, calls + PENDING, cancels);
        for (int i = calls; i < calls + PENDING; i++) {
            CHECK(hc_held_cancel_count(&held, held.tokens[i]) == 1, "held fetch %d cancelled %d times", i,
                  hc_held_cancel_count(&held, held.tokens[i]));
            CHECK_STATUS(hc_complete_profile(ctx, held.tokens[i], "x", "X", 1), HC_ERR_UNKNOWN_TOKEN);
        }
        hc_reply_free(&crash);
        /* A new helper serves the next call. */
        hc_reply sum;
        hc_reply_init(&sum);
        CHECK_STATUS(call_add(ctx, 40, 2, &sum), HC_OK);
        hc_reply_wait(&sum);
        CHECK(sum.ret == RET_OK, "add after a restart: %s \"%s\"", hc_ret_name(sum.ret), sum.msg);
        hc_reply_free(&sum);
    }
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_held_free(&held);
}

static void test_no_restart(void) {
    uint8_t config[32];
    cbor_enc c;
    cbor_enc_init(&c, config, sizeof config);
    cbor_put_map(&c, 1);
    cbor_put_cstr(&c, "restart");
    cbor_put_bool(&c, false);
    void *ctx = hc_demo_new(cbor_enc_data(&c), c.len);
    CHECK(ctx != NULL, "demo_new(restart: false): %s", hc_last_error());
    hc_reply crash;
    hc_reply_init(&crash);
    call_text(ctx, DEMO_METHOD_CRASH, "abort", &crash);
    hc_reply_wait(&crash);
    CHECK_REPLY_FAIL_IS(&crash, RET_PROCESS_DIED, "library process died: signal 6 (SIGABRT)");
    hc_reply_free(&crash);
    /* The loop records the death after it answered the crash: a call may
     * still be accepted (and answered RET_PROCESS_DIED) just before. */
    int status = HC_OK;
    for (int i = 0; i < 1000 && status == HC_OK; i++) {
        hc_reply r;
        hc_reply_init(&r);
        status = call_add(ctx, 1, 2, &r);
        if (status == HC_OK) {
            hc_reply_wait(&r);
            CHECK(r.ret == RET_PROCESS_DIED, "add after the death: %s", hc_ret_name(r.ret));
        }
        hc_reply_free(&r);
    }
    CHECK(status == HC_ERR_SHUTTING_DOWN, "a call after the death returned %s", hc_status_name(status));
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "restart"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_destroy(ctx), HC_OK);
}

int main(void) {
    HC_REQUIRE(hc_isolated(), "crash runs only with HOSTCALL_TEST_ISOLATION=process: in process it would crash");
    test_crashes();
    test_no_restart();
    return hc_done();
}
