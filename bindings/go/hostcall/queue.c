/* queue.c - see queue.h. */
#include "queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUEUES 4096
#define ID_BITS 48

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t ready;
    hc_item *items;
    int count, cap;
    bool closed, waiting;
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
            len = 0;
        } else {
            memcpy(copy, data, len);
        }
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
            pthread_mutex_unlock(&q->mu);
            free(copy);
            return;
        }
        q->items = grown;
        q->cap = cap;
    }
    q->items[q->count++] = (hc_item){
        .kind = kind,
        .ret = ret,
        .id = key & ((UINT64_C(1) << ID_BITS) - 1),
        .value = value,
        .origin = origin,
        .data = copy,
        .len = len,
    };
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
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) {
        q->waiting = true;
        pthread_cond_wait(&q->ready, &q->mu);
        q->waiting = false;
    }
    int count = q->count;
    if (count > 0) {
        *items = q->items;
        q->items = NULL;
        q->count = q->cap = 0;
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
    q->closed = true;
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
