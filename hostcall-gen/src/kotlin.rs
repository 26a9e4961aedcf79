//! The Kotlin binding: a Kotlin file and the JNI glue in C.
//!
//! * `src/main/kotlin/<package path>/<Class>.kt`: `class <Class>` with
//!   `open(config, scope)`, one `suspend fun` per handler, one registration
//!   method per host fn taking a suspend lambda (`demo.fetchProfile { … }`),
//!   one `Flow` per event, data classes for records, and the CBOR codecs of
//!   the records;
//! * `src/main/c/<prefix>_jni.c`: the JNI functions behind the Kotlin
//!   `external fun`s, calling the library's C ABI, plus `JNI_OnLoad`; the
//!   upcall trampolines and the JNI rules are in the hand-written
//!   `hostcall_jni.h`;
//! * `src/main/c/<prefix>.h`: a copy of the C header.
//!
//! Handlers with a native entry point are called natively; the rest through
//! CBOR. A refused entry point throws `StatusException` from inside its JNI
//! function, with the library's last error read in that same native call
//! (it is per OS thread). The runtime support (`dev.hostcall.runtime`) is
//! hand-written.
//!
//! Names: `login_many` → `loginMany`, records and the class in
//! `UpperCamelCase`, Kotlin keywords in backticks. A host fn's registration
//! method has the host fn's name (`notify { … }` is an overload, not
//! `java.lang.Object.notify()`, which Kotlin does not expose anyway); if a
//! handler has the same name, or a handler is called `close`, the generated
//! member gets a suffix (`…HostFn`, `closeCall`) instead of clashing.

use std::fmt::Write;

use hostcall::LibraryDesc;
use hostcall::describe::{FieldDesc, FnDesc, TypeDesc};

/// The Kotlin package of a library's binding.
pub fn default_package(prefix: &str) -> String {
    format!("dev.hostcall.{}", prefix.replace('_', ""))
}

fn camel(name: &str, upper_first: bool) -> String {
    let mut out = String::new();
    for (i, word) in name.split('_').filter(|w| !w.is_empty()).enumerate() {
        let mut chars = word.chars();
        let Some(first) = chars.next() else { continue };
        if i == 0 && !upper_first {
            out.push(first);
        } else {
            out.extend(first.to_uppercase());
        }
        out.push_str(chars.as_str());
    }
    out
}

/// `login_many` → `loginMany`; Kotlin keywords get backticks.
pub fn member(name: &str) -> String {
    let name = camel(name, false);
    match name.as_str() {
        "as" | "break" | "class" | "continue" | "do" | "else" | "false" | "for" | "fun" | "if"
        | "in" | "interface" | "is" | "null" | "object" | "package" | "return" | "super"
        | "this" | "throw" | "true" | "try" | "typealias" | "typeof" | "val" | "var" | "when"
        | "while" => {
            format!("`{name}`")
        }
        _ => name,
    }
}

/// The member calling handler `name`: [`member`], except that `close` would
/// clash with `AutoCloseable.close()`.
pub fn handler_member(name: &str) -> String {
    let m = member(name);
    if m == "close" { "closeCall".into() } else { m }
}

/// The member registering host fn `name`: [`member`], with a suffix if a
/// handler of `desc` already has that name.
pub fn host_fn_member(desc: &LibraryDesc, name: &str) -> String {
    let m = member(name);
    if desc.handlers.iter().any(|h| handler_member(&h.name) == m) {
        format!("{}HostFn", m.trim_matches('`'))
    } else {
        m
    }
}

/// `session` → `Session`.
pub fn type_name(name: &str) -> String {
    camel(name, true)
}

/// The Kotlin type of a wire type.
pub fn kotlin_type(ty: &TypeDesc) -> String {
    match ty {
        TypeDesc::Unit => "Unit".into(),
        TypeDesc::Bool => "Boolean".into(),
        TypeDesc::I8 => "Byte".into(),
        TypeDesc::I16 => "Short".into(),
        TypeDesc::I32 => "Int".into(),
        TypeDesc::I64 => "Long".into(),
        TypeDesc::U8 => "UByte".into(),
        TypeDesc::U16 => "UShort".into(),
        TypeDesc::U32 => "UInt".into(),
        TypeDesc::U64 => "ULong".into(),
        TypeDesc::F32 => "Float".into(),
        TypeDesc::F64 => "Double".into(),
        TypeDesc::String => "String".into(),
        TypeDesc::Bytes => "ByteArray".into(),
        TypeDesc::List(inner) => format!("List<{}>", kotlin_type(inner)),
        TypeDesc::Optional(inner) => format!("{}?", kotlin_type(inner)),
        TypeDesc::Record(name) => type_name(name),
    }
}

/// Statements writing `value` (an expression) with the writer `w`.
fn encode(ty: &TypeDesc, value: &str, depth: usize) -> String {
    match ty {
        TypeDesc::Unit => "w.nil()".into(),
        TypeDesc::Bool => format!("w.bool({value})"),
        TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 => format!("w.int({value}.toLong())"),
        TypeDesc::I64 => format!("w.int({value})"),
        TypeDesc::U8 | TypeDesc::U16 | TypeDesc::U32 => format!("w.uint({value}.toULong())"),
        TypeDesc::U64 => format!("w.uint({value})"),
        TypeDesc::F32 => format!("w.double({value}.toDouble())"),
        TypeDesc::F64 => format!("w.double({value})"),
        TypeDesc::String => format!("w.text({value})"),
        TypeDesc::Bytes => format!("w.bytes({value})"),
        TypeDesc::List(inner) => {
            let e = format!("e{depth}");
            format!(
                "w.array({value}.size); for ({e} in {value}) {{ {} }}",
                encode(inner, &e, depth + 1)
            )
        }
        TypeDesc::Optional(inner) => {
            let e = format!("o{depth}");
            format!(
                "{value}.let {{ {e} -> if ({e} == null) w.nil() else {{ {} }} }}",
                encode(inner, &e, depth + 1)
            )
        }
        TypeDesc::Record(name) => format!("w.write{}({value})", type_name(name)),
    }
}

/// An expression reading one value of `ty` from the reader `r`.
fn decode(ty: &TypeDesc) -> String {
    match ty {
        TypeDesc::Unit => "Unit.also { r.nil() }".into(),
        TypeDesc::Bool => "r.bool()".into(),
        TypeDesc::I8 => "r.i8()".into(),
        TypeDesc::I16 => "r.i16()".into(),
        TypeDesc::I32 => "r.i32()".into(),
        TypeDesc::I64 => "r.int()".into(),
        TypeDesc::U8 => "r.u8()".into(),
        TypeDesc::U16 => "r.u16()".into(),
        TypeDesc::U32 => "r.u32()".into(),
        TypeDesc::U64 => "r.uint()".into(),
        TypeDesc::F32 => "r.double().toFloat()".into(),
        TypeDesc::F64 => "r.double()".into(),
        TypeDesc::String => "r.text()".into(),
        TypeDesc::Bytes => "r.bytes()".into(),
        TypeDesc::List(inner) => format!("List(r.array()) {{ {} }}", decode(inner)),
        TypeDesc::Optional(inner) => format!("(if (r.nil()) null else {})", decode(inner)),
        TypeDesc::Record(name) => format!("r.read{}()", type_name(name)),
    }
}

fn kdoc(out: &mut String, indent: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}/**");
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {}", line.replace("*/", "*&#47;"));
        }
    }
    let _ = writeln!(out, "{indent} */");
}

/// JNI mangling of one name component.
fn jni_mangle(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            '_' => out.push_str("_1"),
            '.' | '/' => out.push('_'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c => {
                let _ = write!(out, "_0{:04x}", c as u32);
            }
        }
    }
    out
}

/// A C string literal of `s` (names are identifiers, but be safe).
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// How a native argument crosses JNI.
struct NativeArg {
    /// Kotlin parameter type of the `external fun`.
    kotlin_type: &'static str,
    /// The Kotlin argument expression.
    kotlin_expr: String,
    /// The JNI C parameter type.
    jni_type: &'static str,
    /// The C argument expression(s) given to the entry point.
    c_expr: String,
    /// Whether it is a borrowed byte array (`<name>_b`).
    borrowed: bool,
}

fn native_arg(arg: &FieldDesc) -> Option<NativeArg> {
    let n = member(&arg.name).trim_matches('`').to_owned();
    let scalar = |kotlin_type: &'static str,
                  kotlin_expr: String,
                  jni_type: &'static str,
                  c_cast: &str| NativeArg {
        kotlin_type,
        kotlin_expr,
        jni_type,
        c_expr: format!("({c_cast}){n}"),
        borrowed: false,
    };
    let m = member(&arg.name);
    Some(match &arg.ty {
        TypeDesc::Bool => scalar("Boolean", m, "jboolean", "bool"),
        TypeDesc::I8 => scalar("Byte", m, "jbyte", "int8_t"),
        TypeDesc::I16 => scalar("Short", m, "jshort", "int16_t"),
        TypeDesc::I32 => scalar("Int", m, "jint", "int32_t"),
        TypeDesc::I64 => scalar("Long", m, "jlong", "int64_t"),
        TypeDesc::U8 => scalar("Byte", format!("{m}.toByte()"), "jbyte", "uint8_t"),
        TypeDesc::U16 => scalar("Short", format!("{m}.toShort()"), "jshort", "uint16_t"),
        TypeDesc::U32 => scalar("Int", format!("{m}.toInt()"), "jint", "uint32_t"),
        TypeDesc::U64 => scalar("Long", format!("{m}.toLong()"), "jlong", "uint64_t"),
        TypeDesc::F32 => scalar("Float", m, "jfloat", "float"),
        TypeDesc::F64 => scalar("Double", m, "jdouble", "double"),
        TypeDesc::String | TypeDesc::Bytes => NativeArg {
            kotlin_type: "ByteArray",
            kotlin_expr: if arg.ty == TypeDesc::String {
                format!("{m}.encodeToByteArray()")
            } else {
                m
            },
            jni_type: "jbyteArray",
            c_expr: if arg.ty == TypeDesc::String {
                format!("{n}_b.data, {n}_b.len")
            } else {
                format!("(const uint8_t *){n}_b.data, {n}_b.len")
            },
            borrowed: true,
        },
        _ => return None,
    })
}

/// (C trampoline, Kotlin expression turning `reply` into the result).
fn native_result(ty: &TypeDesc) -> Option<(&'static str, &'static str)> {
    Some(match ty {
        TypeDesc::I8 => ("hcj_on_reply_i64", "reply.value.toByte()"),
        TypeDesc::I16 => ("hcj_on_reply_i64", "reply.value.toShort()"),
        TypeDesc::I32 => ("hcj_on_reply_i64", "reply.value.toInt()"),
        TypeDesc::I64 => ("hcj_on_reply_i64", "reply.value"),
        TypeDesc::U8 => ("hcj_on_reply_u64", "reply.value.toUByte()"),
        TypeDesc::U16 => ("hcj_on_reply_u64", "reply.value.toUShort()"),
        TypeDesc::U32 => ("hcj_on_reply_u64", "reply.value.toUInt()"),
        TypeDesc::U64 => ("hcj_on_reply_u64", "reply.value.toULong()"),
        TypeDesc::F32 => ("hcj_on_reply_f64", "Double.fromBits(reply.value).toFloat()"),
        TypeDesc::F64 => ("hcj_on_reply_f64", "Double.fromBits(reply.value)"),
        TypeDesc::Bool => ("hcj_on_reply_bool", "reply.value != 0L"),
        TypeDesc::String => ("hcj_on_reply", "reply.data?.decodeToString() ?: \"\""),
        TypeDesc::Bytes => ("hcj_on_reply", "reply.data ?: ByteArray(0)"),
        TypeDesc::Unit => ("hcj_on_reply", "Unit"),
        _ => return None,
    })
}

/// C statements borrowing the byte arrays among `args` around `call`
/// (which assigns `status`): every length first, then every pin, so that
/// no JNI function runs inside a critical region.
fn c_borrowing(args: &[(String, bool)], call: &str) -> String {
    let borrowed: Vec<&str> = args
        .iter()
        .filter(|(_, b)| *b)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut out = String::new();
    for n in &borrowed {
        let _ = writeln!(out, "    hcj_borrowed {n}_b = hcj_measure(env, {n});");
    }
    for (i, n) in borrowed.iter().enumerate() {
        let _ = writeln!(out, "    if (!hcj_pin(env, &{n}_b)) {{");
        for earlier in borrowed[..i].iter().rev() {
            let _ = writeln!(out, "        hcj_release(env, &{earlier}_b);");
        }
        let _ = writeln!(out, "        return;\n    }}");
    }
    let _ = writeln!(out, "    {call}");
    for n in borrowed.iter().rev() {
        let _ = writeln!(out, "    hcj_release(env, &{n}_b);");
    }
    out
}

const C_PRELUDE: &str = r#"/*
 * @P@_jni.c - JNI glue of the Kotlin binding of lib@P@.
 *
 * Generated by hostcall-gen from the library's own description. Do not edit.
 * Built by the Maven build (see pom.xml) into lib@P@_jni.so, linked against
 * lib@P@. Handles and user data cross as jlong; byte arrays are borrowed
 * for the duration of a call, which copies them before returning. A refused
 * call throws StatusException with the library's last error, read here, on
 * the thread that got it. The rules for the callbacks are in hostcall_jni.h.
 */
#include "hostcall_jni.h"
#include "@P@.h"

/* Indexed by the generated Kotlin code, which passes only valid indices. */
static const char *const methods[] = {@METHODS@};
static const char *const host_fns[] = {@HOST_FNS@};
static const char *const events[] = {@EVENTS@};

static void *ctx_of(jlong handle) { return (void *)(uintptr_t)handle; }
static void *key_of(jlong key) { return (void *)(uintptr_t)key; }

static void fail(JNIEnv *env, const char *what, const char *name, int status) {
    hcj_throw_status(env, "@P@", what, name, status, @P@_last_error);
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    return hcj_on_load(vm);
}

JNIEXPORT jlong JNICALL @JNI@interfaceHash(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    return (jlong)@P@_interface_hash();
}

JNIEXPORT jlong JNICALL @JNI@create(JNIEnv *env, jclass cls, jbyteArray config) {
    (void)cls;
    void *ctx;
@CREATE@    if (ctx == NULL) {
        fail(env, "open", NULL, 0);
    }
    return (jlong)(uintptr_t)ctx;
}

JNIEXPORT jint JNICALL @JNI@destroy(JNIEnv *env, jclass cls, jlong handle) {
    (void)env, (void)cls;
    return @P@_destroy(ctx_of(handle));
}

JNIEXPORT void JNICALL @JNI@call(JNIEnv *env, jclass cls, jlong handle, jint method, jbyteArray request, jlong key) {
    (void)cls;
    int status;
@CALL@    if (status != HC_OK) {
        fail(env, methods[method], NULL, status);
    }
}

JNIEXPORT void JNICALL @JNI@registerHostFn(JNIEnv *env, jclass cls, jlong handle, jint index, jlong key) {
    (void)cls;
    int status = @P@_register_host_fn_cancellable(ctx_of(handle), host_fns[index], hcj_on_host_fn, hcj_on_cancel, key_of(key));
    if (status != HC_OK) {
        fail(env, "register", host_fns[index], status);
    }
}

JNIEXPORT jint JNICALL @JNI@hostComplete(JNIEnv *env, jclass cls, jlong handle, jlong token, jint ret, jbyteArray payload) {
    (void)cls;
    int status = HC_ERR_NULL_ARG;
@COMPLETE@    return status;
}

JNIEXPORT jlong JNICALL @JNI@addListener(JNIEnv *env, jclass cls, jlong handle, jint event, jlong key) {
    (void)cls;
    uint64_t id = @P@_add_event_listener(ctx_of(handle), events[event], hcj_on_event, key_of(key));
    if (id == 0) {
        fail(env, "listen", events[event], 0);
    }
    return (jlong)id;
}

JNIEXPORT jint JNICALL @JNI@removeListener(JNIEnv *env, jclass cls, jlong handle, jlong id) {
    (void)env, (void)cls;
    return @P@_remove_event_listener(ctx_of(handle), (uint64_t)id);
}
"#;

const KOTLIN_NATIVES: &str = r#"
/**
 * The JNI functions of lib@P@_jni (generated C, `src/main/c/@P@_jni.c`).
 * Those marked "throws" throw [StatusException] when the library refuses.
 */
internal object @C@Native {
    init {
        System.loadLibrary("@P@_jni")
    }

    @JvmStatic external fun interfaceHash(): Long

    /** Throws; returns the handle. */
    @JvmStatic external fun create(config: ByteArray?): Long
    @JvmStatic external fun destroy(handle: Long): Int

    /** Throws. */
    @JvmStatic external fun call(handle: Long, method: Int, request: ByteArray?, key: Long)

    /** Throws. */
    @JvmStatic external fun registerHostFn(handle: Long, index: Int, key: Long)

    /** Returns the status: a refusal is normal here (the call was abandoned, or the context closed). */
    @JvmStatic external fun hostComplete(handle: Long, token: Long, ret: Int, payload: ByteArray?): Int

    /** Throws; returns the listener id. */
    @JvmStatic external fun addListener(handle: Long, event: Int, key: Long): Long
    @JvmStatic external fun removeListener(handle: Long, id: Long): Int
"#;

const KOTLIN_CLASS: &str = r#"
/**
 * Settings of a [@C@] context; `null` keeps the library's default.
 *
 * @property maxInFlight host calls outstanding at once (1 ..= 16 777 215); past it a host call
 *   fails at once as overloaded. Library default: 1 048 576.
 * @property hostCallTimeout timeout of every host call, rounded up to whole milliseconds; when it
 *   elapses the awaiting Rust code gets an error and the host function's coroutine is cancelled.
 *   Must be positive; [Duration.INFINITE] means none, as does `null`.
 * @property maxPendingRequests calls queued or running at once; past it a call fails at once with
 *   [StatusException] (`HC_ERR_OVERLOADED`). 0 means unbounded, the library default.
 * @property spin how long the library's idle loop thread watches for host results before it
 *   sleeps, while host calls are outstanding (at most 10 ms, rounded up to whole microseconds;
 *   zero: never spin). Library default: 50 µs.
 */
data class @C@Config(
    val maxInFlight: UInt? = null,
    val hostCallTimeout: Duration? = null,
    val maxPendingRequests: ULong? = null,
    val spin: Duration? = null,
) {
    internal fun encode(): ByteArray {
        val entries = listOfNotNull(
            maxInFlight?.let { "max_in_flight" to it.toULong() },
            hostCallTimeout?.let { "host_call_timeout_ms" to ConfigUnits.timeoutMillis(it) },
            maxPendingRequests?.let { "max_pending_requests" to it },
            spin?.let { "spin_us" to ConfigUnits.spinMicros(it) },
        )
        val w = CborWriter().map(entries.size)
        for ((key, value) in entries) w.text(key).uint(value)
        return w.bytes()
    }
}

/**
 * A context of the @P@ library: its own event loop (the library's thread
 * `hostcall-@P@`), host functions and event listeners. Every member is safe
 * to use from any thread or coroutine.
 *
 * Calls are `suspend` functions: cancelling the calling coroutine abandons
 * the call at once (the library's late reply is dropped). Host functions
 * are suspend lambdas, each invocation a coroutine in the context's
 * [CoroutineScope], cancelled when the library drops the call. Events are
 * [Flow]s. No code of yours runs on the library's thread.
 *
 * [close] ends the context: calls still pending then fail with
 * [CallException.shuttingDown], later ones with [StatusException.closed].
 */
class @C@ private constructor(
    private val handle: Long,
    private val scope: CoroutineScope,
    private val ownsScope: Boolean,
) : AutoCloseable {
    private val closed = AtomicBoolean(false)
    internal val runtime = Runtime(scope, @HOST_FN_COUNT@) { token, ret, payload ->
        @C@Native.hostComplete(handle, token, ret, payload)
    }

    companion object {
        /** The interface these bindings were generated for; [open] refuses a library with another. */
        const val INTERFACE_HASH: ULong = 0x@HASH@uL

        /**
         * Creates a context (and the library's loop thread).
         *
         * Host functions run in [scope]: by default a new scope on
         * [Dispatchers.Default] that [close] cancels; a scope you supply is
         * left running by [close] (only the host function coroutines of
         * this context are cancelled).
         *
         * @throws InterfaceMismatchException if the loaded lib@P@ has another interface.
         * @throws StatusException if the library refuses [config] (its message says why).
         * @throws IllegalArgumentException for a duration the library cannot take.
         */
        fun open(config: @C@Config = @C@Config(), scope: CoroutineScope? = null): @C@ {
            checkInterface(@C@Native.interfaceHash().toULong())
            val encoded = config.encode()
            val handle = @C@Native.create(encoded)
            return try {
                val hostScope = scope ?: CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("@P@ host fns"))
                @C@(handle, hostScope, scope == null)
            } catch (e: Throwable) {
                @C@Native.destroy(handle)
                throw e
            }
        }

        internal fun checkInterface(loaded: ULong) {
            if (loaded != INTERFACE_HASH) {
                throw InterfaceMismatchException(
                    "these bindings were generated for interface 0x${INTERFACE_HASH.toString(16)}, " +
                        "but the loaded lib@P@ has 0x${loaded.toString(16)}; regenerate them with hostcall-gen",
                )
            }
        }
    }

    /** True once [close] has been called. */
    val isClosed: Boolean get() = closed.get()

    /**
     * Destroys the context. When it returns (called from anywhere but a
     * callback of this context): every pending call has failed with
     * [CallException.shuttingDown], every running host function coroutine
     * is cancelled (whatever it answers later is discarded), every event
     * flow has completed, and the library's thread has exited. Calls and
     * registrations made afterwards fail with [StatusException.closed].
     *
     * Idempotent: only the first call tears down; every later one, from
     * any thread, returns when that teardown is over, unless waiting would
     * wait for the caller itself. Then it returns at once: called on the
     * thread running the teardown (from a cancellation handler the
     * teardown runs), or on a thread running another context's teardown
     * that this one's is blocked waiting for, directly or through a chain
     * of such closes.
     */
    override fun close() {
        runtime.closeOnce(closed.compareAndSet(false, true)) {
            @C@Native.destroy(handle)
            runtime.close()
            if (ownsScope) scope.cancel()
        }
    }

    private inline fun <T> decodeReply(method: String, reply: Reply, read: CborReader.() -> T): T {
        if (!reply.ok) throw CallException(method, reply.message)
        try {
            val r = CborReader(reply.data ?: NIL)
            return r.read().also { r.end() }
        } catch (e: CborException) {
            throw DecodeException("$method: ${e.message}", e)
        }
    }
"#;

struct Gen<'a> {
    desc: &'a LibraryDesc,
    package: &'a str,
    class: String,
    kotlin: String,
    natives: String,
    c: String,
}

impl<'a> Gen<'a> {
    fn p(&self) -> &'a str {
        &self.desc.prefix
    }

    fn jni_prefix(&self) -> String {
        format!(
            "Java_{}_{}Native_",
            jni_mangle(self.package),
            jni_mangle(&self.class)
        )
    }

    fn jni_name(&self, function: &str) -> String {
        format!("{}{}", self.jni_prefix(), jni_mangle(function))
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("@P@", self.p())
            .replace("@C@", &self.class)
            .replace("@JNI@", &self.jni_prefix())
    }

    fn c_prelude(&mut self) {
        let list = |names: Vec<&str>| {
            if names.is_empty() {
                "NULL".to_owned()
            } else {
                names
                    .into_iter()
                    .map(c_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let p = self.p();
        let methods = list(self.desc.handlers.iter().map(|h| h.name.as_str()).collect());
        let host_fns = list(self.desc.host_fns.iter().map(|h| h.name.as_str()).collect());
        let events = list(self.desc.events.iter().map(|e| e.name.as_str()).collect());
        let create = c_borrowing(
            &[("config".into(), true)],
            &format!("ctx = {p}_new(config_b.data, config_b.len);"),
        )
        .replace("        return;", "        return 0;");
        let call = c_borrowing(
            &[("request".into(), true)],
            &format!(
                "status = {p}_call(ctx_of(handle), methods[method], request_b.data, request_b.len, hcj_on_reply, key_of(key));"
            ),
        );
        let complete = c_borrowing(
            &[("payload".into(), true)],
            &format!(
                "status = {p}_host_complete(ctx_of(handle), (uint64_t)token, ret, payload_b.data, payload_b.len);"
            ),
        )
        .replace("        return;", "        return status;");
        let text = self
            .fill(C_PRELUDE)
            .replace("@METHODS@", &methods)
            .replace("@HOST_FNS@", &host_fns)
            .replace("@EVENTS@", &events)
            .replace("@CREATE@", &create)
            .replace("@CALL@", &call)
            .replace("@COMPLETE@", &complete);
        self.c.push_str(&text);
    }

    fn natives_object(&mut self) {
        let text = self.fill(KOTLIN_NATIVES);
        self.natives.push_str(&text);
    }

    fn records(&mut self) {
        let mut codecs = String::new();
        for record in &self.desc.records {
            let name = type_name(&record.name);
            self.kotlin.push('\n');
            kdoc(&mut self.kotlin, "", &record.doc);
            let _ = writeln!(self.kotlin, "data class {name}(");
            for field in &record.fields {
                kdoc(&mut self.kotlin, "    ", &field.doc);
                let default = if matches!(field.ty, TypeDesc::Optional(_)) {
                    " = null"
                } else {
                    ""
                };
                let _ = writeln!(
                    self.kotlin,
                    "    val {}: {}{default},",
                    member(&field.name),
                    kotlin_type(&field.ty)
                );
            }
            self.kotlin.push_str(")\n");

            let _ = writeln!(
                codecs,
                "\ninternal fun CborWriter.write{name}(v: {name}): CborWriter {{"
            );
            let _ = writeln!(codecs, "    val w = this");
            let _ = writeln!(codecs, "    w.map({})", record.fields.len());
            for field in &record.fields {
                let _ = writeln!(codecs, "    w.text(\"{}\")", field.name);
                let _ = writeln!(
                    codecs,
                    "    {}",
                    encode(&field.ty, &format!("v.{}", member(&field.name)), 0)
                );
            }
            codecs.push_str("    return w\n}\n");
            let keys: Vec<String> = record
                .fields
                .iter()
                .map(|field| format!("\"{}\"", field.name))
                .collect();
            let _ = writeln!(
                codecs,
                "\nprivate val keysOf{name} = Keys({})",
                keys.join(", ")
            );
            let _ = writeln!(codecs, "\ninternal fun CborReader.read{name}(): {name} {{");
            let _ = writeln!(codecs, "    val r = this");
            for field in &record.fields {
                let _ = writeln!(
                    codecs,
                    "    var {}: {}? = null",
                    member(&field.name),
                    kotlin_type(&field.ty).trim_end_matches('?')
                );
            }
            let _ = writeln!(
                codecs,
                "    repeat(r.map()) {{\n        when (r.key(keysOf{name})) {{"
            );
            for (index, field) in record.fields.iter().enumerate() {
                let _ = writeln!(
                    codecs,
                    "            {index} -> {} = {}",
                    member(&field.name),
                    decode(&field.ty)
                );
            }
            codecs.push_str("            else -> r.skip()\n        }\n    }\n");
            let _ = writeln!(codecs, "    return {name}(");
            for field in &record.fields {
                let m = member(&field.name);
                if matches!(field.ty, TypeDesc::Optional(_)) {
                    let _ = writeln!(codecs, "        {m} = {m},");
                } else {
                    let _ = writeln!(
                        codecs,
                        "        {m} = {m} ?: throw CborException(\"{name}: missing field '{}'\"),",
                        field.name
                    );
                }
            }
            codecs.push_str("    )\n}\n");
        }
        self.kotlin.push_str(&codecs);
    }

    fn class_open(&mut self) {
        let text = self
            .fill(KOTLIN_CLASS)
            .replace("@HOST_FN_COUNT@", &self.desc.host_fns.len().to_string())
            .replace("@HASH@", &format!("{:016x}", self.desc.interface_hash));
        self.kotlin.push_str(&text);
    }

    fn handler(&mut self, index: usize, f: &FnDesc) {
        let class = self.class.clone();
        let name = handler_member(&f.name);
        let ret = kotlin_type(&f.ret);
        let params: Vec<String> = f
            .args
            .iter()
            .map(|a| format!("{}: {}", member(&a.name), kotlin_type(&a.ty)))
            .collect();
        let ret_clause = if f.ret == TypeDesc::Unit {
            String::new()
        } else {
            format!(": {ret}")
        };
        self.kotlin.push('\n');
        let doc = if f.doc.is_empty() {
            format!("Calls `{}`.", f.name)
        } else {
            format!("Calls `{}`: {}", f.name, f.doc)
        };
        kdoc(
            &mut self.kotlin,
            "    ",
            &format!(
                "{doc}\n\n@throws CallException if the library answers with an error.\n@throws StatusException if the library refuses the call (closed, overloaded)."
            ),
        );
        let _ = writeln!(
            self.kotlin,
            "    suspend fun {name}({}){ret_clause} {{",
            params.join(", ")
        );
        let native = f
            .native
            .then(|| native_result(&f.ret))
            .flatten()
            .and_then(|result| {
                let args: Option<Vec<NativeArg>> = f.args.iter().map(native_arg).collect();
                args.map(|args| (result, args))
            });
        if let Some(((trampoline, convert), args)) = native {
            let ext = format!("native{}", camel(&f.name, true));
            // The external fun, and its C side.
            let kparams: Vec<String> = f
                .args
                .iter()
                .zip(&args)
                .map(|(a, n)| format!("{}: {}", member(&a.name).trim_matches('`'), n.kotlin_type))
                .collect();
            let _ = writeln!(
                self.natives,
                "\n    /** Throws. */\n    @JvmStatic external fun {ext}(handle: Long{}, key: Long)",
                kparams.iter().map(|p| format!(", {p}")).collect::<String>()
            );
            let cparams: String = f
                .args
                .iter()
                .zip(&args)
                .map(|(a, n)| format!(", {} {}", n.jni_type, member(&a.name).trim_matches('`')))
                .collect();
            let cargs: String = args.iter().map(|a| format!(", {}", a.c_expr)).collect();
            let names: Vec<(String, bool)> = f
                .args
                .iter()
                .zip(&args)
                .map(|(a, n)| (member(&a.name).trim_matches('`').to_owned(), n.borrowed))
                .collect();
            let body = c_borrowing(
                &names,
                &format!(
                    "status = {p}_native_{}(ctx_of(handle){cargs}, {trampoline}, key_of(key));",
                    f.name,
                    p = self.p()
                ),
            );
            let _ = write!(
                self.c,
                "\nJNIEXPORT void JNICALL {}(JNIEnv *env, jclass cls, jlong handle{cparams}, jlong key) {{\n    (void)cls;\n    int status;\n{body}    if (status != HC_OK) {{\n        fail(env, {}, NULL, status);\n    }}\n}}\n",
                self.jni_name(&ext),
                c_string(&f.name),
            );
            let kargs: String = args
                .iter()
                .map(|a| format!(", {}", a.kotlin_expr))
                .collect();
            let _ = writeln!(
                self.kotlin,
                "        val reply = runtime.call {{ key -> {class}Native.{ext}(handle{kargs}, key) }}"
            );
            let _ = writeln!(
                self.kotlin,
                "        if (!reply.ok) throw CallException(\"{}\", reply.message)",
                f.name
            );
            if f.ret != TypeDesc::Unit {
                let _ = writeln!(self.kotlin, "        return {convert}");
            }
            self.kotlin.push_str("    }\n");
            return;
        }
        let _ = writeln!(
            self.kotlin,
            "        val w = CborWriter().array({})",
            f.args.len()
        );
        for arg in &f.args {
            let _ = writeln!(
                self.kotlin,
                "        {}",
                encode(&arg.ty, &member(&arg.name), 0)
            );
        }
        let _ = writeln!(self.kotlin, "        val request = w.bytes()");
        let _ = writeln!(
            self.kotlin,
            "        val reply = runtime.call {{ key -> {class}Native.call(handle, {index}, request, key) }}"
        );
        if f.ret == TypeDesc::Unit {
            let _ = writeln!(
                self.kotlin,
                "        decodeReply(\"{}\", reply) {{ nil() }}",
                f.name
            );
        } else {
            let _ = writeln!(
                self.kotlin,
                "        return decodeReply(\"{}\", reply) {{ val r = this; {} }}",
                f.name,
                decode(&f.ret)
            );
        }
        self.kotlin.push_str("    }\n");
    }

    fn host_fn(&mut self, index: usize, f: &FnDesc) {
        let class = self.class.clone();
        let name = host_fn_member(self.desc, &f.name);
        let params: Vec<String> = f
            .args
            .iter()
            .map(|a| format!("{}: {}", member(&a.name), kotlin_type(&a.ty)))
            .collect();
        let ret = kotlin_type(&f.ret);
        self.kotlin.push('\n');
        let doc = if f.doc.is_empty() {
            format!("Implements the host fn `{}` with [block].", f.name)
        } else {
            format!(
                "Implements the host fn `{}` with [block]: {}",
                f.name, f.doc
            )
        };
        kdoc(
            &mut self.kotlin,
            "    ",
            &format!(
                "{doc}\n\nEach invocation runs [block] in a new coroutine of this context's scope\n(never on the library's thread). Its value is the host fn's result; an\nexception it throws reaches the library as an error with the exception's\nmessage. The coroutine is cancelled when the library drops the call (the\nawaiting Rust future was dropped or timed out) or the context closes; what\nit returns after that is discarded. Registering again replaces [block] for\nlater invocations.\n\n@throws StatusException if the context is closed."
            ),
        );
        let _ = writeln!(
            self.kotlin,
            "    fun {name}(block: suspend ({}) -> {ret}) {{",
            params.join(", ")
        );
        let _ = writeln!(
            self.kotlin,
            "        val key = runtime.hostFn({index}) {{ request ->"
        );
        let _ = writeln!(self.kotlin, "            val r = CborReader(request)");
        let _ = writeln!(
            self.kotlin,
            "            if (r.array() != {}) throw CborException(\"{}: expected {} argument(s)\")",
            f.args.len(),
            f.name,
            f.args.len()
        );
        for arg in &f.args {
            let _ = writeln!(
                self.kotlin,
                "            val {} = {}",
                member(&arg.name),
                decode(&arg.ty)
            );
        }
        let _ = writeln!(self.kotlin, "            r.end()");
        let call_args: Vec<String> = f.args.iter().map(|a| member(&a.name)).collect();
        if f.ret == TypeDesc::Unit {
            let _ = writeln!(self.kotlin, "            block({})", call_args.join(", "));
            let _ = writeln!(self.kotlin, "            UNIT_RESULT");
        } else {
            let _ = writeln!(
                self.kotlin,
                "            val result = block({})",
                call_args.join(", ")
            );
            let _ = writeln!(self.kotlin, "            val w = CborWriter()");
            let _ = writeln!(self.kotlin, "            {}", encode(&f.ret, "result", 0));
            let _ = writeln!(self.kotlin, "            w.bytes()");
        }
        self.kotlin.push_str("        }\n");
        let _ = writeln!(
            self.kotlin,
            "        {class}Native.registerHostFn(handle, {index}, key)\n    }}"
        );
    }

    fn event(&mut self, index: usize, name: &str, doc: &str, payload: &TypeDesc) {
        let class = self.class.clone();
        let ty = kotlin_type(payload);
        self.kotlin.push('\n');
        let lead = if doc.is_empty() {
            format!("The `{name}` events.")
        } else {
            format!("The `{name}` events: {doc}")
        };
        kdoc(
            &mut self.kotlin,
            "    ",
            &format!(
                "{lead}\n\nA cold flow: each collection subscribes when it starts (before its first\nsuspension; start the collector with `CoroutineStart.UNDISPATCHED` to be\nsure it is subscribed before your next call) and unsubscribes when it ends.\nEvents arrive in emission order and are buffered without bound, none\ndropped; the events a call emits are all in the buffer before that call\nreturns. When the context closes the flow completes after the buffered\nevents. Collecting on a closed context throws [StatusException]."
            ),
        );
        let _ = writeln!(
            self.kotlin,
            "    val {}: Flow<{ty}>\n        get() = runtime.events(\n            subscribe = {{ key -> {class}Native.addListener(handle, {index}, key) }},\n            unsubscribe = {{ id -> {class}Native.removeListener(handle, id) }},\n        ) {{ payload ->\n            try {{\n                val r = CborReader(payload)\n                {}.also {{ r.end() }}\n            }} catch (e: CborException) {{\n                throw DecodeException(\"{name}: ${{e.message}}\", e)\n            }}\n        }}",
            member(name),
            decode(payload)
        );
    }
}

/// Renders the Kotlin binding: `(path relative to the Maven project,
/// contents)` pairs.
pub fn binding(desc: &LibraryDesc, package: &str) -> Vec<(String, String)> {
    let p = &desc.prefix;
    let class = type_name(p);
    let mut g = Gen {
        desc,
        package,
        class: class.clone(),
        kotlin: String::new(),
        natives: String::new(),
        c: String::new(),
    };
    g.c_prelude();
    g.natives_object();
    g.records();
    g.class_open();
    for (index, f) in desc.handlers.iter().enumerate() {
        g.handler(index, f);
    }
    for (index, f) in desc.host_fns.iter().enumerate() {
        g.host_fn(index, f);
    }
    for (index, e) in desc.events.iter().enumerate() {
        g.event(index, &e.name, &e.doc, &e.payload);
    }
    g.kotlin.push_str("}\n");
    g.natives.push_str("}\n");
    let file = format!(
        "// Generated by hostcall-gen from the {p} library's own description. Do not edit.\n\
         @file:Suppress(\"RedundantVisibilityModifier\", \"unused\")\n\n\
         package {package}\n\n\
         import dev.hostcall.runtime.CallException\n\
         import dev.hostcall.runtime.CborException\n\
         import dev.hostcall.runtime.CborReader\n\
         import dev.hostcall.runtime.CborWriter\n\
         import dev.hostcall.runtime.ConfigUnits\n\
         import dev.hostcall.runtime.DecodeException\n\
         import dev.hostcall.runtime.InterfaceMismatchException\n\
         import dev.hostcall.runtime.Keys\n\
         import dev.hostcall.runtime.Reply\n\
         import dev.hostcall.runtime.Runtime\n\
         import dev.hostcall.runtime.StatusException\n\
         import java.util.concurrent.atomic.AtomicBoolean\n\
         import kotlin.time.Duration\n\
         import kotlinx.coroutines.CoroutineName\n\
         import kotlinx.coroutines.CoroutineScope\n\
         import kotlinx.coroutines.Dispatchers\n\
         import kotlinx.coroutines.SupervisorJob\n\
         import kotlinx.coroutines.cancel\n\
         import kotlinx.coroutines.flow.Flow\n\n\
         /** CBOR null: the reply of a handler returning nothing. */\n\
         private val NIL = byteArrayOf(0xf6.toByte())\n\n\
         /** The answer of a host fn returning nothing (an empty payload reads as CBOR null). */\n\
         private val UNIT_RESULT = ByteArray(0)\n{}{}",
        g.kotlin, g.natives
    );
    let path = package.replace('.', "/");
    vec![
        (format!("src/main/kotlin/{path}/{class}.kt"), file),
        (format!("src/main/c/{p}_jni.c"), g.c),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kotlin_conventions() {
        assert_eq!(member("login_many"), "loginMany");
        assert_eq!(member("user_id"), "userId");
        assert_eq!(member("when"), "`when`");
        assert_eq!(type_name("demo"), "Demo");
        assert_eq!(
            kotlin_type(&TypeDesc::Optional(Box::new(TypeDesc::U32))),
            "UInt?"
        );
        assert_eq!(jni_mangle("dev.hostcall.my_lib"), "dev_hostcall_my_1lib");
        assert_eq!(handler_member("close"), "closeCall");
        assert_eq!(c_string("a\"b\\c\u{e9}"), "\"a\\\"b\\\\c\\303\\251\"");
    }

    fn function(name: &str) -> FnDesc {
        FnDesc {
            name: name.into(),
            doc: String::new(),
            args: vec![],
            ret: TypeDesc::Unit,
            fallible: false,
            native: false,
        }
    }

    #[test]
    fn a_host_fn_named_like_a_handler_gets_a_suffix() {
        let desc = LibraryDesc {
            prefix: "x".into(),
            version: "0".into(),
            runtime_version: "0".into(),
            interface_hash: 0,
            handlers: vec![function("notify")],
            host_fns: vec![function("notify"), function("fetch")],
            events: vec![],
            records: vec![],
        };
        assert_eq!(host_fn_member(&desc, "notify"), "notifyHostFn");
        assert_eq!(host_fn_member(&desc, "fetch"), "fetch");
    }

    #[test]
    fn borrowed_arrays_are_measured_before_any_is_pinned() {
        let c = c_borrowing(
            &[("a".into(), true), ("n".into(), false), ("b".into(), true)],
            "status = f();",
        );
        let measure_b = c.find("hcj_measure(env, b)").unwrap();
        let pin_a = c.find("hcj_pin(env, &a_b)").unwrap();
        assert!(measure_b < pin_a, "{c}");
        assert!(c.contains(
            "if (!hcj_pin(env, &b_b)) {\n        hcj_release(env, &a_b);\n        return;"
        ));
        assert!(
            c.find("status = f();").unwrap()
                < c.find("hcj_release(env, &b_b);\n    hcj_release(env, &a_b);")
                    .unwrap()
        );
    }
}
