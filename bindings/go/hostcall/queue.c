/* queue.c - see queue.h. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT; before any header */
#include "queue.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_QUEUES 4096
#define ID_BITS 48

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t ready;
    hc_item *items;
    int count, cap;
    bool closed, waiting;
    /* Items the taker took last time: a taker that got a burst sleeps at
     * once (the goroutines it started need the cores), one that got one or
     * two watches the queue first (see spin_for_items). Taker only. */
    int last_taken;
    /* Set once by hc_queue_bind, before any host fn can be invoked. */
    void *ctx;
    hc_origin_fn origin;
} queue;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static queue *queues[MAX_QUEUES];

int hc_queue_open(void) {
    queue *q = calloc(1, sizeof *q);
    if (q == NULL) {
        return -1;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->ready, NULL);
    pthread_mutex_lock(&registry_mu);
    for (int i = 1; i < MAX_QUEUES; i++) {
        if (queues[i] == NULL) {
            queues[i] = q;
            pthread_mutex_unlock(&registry_mu);
            return i;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->mu);
    free(q);
    return -1;
}

/* Finds and locks the queue of `key`. The registry lock is held until the
 * queue's own lock is taken, so a queue is never freed under a pusher (the
 * release below takes both locks in the same order). */
static queue *lock_queue(uint64_t key) {
    uint64_t index = key >> ID_BITS;
    if (index == 0 || index >= MAX_QUEUES) {
        return NULL;
    }
    pthread_mutex_lock(&registry_mu);
    queue *q = queues[index];
    if (q != NULL) {
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&registry_mu);
    return q;
}

/* An item the queue cannot hold would be a reply never delivered or a host
 * call never answered: the call would hang instead of ending. The library
 * itself aborts when an allocation fails (Rust's policy), so the queue does
 * the same, loudly, rather than lose the item. */
static void out_of_memory(size_t bytes) {
    fprintf(stderr, "hostcall: out of memory queueing a callback for Go (%zu bytes)\n", bytes);
    abort();
}

/* Appends an item, copying `len` bytes of `data`. Runs on the loop thread.
 * For a host fn invocation (`value` its token), it first asks the bound
 * library which request the call serves (host_call_origin must be asked
 * inside the invocation): under the queue's lock, which the library call
 * never takes, and which no holder keeps while calling the library. */
static void push(void *user_data, uint8_t kind, int32_t ret, uint64_t value, const char *data, size_t len) {
    uint64_t key = (uint64_t)(uintptr_t)user_data;
    char *copy = NULL;
    if (data != NULL && len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            out_of_memory(len);
        }
        memcpy(copy, data, len);
    }
    queue *q = lock_queue(key);
    if (q == NULL || q->closed) {
        if (q != NULL) {
            pthread_mutex_unlock(&q->mu);
        }
        free(copy);
        return;
    }
    uint64_t origin = 0;
    if (kind == HC_ITEM_HOST_FN && q->origin != NULL) {
        origin = q->origin(q->ctx, value);
    }
    if (q->count == q->cap) {
        int cap = q->cap ? q->cap * 2 : 64;
        hc_item *grown = realloc(q->items, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            out_of_memory((size_t)cap * sizeof *grown);
        }
        q->items = grown;
        q->cap = cap;
    }
    q->items[q->count] = (hc_item){
        .kind = kind,
        .ret = ret,
        .id = key & ((UINT64_C(1) << ID_BITS) - 1),
        .value = value,
        .origin = origin,
        .data = copy,
        .len = len,
    };
    /* Atomic so that a taker watching the queue (see spin_for_items) may
     * read it without the lock; written only under the lock. */
    __atomic_store_n(&q->count, q->count + 1, __ATOMIC_RELEASE);
    bool wake = q->waiting;
    pthread_mutex_unlock(&q->mu);
    if (wake) {
        pthread_cond_signal(&q->ready);
    }
}

void hc_queue_bind(int index, void *ctx, hc_origin_fn origin) {
    if (index <= 0 || index >= MAX_QUEUES) {
        return;
    }
    pthread_mutex_lock(&registry_mu);
    queue *q = queues[index];
    if (q != NULL) {
        pthread_mutex_lock(&q->mu);
        q->ctx = ctx;
        q->origin = origin;
        pthread_mutex_unlock(&q->mu);
    }
    pthread_mutex_unlock(&registry_mu);
}

/* How long a taker watches an empty queue before it sleeps, and how often
 * it yields its core meanwhile. An item arriving in the window (a host fn's
 * invocation or a reply, typically a few microseconds after the previous
 * one when calls go one at a time) costs no futex wake-up; on a small VM a
 * wake-up costs 20-60 us. Only after small takes (SPIN_AFTER items or
 * fewer): after a burst the cores belong to the goroutines it started
 * (measured: watching after every take cost LoginMany10k a fifth). */
#define SPIN_AFTER 2
#define SPIN_NS 20000
#define YIELD_NS 5000

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Whether a core is spare for watching: no more threads runnable than this
 * process may use (Linux: /proc/loadavg's running count, read at most every
 * 5 ms), as the library's own loop decides (docs/threading.md, "CPU use").
 * Measured: watching on a saturated machine cost the loadbench service 9 us
 * of CPU per request. */
static bool core_spare(void) {
    static _Atomic uint64_t checked_at;
    static _Atomic bool spare = true;
    uint64_t now = now_ns();
    if (now - checked_at < 5000000u) {
        return spare;
    }
    checked_at = now;
    bool answer = true;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        double a, b, c;
        int running = 0, total = 0;
        if (fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) == 5) {
            cpu_set_t set;
            long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
            answer = running <= cores;
        }
        fclose(f);
    }
    spare = answer;
    return answer;
}

/* Watches q->count without the lock for up to SPIN_NS; true if items came. */
static bool spin_for_items(queue *q) {
    uint64_t start = now_ns(), yielded = start;
    for (unsigned spins = 1;; spins++) {
        if (__atomic_load_n(&q->count, __ATOMIC_ACQUIRE) > 0 || __atomic_load_n(&q->closed, __ATOMIC_ACQUIRE)) {
            return true;
        }
        if (spins % 64 == 0) {
            uint64_t now = now_ns();
            if (now - start >= SPIN_NS) {
                return false;
            }
            if (now - yielded >= YIELD_NS) {
                sched_yield();
                yielded = now_ns();
            }
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

int hc_queue_take(int index, hc_item **items) {
    *items = NULL;
    if (index <= 0 || index >= MAX_QUEUES) {
        return 0;
    }
    pthread_mutex_lock(&registry_mu);
    queue *q = queues[index];
    pthread_mutex_unlock(&registry_mu);
    if (q == NULL) {
        return 0;
    }
    if (q->last_taken <= SPIN_AFTER && __atomic_load_n(&q->count, __ATOMIC_ACQUIRE) == 0 && core_spare()) {
        spin_for_items(q);
    }
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) {
        q->waiting = true;
        pthread_cond_wait(&q->ready, &q->mu);
        q->waiting = false;
    }
    int count = q->count;
    q->last_taken = count;
    if (count > 0) {
        *items = q->items;
        q->items = NULL;
        q->cap = 0;
        __atomic_store_n(&q->count, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&q->mu);
        return count;
    }
    /* Closed and empty: release the queue. Take the registry lock after
     * dropping ours (the pushers' order is registry, then queue), remove it,
     * then wait out any pusher that found it before the removal. */
    pthread_mutex_unlock(&q->mu);
    pthread_mutex_lock(&registry_mu);
    queues[index] = NULL;
    pthread_mutex_unlock(&registry_mu);
    pthread_mutex_lock(&q->mu);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->count; i++) {
        free(q->items[i].data);
    }
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->mu);
    free(q->items);
    free(q);
    return 0;
}

void hc_queue_close(int index) {
    if (index <= 0 || index >= MAX_QUEUES) {
        return;
    }
    pthread_mutex_lock(&registry_mu);
    queue *q = queues[index];
    pthread_mutex_unlock(&registry_mu);
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->mu);
    __atomic_store_n(&q->closed, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&q->mu);
    pthread_cond_broadcast(&q->ready);
}

void hc_items_free(hc_item *items, int count) {
    for (int i = 0; i < count; i++) {
        free(items[i].data);
    }
    free(items);
}

void hc_reply_trampoline(int ret, const char *msg, size_t len, void *user_data) {
    push(user_data, HC_ITEM_REPLY, ret, 0, msg, len);
}

void hc_reply_i64_trampoline(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    push(user_data, HC_ITEM_REPLY_I64, ret, (uint64_t)value, err, err_len);
}

void hc_reply_u64_trampoline(int ret, uint64_t value, const char *err, size_t err_len, void *user_data) {
    push(user_data, HC_ITEM_REPLY_U64, ret, value, err, err_len);
}

void hc_reply_f64_trampoline(int ret, double value, const char *err, size_t err_len, void *user_data) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    push(user_data, HC_ITEM_REPLY_F64, ret, bits, err, err_len);
}

void hc_reply_bool_trampoline(int ret, bool value, const char *err, size_t err_len, void *user_data) {
    push(user_data, HC_ITEM_REPLY_BOOL, ret, value ? 1 : 0, err, err_len);
}

void hc_host_fn_trampoline(uint64_t token, const char *req, size_t req_len, void *user_data) {
    push(user_data, HC_ITEM_HOST_FN, 0, token, req, req_len);
}

void hc_cancel_trampoline(uint64_t token, void *user_data) {
    push(user_data, HC_ITEM_CANCEL, 0, token, NULL, 0);
}

void hc_event_trampoline(int ret, const char *msg, size_t len, void *user_data) {
    push(user_data, HC_ITEM_EVENT, ret, 0, msg, len);
}
