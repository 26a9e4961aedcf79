/*
 * demo_host.c - a small C host for libdemo, to see hostcall end to end.
 *
 * Run it with scripts/demo.sh. What happens:
 *
 *  1. demo_new creates a context: the library's event loop starts on its own
 *     thread.
 *  2. We register our implementation of the host fn `fetch_profile`. The
 *     library calls it (on its loop thread) whenever Rust code awaits
 *     `fetch_profile(user_id)`. Our implementation must return promptly, so
 *     it only hands the token to our own "executor" (a worker thread), which
 *     looks the profile up and answers with demo_host_complete.
 *  3. We call `login("alice")`: the library fetches alice's profile from us,
 *     builds a Session and replies through our callback.
 *  4. We call `login_many` on three users while listening to `progress`
 *     events, then destroy the context.
 *
 * Everything crosses the boundary as CBOR (c-tests/include/cbor.h is a tiny
 * encoder/decoder); errors cross as UTF-8 text.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor.h"
#include "demo.h"

static void *ctx;

/* ------------------------------------------------ the host's profile store */

typedef struct {
    const char *user_id;
    const char *name;
    uint32_t age;
} profile;

static const profile store[] = {
    {"alice", "Alice Liddell", 31},
    {"bob", "Bob Belcher", 44},
    {"carol", "Carol Danvers", 35},
};

static const profile *find_profile(const char *user_id) {
    for (size_t i = 0; i < sizeof store / sizeof store[0]; i++) {
        if (strcmp(store[i].user_id, user_id) == 0) {
            return &store[i];
        }
    }
    return NULL;
}

/* ------------------------------------- the host's executor: one worker thread */

typedef struct job {
    uint64_t token;
    char user_id[64];
    struct job *next;
} job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    bool stop;
} executor = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false};

/* Looks a profile up and answers the library. Runs on the worker thread. */
static void answer(const job *j) {
    const profile *p = find_profile(j->user_id);
    if (p == NULL) {
        char error[128];
        snprintf(error, sizeof error, "no user named '%s'", j->user_id);
        demo_host_complete(ctx, j->token, RET_ERR, error, strlen(error));
        return;
    }
    uint8_t buf[256];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    cbor_put_map(&e, 3); /* Profile {user_id, name, age} */
    cbor_put_cstr(&e, "user_id");
    cbor_put_cstr(&e, p->user_id);
    cbor_put_cstr(&e, "name");
    cbor_put_cstr(&e, p->name);
    cbor_put_cstr(&e, "age");
    cbor_put_uint(&e, p->age);
    int status = demo_host_complete(ctx, j->token, RET_OK, cbor_enc_data(&e), e.len);
    if (status != HC_OK) {
        fprintf(stderr, "demo_host_complete returned %d\n", status);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&executor.mu);
    for (;;) {
        while (executor.head == NULL && !executor.stop) {
            pthread_cond_wait(&executor.cv, &executor.mu);
        }
        job *j = executor.head;
        if (j == NULL) {
            break; /* stopped and drained */
        }
        executor.head = j->next;
        if (executor.head == NULL) {
            executor.tail = NULL;
        }
        pthread_mutex_unlock(&executor.mu);
        answer(j);
        free(j);
        pthread_mutex_lock(&executor.mu);
    }
    pthread_mutex_unlock(&executor.mu);
    return NULL;
}

/* The host fn `fetch_profile(user_id) -> Profile`. Runs on the library's loop
 * thread: decode the request ([user_id]), queue it, return. */
static void fetch_profile(uint64_t token, const char *req, size_t req_len, void *user_data) {
    (void)user_data;
    job *j = calloc(1, sizeof *j);
    cbor_dec d;
    size_t n;
    cbor_dec_init(&d, req, req_len);
    if (j == NULL || !cbor_read_array(&d, &n) || n != 1 || !cbor_read_text_into(&d, j->user_id, sizeof j->user_id)) {
        free(j);
        static const char bad[] = "fetch_profile: could not read the request";
        demo_host_complete(ctx, token, RET_ERR, bad, strlen(bad));
        return;
    }
    j->token = token;
    pthread_mutex_lock(&executor.mu);
    if (executor.tail) {
        executor.tail->next = j;
    } else {
        executor.head = j;
    }
    executor.tail = j;
    pthread_cond_signal(&executor.cv);
    pthread_mutex_unlock(&executor.mu);
}

/* ------------------------------------------------------- waiting for a reply */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int ret;
    uint8_t *bytes; /* copied: the library's buffer is only valid during the callback */
    size_t len;
} reply;

static void on_reply(int ret, const char *msg, size_t len, void *user_data) {
    reply *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->ret = ret;
    r->bytes = malloc(len + 1);
    if (r->bytes) {
        memcpy(r->bytes, msg, len);
        r->bytes[len] = 0;
        r->len = len;
    }
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Calls `method` with a CBOR request and waits for its one reply; true if
 * the reply is RET_OK (r->bytes is then CBOR; otherwise UTF-8 error text). */
static bool call_and_wait(const char *method, const cbor_enc *request, reply *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int status = demo_call(ctx, method, cbor_enc_data(request), request->len, on_reply, r);
    if (status != HC_OK) {
        char why[256];
        demo_last_error(why, sizeof why);
        fprintf(stderr, "demo_call(%s) returned %d: %s\n", method, status, why);
        return false;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return r->ret == RET_OK && r->bytes != NULL;
}

static void report_failure(const char *what, const reply *r) {
    fprintf(stderr, "%s failed: %s\n", what, r->bytes ? (const char *)r->bytes : "(no reply)");
}

static void reply_free(reply *r) {
    free(r->bytes);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* Reads one Session {user_id, greeting} and prints it. */
static bool print_session(cbor_dec *d) {
    char user_id[64] = "", greeting[128] = "";
    size_t fields;
    if (!cbor_read_map(d, &fields)) {
        return false;
    }
    for (size_t i = 0; i < fields; i++) {
        const char *key;
        size_t key_len;
        if (!cbor_read_text(d, &key, &key_len)) {
            return false;
        }
        bool ok = cbor_text_is(key, key_len, "user_id")    ? cbor_read_text_into(d, user_id, sizeof user_id)
                  : cbor_text_is(key, key_len, "greeting") ? cbor_read_text_into(d, greeting, sizeof greeting)
                                                           : cbor_skip(d);
        if (!ok) {
            return false;
        }
    }
    printf("session: user_id=%s greeting=\"%s\"\n", user_id, greeting);
    return true;
}

/* The `progress` event listener: payload Progress {done, total}. */
static void on_progress(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret, (void)user_data;
    uint64_t done = 0, total = 0;
    size_t fields;
    cbor_dec d;
    cbor_dec_init(&d, msg, len);
    if (cbor_read_map(&d, &fields)) {
        for (size_t i = 0; i < fields; i++) {
            const char *key;
            size_t key_len;
            if (!cbor_read_text(&d, &key, &key_len)) {
                break;
            }
            if (cbor_text_is(key, key_len, "done")) {
                cbor_read_uint(&d, &done);
            } else if (cbor_text_is(key, key_len, "total")) {
                cbor_read_uint(&d, &total);
            } else {
                cbor_skip(&d);
            }
        }
    }
    printf("progress: %llu/%llu\n", (unsigned long long)done, (unsigned long long)total);
}

int main(void) {
    uint8_t buf[256];
    cbor_enc request;
    reply r;
    int failures = 0;

    ctx = demo_new(NULL, 0); /* NULL config: defaults */
    if (ctx == NULL) {
        char why[256];
        demo_last_error(why, sizeof why);
        fprintf(stderr, "demo_new failed: %s\n", why);
        return 1;
    }
    pthread_t worker;
    pthread_create(&worker, NULL, worker_main, NULL);
    if (demo_register_host_fn(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_profile, NULL) != HC_OK) {
        fprintf(stderr, "could not register fetch_profile\n");
        return 1;
    }

    /* login("alice") -> Session */
    cbor_enc_init(&request, buf, sizeof buf);
    cbor_put_array(&request, 1);
    cbor_put_cstr(&request, "alice");
    if (call_and_wait(DEMO_METHOD_LOGIN, &request, &r)) {
        cbor_dec d;
        cbor_dec_init(&d, r.bytes, r.len);
        failures += !print_session(&d);
    } else {
        report_failure("login(\"alice\")", &r);
        failures++;
    }
    reply_free(&r);

    /* login_many(["alice", "bob", "carol"]) -> [Session], with progress events */
    uint64_t listener = demo_add_event_listener(ctx, DEMO_EVENT_PROGRESS, on_progress, NULL);
    cbor_enc_init(&request, buf, sizeof buf);
    cbor_put_array(&request, 1);
    cbor_put_array(&request, 3);
    cbor_put_cstr(&request, "alice");
    cbor_put_cstr(&request, "bob");
    cbor_put_cstr(&request, "carol");
    if (call_and_wait(DEMO_METHOD_LOGIN_MANY, &request, &r)) {
        cbor_dec d;
        size_t n;
        cbor_dec_init(&d, r.bytes, r.len);
        if (cbor_read_array(&d, &n)) {
            for (size_t i = 0; i < n; i++) {
                failures += !print_session(&d);
            }
        } else {
            failures++;
        }
    } else {
        report_failure("login_many", &r);
        failures++;
    }
    reply_free(&r);
    demo_remove_event_listener(ctx, listener);

    /* An unknown user: the host answers RET_ERR, the library passes it on. */
    cbor_enc_init(&request, buf, sizeof buf);
    cbor_put_array(&request, 1);
    cbor_put_cstr(&request, "mallory");
    if (call_and_wait(DEMO_METHOD_LOGIN, &request, &r) || r.bytes == NULL || r.ret != RET_ERR) {
        /* should not succeed; and login's error is the library's own (RET_ERR) */
        report_failure("login(\"mallory\") with RET_ERR", &r);
        failures++;
    } else {
        printf("login(\"mallory\") failed, as it should: %s\n", (char *)r.bytes);
    }
    reply_free(&r);

    demo_destroy(ctx); /* joins the loop thread; nothing runs after this */

    pthread_mutex_lock(&executor.mu);
    executor.stop = true;
    pthread_cond_signal(&executor.cv);
    pthread_mutex_unlock(&executor.mu);
    pthread_join(worker, NULL);

    if (failures) {
        fprintf(stderr, "%d step(s) failed\n", failures);
        return 1;
    }
    printf("done\n");
    return 0;
}
