// The C host baseline of the Swift benchmark (DemoBench): `login` one at a
// time through demo's C ABI from C.
//
// 1. A fresh context; `fetch_profile` registered with a C host fn.
// 2. For each login the caller calls `demo_call("login", ["u1"])` and waits
//    on a condition variable until the reply callback signals it.
// 3. The host fn answers a fixed `Profile` either inline (on the library's
//    thread) or through a worker thread woken by a condition variable, which
//    calls `demo_host_complete`: the same hand-offs a binding makes.
// 4. Throughput: `login_many` of 10,000 ids, the host fn queueing each token
//    for the worker thread, which takes every queued token at once and
//    completes them in a batch.
#include "demo_host_baseline.h"

#include <demo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// {"user_id": "u1", "name": "U1", "age": 42}
static const unsigned char PROFILE[] = {
    0xa3, 0x67, 'u', 's', 'e', 'r', '_', 'i', 'd', 0x62, 'u', '1', 0x64, 'n', 'a', 'm',
    'e',  0x62, 'U', '1', 0x63, 'a', 'g', 'e', 0x18, 42,
};
// ["u1"]
static const unsigned char LOGIN_ARGS[] = {0x81, 0x62, 'u', '1'};

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int ret;
};

struct worker {
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t token;
    int has_token;
    int stop;
    pthread_t thread;
    // The batch mode's queue of tokens.
    uint64_t *queue;
    size_t queued, capacity;
    int waiting;
};

struct host {
    void *ctx;
    struct worker *worker;
};

static void on_reply(int ret, const char *msg, size_t len, void *user_data) {
    (void)msg;
    (void)len;
    struct waiter *w = user_data;
    pthread_mutex_lock(&w->lock);
    w->ret = ret;
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void fetch_inline(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req;
    (void)len;
    struct host *h = user_data;
    demo_host_complete(h->ctx, token, RET_OK, (const char *)PROFILE, sizeof PROFILE);
}

static void fetch_to_worker(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req;
    (void)len;
    struct worker *w = ((struct host *)user_data)->worker;
    pthread_mutex_lock(&w->lock);
    w->token = token;
    w->has_token = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *work(void *arg) {
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->has_token && !w->stop) pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop) break;
        uint64_t token = w->token;
        w->has_token = 0;
        pthread_mutex_unlock(&w->lock);
        demo_host_complete(w->ctx, token, RET_OK, (const char *)PROFILE, sizeof PROFILE);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/// Calls `method` `n` times, each after the last one's reply; 1 when every
/// call succeeded.
static int call_in_turn(void *ctx, const char *method, const unsigned char *req, size_t len, uint64_t n) {
    struct waiter reply;
    pthread_mutex_init(&reply.lock, NULL);
    pthread_cond_init(&reply.cond, NULL);
    for (uint64_t i = 0; i < n; i++) {
        reply.done = 0;
        if (demo_call(ctx, method, (const char *)req, len, on_reply, &reply) != HC_OK) return 0;
        pthread_mutex_lock(&reply.lock);
        while (!reply.done) pthread_cond_wait(&reply.cond, &reply.lock);
        pthread_mutex_unlock(&reply.lock);
        if (reply.ret != RET_OK) return 0;
    }
    return 1;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

double demo_host_baseline_login_ns(uint64_t n, int mode, int64_t spin_us) {
    // {"spin_us": spin_us} when given (spin_us below 24, one CBOR byte,
    // or below 65536 with a two-byte argument).
    unsigned char config[16];
    size_t config_len = 0;
    if (spin_us >= 0) {
        const char key[] = "spin_us";
        config[config_len++] = 0xa1;
        config[config_len++] = 0x60 | 7;
        memcpy(config + config_len, key, 7);
        config_len += 7;
        if (spin_us < 24) {
            config[config_len++] = (unsigned char)spin_us;
        } else {
            config[config_len++] = 0x19;
            config[config_len++] = (unsigned char)(spin_us >> 8);
            config[config_len++] = (unsigned char)spin_us;
        }
    }
    void *ctx = demo_new(config_len ? (const char *)config : NULL, config_len);
    if (!ctx) return -1;
    struct worker w = {.ctx = ctx};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    struct host h = {.ctx = ctx, .worker = &w};
    double result = -1;
    if (mode == DEMO_HOST_BASELINE_WORKER && pthread_create(&w.thread, NULL, work, &w) != 0) goto out;
    FFIHostFn fn = mode == DEMO_HOST_BASELINE_WORKER ? fetch_to_worker : fetch_inline;
    if (demo_register_host_fn(ctx, "fetch_profile", fn, &h) != HC_OK) goto join;

    double start = now_ns();
    if (call_in_turn(ctx, "login", LOGIN_ARGS, sizeof LOGIN_ARGS, n)) result = (now_ns() - start) / (double)n;

join:
    if (mode == DEMO_HOST_BASELINE_WORKER) {
        pthread_mutex_lock(&w.lock);
        w.stop = 1;
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(w.thread, NULL);
    }
out:
    demo_destroy(ctx);
    return result;
}

static void fetch_to_batch(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req;
    (void)len;
    struct worker *w = ((struct host *)user_data)->worker;
    pthread_mutex_lock(&w->lock);
    if (w->queued == w->capacity) {
        size_t capacity = w->capacity ? 2 * w->capacity : 1024;
        uint64_t *grown = realloc(w->queue, capacity * sizeof *grown);
        if (!grown) abort();  // a benchmark: out of memory ends it
        w->queue = grown;
        w->capacity = capacity;
    }
    w->queue[w->queued++] = token;
    if (w->waiting) pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *work_batches(void *arg) {
    struct worker *w = arg;
    uint64_t *batch = NULL;
    size_t capacity = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queued && !w->stop) {
            w->waiting = 1;
            pthread_cond_wait(&w->cond, &w->lock);
            w->waiting = 0;
        }
        if (w->stop) break;
        // Take every queued token, complete them outside the lock.
        size_t n = w->queued;
        if (n > capacity) {
            uint64_t *grown = realloc(batch, n * sizeof *grown);
            if (!grown) abort();  // a benchmark: out of memory ends it
            batch = grown;
            capacity = n;
        }
        memcpy(batch, w->queue, n * sizeof *batch);
        w->queued = 0;
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n; i++)
            demo_host_complete(w->ctx, batch[i], RET_OK, (const char *)PROFILE, sizeof PROFILE);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    free(batch);
    return NULL;
}

double demo_host_baseline_login_many_rate(uint64_t ops, uint32_t ids) {
    // ["u0", ..., "u<ids-1>"] as login_many's one argument.
    size_t cap = 16 + (size_t)ids * 12;
    unsigned char *req = malloc(cap);
    if (!req) return -1;
    size_t at = 0;
    req[at++] = 0x81;
    req[at++] = 0x9a;
    for (int s = 24; s >= 0; s -= 8) req[at++] = (unsigned char)(ids >> s);
    for (uint32_t i = 0; i < ids; i++) {
        char id[12];
        int n = snprintf(id, sizeof id, "u%u", i);
        req[at++] = (unsigned char)(0x60 | n);
        memcpy(req + at, id, (size_t)n);
        at += (size_t)n;
    }
    void *ctx = demo_new(NULL, 0);
    double result = -1;
    if (!ctx) goto free_req;
    struct worker w = {.ctx = ctx};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    struct host h = {.ctx = ctx, .worker = &w};
    if (pthread_create(&w.thread, NULL, work_batches, &w) != 0) goto destroy;
    if (demo_register_host_fn(ctx, "fetch_profile", fetch_to_batch, &h) != HC_OK) goto join;
    double start = now_ns();
    if (call_in_turn(ctx, "login_many", req, at, ops)) result = (double)ops * ids / ((now_ns() - start) / 1e9);
join:
    pthread_mutex_lock(&w.lock);
    w.stop = 1;
    pthread_cond_signal(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(w.thread, NULL);
    free(w.queue);
destroy:
    demo_destroy(ctx);
free_req:
    free(req);
    return result;
}
