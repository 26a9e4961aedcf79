/* direct.c - the C side of design A (see direct.go): the library's
 * callbacks call straight into exported Go functions, on the loop thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "demo.h"
#include "queue.h"
#include "_cgo_export.h"

static void a_host_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    designAHostFn(token, (char *)req, len, (uintptr_t)user_data);
}

static void a_cancel(uint64_t token, void *user_data) {
    designACancel(token, (uintptr_t)user_data);
}

static void a_reply(int ret, const char *msg, size_t len, void *user_data) {
    designAReply(ret, (char *)msg, len, (uintptr_t)user_data);
}

uintptr_t dba_new(void) { return (uintptr_t)demo_new(NULL, 0); }

int dba_destroy(uintptr_t ctx) { return demo_destroy((void *)ctx); }

int dba_register(uintptr_t ctx, const char *name, uintptr_t key) {
    return demo_register_host_fn_cancellable((void *)ctx, name, a_host_fn, a_cancel, (void *)key);
}

int dba_call(uintptr_t ctx, const char *method, const char *req, size_t len, uintptr_t key) {
    return demo_call((void *)ctx, method, req, len, a_reply, (void *)key);
}

int dba_complete(uintptr_t ctx, uint64_t token, int ret, const char *msg, size_t len) {
    return demo_host_complete((void *)ctx, token, ret, msg, len);
}

/* The transport alone, without the library: a thread created in C (as the
 * library's loop thread is) calls a callback `n` times in a row, as fast as
 * it can. */

struct drive {
    int kind; /* 0: a host fn callback, 1: an event callback */
    FFIHostFn host_fn;
    FFICallBack event;
    uint64_t n;
    uintptr_t key;
};

static void *drive_thread(void *arg) {
    struct drive *d = arg;
    static const char req[] = {(char)0x81, (char)0x61, 'x'}; /* CBOR ["x"] */
    for (uint64_t i = 0; i < d->n; i++) {
        if (d->kind == 0) {
            d->host_fn(i + 1, req, sizeof req, (void *)d->key);
        } else {
            d->event(0, req, sizeof req, (void *)d->key);
        }
    }
    return NULL;
}

static void bare_host_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    designABareHostFn(token, (char *)req, len, (uintptr_t)user_data);
}

static void bare_event(int ret, const char *msg, size_t len, void *user_data) {
    designABareEvent(ret, (char *)msg, len, (uintptr_t)user_data);
}

/* design 0 drives design A's bare callbacks, 1 the runtime's trampolines. */
int dba_drive(int design, int kind, uint64_t n, uintptr_t key) {
    struct drive d = {kind, bare_host_fn, bare_event, n, key};
    if (design == 1) {
        d.host_fn = hc_host_fn_trampoline;
        d.event = hc_event_trampoline;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, drive_thread, &d) != 0) {
        return -1;
    }
    return pthread_join(thread, NULL);
}
