/*
 * bad_input.c - every entry point of libdemo given bad input.
 *
 * NULL pointers, unknown names, malformed/mistyped CBOR requests, bad
 * outcome codes, bad configs, garbage and destroyed contexts, malformed host
 * answers. Refusals must return the documented status and never invoke the
 * callback, host fn or cancel notifier they were given (all of those are
 * hc_never_* and counted); a bad request that passes the status checks must
 * be answered by exactly one RET_INVALID_ARG reply that says what was wrong
 * ("bad request for '<method>': ..."). A malformed host answer reaches login,
 * which maps it to its own text: demo's RET_ERR.
 */
#include "harness.h"

static void *ctx;

/* Calls `method` with `req`, expects HC_OK and one RET_INVALID_ARG reply
 * "bad request for '<method>': ..." containing every needle; prints the
 * reply so the log shows the actual wording. */
static void expect_bad_request(const char *what, const char *method, const void *req, size_t len,
                               const char *const *needles) {
    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_call(ctx, method, (const char *)req, len, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    printf("  %-34s -> %s\n", what, r.msg);
    CHECK(r.ret == RET_INVALID_ARG, "%s: ret %d %s, expected RET_INVALID_ARG", what, r.ret, hc_ret_name(r.ret));
    CHECK(r.len > 0, "%s: empty error text", what);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bad request for '%s': ", method);
    CHECK(r.len > strlen(prefix) && memcmp(r.msg, prefix, strlen(prefix)) == 0, "%s: \"%s\" does not start with \"%s\"",
          what, r.msg, prefix);
    for (const char *const *n = needles; *n; n++) {
        CHECK(hc_contains(r.msg, r.len, *n), "%s: expected \"%s\" in \"%s\"", what, *n, r.msg);
    }
    CHECK(hc_reply_count(&r) == 1, "%s: %d replies", what, hc_reply_count(&r));
    hc_reply_free(&r);
}

#define BAD(what, method, needles, ...)                                                                       \
    do {                                                                                                      \
        static const uint8_t req_[] = {__VA_ARGS__};                                                          \
        static const char *const needles_[] = {NEEDLES_ needles, NULL};                                       \
        expect_bad_request(what, method, req_, sizeof req_, needles_);                                        \
    } while (0)
#define NEEDLES_(...) __VA_ARGS__

static void test_null_arguments(void) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    const char *req = (const char *)add_req;
    size_t len = sizeof add_req;

    CHECK_STATUS(demo_call(NULL, DEMO_METHOD_ADD, req, len, hc_never_cb, NULL), HC_ERR_NULL_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "ctx"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_call(ctx, NULL, req, len, hc_never_cb, NULL), HC_ERR_NULL_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "method"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_call(ctx, DEMO_METHOD_ADD, req, len, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "callback"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_call(ctx, DEMO_METHOD_ADD, NULL, 3, hc_never_cb, NULL), HC_ERR_NULL_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "req"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_call(NULL, NULL, NULL, 1, NULL, NULL), HC_ERR_NULL_ARG);

    CHECK_STATUS(demo_register_host_fn(NULL, DEMO_HOST_FN_FETCH_PROFILE, hc_never_host_fn, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, NULL, hc_never_host_fn, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_register_host_fn_cancellable(NULL, DEMO_HOST_FN_FETCH_PROFILE, hc_never_host_fn,
                                                   hc_never_cancel, NULL),
                 HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, NULL, hc_never_host_fn, hc_never_cancel, NULL),
                 HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, NULL, hc_never_cancel, NULL),
                 HC_ERR_NULL_ARG);

    CHECK_STATUS(demo_host_complete(NULL, 1u << 24, RET_OK, NULL, 0), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_host_complete(ctx, 1u << 24, RET_OK, NULL, 4), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_host_complete(ctx, 1u << 24, RET_ERR, NULL, 4), HC_ERR_NULL_ARG);

    CHECK(demo_add_event_listener(NULL, DEMO_EVENT_PROGRESS, hc_never_cb, NULL) == 0, "listener on NULL ctx");
    CHECK(demo_add_event_listener(ctx, NULL, hc_never_cb, NULL) == 0, "listener for NULL event");
    CHECK(demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, NULL, NULL) == 0, "NULL listener");
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "HC_ERR_NULL_ARG"), "last error: %s",
          hc_last_error());
    CHECK_STATUS(demo_remove_event_listener(NULL, 1), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_destroy(NULL), HC_ERR_NULL_ARG);
}

static void test_unknown_names(void) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    const char *req = (const char *)add_req;

    CHECK_STATUS(demo_call(ctx, "no_such_method", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "no_such_method"), "last error: %s",
          hc_last_error());
    CHECK_STATUS(demo_call(ctx, "", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    CHECK_STATUS(demo_call(ctx, "ADD", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    CHECK_STATUS(demo_call(ctx, "add ", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    CHECK_STATUS(demo_call(ctx, "\xff\xfe", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    CHECK_STATUS(demo_call(ctx, "fetch_profile", req, sizeof add_req, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);

    CHECK_STATUS(demo_register_host_fn(ctx, "no_such_fn", hc_never_host_fn, NULL), HC_ERR_INVALID_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "no_such_fn"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn(ctx, "login", hc_never_host_fn, NULL), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, "", hc_never_host_fn, NULL), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, "\xc3\x28", hc_never_host_fn, NULL), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, "no_such_fn", hc_never_host_fn, hc_never_cancel, NULL),
                 HC_ERR_INVALID_ARG);

    CHECK(demo_add_event_listener(ctx, "no_such_event", hc_never_cb, NULL) == 0, "listener for an unknown event");
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "no_such_event"), "last error: %s",
          hc_last_error());
    CHECK(demo_add_event_listener(ctx, "", hc_never_cb, NULL) == 0, "listener for the empty event name");
    CHECK(demo_add_event_listener(ctx, "\xff", hc_never_cb, NULL) == 0, "listener for a non-UTF-8 event name");
    CHECK_STATUS(demo_remove_event_listener(ctx, 0), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_remove_event_listener(ctx, 987654321), HC_ERR_INVALID_ARG);
}

static void test_last_error_buffer(void) {
    char buf[8];
    CHECK_STATUS(demo_call(ctx, "no_such_method", NULL, 0, hc_never_cb, NULL), HC_ERR_UNKNOWN_METHOD);
    size_t full = demo_last_error(NULL, 0);
    CHECK(full > 8, "last error length %zu", full);
    memset(buf, 'x', sizeof buf);
    CHECK(demo_last_error(buf, 4) == full, "length with a small buffer");
    CHECK(buf[3] == 0 && strlen(buf) == 3 && buf[4] == 'x', "truncated copy is NUL-terminated within cap");
    memset(buf, 'x', sizeof buf);
    CHECK(demo_last_error(buf, 1) == full && buf[0] == 0 && buf[1] == 'x', "cap 1 gives an empty string");
    memset(buf, 'x', sizeof buf);
    CHECK(demo_last_error(buf, 0) == full && buf[0] == 'x', "cap 0 writes nothing");
}

static void test_bad_requests(void) {
    /* add(a: int64, b: int64) */
    BAD("add: not CBOR (0xff)", "add", ("'add'"), 0xff);
    BAD("add: truncated array", "add", ("'add'", "truncated"), 0x82, 0x01);
    BAD("add: truncated integer", "add", ("'add'", "truncated"), 0x82, 0x01, 0x1a, 0x00);
    BAD("add: one argument", "add", ("'add'", "expected 2", "got 1"), 0x81, 0x01);
    BAD("add: three arguments", "add", ("'add'", "expected 2", "got 3"), 0x83, 0x01, 0x02, 0x03);
    BAD("add: empty array", "add", ("expected 2", "got 0"), 0x80);
    BAD("add: text as argument 2", "add", ("'add'", "argument 2"), 0x82, 0x01, 0x63, 't', 'w', 'o');
    BAD("add: text as argument 1", "add", ("argument 1"), 0x82, 0x61, 'x', 0x01);
    BAD("add: null as argument 1", "add", ("argument 1"), 0x82, 0xf6, 0x01);
    BAD("add: u64 max does not fit i64", "add", ("argument 1"), 0x82, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0x01);
    BAD("add: float as argument 2", "add", ("argument 2"), 0x82, 0x01, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
    BAD("add: text instead of array", "add", ("'add'", "array"), 0x61, 'x');
    BAD("add: map instead of array", "add", ("array"), 0xa0);
    BAD("add: trailing byte", "add", ("'add'", "trailing"), 0x82, 0x01, 0x02, 0x00);
    BAD("add: trailing value", "add", ("trailing"), 0x82, 0x01, 0x02, 0x82, 0x01, 0x02);
    BAD("add: huge declared text length", "add", ("'add'"), 0x82, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff);
    BAD("add: huge declared array length", "add", ("'add'"), 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    BAD("add: reserved additional info", "add", ("'add'"), 0x82, 0x1c, 0x01);

    /* login(user_id: text) */
    /* ciborium reports invalid UTF-8 as "malformed CBOR at byte N" (no mention of UTF-8). */
    BAD("login: invalid UTF-8 in the text", "login", ("'login'", "CBOR"), 0x81, 0x62, 0xff, 0xfe);
    BAD("login: truncated UTF-8 sequence", "login", ("'login'", "CBOR"), 0x81, 0x62, 'a', 0xe2);
    BAD("login: integer as user_id", "login", ("'login'", "argument 1"), 0x81, 0x01);
    BAD("login: bytes as user_id", "login", ("argument 1"), 0x81, 0x42, 'h', 'i');
    BAD("login: no arguments", "login", ("expected 1", "got 0"), 0x80);

    /* login_many(user_ids: [text]) */
    BAD("login_many: integer in the list", "login_many", ("'login_many'", "argument 1"), 0x81, 0x82, 0x61, 'a',
        0x01);
    BAD("login_many: text instead of list", "login_many", ("argument 1"), 0x81, 0x61, 'a');

    /* version() */
    BAD("version: one argument", "version", ("'version'", "no arguments"), 0x81, 0x01);
    BAD("version: null", "version", ("'version'"), 0xf6);

    /* The empty payload is an argument-less request. */
    {
        static const char *const needles[] = {"'add'", "empty request", NULL};
        expect_bad_request("add: empty payload", "add", NULL, 0, needles);
    }

    /* Deep nesting must be refused, not overflow a stack. */
    {
        static uint8_t deep[100000];
        static const char *const needles[] = {"'add'", NULL};
        memset(deep, 0x81, sizeof deep);
        expect_bad_request("add: 100000 nested arrays", "add", deep, sizeof deep, needles);
    }

    /* The context is unharmed. */
    CHECK(hc_add(ctx, 5, 6) == 11, "add after bad requests");
}

/* Bad outcome codes and malformed host answers for a real pending token. */
static void test_bad_completions(void) {
    hc_held held;
    hc_reply r;
    uint8_t buf[64];
    cbor_enc e;
    static const uint8_t not_a_profile[] = {0x01};
    static const uint8_t bad_utf8[] = {'d', 'b', 0xff, 0xfe};

    hc_held_init(&held);
    CHECK_STATUS(
        demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);
    /* Refused registrations must not replace the real one. */
    CHECK_STATUS(demo_register_host_fn(ctx, "no_such_fn", hc_never_host_fn, NULL), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, NULL, hc_never_host_fn, NULL), HC_ERR_NULL_ARG);

    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "zed");
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
    hc_held_wait_calls(&held, 1);
    uint64_t token = hc_held_token_of(&held, "zed");

    CHECK_STATUS(demo_host_complete(ctx, token, 7, "x", 1), HC_ERR_INVALID_ARG);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "7"), "last error: %s", hc_last_error());
    CHECK_STATUS(demo_host_complete(ctx, token, -1, "x", 1), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_host_complete(ctx, token, 2, NULL, 0), HC_ERR_INVALID_ARG);
    /* A host completes with RET_OK, RET_ERR or RET_ERR_TYPED only: every
     * runtime outcome code (and one not defined yet) is refused. */
    static const int runtime_codes[] = {RET_SHUTTING_DOWN,  RET_OVERLOADED,  RET_TIMED_OUT, RET_CANCELLED,
                                        RET_NOT_REGISTERED, RET_INVALID_ARG, RET_PANIC,
                                        RET_ERR_TYPED + 1};
    for (size_t i = 0; i < sizeof runtime_codes / sizeof runtime_codes[0]; i++) {
        int rc = demo_host_complete(ctx, token, runtime_codes[i], "x", 1);
        CHECK(rc == HC_ERR_INVALID_ARG, "host_complete with %s (%d) returned %s", hc_ret_name(runtime_codes[i]),
              runtime_codes[i], hc_status_name(rc));
    }
    CHECK_STATUS(demo_host_complete(ctx, token, RET_OK, NULL, 3), HC_ERR_NULL_ARG);
    /* Still pending: nothing arrived, and the token is still completable. */
    hc_barrier(ctx);
    CHECK(hc_reply_count(&r) == 0, "login replied after refused completions");
    CHECK_STATUS(hc_complete_profile(ctx, token, "zed", "Zed Shaw", 40), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    demo_session s;
    CHECK(demo_decode_session(r.msg, r.len, &s), "not a Session");
    CHECK(strcmp(s.greeting, "Hello, Zed Shaw") == 0, "greeting \"%s\"", s.greeting);
    hc_reply_free(&r);

    /* The host answers RET_OK with bytes that are not a Profile. */
    struct {
        const char *what;
        int ret;
        const void *bytes;
        size_t len;
        const char *needle;
    } answers[] = {
        {"RET_OK, an integer", RET_OK, not_a_profile, sizeof not_a_profile, "malformed reply"},
        {"RET_OK, empty payload", RET_OK, NULL, 0, "malformed reply"},
        {"RET_ERR, invalid UTF-8", RET_ERR, bad_utf8, sizeof bad_utf8, "host fetch failed: db"},
        {"RET_ERR, empty text", RET_ERR, NULL, 0, "host fetch failed"},
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_text_request(&e, "zed");
        CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
        hc_held_wait_calls(&held, 2 + (int)i);
        hc_lock(&held.mu);
        token = held.tokens[1 + i];
        hc_unlock(&held.mu);
        CHECK_STATUS(demo_host_complete(ctx, token, answers[i].ret, (const char *)answers[i].bytes, answers[i].len),
                     HC_OK);
        hc_reply_wait(&r);
        printf("  host answers %-22s -> %s\n", answers[i].what, r.msg);
        CHECK_REPLY_ERR_HAS(&r, answers[i].needle);
        hc_reply_free(&r);
    }
    CHECK(hc_held_cancels(&held) == 0, "completed calls were cancelled");
    hc_held_free(&held);
}

static void expect_new_fails(const char *what, const void *config, size_t len, const char *needle) {
    void *c = hc_demo_new((const char *)config, len);
    printf("  demo_new(%s) -> %p: %s\n", what, c, hc_last_error());
    CHECK(c == NULL, "demo_new(%s) accepted the config", what);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), needle), "demo_new(%s): last error \"%s\" lacks \"%s\"",
          what, hc_last_error(), needle);
}

static void test_configs(void) {
    uint8_t buf[128];
    cbor_enc e;

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 1);
    cbor_put_cstr(&e, "bogus");
    cbor_put_uint(&e, 1);
    expect_new_fails("{bogus: 1}", buf, e.len, "bogus");
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "unknown"), "%s", hc_last_error());

    static const uint8_t truncated_map[] = {0xa1};
    expect_new_fails("truncated map", truncated_map, sizeof truncated_map, "CBOR");
    static const uint8_t garbage[] = {0xff, 0x00, 0x13};
    expect_new_fails("garbage", garbage, sizeof garbage, "CBOR");
    static const uint8_t array[] = {0x82, 0x01, 0x02};
    expect_new_fails("[1, 2]", array, sizeof array, "map");
    expect_new_fails("NULL with len 5", NULL, 5, "NULL");

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 1);
    cbor_put_cstr(&e, "max_in_flight");
    cbor_put_uint(&e, 0);
    expect_new_fails("{max_in_flight: 0}", buf, e.len, "max_in_flight");
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "at least 1"), "%s", hc_last_error());

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 1);
    cbor_put_cstr(&e, "max_in_flight");
    cbor_put_int(&e, -3);
    expect_new_fails("{max_in_flight: -3}", buf, e.len, "max_in_flight");

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 1);
    cbor_put_cstr(&e, "host_call_timeout_ms");
    cbor_put_cstr(&e, "50");
    expect_new_fails("{host_call_timeout_ms: \"50\"}", buf, e.len, "host_call_timeout_ms");

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 2);
    cbor_put_cstr(&e, "max_in_flight");
    cbor_put_uint(&e, 4);
    cbor_put_cstr(&e, "max_in_flight");
    cbor_put_uint(&e, 5);
    expect_new_fails("duplicate key", buf, e.len, "max_in_flight");

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 1);
    cbor_put_uint(&e, 1);
    cbor_put_uint(&e, 1);
    expect_new_fails("{1: 1}", buf, e.len, "key");

    /* Valid configs work: the empty map, and all three keys. */
    static const uint8_t empty_map[] = {0xa0};
    void *c = hc_demo_new((const char *)empty_map, sizeof empty_map);
    CHECK(c != NULL, "demo_new({}): %s", hc_last_error());
    CHECK(hc_add(c, 1, 1) == 2, "add on a {} context");
    CHECK_STATUS(demo_destroy(c), HC_OK);

    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 3);
    cbor_put_cstr(&e, "max_in_flight");
    cbor_put_uint(&e, 8);
    cbor_put_cstr(&e, "host_call_timeout_ms");
    cbor_put_uint(&e, 60000);
    cbor_put_cstr(&e, "max_pending_requests");
    cbor_put_uint(&e, 100);
    c = hc_demo_new(cbor_enc_data(&e), e.len);
    CHECK(c != NULL, "demo_new(all keys): %s", hc_last_error());
    CHECK(hc_add(c, 2, 2) == 4, "add on a configured context");
    CHECK_STATUS(demo_destroy(c), HC_OK);
}

/* Every entry point given a context that is not live. */
static void expect_invalid_context(void *bad, const char *what) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    CHECK_STATUS(demo_call(bad, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, hc_never_cb, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_call(bad, "no_such_method", NULL, 0, hc_never_cb, NULL), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_host_complete(bad, 1u << 24, RET_OK, NULL, 0), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_host_complete(bad, 12345, RET_ERR, "x", 1), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_register_host_fn(bad, DEMO_HOST_FN_FETCH_PROFILE, hc_never_host_fn, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_register_host_fn_cancellable(bad, DEMO_HOST_FN_NOTIFY, hc_never_host_fn, hc_never_cancel, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK(demo_add_event_listener(bad, DEMO_EVENT_PROGRESS, hc_never_cb, NULL) == 0, "listener on %s", what);
    CHECK_STATUS(demo_remove_event_listener(bad, 1), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_destroy(bad), HC_ERR_INVALID_CONTEXT);
    CHECK(hc_contains(hc_last_error(), strlen(hc_last_error()), "HC_ERR_INVALID_CONTEXT"), "last error: %s",
          hc_last_error());
}

static void test_bad_contexts(void) {
    expect_invalid_context((void *)0x12345, "0x12345");
    expect_invalid_context((void *)0x1, "0x1");
    expect_invalid_context((void *)(uintptr_t)-1, "all ones");
    expect_invalid_context((void *)0xdeadbeef00000001ull, "0xdeadbeef00000001");
    expect_invalid_context((void *)&ctx, "a pointer to a C variable");
    /* Neighbours of the live context's handle. */
    expect_invalid_context((void *)((uintptr_t)ctx + ((uintptr_t)1 << 32)), "ctx + 2^32");
    expect_invalid_context((void *)((uintptr_t)ctx + 1000), "ctx + 1000");
    CHECK(hc_add(ctx, 3, 4) == 7, "the live context survived the look-alikes");

    /* A destroyed context. */
    hc_held held;
    hc_held_init(&held);
    void *dead = hc_demo_new(NULL, 0);
    CHECK(dead != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn(dead, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, &held), HC_OK);
    uint64_t listener = demo_add_event_listener(dead, DEMO_EVENT_PROGRESS, hc_never_cb, NULL);
    CHECK(listener != 0, "listener: %s", hc_last_error());
    CHECK_STATUS(demo_destroy(dead), HC_OK);
    expect_invalid_context(dead, "a destroyed context");
    CHECK_STATUS(demo_remove_event_listener(dead, listener), HC_ERR_INVALID_CONTEXT);

    /* A new context may reuse the slot; the old handle stays dead. */
    void *fresh = hc_demo_new(NULL, 0);
    CHECK(fresh != NULL, "demo_new: %s", hc_last_error());
    CHECK(fresh != dead, "a new context got the destroyed one's handle");
    expect_invalid_context(dead, "a destroyed context, after a new one was made");
    CHECK(hc_add(fresh, 8, 9) == 17, "the new context works");
    CHECK_STATUS(demo_destroy(fresh), HC_OK);
    CHECK(hc_held_calls(&held) == 0, "a host fn of a destroyed context ran");
    hc_held_free(&held);
}

/* Native entry points refuse bad input the same way. */
static void never_int_cb(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    (void)ret, (void)value, (void)err, (void)err_len, (void)user_data;
    atomic_fetch_add(&hc_never_count, 1);
}

static void test_native_entry_points(void) {
    static const char not_utf8[] = {(char)0xff, (char)0xfe, 0};
    CHECK_STATUS(demo_native_add(NULL, 1, 2, never_int_cb, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_add(ctx, 1, 2, NULL, NULL), HC_ERR_NULL_ARG);
    CHECK_STATUS(demo_native_add((void *)0x12345, 1, 2, never_int_cb, NULL), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_native_ping_host(ctx, NULL, 5, hc_never_cb, NULL), HC_ERR_NULL_ARG);
    CHECK_CONTAINS(hc_last_error(), strlen(hc_last_error()), "message");

    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_ping_host(ctx, not_utf8, 2, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_FAIL_HAS(&r, RET_INVALID_ARG, "not valid UTF-8");
    CHECK(strncmp(r.msg, "bad request for 'ping_host': ", 29) == 0, "native bad request \"%s\"", r.msg);
    printf("  %-34s -> %s\n", "native ping_host, invalid UTF-8", r.msg);
    hc_reply_free(&r);
}

int main(void) {
    ctx = hc_demo_new(NULL, 0);
    CHECK(ctx != NULL, "demo_new: %s", hc_last_error());

    test_null_arguments();
    test_unknown_names();
    test_last_error_buffer();
    test_bad_requests();
    test_bad_completions();
    test_configs();
    test_bad_contexts();
    test_native_entry_points();

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    /* Destroy joined the loop: any stray callback would have run by now. */
    CHECK(atomic_load(&hc_never_count) == 0, "%d callbacks, host fns or cancel notifiers of refused calls ran",
          atomic_load(&hc_never_count));
    return hc_done();
}
