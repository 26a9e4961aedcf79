/* baseline.c - the same-process baselines of the Go round trip (see
 * baseline.go): a C host of libdemo doing what BenchmarkLogin does, and two
 * C threads passing a turn back and forth (the OS wake-up alone). */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "demo.h"

/* One waiter, one waker: a turn passed through a mutex and a condvar. */
struct turn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t posted, taken;
};

static void turn_init(struct turn *t) {
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->posted = t->taken = 0;
}

static void turn_destroy(struct turn *t) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

static void turn_post(struct turn *t) {
    pthread_mutex_lock(&t->mu);
    t->posted++;
    pthread_mutex_unlock(&t->mu);
    pthread_cond_signal(&t->cv);
}

static void turn_take(struct turn *t) {
    pthread_mutex_lock(&t->mu);
    while (t->posted == t->taken) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    t->taken++;
    pthread_mutex_unlock(&t->mu);
}

/* The C host. */
struct host {
    void *ctx;
    bool worker;
    struct turn reply;   /* the caller waits for its reply */
    int ret;
    struct turn job;     /* the worker waits for a host call */
    uint64_t token;
    bool stop;
    pthread_t thread;
};

/* {"age": 36, "name": "Ada", "user_id": "u1"} */
static const char profile[] = "\xa3\x63" "age" "\x18\x24" "\x64" "name" "\x63" "Ada" "\x67" "user_id" "\x62" "u1";

static void complete(struct host *h, uint64_t token) {
    demo_host_complete(h->ctx, token, 0, profile, sizeof profile - 1);
}

static void fetch_profile(uint64_t token, const char *req, size_t len, void *user_data) {
    (void)req;
    (void)len;
    struct host *h = user_data;
    if (!h->worker) {
        complete(h, token); /* inline, on the loop thread */
        return;
    }
    pthread_mutex_lock(&h->job.mu);
    h->token = token;
    pthread_mutex_unlock(&h->job.mu);
    turn_post(&h->job);
}

static void *worker(void *arg) {
    struct host *h = arg;
    for (;;) {
        turn_take(&h->job);
        pthread_mutex_lock(&h->job.mu);
        bool stop = h->stop;
        uint64_t token = h->token;
        pthread_mutex_unlock(&h->job.mu);
        if (stop) {
            return NULL;
        }
        complete(h, token);
    }
}

static void on_reply(int ret, const char *msg, size_t len, void *user_data) {
    (void)msg;
    (void)len;
    struct host *h = user_data;
    h->ret = ret;
    turn_post(&h->reply);
}

/* n logins one at a time through demo_call, each awaiting fetch_profile in
 * C: completed inline on the loop thread, or by a worker thread the host
 * fn wakes (as the Go dispatcher wakes a goroutine). 0 when all succeeded. */
int dbb_c_login(uint64_t n, int use_worker, uint64_t spin_us) {
    /* {"spin_us": spin_us} */
    char config[18] = "\xa1\x67" "spin_us" "\x1b";
    for (int i = 0; i < 8; i++) {
        config[10 + i] = (char)(spin_us >> (56 - 8 * i));
    }
    struct host h = {.worker = use_worker != 0};
    h.ctx = demo_new(config, 18);
    if (h.ctx == NULL) {
        return -1;
    }
    turn_init(&h.reply);
    turn_init(&h.job);
    int failed = demo_register_host_fn(h.ctx, "fetch_profile", fetch_profile, &h) != HC_OK;
    if (!failed && h.worker && pthread_create(&h.thread, NULL, worker, &h) != 0) {
        h.worker = false;
        failed = 1;
    }
    static const char request[] = "\x81\x62" "u1";
    for (uint64_t i = 0; i < n && !failed; i++) {
        if (demo_call(h.ctx, "login", request, sizeof request - 1, on_reply, &h) != HC_OK) {
            failed = 1;
            break;
        }
        turn_take(&h.reply);
        failed = h.ret != 0;
    }
    if (h.worker) {
        pthread_mutex_lock(&h.job.mu);
        h.stop = true;
        pthread_mutex_unlock(&h.job.mu);
        turn_post(&h.job);
        pthread_join(h.thread, NULL);
    }
    demo_destroy(h.ctx);
    turn_destroy(&h.job);
    turn_destroy(&h.reply);
    return failed;
}

/* Two threads pass a turn back and forth n times: each round trip is two
 * OS wake-ups of a thread blocked on a condvar. */
struct pingpong {
    struct turn ping, pong;
    uint64_t n;
};

static void *ponger(void *arg) {
    struct pingpong *p = arg;
    for (uint64_t i = 0; i < p->n; i++) {
        turn_take(&p->ping);
        turn_post(&p->pong);
    }
    return NULL;
}

int dbb_c_pingpong(uint64_t n) {
    struct pingpong p = {.n = n};
    turn_init(&p.ping);
    turn_init(&p.pong);
    pthread_t thread;
    if (pthread_create(&thread, NULL, ponger, &p) != 0) {
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        turn_post(&p.ping);
        turn_take(&p.pong);
    }
    pthread_join(thread, NULL);
    turn_destroy(&p.ping);
    turn_destroy(&p.pong);
    return 0;
}
