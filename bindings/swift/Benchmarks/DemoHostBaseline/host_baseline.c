// The C host baseline of the Swift benchmark (DemoBench): `login` one at a
// time through demo's C ABI from C.
//
// 1. A fresh context; `fetch_profile` registered with a C host fn.
// 2. For each login the caller calls `demo_call("login", ["u1"])` and waits
//    on a condition variable until the reply callback signals it.
// 3. The host fn answers a fixed `Profile` either inline (on the library's
//    thread) or through a worker thread woken by a condition variable, which
//    calls `demo_host_complete`: the same hand-offs a binding makes.
#include "demo_host_baseline.h"

#include <demo.h>
#include <pthread.h>
#include <stdio.h>
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

    struct waiter reply;
    pthread_mutex_init(&reply.lock, NULL);
    pthread_cond_init(&reply.cond, NULL);
    double start = now_ns();
    uint64_t i;
    for (i = 0; i < n; i++) {
        reply.done = 0;
        if (demo_call(ctx, "login", (const char *)LOGIN_ARGS, sizeof LOGIN_ARGS, on_reply, &reply) != HC_OK) break;
        pthread_mutex_lock(&reply.lock);
        while (!reply.done) pthread_cond_wait(&reply.cond, &reply.lock);
        pthread_mutex_unlock(&reply.lock);
        if (reply.ret != RET_OK) break;
    }
    if (i == n) result = (now_ns() - start) / (double)n;

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
