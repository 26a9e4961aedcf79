/*
 * hostcall_jni.h - JNI glue shared by every generated <lib>_jni.c.
 *
 * A hostcall library calls back (replies, host fn invocations, cancel
 * notices, events) on its own loop thread, which the JVM did not create.
 * These trampolines turn each callback into one upcall to a static method
 * of dev.hostcall.runtime.Upcalls, following the JNI rules that matter:
 *
 *  1. The loop thread is attached to the JVM once, as a daemon (attaching
 *     per call costs tens of microseconds), the first time it calls back.
 *  2. It is detached when the thread exits (a pthread key destructor).
 *  3. Every local reference an upcall creates is deleted before the
 *     trampoline returns: the loop thread never returns to Java, so nothing
 *     else would free them.
 *  4. After every upcall a pending Java exception is described and cleared;
 *     none may leak into the next JNI call on this thread.
 *  5. No lock is held while calling into the JVM (this file takes none).
 *
 * The user data of every callback is a key, (runtime slot << 40) | id; the
 * Kotlin side finds the runtime and the call from it.
 */
#ifndef HOSTCALL_JNI_H
#define HOSTCALL_JNI_H

#include <jni.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static JavaVM *hcj_vm;
static pthread_key_t hcj_attached;
static jclass hcj_upcalls;
static jmethodID hcj_reply, hcj_reply_value, hcj_host_fn, hcj_cancel, hcj_event;

/* Rule 2: runs at the exit of a thread this file attached. */
static inline void hcj_detach(void *env) {
    (void)env;
    if (hcj_vm != NULL) {
        (*hcj_vm)->DetachCurrentThread(hcj_vm);
    }
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
        return JNI_ERR;
    }
    hcj_upcalls = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    hcj_reply = (*env)->GetStaticMethodID(env, hcj_upcalls, "reply", "(JI[B)V");
    hcj_reply_value = (*env)->GetStaticMethodID(env, hcj_upcalls, "replyValue", "(JIJ[B)V");
    hcj_host_fn = (*env)->GetStaticMethodID(env, hcj_upcalls, "hostFn", "(JJ[B)V");
    hcj_cancel = (*env)->GetStaticMethodID(env, hcj_upcalls, "cancel", "(JJ)V");
    hcj_event = (*env)->GetStaticMethodID(env, hcj_upcalls, "event", "(J[B)V");
    if (hcj_reply == NULL || hcj_reply_value == NULL || hcj_host_fn == NULL || hcj_cancel == NULL ||
        hcj_event == NULL) {
        return JNI_ERR;
    }
    return JNI_VERSION_1_8;
}

/* Rule 1: the JNIEnv of this thread, attaching it as a daemon the first
 * time. NULL if the JVM refuses (the callback is then dropped). */
static inline JNIEnv *hcj_env(void) {
    JNIEnv *env;
    jint got = (*hcj_vm)->GetEnv(hcj_vm, (void **)&env, JNI_VERSION_1_8);
    if (got == JNI_OK) {
        return env;
    }
    if (got != JNI_EDETACHED) {
        return NULL;
    }
    JavaVMAttachArgs args = {JNI_VERSION_1_8, "hostcall-loop", NULL};
    if ((*hcj_vm)->AttachCurrentThreadAsDaemon(hcj_vm, (void **)&env, &args) != JNI_OK) {
        return NULL;
    }
    pthread_setspecific(hcj_attached, env);
    return env;
}

/* A byte[] copy of `len` bytes (NULL for none). A local reference. */
static inline jbyteArray hcj_bytes(JNIEnv *env, const char *data, size_t len) {
    if (data == NULL || len == 0) {
        return NULL;
    }
    jbyteArray array = (*env)->NewByteArray(env, (jsize)len);
    if (array != NULL) {
        (*env)->SetByteArrayRegion(env, array, 0, (jsize)len, (const jbyte *)data);
    }
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
    jbyteArray data = hcj_bytes(env, msg, len);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_reply, hcj_key(user_data), (jint)ret, data);
    hcj_after(env, data);
}

static inline void hcj_reply_bits(int ret, jlong bits, const char *err, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    jbyteArray error = hcj_bytes(env, err, len);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_reply_value, hcj_key(user_data), (jint)ret, bits, error);
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

static inline void hcj_on_host_fn(uint64_t token, const char *req, size_t len, void *user_data) {
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    jbyteArray request = hcj_bytes(env, req, len);
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

static inline void hcj_on_event(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret;
    JNIEnv *env = hcj_env();
    if (env == NULL) {
        return;
    }
    jbyteArray data = hcj_bytes(env, msg, len);
    (*env)->CallStaticVoidMethod(env, hcj_upcalls, hcj_event, hcj_key(user_data), data);
    hcj_after(env, data);
}

/* Borrows a Java byte[] for the duration of one entry-point call, which
 * copies what it needs before returning and never calls back into Java
 * synchronously, so the critical region stays short and JNI-free. */
typedef struct {
    jbyteArray array;
    const char *data;
    size_t len;
} hcj_borrowed;

static inline hcj_borrowed hcj_borrow(JNIEnv *env, jbyteArray array) {
    hcj_borrowed b = {array, NULL, 0};
    if (array != NULL) {
        jsize n = (*env)->GetArrayLength(env, array);
        if (n > 0) {
            b.data = (*env)->GetPrimitiveArrayCritical(env, array, NULL);
            b.len = b.data != NULL ? (size_t)n : 0;
        }
    }
    return b;
}

static inline void hcj_release(JNIEnv *env, hcj_borrowed *b) {
    if (b->data != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, b->array, (void *)b->data, JNI_ABORT);
        b->data = NULL;
    }
}

#endif
