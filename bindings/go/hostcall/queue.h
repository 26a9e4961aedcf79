/*
 * queue.h - the C side of the Go runtime support for hostcall bindings.
 *
 * Every callback a hostcall library makes (replies, host fn invocations,
 * cancel notices, events) lands in one of these trampolines, on the
 * library's loop thread. A trampoline copies what it was given into an item
 * and appends it to its context's queue; it never calls into Go. One
 * goroutine per context takes the queued items in batches (a blocking cgo
 * call) and dispatches them. A callback from a foreign thread into Go costs
 * microseconds; an append costs tens of nanoseconds, and the goroutine pays
 * one cgo call per batch.
 *
 * The user data of every callback is a key: queue index << 48 | id.
 */
#ifndef HOSTCALL_GO_QUEUE_H
#define HOSTCALL_GO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ABI's callback types. hostcall.h is the same for every library; the
 * build finds it in a library's include directory (CGO_CFLAGS=-I...). */
#include "hostcall.h"

enum {
    HC_ITEM_REPLY = 1,      /* bytes reply of <lib>_call or a native text/bytes/unit call */
    HC_ITEM_REPLY_I64 = 2,  /* typed native replies: the value is in `value` */
    HC_ITEM_REPLY_U64 = 3,
    HC_ITEM_REPLY_F64 = 4,
    HC_ITEM_REPLY_BOOL = 5,
    HC_ITEM_HOST_FN = 6,    /* a host fn invocation: `value` is the token, `origin` its request */
    HC_ITEM_CANCEL = 7,     /* a cancel notice: `value` is the token */
    HC_ITEM_EVENT = 8       /* an event for a listener */
};

typedef struct {
    uint8_t kind;
    int32_t ret;
    uint64_t id;      /* the low 48 bits of the key */
    uint64_t value;   /* token, or a typed reply's bits */
    uint64_t origin;  /* HC_ITEM_HOST_FN: the call id of the request it serves, or 0 */
    char *data;       /* malloc'd copy of the payload, or NULL */
    size_t len;
} hc_item;

/* A library's <lib>_host_call_origin entry point. */
typedef uint64_t (*hc_origin_fn)(void *ctx, uint64_t token);

/* Opens a queue; returns its index (>= 1) or -1 when none is free. */
int hc_queue_open(void);
/* Tells the queue its library context and that library's host_call_origin,
 * which the host fn trampoline then asks (on the loop thread, inside the
 * invocation, as the ABI requires) for the request each host call serves.
 * Called once, before any host fn is registered; without it every host
 * call's origin is 0. */
void hc_queue_bind(int queue, void *ctx, hc_origin_fn origin);
/* Waits until the queue has items (or is closed), then hands them all over:
 * *items receives a malloc'd array to pass to hc_items_free. Returns the
 * count; 0 means closed and empty (the queue is released then). */
int hc_queue_take(int queue, hc_item **items);
/* Closes the queue: hc_queue_take returns what is left, then 0. */
void hc_queue_close(int queue);
/* Frees a batch returned by hc_queue_take. */
void hc_items_free(hc_item *items, int count);

/* The trampolines: each has the exact signature of its callback type in
 * hostcall.h, so a library's entry points take them as they are (the
 * generated glue passes them by name) and a mismatch does not compile. */
void hc_reply_trampoline(int ret, const char *msg, size_t len, void *user_data);
void hc_reply_i64_trampoline(int ret, int64_t value, const char *err, size_t err_len, void *user_data);
void hc_reply_u64_trampoline(int ret, uint64_t value, const char *err, size_t err_len, void *user_data);
void hc_reply_f64_trampoline(int ret, double value, const char *err, size_t err_len, void *user_data);
void hc_reply_bool_trampoline(int ret, bool value, const char *err, size_t err_len, void *user_data);
void hc_host_fn_trampoline(uint64_t token, const char *req, size_t req_len, void *user_data);
void hc_cancel_trampoline(uint64_t token, void *user_data);
void hc_event_trampoline(int ret, const char *msg, size_t len, void *user_data);

/* The check, made wherever this header is included: each trampoline's type
 * is its callback type's, exactly. */
#define HC_TRAMPOLINE_IS(fn, type) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&fn), type), #fn " is not a " #type)
HC_TRAMPOLINE_IS(hc_reply_trampoline, FFICallBack);
HC_TRAMPOLINE_IS(hc_reply_i64_trampoline, FFICallBackI64);
HC_TRAMPOLINE_IS(hc_reply_u64_trampoline, FFICallBackU64);
HC_TRAMPOLINE_IS(hc_reply_f64_trampoline, FFICallBackF64);
HC_TRAMPOLINE_IS(hc_reply_bool_trampoline, FFICallBackBool);
HC_TRAMPOLINE_IS(hc_host_fn_trampoline, FFIHostFn);
HC_TRAMPOLINE_IS(hc_cancel_trampoline, FFIHostCancelFn);
HC_TRAMPOLINE_IS(hc_event_trampoline, FFICallBack);
#undef HC_TRAMPOLINE_IS

#endif
