/*
 * hostcall_jni.h - JNI glue shared by every generated <lib>_jni.c.
 *
 * Two directions cross here.
 *
 * Down (Kotlin -> library): the generated Java_* functions run on the
 * calling Java thread. They borrow byte arrays for the length of one entry
 * point (which copies them), and when an entry point refuses, they read the
 * library's last error *in the same native call* - it is kept per OS thread,
 * and a coroutine may be on another thread by the time a second JNI call
 * could ask - and throw it as dev.hostcall.runtime.StatusException.
 *
 * Up (library -> Kotlin): the library calls back (replies, host fn
 * invocations, cancel notices, events) on its own loop thread, which the
 * JVM did not create. Each callback becomes one upcall to a static method
 * of dev.hostcall.runtime.Upcalls, following the JNI rules:
 *
 *  1. The loop thread is attached once, as a daemon, the first time it
 *     calls back (attaching per callback costs tens of microseconds), under
 *     its own OS name ("hostcall-<prefix>").
 *  2. It is detached when the thread exits, by a pthread key destructor
 *     (HotSpot supports detaching from one).
 *  3. Every local reference an upcall creates is deleted before the
 *     trampoline returns: the loop thread never returns to Java, so nothing
 *     else would free them, and -Xcheck:jni would report the growth.
 *  4. After every upcall a pending Java exception is described and cleared;
 *     none may leak into the next JNI call on this thread. (Upcalls catches
 *     everything itself; this is the second line.)
 *  5. No lock is held while calling into the JVM: this file takes none, and
 *     the library holds none while it calls back.
 *
 * A payload the JVM cannot copy (an OutOfMemoryError in NewByteArray) is
 * not dropped silently: the upcall is made with a null array (and, for a
 * reply, HCJ_RET_LOST), so the waiting call fails instead of hanging.
 *
 * The user data of every callback is a key, (runtime slot << 47) | id; the
 * Kotlin side finds the runtime and the call from it.
 */
#ifndef HOSTCALL_JNI_H
#define HOSTCALL_JNI_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_getname_np */
#endif

#include <jni.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ret of a reply upcall whose payload could not be copied into Java:
 * negative, so that no outcome code (RET_*, all 0 or above, and only ever
 * appended) is mistaken for it. Every other ret is passed up as it came;
 * Kotlin takes anything but RET_OK for a failure, codes it does not know
 * included. */
#define HCJ_RET_LOST (-1)

static JavaVM *hcj_vm;
static pthread_key_t hcj_attached;
static jclass hcj_upcalls;
static jmethodID hcj_reply, hcj_reply_value, hcj_host_fn, hcj_cancel, hcj_event, hcj_status_error;

/* Rule 2: runs at the exit of a thread this file attached. */
static inline void hcj_detach(void *env) {
    (void)env;
    (*hcj_vm)->DetachCurrentThread(hcj_vm);
}

/* Caches the upcall class and methods; call from JNI_OnLoad. */
static inline jint hcj_on_load(JavaVM *vm) {
    JNIEnv *env;
    hcj_vm = vm;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    if (pthread_key_create(&hcj_attached, hcj_detach) != 0) {
        return JNI_ERR;
    }
    jclass local = (*env)->FindClass(env, "dev/hostcall/runtime/Upcalls");
    if (local == NULL) {
        return JNI_ERR; /* NoClassDefFoundError is pending: loadLibrary throws it */
    }
    hcj_upcalls = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    if (hcj_upcalls == NULL) {
        return JNI_ERR;
    }
    struct {
        jmethodID *id;
        const char *name, *signature;
    } methods[] = {
        {&hcj_reply, "reply", "(JI[B)V"},
        {&hcj_reply_value, "replyValue", "(JIJ[B)V"},
        {&hcj_host_fn, "hostFn", "(JJ[B)V"},
        {&hcj_cancel, "cancel", "(JJ)V"},
        {&hcj_event, "event", "(JI[B)V"},
        {&hcj_status_error, "statusError", "([BI[B)Ljava/lang/Throwable;"},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        *methods[i].id = (*env)->GetStaticMethodID(env, hcj_upcalls, methods[i].name, methods[i].signature);
        if (*methods[i].id == NULL) {
            return JNI_ERR; /* NoSuchMethodError is pending */
        }
    }
    return JNI_VERSION_1_8;
}

/* Rule 1: the JNIEnv of this thread, attaching it as a daemon the first
 * time. NULL if the JVM refuses (it is shutting down): the callback is then
 * dropped, since there is no Java left to tell. */
static inline JNIEnv *hcj_env(void) {
    JNIEnv *env;
    jint got = (*hcj_vm)->GetEnv(hcj_vm, (void **)&env, JNI_VERSION_1_8);
    if (got == JNI_OK) {
        return env;
    }
    if (got != JNI_EDETACHED) {
        return NULL;
    }
    char name[16] = "hostcall";
    pthread_getname_np(pthread_self(), name, sizeof name);
    JavaVMAttachArgs args = {JNI_VERSION_1_8, name, NULL};
    if ((*hcj_vm)->AttachCurrentThreadAsDaemon(hcj_vm, (void **)&env, &args) != JNI_OK) {
        fprintf(stderr, "hostcall: the JVM refused to attach thread '%s'; its callbacks are dropped\n", name);
        return NULL;
    }
    pthread_setspecific(hcj_attached, env);
    return env;
}

/* A byte[] copy of `len` bytes, as a local reference: NULL for no bytes, or
 * (with *lost set, and the OutOfMemoryError cleared) when the JVM could not
 * allocate it. */
static inline jbyteArray hcj_bytes(JNIEnv *env, const char *data, size_t len, bool *lost) {
    *lost = false;
    if (data == NULL || len == 0) {
        return NULL;
    }
    jbyteArray array = len <= INT32_MAX ? (*env)->NewByteArray(env, (jsize)len) : NULL;
    if (array == NULL) {
        if ((*env)->ExceptionCheck(env)) {
            (*env)->ExceptionClear(env);
        }
        *lost = true;
        return NULL;
    }
    (*env)->SetByteArrayRegion(env, array, 0, (jsize)len, (const jbyte *)data);
    return array;
}

/* Rules 3 and 4, after an upcall. */
static inline void hcj_after(JNIEnv *env, jobject local) {
    if ((*env)->ExceptionCheck(env)) {
        (*env)->ExceptionDescribe(env);
        (*env)->ExceptionClear(env);
    }
    if (local != NULL) {
        (*env)->DeleteLocalRef(env, local);
    }
}

static inline jlong hcj_key(void *user_data) { return (jlong)(uintptr_t)user_data; }

static inline void hcj_on_reply(int ret, const char *msg, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    bool lost;
    jbyteArray data = hcj_bytes(env, msg, len, &lost);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_reply, hcj_key(user_data), (jint)(lost ? HCJ_RET_LOST : ret),
                                 data);
    hcj_after(env, data);
}

static inline void hcj_reply_bits(int ret, jlong bits, const char *err, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    bool lost;
    jbyteArray error = hcj_bytes(env, err, len, &lost);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_reply_value, hcj_key(user_data),
                                 (jint)(lost ? HCJ_RET_LOST : ret), bits, error);
    hcj_after(env, error);
}

static inline void hcj_on_reply_i64(int ret, int64_t value, const char *err, size_t len, void *user_data) {
    hcj_reply_bits(ret, (jlong)value, err, len, user_data);
}

static inline void hcj_on_reply_u64(int ret, uint64_t value, const char *err, size_t len, void *user_data) {
    hcj_reply_bits(ret, (jlong)value, err, len, user_data);
}

static inline void hcj_on_reply_f64(int ret, double value, const char *err, size_t len, void *user_data) {
    jlong bits;
    memcpy(&bits, &value, sizeof bits);
    hcj_reply_bits(ret, bits, err, len, user_data);
}

static inline void hcj_on_reply_bool(int ret, bool value, const char *err, size_t len, void *user_data) {
    hcj_reply_bits(ret, value ? 1 : 0, err, len, user_data);
}

/* A request is a CBOR array, never empty, so a null array means lost. */
static inline void hcj_on_host_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    bool lost;
    jbyteArray request = hcj_bytes(env, req, len, &lost);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_host_fn, hcj_key(user_data), (jlong)token, request);
    hcj_after(env, request);
}

static inline void hcj_on_cancel(uint64_t token, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_cancel, hcj_key(user_data), (jlong)token);
    hcj_after(env, NULL);
}

/* An event payload is CBOR, never empty, so a null array means lost. The
 * ret (always RET_OK from the library) goes up too: Kotlin fails the flow on
 * any other. */
static inline void hcj_on_event(int ret, const char *msg, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    bool lost;
    jbyteArray data = hcj_bytes(env, msg, len, &lost);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_event, hcj_key(user_data), (jint)ret, data);
    hcj_after(env, data);
}

/*
 * Throws the StatusException of a refused entry point on the calling Java
 * thread: operation "<prefix>: <what>" or "<prefix>: <what> <name>", with
 * `status` (0: unknown, taken from the text) and the library's last error,
 * read now, on the thread that got it. Does nothing if an exception is
 * already pending.
 */
static inline void hcj_throw_status(JNIEnv *env, const char *prefix, const char *what, const char *name, int status,
                                    size_t (*last_error)(char *, size_t)) {
    if ((*env)->ExceptionCheck(env)) {
        return;
    }
    char stack[512], *text = stack;
    size_t len = last_error(NULL, 0), cap = len + 1;
    if (cap > sizeof stack) {
        text = malloc(cap);
        if (text == NULL) { /* truncated rather than lost */
            text = stack;
            cap = sizeof stack;
        }
    }
    last_error(text, cap);
    if (len >= cap) {
        len = cap - 1;
    }
    char op[256];
    int op_len = snprintf(op, sizeof op, "%s: %s%s%s", prefix, what, name != NULL ? " " : "", name != NULL ? name : "");
    if (op_len < 0) {
        op_len = 0;
    } else if ((size_t)op_len >= sizeof op) {
        op_len = (int)sizeof op - 1;
    }
    bool lost;
    jbyteArray op_bytes = hcj_bytes(env, op, (size_t)op_len, &lost);
    jbyteArray detail = hcj_bytes(env, text, len, &lost);
    if (text != stack) {
        free(text);
    }
    jthrowable error =
        (jthrowable)(*env)->CallStaticObjectMethod(env, hcj_upcalls, hcj_status_error, op_bytes, (jint)status, detail);
    if (error != NULL && !(*env)->ExceptionCheck(env)) {
        (*env)->Throw(env, error);
    }
    if (error != NULL) {
        (*env)->DeleteLocalRef(env, error);
    }
    if (op_bytes != NULL) {
        (*env)->DeleteLocalRef(env, op_bytes);
    }
    if (detail != NULL) {
        (*env)->DeleteLocalRef(env, detail);
    }
}

/*
 * Borrowing Java byte arrays for the length of one entry point, which
 * copies what it needs before returning and never calls back into Java on
 * the calling thread. Between the critical get and release no other JNI
 * function may be called, so every length is read first (hcj_measure), then
 * every array is pinned (hcj_pin), the entry point runs, and each is
 * released (hcj_release).
 */
typedef struct {
    jbyteArray array;
    const char *data;
    size_t len;
} hcj_borrowed;

static inline hcj_borrowed hcj_measure(JNIEnv *env, jbyteArray array) {
    hcj_borrowed b = {array, NULL, 0};
    if (array != NULL) {
        b.len = (size_t)(*env)->GetArrayLength(env, array);
    }
    return b;
}

/* False if the JVM could not pin the array (an OutOfMemoryError is then
 * pending, and nothing may be called). */
static inline bool hcj_pin(JNIEnv *env, hcj_borrowed *b) {
    if (b->len == 0) {
        return true;
    }
    b->data = (*env)->GetPrimitiveArrayCritical(env, b->array, NULL);
    return b->data != NULL;
}

static inline void hcj_release(JNIEnv *env, hcj_borrowed *b) {
    if (b->data != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, b->array, (void *)b->data, JNI_ABORT);
        b->data = NULL;
    }
}

#endif
