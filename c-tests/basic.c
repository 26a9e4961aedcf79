/*
 * basic.c - the happy paths of libdemo through its C ABI.
 *
 * version, add (and its overflow error), login with a host fn completing
 * inline and from another thread, ping_host (unit result), login_many with
 * progress events (and listener removal), a host error, an unregistered host
 * fn, a panicking handler, and re-entrant calls from callbacks and host fns.
 * Throughout, it checks the threading contract: host fns and reply/event
 * callbacks run on one loop thread, never the calling thread.
 * The native (zero-serialization) entry points get the same checks.
 * Failures carry their outcome code: demo's own errors RET_ERR, a panic
 * RET_PANIC, undecodable arguments RET_INVALID_ARG, a request pending at
 * destroy RET_SHUTTING_DOWN.
 */
#include "harness.h"

static void *ctx;
static pthread_t main_thread;

/* The loop thread, as first seen by a callback; every later callback must
 * run on the same one. */
static pthread_mutex_t loop_mu = PTHREAD_MUTEX_INITIALIZER;
static bool loop_known;
static pthread_t loop_thread;
static int loop_observations;

static void observe_thread(pthread_t self, const char *where) {
    CHECK(!pthread_equal(self, main_thread), "%s ran on the calling (main) thread", where);
    hc_lock(&loop_mu);
    if (!loop_known) {
        loop_thread = self;
        loop_known = true;
    }
    CHECK(pthread_equal(self, loop_thread), "%s ran on a thread other than the loop thread", where);
    loop_observations++;
    hc_unlock(&loop_mu);
}

/* Called from inside a callback or host fn. */
static void on_loop_thread(const char *where) { observe_thread(pthread_self(), where); }

/* Called once a reply was collected: checks the thread its callback ran on. */
static void check_reply_thread(hc_reply *r, const char *what) { observe_thread(r->thread, what); }

/* The host's profile store. */
static const char *name_of(const char *user_id, char *buf, size_t cap) {
    if (strcmp(user_id, "alice") == 0) {
        return "Alice Liddell";
    }
    snprintf(buf, cap, "Name of %s", user_id);
    return buf;
}

static uint32_t age_of(const char *user_id) { return (uint32_t)(20 + strlen(user_id)); }

/* ---------------------------------------------------------- host fns */

/* fetch_profile, completed inline from inside the host fn. */
static atomic_int inline_calls;

static void fetch_inline(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX], name_buf[128];
    CHECK(user_data == (void *)&inline_calls, "host fn got the wrong user_data");
    on_loop_thread("fetch_profile (inline)");
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch_profile request is not [text]");
    atomic_fetch_add(&inline_calls, 1);
    CHECK_STATUS(hc_complete_profile(ctx, token, user, name_of(user, name_buf, sizeof name_buf), age_of(user)),
                 HC_OK);
}

/* fetch_profile, handed to a worker thread that completes it. */
static hc_queue work;
static atomic_int threaded_calls;

static void fetch_threaded(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX];
    on_loop_thread("fetch_profile (threaded)");
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch_profile request is not [text]");
    hc_queue_push((hc_queue *)user_data, token, user);
    atomic_fetch_add(&threaded_calls, 1);
}

static atomic_int worker_completions;
static pthread_t worker_thread;

static void *worker_main(void *arg) {
    hc_queue *q = (hc_queue *)arg;
    hc_job job;
    char name_buf[128];
    while (hc_queue_pop(q, &job)) {
        CHECK(!pthread_equal(pthread_self(), loop_thread), "worker is the loop thread");
        CHECK_STATUS(
            hc_complete_profile(ctx, job.token, job.arg, name_of(job.arg, name_buf, sizeof name_buf), age_of(job.arg)),
            HC_OK);
        atomic_fetch_add(&worker_completions, 1);
    }
    return NULL;
}

/* fetch_profile answering RET_ERR "db down". */
static void fetch_db_down(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req, (void)len, (void)user_data;
    on_loop_thread("fetch_profile (db down)");
    CHECK_STATUS(hc_complete_error(ctx, token, "db down"), HC_OK);
}

/* fetch_profile that first makes a re-entrant call (add), then completes inline. */
static hc_reply reentrant_from_host_fn;

static void fetch_reentrant(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX];
    uint8_t buf[32];
    cbor_enc e;
    (void)user_data;
    on_loop_thread("fetch_profile (re-entrant)");
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch_profile request is not [text]");
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, 100, 23);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_ADD, &e, &reentrant_from_host_fn), HC_OK);
    CHECK_STATUS(hc_complete_profile(ctx, token, user, "Re Entrant", 1), HC_OK);
}

/* notify: checks the message, completes with CBOR null. */
static char notified[HC_ARG_MAX];
static atomic_int notify_calls;

static void notify_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    static const char null_cbor[] = {(char)0xf6};
    (void)user_data;
    on_loop_thread("notify");
    CHECK(demo_decode_text_arg(req, len, notified, sizeof notified), "notify request is not [text]");
    atomic_fetch_add(&notify_calls, 1);
    CHECK_STATUS(demo_host_complete(ctx, token, RET_OK, null_cbor, 1), HC_OK);
}

/* ---------------------------------------------------------- helpers */

static void check_session(hc_reply *r, const char *user_id, const char *greeting) {
    demo_session s;
    CHECK_REPLY_OK(r);
    CHECK(demo_decode_session(r->msg, r->len, &s), "reply is not a Session (%zu bytes)", r->len);
    CHECK(strcmp(s.user_id, user_id) == 0, "session user_id \"%s\", expected \"%s\"", s.user_id, user_id);
    CHECK(strcmp(s.greeting, greeting) == 0, "session greeting \"%s\", expected \"%s\"", s.greeting, greeting);
}

static void call_text(const char *method, const char *arg, hc_reply *r) {
    uint8_t buf[256];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, arg);
    CHECK_STATUS(hc_call(ctx, method, &e, r), HC_OK);
}

static void add_expect(int64_t a, int64_t b, int64_t want) {
    int64_t got = hc_add(ctx, a, b);
    CHECK(got == want, "add(%lld, %lld) = %lld, expected %lld", (long long)a, (long long)b, (long long)got,
          (long long)want);
}

static void add_expect_overflow(int64_t a, int64_t b) {
    uint8_t buf[32];
    cbor_enc e;
    hc_reply r;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, a, b);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_ADD, &e, &r), HC_OK);
    hc_reply_wait(&r);
    /* demo's own error: RET_ERR, with its text. */
    char want[128];
    snprintf(want, sizeof want, "integer overflow: %lld + %lld does not fit in i64", (long long)a, (long long)b);
    CHECK_REPLY_ERR_IS(&r, want);
    hc_reply_free(&r);
}

/* ---------------------------------------------------------- sections */

static void test_version(void) {
    static const char empty_array[] = {(char)0x80};
    hc_reply r;
    /* With an empty argument array, and with an empty payload. */
    for (int i = 0; i < 2; i++) {
        hc_reply_init(&r);
        CHECK_STATUS(demo_call(ctx, DEMO_METHOD_VERSION, i == 0 ? empty_array : NULL, i == 0 ? 1 : 0, hc_reply_cb, &r),
                     HC_OK);
        hc_reply_wait(&r);
        CHECK_REPLY_OK(&r);
        check_reply_thread(&r, "version");
        cbor_dec d;
        char version[64];
        cbor_dec_init(&d, r.msg, r.len);
        CHECK(cbor_read_text_into(&d, version, sizeof version) && cbor_at_end(&d), "version reply is not one text");
        CHECK(strlen(version) > 0 && strchr(version, '.') != NULL, "version \"%s\" does not look like a version",
              version);
        hc_reply_free(&r);
    }
    CHECK(demo_interface_hash() == DEMO_INTERFACE_HASH, "interface hash %#llx, header says %#llx",
          (unsigned long long)demo_interface_hash(), (unsigned long long)DEMO_INTERFACE_HASH);
}

static void test_add(void) {
    add_expect(2, 3, 5);
    add_expect(-7, 3, -4);
    add_expect(-1000000, -2345678, -3345678);
    add_expect(INT64_MAX, 0, INT64_MAX);
    add_expect(INT64_MIN, 0, INT64_MIN);
    add_expect(INT64_MAX, INT64_MIN, -1);
    add_expect_overflow(INT64_MAX, 1);
    add_expect_overflow(INT64_MIN, -1);
}

static void test_login_inline(void) {
    hc_reply r;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_inline, &inline_calls), HC_OK);
    call_text(DEMO_METHOD_LOGIN, "alice", &r);
    hc_reply_wait(&r);
    check_session(&r, "alice", "Hello, Alice Liddell");
    check_reply_thread(&r, "login (inline)");
    CHECK(atomic_load(&inline_calls) == 1, "inline host fn ran %d times", atomic_load(&inline_calls));
    hc_reply_free(&r);

    call_text(DEMO_METHOD_LOGIN, "bob", &r);
    hc_reply_wait(&r);
    check_session(&r, "bob", "Hello, Name of bob");
    check_reply_thread(&r, "login (inline, again)");
    hc_reply_free(&r);
}

static void test_login_threaded(void) {
    hc_reply r[5];
    const char *users[5] = {"alice", "t1", "t2", "t3", "t4"};
    char greeting[160], name_buf[128];
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_threaded, &work), HC_OK);
    for (int i = 0; i < 5; i++) {
        call_text(DEMO_METHOD_LOGIN, users[i], &r[i]);
    }
    for (int i = 0; i < 5; i++) {
        hc_reply_wait(&r[i]);
        snprintf(greeting, sizeof greeting, "Hello, %s", name_of(users[i], name_buf, sizeof name_buf));
        check_session(&r[i], users[i], greeting);
        check_reply_thread(&r[i], "login (threaded)");
        hc_reply_free(&r[i]);
    }
    CHECK(atomic_load(&threaded_calls) == 5, "threaded host fn ran %d times", atomic_load(&threaded_calls));
}

static void test_ping_host(void) {
    hc_reply r;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_NOTIFY, notify_fn, NULL), HC_OK);
    call_text(DEMO_METHOD_PING_HOST, "hello host", &r);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK(r.len == 1 && (uint8_t)r.msg[0] == 0xf6, "ping_host reply is not CBOR null (%zu bytes)", r.len);
    check_reply_thread(&r, "ping_host");
    CHECK(strcmp(notified, "hello host") == 0, "notify got \"%s\"", notified);
    CHECK(atomic_load(&notify_calls) == 1, "notify ran %d times", atomic_load(&notify_calls));
    hc_reply_free(&r);
}

/* progress listener */
#define MANY 50
static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;
static int progress_events;
static demo_progress progress_seen[MANY + 8];

static void on_progress(int ret, const char *msg, size_t len, void *user_data) {
    demo_progress p;
    CHECK(user_data == (void *)&progress_events, "listener got the wrong user_data");
    CHECK(ret == RET_OK, "progress event with ret %d", ret);
    on_loop_thread("progress listener");
    CHECK(demo_decode_progress(msg, len, &p), "progress payload is not a Progress");
    hc_lock(&progress_mu);
    CHECK(progress_events < MANY + 8, "too many progress events");
    progress_seen[progress_events++] = p;
    hc_unlock(&progress_mu);
}

static void test_login_many(void) {
    hc_held held;
    hc_reply r;
    char ids[MANY][16];
    const char *list[MANY];
    uint8_t buf[2048];
    cbor_enc e;
    hc_rng rng;

    hc_held_init(&held);
    hc_rng_seed(&rng, 42);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, &held), HC_OK);
    uint64_t listener = demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, on_progress, &progress_events);
    CHECK(listener != 0, "demo_add_event_listener failed: %s", hc_last_error());

    for (int i = 0; i < MANY; i++) {
        snprintf(ids[i], sizeof ids[i], "user%02d", i);
        list[i] = ids[i];
    }
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, list, MANY);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN_MANY, &e, &r), HC_OK);

    /* All fetches are in flight at once; answer them in a random order. */
    hc_held_wait_calls(&held, MANY);
    int order[MANY];
    for (int i = 0; i < MANY; i++) {
        order[i] = i;
    }
    for (int i = MANY - 1; i > 0; i--) {
        int j = (int)hc_rng_below(&rng, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < MANY; k++) {
        int i = order[k];
        observe_thread(held.threads[i], "held fetch_profile");
        char name[128];
        snprintf(name, sizeof name, "Person %s", held.args[i]);
        CHECK_STATUS(hc_complete_profile(ctx, held.tokens[i], held.args[i], name, 30), HC_OK);
    }
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    check_reply_thread(&r, "login_many");

    /* Sessions come back in input order. */
    cbor_dec d;
    size_t n;
    cbor_dec_init(&d, r.msg, r.len);
    CHECK(cbor_read_array(&d, &n) && n == MANY, "login_many reply is not an array of %d", MANY);
    for (int i = 0; i < MANY; i++) {
        demo_session s;
        char greeting[64];
        CHECK(demo_read_session(&d, &s), "session %d does not decode", i);
        snprintf(greeting, sizeof greeting, "Hello, Person %s", ids[i]);
        CHECK(strcmp(s.user_id, ids[i]) == 0, "session %d is \"%s\", expected \"%s\"", i, s.user_id, ids[i]);
        CHECK(strcmp(s.greeting, greeting) == 0, "session %d greeting \"%s\"", i, s.greeting);
    }
    CHECK(cbor_at_end(&d), "trailing bytes after the sessions");
    hc_reply_free(&r);

    /* One progress event per completed fetch, all emitted before the reply. */
    hc_lock(&progress_mu);
    CHECK(progress_events == MANY, "%d progress events, expected %d", progress_events, MANY);
    for (int i = 0; i < MANY; i++) {
        CHECK(progress_seen[i].done == (uint32_t)i + 1, "event %d has done %u", i, progress_seen[i].done);
        CHECK(progress_seen[i].total == MANY, "event %d has total %u", i, progress_seen[i].total);
    }
    hc_unlock(&progress_mu);

    /* After removal, no more events. */
    CHECK_STATUS(demo_remove_event_listener(ctx, listener), HC_OK);
    CHECK_STATUS(demo_remove_event_listener(ctx, listener), HC_ERR_INVALID_ARG);
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_inline, &inline_calls), HC_OK);
    const char *three[3] = {"x", "y", "z"};
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_list_request(&e, three, 3);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_LOGIN_MANY, &e, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    hc_reply_free(&r);
    hc_lock(&progress_mu);
    CHECK(progress_events == MANY, "%d progress events after the listener was removed", progress_events);
    hc_unlock(&progress_mu);
    hc_held_free(&held);
}

static void test_host_error(void) {
    hc_reply r;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_db_down, NULL), HC_OK);
    call_text(DEMO_METHOD_LOGIN, "alice", &r);
    hc_reply_wait(&r);
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: db down");
    check_reply_thread(&r, "login (db down)");
    hc_reply_free(&r);
}

static void test_not_registered(void) {
    hc_reply r;
    void *fresh = hc_demo_new(NULL, 0);
    CHECK(fresh != NULL, "demo_new: %s", hc_last_error());
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "alice");
    CHECK_STATUS(hc_call(fresh, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
    hc_reply_wait(&r);
    /* The host call fails RET_NOT_REGISTERED inside the library, but login
     * maps the error to its own text: the reply is demo's RET_ERR. */
    CHECK_REPLY_ERR_IS(&r, "host fetch failed: host fn 'fetch_profile' not registered");
    hc_reply_free(&r);
    CHECK_STATUS(demo_destroy(fresh), HC_OK);
}

/* Registrations and requests sent from one thread are handled in that
 * order, and a request runs the host fns registered when it was handled:
 * register A, call login, register B from one thread and the login runs A,
 * never B, however the three land in the loop's batches. */
static void fetch_as(void *fresh, uint64_t token, const char *req, size_t len, const char *name) {
    char user[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "fetch_profile request is not [text]");
    CHECK_STATUS(hc_complete_profile(fresh, token, user, name, 1), HC_OK);
}

static void fetch_as_a(uint64_t token, const char *req, size_t len, void *user_data) {
    fetch_as(user_data, token, req, len, "A");
}

static void fetch_as_b(uint64_t token, const char *req, size_t len, void *user_data) {
    fetch_as(user_data, token, req, len, "B");
}

#define ORDER_TRIES 2000

/* Waits for a login's reply and decodes its Session into `s`. */
static void wait_session(hc_reply *r, demo_session *s) {
    hc_reply_wait(r);
    CHECK_REPLY_OK(r);
    CHECK(demo_decode_session(r->msg, r->len, s), "not a Session");
    hc_reply_free(r);
}

static void test_registration_order(void) {
    void *fresh = hc_demo_new(NULL, 0);
    CHECK(fresh != NULL, "demo_new: %s", hc_last_error());
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "u");
    hc_reply r;
    demo_session s;
    int ran_b = 0;
    for (int i = 0; i < ORDER_TRIES; i++) {
        CHECK_STATUS(demo_register_host_fn(fresh, DEMO_HOST_FN_FETCH_PROFILE, fetch_as_a, fresh), HC_OK);
        CHECK_STATUS(hc_call(fresh, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
        CHECK_STATUS(demo_register_host_fn(fresh, DEMO_HOST_FN_FETCH_PROFILE, fetch_as_b, fresh), HC_OK);
        wait_session(&r, &s);
        ran_b += strcmp(s.greeting, "Hello, A") != 0;
    }
    CHECK(ran_b == 0, "%d of %d logins ran the host fn registered after them", ran_b, ORDER_TRIES);
    /* The next request sees the later registration. */
    CHECK_STATUS(hc_call(fresh, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
    wait_session(&r, &s);
    CHECK(strcmp(s.greeting, "Hello, B") == 0, "greeting \"%s\"", s.greeting);
    CHECK_STATUS(demo_destroy(fresh), HC_OK);
}

static void test_panic(void) {
    hc_reply r;
    call_text(DEMO_METHOD_PANIC_WITH, "kaboom", &r);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "kaboom");
    check_reply_thread(&r, "panic_with");
    hc_reply_free(&r);
    /* The context keeps working. */
    add_expect(40, 2, 42);
    call_text(DEMO_METHOD_PANIC_WITH, "again", &r);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "again");
    hc_reply_free(&r);
    add_expect(1, 2, 3);
}

/* Re-entrancy: a reply callback that starts another call. */
static hc_reply inner_reply;
static atomic_int outer_calls;
static int inner_status = 12345;

static void outer_cb(int ret, const char *msg, size_t len, void *user_data) {
    uint8_t buf[32];
    cbor_enc e;
    on_loop_thread("outer reply");
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, 10, 20);
    inner_status = hc_call(ctx, DEMO_METHOD_ADD, &e, &inner_reply);
    atomic_fetch_add(&outer_calls, 1);
    hc_reply_cb(ret, msg, len, user_data);
}

static void test_reentrancy(void) {
    hc_reply outer;
    uint8_t buf[32];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_add_request(&e, 1, 1);
    hc_reply_init(&outer);
    CHECK_STATUS(demo_call(ctx, DEMO_METHOD_ADD, cbor_enc_data(&e), e.len, outer_cb, &outer), HC_OK);
    hc_reply_wait(&outer);
    CHECK_REPLY_OK(&outer);
    CHECK(inner_status == HC_OK, "demo_call from a reply callback returned %s", hc_status_name(inner_status));
    hc_reply_wait(&inner_reply);
    CHECK_REPLY_OK(&inner_reply);
    cbor_dec d;
    int64_t sum;
    cbor_dec_init(&d, inner_reply.msg, inner_reply.len);
    CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d) && sum == 30, "inner add returned %lld", (long long)sum);
    check_reply_thread(&inner_reply, "inner add");
    CHECK(atomic_load(&outer_calls) == 1, "outer callback ran %d times", atomic_load(&outer_calls));
    hc_reply_free(&outer);
    hc_reply_free(&inner_reply);

    /* A host fn that calls back into the library before completing inline. */
    hc_reply r;
    CHECK_STATUS(demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_reentrant, NULL), HC_OK);
    call_text(DEMO_METHOD_LOGIN, "carol", &r);
    hc_reply_wait(&r);
    check_session(&r, "carol", "Hello, Re Entrant");
    hc_reply_wait(&reentrant_from_host_fn);
    CHECK_REPLY_OK(&reentrant_from_host_fn);
    cbor_dec_init(&d, reentrant_from_host_fn.msg, reentrant_from_host_fn.len);
    CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d) && sum == 123, "add from a host fn returned %lld",
          (long long)sum);
    hc_reply_free(&r);
    hc_reply_free(&reentrant_from_host_fn);
}

/* Native entry points: C arguments in, plain values out, no CBOR. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int ret;
    int64_t value;
    char err[256];
} int_reply;

static void int_reply_cb(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    int_reply *r = (int_reply *)user_data;
    on_loop_thread("native int reply");
    hc_lock(&r->mu);
    r->ret = ret;
    r->value = value;
    r->err[0] = 0;
    if (err != NULL) {
        size_t n = err_len < sizeof r->err - 1 ? err_len : sizeof r->err - 1;
        memcpy(r->err, err, n);
        r->err[n] = 0;
    }
    r->count++;
    pthread_cond_broadcast(&r->cv);
    hc_unlock(&r->mu);
}

static void native_add_expect(int64_t a, int64_t b, int want_ret, int64_t want, const char *want_err) {
    int_reply r = {.count = 0};
    hc_mutex_init(&r.mu);
    hc_cond_init(&r.cv);
    CHECK_STATUS(demo_native_add(ctx, a, b, int_reply_cb, &r), HC_OK);
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&r.mu);
    while (r.count == 0 && hc_wait_until(&r.cv, &r.mu, &deadline)) {
    }
    hc_unlock(&r.mu);
    CHECK(r.count == 1, "native add replied %d times", r.count);
    CHECK(r.ret == want_ret, "native add(%lld, %lld): ret %d", (long long)a, (long long)b, r.ret);
    if (want_ret == RET_OK) {
        CHECK(r.value == want, "native add(%lld, %lld) = %lld", (long long)a, (long long)b, (long long)r.value);
    } else {
        CHECK(r.value == 0 && strstr(r.err, want_err) != NULL, "native add error \"%s\"", r.err);
    }
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
}

static void test_native(void) {
    native_add_expect(40, 2, RET_OK, 42, NULL);
    native_add_expect(-5, -6, RET_OK, -11, NULL);
    native_add_expect(INT64_MAX, 1, RET_ERR, 0, "overflow");

    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_version(ctx, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK(r.len > 0 && (unsigned char)r.msg[0] != 0x66, "native version is raw text, not CBOR: %s", r.msg);
    check_reply_thread(&r, "native version");
    hc_reply_free(&r);

    /* Unit result: an empty RET_OK payload; the message reaches notify. */
    int before = atomic_load(&notify_calls);
    hc_reply_init(&r);
    const char *message = "native hello";
    CHECK_STATUS(demo_native_ping_host(ctx, message, strlen(message), hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK(r.len == 0, "a unit native reply has %zu bytes", r.len);
    CHECK(atomic_load(&notify_calls) == before + 1 && strcmp(notified, message) == 0, "notify got \"%s\"", notified);
    hc_reply_free(&r);

    hc_reply_init(&r);
    CHECK_STATUS(demo_native_panic_with(ctx, "native boom", 11, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "native boom");
    hc_reply_free(&r);
    native_add_expect(1, 1, RET_OK, 2, NULL);
}

/* echo: bytes both ways, every byte value and the payload sizes the benches
 * use, through the native entry point (raw bytes) and through demo_call
 * (a CBOR byte string each way). */
static void echo_expect(size_t n) {
    uint8_t *data = malloc(n + 1);
    CHECK(data != NULL, "malloc(%zu)", n + 1);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + n);

    hc_reply r;
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_echo(ctx, data, n, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    CHECK(r.len == n && (n == 0 || memcmp(r.msg, data, n) == 0), "native echo of %zu bytes came back as %zu", n, r.len);
    hc_reply_free(&r);

    size_t cap = n + 16;
    uint8_t *buf = malloc(cap);
    CHECK(buf != NULL, "malloc(%zu)", cap);
    cbor_enc e;
    cbor_enc_init(&e, buf, cap);
    cbor_put_array(&e, 1);
    cbor_put_bytes(&e, data, n);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_ECHO, &e, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_OK(&r);
    cbor_dec d;
    cbor_dec_init(&d, r.msg, r.len);
    const uint8_t *got = NULL;
    size_t got_len = 0;
    CHECK(cbor_read_bytes(&d, &got, &got_len) && cbor_at_end(&d), "echo reply is one CBOR byte string");
    CHECK(got_len == n && (n == 0 || memcmp(got, data, n) == 0), "CBOR echo of %zu bytes came back as %zu", n, got_len);
    hc_reply_free(&r);
    free(buf);
    free(data);
}

static void test_echo(void) {
    static const size_t sizes[] = {0, 1, 100, 1024, 10 * 1024, 64 * 1024, 150 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) echo_expect(sizes[i]);
}

/* Each outcome the runtime gives demo's callbacks, with its code: teardown
 * (RET_SHUTTING_DOWN), a panic (RET_PANIC), arguments that do not decode
 * (RET_INVALID_ARG); demo's own errors stay RET_ERR. And RET_IS_ERROR is
 * true for every code but RET_OK. */
static void test_outcome_codes(void) {
    static const int codes[] = {RET_OK,          RET_ERR,         RET_SHUTTING_DOWN,  RET_OVERLOADED,
                                RET_TIMED_OUT,   RET_CANCELLED,   RET_NOT_REGISTERED, RET_INVALID_ARG,
                                RET_PANIC,       RET_ERR_TYPED};
    /* The codes are stable: their values never change. */
    for (int i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
        CHECK(codes[i] == i, "%s is %d, expected %d", hc_ret_name(codes[i]), codes[i], i);
        CHECK(RET_IS_ERROR(codes[i]) == (i > 0), "RET_IS_ERROR(%s) is %d", hc_ret_name(codes[i]),
              (int)RET_IS_ERROR(codes[i]));
    }
    CHECK(!RET_IS_ERROR(RET_OK), "RET_IS_ERROR(RET_OK)");
    /* A code this header does not know yet is a failure too. */
    CHECK(RET_IS_ERROR(RET_ERR_TYPED + 1) && RET_IS_ERROR(-1) && RET_IS_ERROR(1000), "RET_IS_ERROR of unknown codes");

    uint8_t buf[64];
    cbor_enc e;
    hc_reply r;

    /* RET_INVALID_ARG: add with a text where an integer belongs. */
    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_array(&e, 2);
    cbor_put_cstr(&e, "two");
    cbor_put_uint(&e, 3);
    CHECK_STATUS(hc_call(ctx, DEMO_METHOD_ADD, &e, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_FAIL_HAS(&r, RET_INVALID_ARG, "bad request for 'add': ");
    CHECK(strncmp(r.msg, "bad request for 'add': ", 23) == 0, "invalid-argument text \"%s\"", r.msg);
    hc_reply_free(&r);

    /* RET_PANIC through demo_call and through the native entry point. */
    call_text(DEMO_METHOD_PANIC_WITH, "outcome", &r);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "outcome");
    hc_reply_free(&r);
    hc_reply_init(&r);
    CHECK_STATUS(demo_native_panic_with(ctx, "native outcome", 14, hc_reply_cb, &r), HC_OK);
    hc_reply_wait(&r);
    CHECK_REPLY_PANIC(&r, DEMO_METHOD_PANIC_WITH, "native outcome");
    hc_reply_free(&r);

    /* RET_ERR: demo's own error, through demo_call and the typed callback. */
    add_expect_overflow(INT64_MAX, INT64_MAX);
    native_add_expect(INT64_MIN, -1, RET_ERR, 0, "integer overflow: -9223372036854775808 + -1 does not fit in i64");

    /* RET_SHUTTING_DOWN: destroy with a login pending on a held host call. */
    hc_held held;
    hc_held_init(&held);
    void *fresh = hc_demo_new(NULL, 0);
    CHECK(fresh != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(
        demo_register_host_fn_cancellable(fresh, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel, &held),
        HC_OK);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, "pending");
    CHECK_STATUS(hc_call(fresh, DEMO_METHOD_LOGIN, &e, &r), HC_OK);
    hc_held_wait_calls(&held, 1);
    CHECK(hc_reply_count(&r) == 0, "login replied while its host call was held");
    CHECK_STATUS(demo_destroy(fresh), HC_OK);
    /* destroy returns after the pending reply was delivered. */
    CHECK_REPLY_SHUTTING_DOWN(&r);
    CHECK(hc_held_cancel_count(&held, hc_held_token_of(&held, "pending")) == 1, "held call not cancelled once");
    hc_reply_free(&r);
    hc_held_free(&held);
}

int main(void) {
    main_thread = pthread_self();
    ctx = hc_demo_new(NULL, 0);
    CHECK(ctx != NULL, "demo_new(NULL, 0): %s", hc_last_error());

    hc_queue_init(&work);
    hc_spawn(&worker_thread, worker_main, &work);

    test_version();
    test_add();
    test_login_inline();
    test_login_threaded();
    test_ping_host();
    test_login_many();
    test_host_error();
    test_not_registered();
    test_registration_order();
    test_panic();
    test_reentrancy();
    test_native();
    test_echo();
    test_outcome_codes();

    CHECK_STATUS(demo_destroy(ctx), HC_OK);
    hc_queue_close(&work);
    hc_join(worker_thread);
    hc_queue_free(&work);
    /* Counted after each completion returned, so only final once joined. */
    CHECK(atomic_load(&worker_completions) == 5, "worker completed %d", atomic_load(&worker_completions));

    hc_lock(&loop_mu);
    CHECK(loop_observations > 20, "only %d loop-thread observations", loop_observations);
    hc_unlock(&loop_mu);
    return hc_done();
}
