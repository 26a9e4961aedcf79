//! The Kotlin binding: a Kotlin file and the JNI glue in C.
//!
//! * `src/main/kotlin/<package path>/<Class>.kt`: `class <Class>` with
//!   `open(config, scope)`, one `suspend fun` per handler, one registration
//!   method per host fn taking a suspend lambda, one `Flow` per event, data
//!   classes for records, and the CBOR codecs of the records;
//! * `src/main/c/<prefix>_jni.c`: the JNI functions behind the Kotlin
//!   `external fun`s, calling the library's C ABI, plus `JNI_OnLoad`; the
//!   upcall trampolines are in the hand-written `hostcall_jni.h`;
//! * `src/main/c/<prefix>.h`: a copy of the C header.
//!
//! Handlers with a native entry point are called natively; the rest through
//! CBOR. The runtime support (`dev.hostcall.runtime`) is hand-written.

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

/// How a native argument crosses JNI: (Kotlin parameter type of the
/// `external fun`, the Kotlin argument expression, the JNI C type, the C
/// argument expression(s), setup and cleanup statements in C).
struct NativeArg {
    kotlin_type: &'static str,
    kotlin_expr: String,
    jni_type: &'static str,
    c_expr: String,
    setup: String,
    cleanup: String,
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
        setup: String::new(),
        cleanup: String::new(),
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
            setup: format!("    hcj_borrowed {n}_b = hcj_borrow(env, {n});\n"),
            cleanup: format!("    hcj_release(env, &{n}_b);\n"),
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

    fn jni_name(&self, function: &str) -> String {
        format!(
            "Java_{}_{}Native_{}",
            jni_mangle(self.package),
            jni_mangle(&self.class),
            jni_mangle(function)
        )
    }

    fn c_prelude(&mut self) {
        let p = self.p();
        let methods: Vec<String> = self
            .desc
            .handlers
            .iter()
            .map(|h| format!("\"{}\"", h.name))
            .collect();
        let host_fns: Vec<String> = self
            .desc
            .host_fns
            .iter()
            .map(|h| format!("\"{}\"", h.name))
            .collect();
        let events: Vec<String> = self
            .desc
            .events
            .iter()
            .map(|e| format!("\"{}\"", e.name))
            .collect();
        let list = |v: &[String]| {
            if v.is_empty() {
                "NULL".to_owned()
            } else {
                v.join(", ")
            }
        };
        let _ = write!(
            self.c,
            "\
/*
 * {p}_jni.c - JNI glue of the Kotlin binding of lib{p}.
 *
 * Generated by hostcall-gen from the library's own description. Do not edit.
 * Built by the Maven build (see pom.xml) into lib{p}_jni.so, linked against
 * lib{p}. Handles and user data cross as jlong; byte arrays are borrowed
 * for the duration of a call, which copies them before returning.
 */
#include \"hostcall_jni.h\"
#include \"{p}.h\"

static const char *const methods[] = {{{}}};
static const char *const host_fns[] = {{{}}};
static const char *const events[] = {{{}}};

static void *ctx_of(jlong handle) {{ return (void *)(uintptr_t)handle; }}
static void *key_of(jlong key) {{ return (void *)(uintptr_t)key; }}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {{
    (void)reserved;
    return hcj_on_load(vm);
}}
",
            list(&methods),
            list(&host_fns),
            list(&events)
        );
        let fns = [
            (
                "interfaceHash",
                "jlong",
                "",
                format!("    (void)env, (void)cls;\n    return (jlong){p}_interface_hash();\n"),
            ),
            (
                "create",
                "jlong",
                ", jbyteArray config",
                format!(
                    "    (void)cls;\n    hcj_borrowed c = hcj_borrow(env, config);\n    void *ctx = {p}_new(c.data, c.len);\n    hcj_release(env, &c);\n    return (jlong)(uintptr_t)ctx;\n"
                ),
            ),
            (
                "destroy",
                "jint",
                ", jlong handle",
                format!("    (void)env, (void)cls;\n    return {p}_destroy(ctx_of(handle));\n"),
            ),
            (
                "call",
                "jint",
                ", jlong handle, jint method, jbyteArray request, jlong key",
                format!(
                    "    (void)cls;\n    hcj_borrowed r = hcj_borrow(env, request);\n    int status = {p}_call(ctx_of(handle), methods[method], r.data, r.len, hcj_on_reply, key_of(key));\n    hcj_release(env, &r);\n    return status;\n"
                ),
            ),
            (
                "registerHostFn",
                "jint",
                ", jlong handle, jint index, jlong key",
                format!(
                    "    (void)env, (void)cls;\n    return {p}_register_host_fn_cancellable(ctx_of(handle), host_fns[index], hcj_on_host_fn, hcj_on_cancel, key_of(key));\n"
                ),
            ),
            (
                "hostComplete",
                "jint",
                ", jlong handle, jlong token, jint ret, jbyteArray payload",
                format!(
                    "    (void)cls;\n    hcj_borrowed b = hcj_borrow(env, payload);\n    int status = {p}_host_complete(ctx_of(handle), (uint64_t)token, ret, b.data, b.len);\n    hcj_release(env, &b);\n    return status;\n"
                ),
            ),
            (
                "addListener",
                "jlong",
                ", jlong handle, jint event, jlong key",
                format!(
                    "    (void)env, (void)cls;\n    return (jlong){p}_add_event_listener(ctx_of(handle), events[event], hcj_on_event, key_of(key));\n"
                ),
            ),
            (
                "removeListener",
                "jint",
                ", jlong handle, jlong id",
                format!(
                    "    (void)env, (void)cls;\n    return {p}_remove_event_listener(ctx_of(handle), (uint64_t)id);\n"
                ),
            ),
            (
                "lastError",
                "jstring",
                "",
                format!(
                    "    (void)cls;\n    char buf[512];\n    {p}_last_error(buf, sizeof buf);\n    return (*env)->NewStringUTF(env, buf);\n"
                ),
            ),
        ];
        for (name, ret, params, body) in fns {
            let _ = write!(
                self.c,
                "\nJNIEXPORT {ret} JNICALL {}(JNIEnv *env, jclass cls{params}) {{\n{body}}}\n",
                self.jni_name(name)
            );
        }
    }

    fn natives_object(&mut self) {
        let class = &self.class;
        let _ = write!(
            self.natives,
            "
/** The JNI functions of lib{p}_jni (generated C, `src/main/c/{p}_jni.c`). */
internal object {class}Native {{
    init {{
        System.loadLibrary(\"{p}_jni\")
    }}

    @JvmStatic external fun interfaceHash(): Long
    @JvmStatic external fun create(config: ByteArray?): Long
    @JvmStatic external fun destroy(handle: Long): Int
    @JvmStatic external fun call(handle: Long, method: Int, request: ByteArray?, key: Long): Int
    @JvmStatic external fun registerHostFn(handle: Long, index: Int, key: Long): Int
    @JvmStatic external fun hostComplete(handle: Long, token: Long, ret: Int, payload: ByteArray?): Int
    @JvmStatic external fun addListener(handle: Long, event: Int, key: Long): Long
    @JvmStatic external fun removeListener(handle: Long, id: Long): Int
    @JvmStatic external fun lastError(): String
",
            p = self.p()
        );
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
            codecs.push_str("    repeat(r.map()) {\n        when (r.text()) {\n");
            for field in &record.fields {
                let _ = writeln!(
                    codecs,
                    "            \"{}\" -> {} = {}",
                    field.name,
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
        let class = self.class.clone();
        let p = self.p();
        let host_fns = self.desc.host_fns.len();
        let _ = write!(
            self.kotlin,
            "
/**
 * Settings of a [{class}] context; `null` keeps the library's default.
 *
 * @property maxInFlight bound on host calls outstanding at once; past it a host call fails at once.
 * @property hostCallTimeout timeout of every host call (whole milliseconds); the host function's coroutine is cancelled then.
 * @property maxPendingRequests bound on calls queued or running; past it a call fails at once.
 * @property spin how long the idle loop spins for host results before sleeping, while host calls are outstanding.
 */
data class {class}Config(
    val maxInFlight: UInt? = null,
    val hostCallTimeout: Duration? = null,
    val maxPendingRequests: ULong? = null,
    val spin: Duration? = null,
) {{
    internal fun encode(): ByteArray {{
        val entries = listOfNotNull(
            maxInFlight?.let {{ \"max_in_flight\" to it.toULong() }},
            hostCallTimeout?.let {{ \"host_call_timeout_ms\" to it.inWholeMilliseconds.toULong() }},
            maxPendingRequests?.let {{ \"max_pending_requests\" to it }},
            spin?.let {{ \"spin_us\" to it.inWholeMicroseconds.toULong() }},
        )
        val w = CborWriter().map(entries.size)
        for ((key, value) in entries) w.text(key).uint(value)
        return w.bytes()
    }}
}}

/**
 * A context of the {p} library: its own event loop, host functions and
 * listeners. Every member is safe to use from any thread or coroutine.
 *
 * Calls are `suspend` functions: cancelling the calling coroutine abandons
 * the call at once (the library's late reply is then dropped). Host
 * functions are suspend lambdas run in the context's [CoroutineScope].
 * [close] ends the context; calls still pending then fail with
 * [CallException.shuttingDown], later ones with [StatusException.closed].
 */
class {class} private constructor(
    private val handle: Long,
    private val scope: CoroutineScope,
    private val ownsScope: Boolean,
) : AutoCloseable {{
    private val closed = AtomicBoolean(false)
    private val runtime = Runtime(scope, {host_fns}, {class}Native::lastError) {{ token, ok, payload ->
        // A refusal (the call was abandoned meanwhile, or the context
        // closed) needs no action: the library no longer waits for it.
        {class}Native.hostComplete(handle, token, if (ok) 0 else 1, payload)
    }}

    companion object {{
        /** The interface these bindings were generated for; [open] refuses any other. */
        const val INTERFACE_HASH: ULong = 0x{hash:016x}uL

        /**
         * Creates a context. Host functions run in [scope] (by default a new
         * scope on [Dispatchers.Default], cancelled by [close]).
         */
        fun open(config: {class}Config = {class}Config(), scope: CoroutineScope? = null): {class} {{
            val loaded = {class}Native.interfaceHash().toULong()
            if (loaded != INTERFACE_HASH) {{
                throw InterfaceMismatchException(
                    \"these bindings were generated for interface 0x${{INTERFACE_HASH.toString(16)}}, \" +
                        \"but the loaded lib{p} has 0x${{loaded.toString(16)}}; regenerate them with hostcall-gen\",
                )
            }}
            val handle = {class}Native.create(config.encode())
            if (handle == 0L) throw StatusException(\"{p}: open\", Status.INVALID_ARG, {class}Native.lastError())
            val owned = scope == null
            return {class}(handle, scope ?: CoroutineScope(SupervisorJob() + Dispatchers.Default), owned)
        }}
    }}

    /**
     * Destroys the context: pending calls fail with
     * [CallException.shuttingDown], running host functions are cancelled,
     * and nothing is called back afterwards. Idempotent.
     */
    override fun close() {{
        if (!closed.compareAndSet(false, true)) return
        {class}Native.destroy(handle)
        runtime.close()
        if (ownsScope) scope.cancel()
    }}

    private fun check(status: Int, what: String) {{
        if (status != 0) throw StatusException(\"{p}: $what\", status, {class}Native.lastError())
    }}

    private fun <T> decode(method: String, reply: Reply, read: CborReader.() -> T): T {{
        if (!reply.ok) throw CallException(method, reply.message)
        try {{
            val r = CborReader(reply.data ?: byteArrayOf(0xf6.toByte()))
            return r.read().also {{ r.end() }}
        }} catch (e: CborException) {{
            throw DecodeException(\"$method: ${{e.message}}\", e)
        }}
    }}
",
            hash = self.desc.interface_hash,
        );
    }

    fn handler(&mut self, index: usize, f: &FnDesc) {
        let class = self.class.clone();
        let name = member(&f.name);
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
        kdoc(&mut self.kotlin, "    ", &doc);
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
                "    @JvmStatic external fun {ext}(handle: Long{}, key: Long): Int",
                kparams.iter().map(|p| format!(", {p}")).collect::<String>()
            );
            let cparams: String = f
                .args
                .iter()
                .zip(&args)
                .map(|(a, n)| format!(", {} {}", n.jni_type, member(&a.name).trim_matches('`')))
                .collect();
            let setup: String = args.iter().map(|a| a.setup.as_str()).collect();
            let cleanup: String = args.iter().map(|a| a.cleanup.as_str()).collect();
            let cargs: String = args.iter().map(|a| format!(", {}", a.c_expr)).collect();
            let uses_env = !setup.is_empty();
            let _ = write!(
                self.c,
                "\nJNIEXPORT jint JNICALL {}(JNIEnv *env, jclass cls, jlong handle{cparams}, jlong key) {{\n    (void)cls;{}\n{setup}    int status = {p}_native_{}(ctx_of(handle){cargs}, {trampoline}, key_of(key));\n{cleanup}    return status;\n}}\n",
                self.jni_name(&ext),
                if uses_env { "" } else { " (void)env;" },
                f.name,
                p = self.p()
            );
            let kargs: String = args
                .iter()
                .map(|a| format!(", {}", a.kotlin_expr))
                .collect();
            let _ = writeln!(
                self.kotlin,
                "        val reply = runtime.call(\"{}\") {{ key -> {class}Native.{ext}(handle{kargs}, key) }}",
                f.name
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
            "        val reply = runtime.call(\"{}\") {{ key -> {class}Native.call(handle, {index}, request, key) }}",
            f.name
        );
        if f.ret == TypeDesc::Unit {
            let _ = writeln!(
                self.kotlin,
                "        decode(\"{}\", reply) {{ nil() }}",
                f.name
            );
        } else {
            let _ = writeln!(
                self.kotlin,
                "        return decode(\"{}\", reply) {{ val r = this; {} }}",
                f.name,
                decode(&f.ret)
            );
        }
        self.kotlin.push_str("    }\n");
    }

    fn host_fn(&mut self, index: usize, f: &FnDesc) {
        let class = self.class.clone();
        let name = member(&f.name);
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
                "{doc}\n\n[block] runs in this context's scope. Its coroutine is cancelled when the\nlibrary abandons the call (the Rust future was dropped or timed out) or the\ncontext closes. An exception it throws reaches the library as the call's error\ntext."
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
        let _ = writeln!(
            self.kotlin,
            "            val result = block({})",
            call_args.join(", ")
        );
        let _ = writeln!(self.kotlin, "            val w = CborWriter()");
        let _ = writeln!(self.kotlin, "            {}", encode(&f.ret, "result", 0));
        let _ = writeln!(self.kotlin, "            w.bytes()");
        self.kotlin.push_str("        }\n");
        let _ = writeln!(
            self.kotlin,
            "        check({class}Native.registerHostFn(handle, {index}, key), \"register {}\")\n    }}",
            f.name
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
                "{lead}\n\nCollecting subscribes; cancelling the collection unsubscribes. Events\narrive in order and are buffered without bound (none is dropped). On a\nclosed context the flow fails with [StatusException]."
            ),
        );
        let _ = writeln!(
            self.kotlin,
            "    val {}: Flow<{ty}>\n        get() = callbackFlow {{",
            member(name)
        );
        let _ = writeln!(
            self.kotlin,
            "            val key = runtime.listen {{ payload ->\n                try {{\n                    val r = CborReader(payload ?: byteArrayOf(0xf6.toByte()))\n                    trySend({})\n                }} catch (e: CborException) {{\n                    close(DecodeException(\"{name}: ${{e.message}}\", e))\n                }}\n            }}",
            decode(payload)
        );
        let _ = writeln!(
            self.kotlin,
            "            val id = {class}Native.addListener(handle, {index}, key)\n            if (id == 0L) {{\n                runtime.unlisten(key)\n                throw StatusException(\"{}: listen {name}\", Status.INVALID_CONTEXT, {class}Native.lastError())\n            }}\n            awaitClose {{\n                {class}Native.removeListener(handle, id)\n                runtime.unlisten(key)\n            }}\n        }}.buffer(Channel.UNLIMITED)",
            self.p()
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
         import dev.hostcall.runtime.DecodeException\n\
         import dev.hostcall.runtime.InterfaceMismatchException\n\
         import dev.hostcall.runtime.Reply\n\
         import dev.hostcall.runtime.Runtime\n\
         import dev.hostcall.runtime.Status\n\
         import dev.hostcall.runtime.StatusException\n\
         import java.util.concurrent.atomic.AtomicBoolean\n\
         import kotlin.time.Duration\n\
         import kotlinx.coroutines.CoroutineScope\n\
         import kotlinx.coroutines.Dispatchers\n\
         import kotlinx.coroutines.SupervisorJob\n\
         import kotlinx.coroutines.cancel\n\
         import kotlinx.coroutines.channels.Channel\n\
         import kotlinx.coroutines.channels.awaitClose\n\
         import kotlinx.coroutines.flow.Flow\n\
         import kotlinx.coroutines.flow.buffer\n\
         import kotlinx.coroutines.flow.callbackFlow\n{}{}",
        g.kotlin, g.natives
    );
    let path = package.replace('.', "/");
    vec![
        (format!("src/main/kotlin/{path}/{class}.kt"), file),
        (format!("src/main/c/{p}_jni.c"), g.c),
        (format!("src/main/c/{p}.h"), crate::c::header(desc)),
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
    }
}
