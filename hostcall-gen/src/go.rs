//! The Go package.
//!
//! One file, `<prefix>.go`, plus a copy of the C header next to it so the
//! package builds on its own. The package wraps the C ABI with:
//!
//! * `New(opts ...Option) (*Context, error)` and `(*Context).Close()`;
//! * one method per handler, `(ctx context.Context, args...) (T, error)`,
//!   through the native entry point when the handler has one, else CBOR;
//! * `Register<HostFn>(func(ctx context.Context, args...) (T, error))` per
//!   host fn;
//! * `On<Event>(func(Payload)) (unsubscribe func())` per event;
//! * one struct per record.
//!
//! The runtime support (the callback queue and its dispatcher goroutine)
//! lives in the hand-written package `bindings/go/hostcall`.

use std::fmt::Write;

use hostcall::LibraryDesc;
use hostcall::describe::{FieldDesc, FnDesc, TypeDesc};

/// The import path of the runtime support package.
pub const DEFAULT_RUNTIME: &str = "github.com/hostcall/hostcall/bindings/go/hostcall";

/// Words written in capitals in Go names (`user_id` → `UserID`).
const INITIALISMS: &[&str] = &[
    "api", "cpu", "db", "html", "http", "https", "id", "ip", "json", "os", "sql", "tcp", "ttl",
    "udp", "uri", "url", "utf8", "uuid", "xml",
];

/// Method names the generated `Context` already uses.
const RESERVED: &[&str] = &["Close", "Handle"];

fn word(word: &str, first: bool) -> String {
    if word.is_empty() {
        return String::new();
    }
    let (stem, plural) = match word.strip_suffix('s') {
        Some(stem) if INITIALISMS.contains(&stem) => (stem, "s"),
        _ => (word, ""),
    };
    if INITIALISMS.contains(&stem) {
        if first {
            stem.to_owned() + plural
        } else {
            stem.to_ascii_uppercase() + plural
        }
    } else if first {
        word.to_owned()
    } else {
        let mut chars = word.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default()
    }
}

/// `login_many` → `LoginMany`.
pub fn exported(name: &str) -> String {
    name.split('_').map(|w| word(w, false)).collect()
}

/// `user_ids` → `userIDs`.
pub fn local(name: &str) -> String {
    let mut words = name.split('_').filter(|w| !w.is_empty());
    let first = words.next().map(|w| word(w, true)).unwrap_or_default();
    let rest: String = words.map(|w| word(w, false)).collect();
    let name = first + &rest;
    match name.as_str() {
        "break" | "case" | "chan" | "const" | "continue" | "default" | "defer" | "else"
        | "fallthrough" | "for" | "func" | "go" | "goto" | "if" | "import" | "interface"
        | "map" | "package" | "range" | "return" | "select" | "struct" | "switch" | "type"
        | "var" | "ctx" | "c" | "fn" => name + "_",
        _ => name,
    }
}

/// The Go type of a wire type.
pub fn go_type(ty: &TypeDesc) -> String {
    match ty {
        TypeDesc::Unit => "struct{}".into(),
        TypeDesc::Bool => "bool".into(),
        TypeDesc::I8 => "int8".into(),
        TypeDesc::I16 => "int16".into(),
        TypeDesc::I32 => "int32".into(),
        TypeDesc::I64 => "int64".into(),
        TypeDesc::U8 => "uint8".into(),
        TypeDesc::U16 => "uint16".into(),
        TypeDesc::U32 => "uint32".into(),
        TypeDesc::U64 => "uint64".into(),
        TypeDesc::F32 => "float32".into(),
        TypeDesc::F64 => "float64".into(),
        TypeDesc::String => "string".into(),
        TypeDesc::Bytes => "[]byte".into(),
        TypeDesc::List(inner) => format!("[]{}", go_type(inner)),
        TypeDesc::Optional(inner) => format!("*{}", go_type(inner)),
        TypeDesc::Record(name) => exported(name),
    }
}

/// The C type of a native scalar argument, for the cgo wrapper.
fn c_scalar(ty: &TypeDesc) -> Option<&'static str> {
    Some(match ty {
        TypeDesc::I8 => "int8_t",
        TypeDesc::I16 => "int16_t",
        TypeDesc::I32 => "int32_t",
        TypeDesc::I64 => "int64_t",
        TypeDesc::U8 => "uint8_t",
        TypeDesc::U16 => "uint16_t",
        TypeDesc::U32 => "uint32_t",
        TypeDesc::U64 => "uint64_t",
        TypeDesc::F32 => "float",
        TypeDesc::F64 => "double",
        TypeDesc::Bool => "bool",
        _ => return None,
    })
}

/// The cgo spelling of a C scalar type.
fn cgo_scalar(c: &str) -> &'static str {
    match c {
        "int8_t" => "C.int8_t",
        "int16_t" => "C.int16_t",
        "int32_t" => "C.int32_t",
        "int64_t" => "C.int64_t",
        "uint8_t" => "C.uint8_t",
        "uint16_t" => "C.uint16_t",
        "uint32_t" => "C.uint32_t",
        "uint64_t" => "C.uint64_t",
        "float" => "C.float",
        "double" => "C.double",
        _ => "C.bool",
    }
}

fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent}//");
        } else {
            let _ = writeln!(out, "{indent}// {line}");
        }
    }
}

/// Aligns cells the way gofmt's tabwriter does: a cell that is followed by
/// another on its line is padded to the widest such cell of the run of
/// consecutive lines that have one in the same column, plus one space.
fn align(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<Vec<usize>> = rows.iter().map(|r| vec![0; r.len()]).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    for col in 0..columns {
        let mut start = 0;
        while start < rows.len() {
            if rows[start].len() <= col + 1 {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < rows.len() && rows[end].len() > col + 1 {
                end += 1;
            }
            let width = rows[start..end]
                .iter()
                .map(|r| r[col].len())
                .max()
                .unwrap_or(0);
            for w in &mut widths[start..end] {
                w[col] = width;
            }
            start = end;
        }
    }
    rows.iter()
        .zip(widths)
        .map(|(row, widths)| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - cell.len() + 1));
                }
            }
            line
        })
        .collect()
}

fn params(args: &[FieldDesc]) -> String {
    args.iter()
        .map(|a| format!(", {} {}", local(&a.name), go_type(&a.ty)))
        .collect()
}

/// An anonymous struct encoding as the CBOR argument array, its fields
/// indented by `indent` (the closing brace one tab less).
fn args_struct(args: &[FieldDesc], indent: &str) -> String {
    let mut rows = vec![vec![
        "_".to_owned(),
        "struct{}".to_owned(),
        "`cbor:\",toarray\"`".to_owned(),
    ]];
    rows.extend(args.iter().map(|a| vec![exported(&a.name), go_type(&a.ty)]));
    let mut s = String::from("struct {\n");
    for line in align(&rows) {
        let _ = writeln!(s, "{indent}{line}");
    }
    s.push_str(&indent[1..]);
    s.push('}');
    s
}

/// What a native result arrives as: the runtime trampoline and how the
/// `hostcall.Reply` becomes the Go value.
fn native_result(ty: &TypeDesc) -> Option<(&'static str, String)> {
    let t = go_type(ty);
    Some(match ty {
        TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 | TypeDesc::I64 => {
            ("ReplyI64Trampoline", format!("{t}(int64(reply.Value))"))
        }
        TypeDesc::U8 | TypeDesc::U16 | TypeDesc::U32 | TypeDesc::U64 => {
            ("ReplyU64Trampoline", format!("{t}(reply.Value)"))
        }
        TypeDesc::F32 | TypeDesc::F64 => ("ReplyF64Trampoline", format!("{t}(reply.F64())")),
        TypeDesc::Bool => ("ReplyBoolTrampoline", "reply.Value != 0".into()),
        TypeDesc::String => ("ReplyTrampoline", "string(reply.Data)".into()),
        TypeDesc::Bytes => ("ReplyTrampoline", "reply.Data".into()),
        TypeDesc::Unit => ("ReplyTrampoline", String::new()),
        _ => return None,
    })
}

struct Gen<'a> {
    desc: &'a LibraryDesc,
    runtime: &'a str,
    preamble: String,
    body: String,
}

impl<'a> Gen<'a> {
    /// The prefix, borrowed from the description (not from `self`).
    fn p(&self) -> &'a str {
        &self.desc.prefix
    }

    fn preamble(&mut self) {
        let p = self.p().to_owned();
        let _ = write!(
            self.preamble,
            "\
#cgo LDFLAGS: -l{p}
#include <stdlib.h>
#include \"{p}.h\"

// The context handle and user data cross as integers: they are opaque
// values, not Go pointers, and must not look like one to the Go runtime.
//
// A refusal carries its detail, read in the same C call: the library keeps
// the last error per thread, and a goroutine's next cgo call may run on
// another thread. The Go side frees the detail.
typedef struct {{ int code; char *detail; }} hcgo_status;
static char *hcgo_detail(void) {{
    size_t n = {p}_last_error(NULL, 0);
    char *buf = malloc(n + 1);
    if (buf != NULL) {p}_last_error(buf, n + 1);
    return buf;
}}
static hcgo_status hcgo_status_of(int code) {{
    hcgo_status s = {{code, NULL}};
    if (code != 0) s.detail = hcgo_detail();
    return s;
}}
typedef struct {{ uintptr_t handle; char *detail; }} hcgo_created;
static hcgo_created hcgo_new(const char *config, size_t len) {{
    hcgo_created c = {{(uintptr_t){p}_new(config, len), NULL}};
    if (c.handle == 0) c.detail = hcgo_detail();
    return c;
}}
static int hcgo_destroy(uintptr_t ctx) {{ return {p}_destroy((void *)ctx); }}
static hcgo_status hcgo_call(uintptr_t ctx, const char *method, const char *req, size_t len, void *cb, uint64_t key) {{
    return hcgo_status_of({p}_call((void *)ctx, method, req, len, (FFICallBack)cb, (void *)(uintptr_t)key));
}}
static hcgo_status hcgo_register(uintptr_t ctx, const char *name, void *fn, void *cancel, uint64_t key) {{
    return hcgo_status_of({p}_register_host_fn_cancellable((void *)ctx, name, (FFIHostFn)fn, (FFIHostCancelFn)cancel, (void *)(uintptr_t)key));
}}
static int hcgo_complete(uintptr_t ctx, uint64_t token, int ret, const char *msg, size_t len) {{
    return {p}_host_complete((void *)ctx, token, ret, msg, len);
}}
static uint64_t hcgo_listen(uintptr_t ctx, const char *event, void *cb, uint64_t key) {{
    return {p}_add_event_listener((void *)ctx, event, (FFICallBack)cb, (void *)(uintptr_t)key);
}}
static int hcgo_unlisten(uintptr_t ctx, uint64_t id) {{ return {p}_remove_event_listener((void *)ctx, id); }}
static uint64_t hcgo_interface_hash(void) {{ return {p}_interface_hash(); }}
"
        );
    }

    fn header(&mut self) {
        let desc = self.desc;
        let p = self.p().to_owned();
        let runtime = self.runtime;
        let _ = write!(
            self.body,
            "\
import \"C\"

import (
\t\"context\"
\t\"fmt\"
\t\"sync\"
\t\"time\"
\t\"unsafe\"

\t\"{runtime}\"
)

// InterfaceHash identifies the interface these bindings were generated
// for; New refuses a library whose interface differs.
const InterfaceHash uint64 = 0x{hash:016x}

// Errors callers can match with errors.Is.
var (
\t// ErrClosed: the Context was closed.
\tErrClosed = hostcall.ErrClosed
\t// ErrShuttingDown: the call was pending when the Context was closed.
\tErrShuttingDown = hostcall.ErrShuttingDown
\t// ErrInterfaceMismatch: New found a library these bindings do not describe.
\tErrInterfaceMismatch = hostcall.ErrInterfaceMismatch
)

// Context is one {p} library context: its own event loop, host functions
// and listeners. All methods are safe for concurrent use.
type Context struct {{
\thandle C.uintptr_t
\trt     *hostcall.Runtime
}}

type options struct {{
\tconfig map[string]uint64
}}

// Option configures New.
type Option func(*options)

// WithMaxInFlight bounds the host calls outstanding at once; past it a host
// call fails at once as overloaded (default 1 048 576).
func WithMaxInFlight(n uint32) Option {{
\treturn func(o *options) {{ o.config[\"max_in_flight\"] = uint64(n) }}
}}

// WithHostCallTimeout sets the timeout of every host call (default none):
// a host function still running then has its context cancelled. The
// library counts whole milliseconds, so d is rounded up to one; d <= 0
// means no timeout.
func WithHostCallTimeout(d time.Duration) Option {{
\treturn func(o *options) {{ o.config[\"host_call_timeout_ms\"] = ceilUnits(d, time.Millisecond) }}
}}

// WithMaxPendingRequests bounds the calls queued or running; past it a call
// is refused at once (default unbounded).
func WithMaxPendingRequests(n uint64) Option {{
\treturn func(o *options) {{ o.config[\"max_pending_requests\"] = n }}
}}

// WithSpin sets how long the library's idle loop spins for host results
// before it sleeps, while host calls are outstanding (default 50µs, at most
// 10ms). The library counts whole microseconds, so d is rounded up to one;
// d <= 0 never spins.
func WithSpin(d time.Duration) Option {{
\treturn func(o *options) {{ o.config[\"spin_us\"] = ceilUnits(d, time.Microsecond) }}
}}

// ceilUnits is d in whole units, rounded up; 0 when d <= 0.
func ceilUnits(d, unit time.Duration) uint64 {{
\tif d <= 0 {{
\t\treturn 0
\t}}
\treturn uint64((d-1)/unit) + 1
}}

// takeDetail is a refusal's detail as a Go string; it frees the C copy.
func takeDetail(detail *C.char) string {{
\tif detail == nil {{
\t\treturn \"\"
\t}}
\tdefer C.free(unsafe.Pointer(detail))
\treturn C.GoString(detail)
}}

func refused(op string, status C.hcgo_status) error {{
\treturn &hostcall.StatusError{{Op: op, Code: int(status.code), Detail: takeDetail(status.detail)}}
}}

// New creates a Context.
func New(opts ...Option) (*Context, error) {{
\tif got := uint64(C.hcgo_interface_hash()); got != InterfaceHash {{
\t\treturn nil, fmt.Errorf(\"{p}: these bindings were generated for interface %#x, but the loaded lib{p} has %#x; regenerate them with hostcall-gen: %w\", InterfaceHash, got, ErrInterfaceMismatch)
\t}}
\to := options{{config: map[string]uint64{{}}}}
\tfor _, opt := range opts {{
\t\topt(&o)
\t}}
\tconfig, err := hostcall.Encode(o.config)
\tif err != nil {{
\t\treturn nil, err
\t}}
\tcConfig := C.CBytes(config)
\tdefer C.free(cConfig)
\tcreated := C.hcgo_new((*C.char)(cConfig), C.size_t(len(config)))
\tif created.handle == 0 {{
\t\treturn nil, fmt.Errorf(\"{p}: new: %s\", takeDetail(created.detail))
\t}}
\tc := &Context{{handle: created.handle}}
\tc.rt, err = hostcall.NewRuntime(c.complete)
\tif err != nil {{
\t\tC.hcgo_destroy(c.handle)
\t\treturn nil, err
\t}}
\treturn c, nil
}}

// Close destroys the context: pending calls return an error matching
// ErrShuttingDown, running host functions see their context cancelled, and
// nothing is called back afterwards. Later calls return ErrClosed. Close is
// idempotent, and may be called from a listener of any Context; when it
// returns without waiting is documented on hostcall.Runtime.Close.
func (c *Context) Close() error {{
\tc.rt.Close(func() {{ C.hcgo_destroy(c.handle) }})
\treturn nil
}}

func (c *Context) complete(token uint64, ok bool, payload []byte) {{
\tret := C.int(1)
\tif ok {{
\t\tret = 0
\t}}
\tvar ptr *C.char
\tif len(payload) > 0 {{
\t\tptr = (*C.char)(unsafe.Pointer(&payload[0]))
\t}}
\t// A refusal (the call was cancelled meanwhile, or the context closed)
\t// needs no action: the library no longer waits for this token.
\tC.hcgo_complete(c.handle, C.uint64_t(token), ret, ptr, C.size_t(len(payload)))
}}

// call sends a CBOR request and waits for its reply (or for ctx to end).
func (c *Context) call(ctx context.Context, method string, cMethod *C.char, request []byte) (hostcall.Reply, error) {{
\tkey, replies := c.rt.Call()
\tvar ptr *C.char
\tif len(request) > 0 {{
\t\tptr = (*C.char)(unsafe.Pointer(&request[0]))
\t}}
\tstatus := C.hcgo_call(c.handle, cMethod, ptr, C.size_t(len(request)), hostcall.ReplyTrampoline, C.uint64_t(key))
\treturn c.await(ctx, method, key, replies, status)
}}

// await turns a call's status and reply into a result.
func (c *Context) await(ctx context.Context, method string, key uint64, replies chan hostcall.Reply, status C.hcgo_status) (hostcall.Reply, error) {{
\tif status.code != 0 {{
\t\tc.rt.Forget(key)
\t\treturn hostcall.Reply{{}}, refused(\"{p}: \"+method, status)
\t}}
\treply, err := c.rt.Wait(ctx, key, replies)
\tif err != nil {{
\t\treturn reply, err
\t}}
\tif !reply.OK {{
\t\treturn reply, &hostcall.CallError{{Method: method, Message: string(reply.Data)}}
\t}}
\treturn reply, nil
}}

// cstr pins a Go string's bytes for a C call that copies them.
func cstr(s string) (*C.char, C.size_t) {{
\tif len(s) == 0 {{
\t\treturn nil, 0
\t}}
\treturn (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}}

// cbytes is cstr for byte slices.
func cbytes(b []byte) (*C.uint8_t, C.size_t) {{
\tif len(b) == 0 {{
\t\treturn nil, 0
\t}}
\treturn (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}}

var _ = cbytes
",
            hash = desc.interface_hash,
        );
    }

    fn records(&mut self) {
        for record in &self.desc.records {
            let name = exported(&record.name);
            self.body.push('\n');
            if record.doc.is_empty() {
                let _ = writeln!(
                    self.body,
                    "// {name} is a record of the {} library.",
                    self.p()
                );
            } else {
                comment(&mut self.body, "", &format!("{name}: {}", record.doc));
            }
            let _ = writeln!(self.body, "type {name} struct {{");
            // Field docs break gofmt's alignment runs; align each run.
            let mut run: Vec<Vec<String>> = Vec::new();
            let flush = |run: &mut Vec<Vec<String>>, body: &mut String| {
                for line in align(run) {
                    let _ = writeln!(body, "\t{line}");
                }
                run.clear();
            };
            for field in &record.fields {
                if !field.doc.is_empty() {
                    flush(&mut run, &mut self.body);
                    comment(&mut self.body, "\t", &field.doc);
                }
                run.push(vec![
                    exported(&field.name),
                    go_type(&field.ty),
                    format!("`cbor:\"{}\"`", field.name),
                ]);
            }
            flush(&mut run, &mut self.body);
            self.body.push_str("}\n");
        }
    }

    fn handler(&mut self, f: &FnDesc) -> Result<(), String> {
        let method = exported(&f.name);
        if RESERVED.contains(&method.as_str()) {
            return Err(format!(
                "handler '{}' would be the Go method {method}, which Context already has; rename it",
                f.name
            ));
        }
        let unit = f.ret == TypeDesc::Unit;
        let ret = go_type(&f.ret);
        let results = if unit {
            "error".to_owned()
        } else {
            format!("({ret}, error)")
        };
        let zero = if unit {
            String::new()
        } else {
            "out, ".to_owned()
        };
        self.body.push('\n');
        let doc = if f.doc.is_empty() {
            format!("{method} calls `{}`.", f.name)
        } else {
            format!("{method} calls `{}`: {}", f.name, f.doc)
        };
        comment(&mut self.body, "", &doc);
        comment(
            &mut self.body,
            "",
            "\nIf ctx ends first, it returns ctx.Err() at once; the library's late\nreply is then discarded.",
        );
        let _ = writeln!(
            self.body,
            "func (c *Context) {method}(ctx context.Context{}) {results} {{",
            params(&f.args)
        );
        if !unit {
            let _ = writeln!(self.body, "\tvar out {ret}");
        }
        let native = f
            .native
            .then(|| native_result(&f.ret))
            .flatten()
            .filter(|_| {
                f.args.iter().all(|a| {
                    c_scalar(&a.ty).is_some() || matches!(a.ty, TypeDesc::String | TypeDesc::Bytes)
                })
            });
        if let Some((trampoline, convert)) = native {
            self.native_wrapper(f);
            let mut call_args = String::new();
            for arg in &f.args {
                let name = local(&arg.name);
                match &arg.ty {
                    TypeDesc::String => {
                        let _ = writeln!(self.body, "\t{name}Ptr, {name}Len := cstr({name})");
                        let _ = write!(call_args, ", {name}Ptr, {name}Len");
                    }
                    TypeDesc::Bytes => {
                        let _ = writeln!(self.body, "\t{name}Ptr, {name}Len := cbytes({name})");
                        let _ = write!(call_args, ", {name}Ptr, {name}Len");
                    }
                    ty => {
                        let c = cgo_scalar(c_scalar(ty).expect("native scalar"));
                        let _ = write!(call_args, ", {c}({name})");
                    }
                }
            }
            let _ = writeln!(self.body, "\tkey, replies := c.rt.Call()");
            let _ = writeln!(
                self.body,
                "\tstatus := C.hcgo_native_{}(c.handle{call_args}, hostcall.{trampoline}, C.uint64_t(key))",
                f.name
            );
            let target = if unit { "_" } else { "reply" };
            let _ = writeln!(
                self.body,
                "\t{target}, err := c.await(ctx, \"{}\", key, replies, status)",
                f.name
            );
            let _ = writeln!(self.body, "\tif err != nil {{\n\t\treturn {zero}err\n\t}}");
            if unit {
                self.body.push_str("\treturn nil\n}\n");
            } else {
                let _ = writeln!(self.body, "\treturn {convert}, nil\n}}");
            }
            return Ok(());
        }
        let names: Vec<String> = f.args.iter().map(|a| local(&a.name)).collect();
        let _ = writeln!(
            self.body,
            "\trequest, err := hostcall.Encode(&{}{{{}}})",
            args_struct(&f.args, "\t\t"),
            names
                .iter()
                .map(|n| format!("{}: {n}", exported_of(&f.args, n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(self.body, "\tif err != nil {{\n\t\treturn {zero}err\n\t}}");
        let target = if unit { "_" } else { "reply" };
        let _ = writeln!(
            self.body,
            "\t{target}, err {} c.call(ctx, \"{}\", methods.{}, request)",
            if unit { "=" } else { ":=" },
            f.name,
            local(&f.name)
        );
        let _ = writeln!(self.body, "\tif err != nil {{\n\t\treturn {zero}err\n\t}}");
        if unit {
            self.body.push_str("\treturn nil\n}\n");
        } else {
            let _ = writeln!(
                self.body,
                "\tif err := hostcall.Decode(reply.Data, &out); err != nil {{\n\t\treturn out, fmt.Errorf(\"{}: %w\", err)\n\t}}\n\treturn out, nil\n}}",
                f.name
            );
        }
        Ok(())
    }

    fn native_wrapper(&mut self, f: &FnDesc) {
        let p = self.p().to_owned();
        let mut c_params = String::new();
        let mut c_args = String::new();
        for arg in &f.args {
            let n = &arg.name;
            match &arg.ty {
                TypeDesc::String => {
                    let _ = write!(c_params, ", const char *{n}, size_t {n}_len");
                    let _ = write!(c_args, ", {n}, {n}_len");
                }
                TypeDesc::Bytes => {
                    let _ = write!(c_params, ", const uint8_t *{n}, size_t {n}_len");
                    let _ = write!(c_args, ", {n}, {n}_len");
                }
                ty => {
                    let _ = write!(c_params, ", {} {n}", c_scalar(ty).expect("native scalar"));
                    let _ = write!(c_args, ", {n}");
                }
            }
        }
        let callback = match &f.ret {
            TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 | TypeDesc::I64 => "FFICallBackI64",
            TypeDesc::U8 | TypeDesc::U16 | TypeDesc::U32 | TypeDesc::U64 => "FFICallBackU64",
            TypeDesc::F32 | TypeDesc::F64 => "FFICallBackF64",
            TypeDesc::Bool => "FFICallBackBool",
            _ => "FFICallBack",
        };
        let _ = writeln!(
            self.preamble,
            "static hcgo_status hcgo_native_{name}(uintptr_t ctx{c_params}, void *cb, uint64_t key) {{\n    return hcgo_status_of({p}_native_{name}((void *)ctx{c_args}, ({callback})cb, (void *)(uintptr_t)key));\n}}",
            name = f.name
        );
    }

    fn host_fn(&mut self, index: usize, f: &FnDesc) {
        let name = exported(&f.name);
        let unit = f.ret == TypeDesc::Unit;
        let ret = go_type(&f.ret);
        let fn_results = if unit {
            "error".to_owned()
        } else {
            format!("({ret}, error)")
        };
        let signature = format!("func(ctx context.Context{}) {fn_results}", params(&f.args));
        self.body.push('\n');
        let doc = if f.doc.is_empty() {
            format!("Register{name} implements the host fn `{}`.", f.name)
        } else {
            format!(
                "Register{name} implements the host fn `{}`: {}",
                f.name, f.doc
            )
        };
        comment(&mut self.body, "", &doc);
        comment(
            &mut self.body,
            "",
            "\nfn runs on its own goroutine. Its ctx is cancelled when the library\nabandons the call (the Rust future was dropped or timed out) or the\nContext closes. A returned error reaches the library as the call's error\ntext; so does a panic.",
        );
        let _ = writeln!(
            self.body,
            "func (c *Context) Register{name}(fn {signature}) error {{"
        );
        let _ = writeln!(
            self.body,
            "\tkey := c.rt.HostFnKey({index}, func(ctx context.Context, request []byte) ([]byte, error) {{"
        );
        let _ = writeln!(self.body, "\t\tvar args {}", args_struct(&f.args, "\t\t\t"));
        let _ = writeln!(
            self.body,
            "\t\tif err := hostcall.Decode(request, &args); err != nil {{\n\t\t\treturn nil, fmt.Errorf(\"{}: bad arguments: %w\", err)\n\t\t}}",
            f.name
        );
        let call_args: String = f
            .args
            .iter()
            .map(|a| format!(", args.{}", exported(&a.name)))
            .collect();
        if unit {
            let _ = writeln!(
                self.body,
                "\t\tif err := fn(ctx{call_args}); err != nil {{\n\t\t\treturn nil, err\n\t\t}}\n\t\treturn hostcall.Null, nil"
            );
        } else {
            let _ = writeln!(
                self.body,
                "\t\tout, err := fn(ctx{call_args})\n\t\tif err != nil {{\n\t\t\treturn nil, err\n\t\t}}\n\t\treturn hostcall.Encode(out)"
            );
        }
        self.body.push_str("\t})\n");
        let _ = writeln!(
            self.body,
            "\tstatus := C.hcgo_register(c.handle, hostFns.{}, hostcall.HostFnTrampoline, hostcall.CancelTrampoline, C.uint64_t(key))",
            local(&f.name)
        );
        let _ = writeln!(
            self.body,
            "\tif status.code != 0 {{\n\t\treturn refused(\"{}: register {}\", status)\n\t}}\n\treturn nil\n}}",
            self.p(),
            f.name
        );
    }

    fn event(&mut self, name: &str, doc: &str, payload: &TypeDesc) {
        let method = format!("On{}", exported(name));
        let ty = go_type(payload);
        self.body.push('\n');
        let lead = if doc.is_empty() {
            format!("{method} calls fn for each `{name}` event.")
        } else {
            format!("{method} calls fn for each `{name}` event: {doc}")
        };
        comment(&mut self.body, "", &lead);
        comment(
            &mut self.body,
            "",
            "\nEvents arrive in order, one at a time, on the Context's dispatch\ngoroutine: fn should return promptly. After unsubscribe returns, fn is\nnot called again. On a closed Context it does nothing.",
        );
        let _ = writeln!(
            self.body,
            "func (c *Context) {method}(fn func({ty})) (unsubscribe func()) {{"
        );
        let _ = writeln!(
            self.body,
            "\tkey := c.rt.Listen(func(payload []byte) {{\n\t\tvar event {ty}\n\t\tif hostcall.Decode(payload, &event) == nil {{\n\t\t\tfn(event)\n\t\t}}\n\t}})"
        );
        let _ = writeln!(
            self.body,
            "\tid := C.hcgo_listen(c.handle, events.{}, hostcall.EventTrampoline, C.uint64_t(key))",
            local(name)
        );
        self.body.push_str(
            "\tif id == 0 {\n\t\tc.rt.Unlisten(key)\n\t\treturn func() {}\n\t}\n\tvar once sync.Once\n\treturn func() {\n\t\tonce.Do(func() {\n\t\t\tC.hcgo_unlisten(c.handle, id)\n\t\t\tc.rt.Unlisten(key)\n\t\t})\n\t}\n}\n",
        );
    }

    fn names(&mut self) {
        let table = |title: &str, var: &str, names: Vec<&str>| {
            let mut s = format!(
                "\n// {title}, as C strings for the life of the process.\nvar {var} = struct {{\n"
            );
            let fields: Vec<Vec<String>> = names
                .iter()
                .map(|n| vec![local(n), "*C.char".to_owned()])
                .collect();
            for line in align(&fields) {
                let _ = writeln!(s, "\t{line}");
            }
            s.push_str("}{\n");
            let values: Vec<Vec<String>> = names
                .iter()
                .map(|n| vec![format!("{}:", local(n)), format!("C.CString(\"{n}\"),")])
                .collect();
            for line in align(&values) {
                let _ = writeln!(s, "\t{line}");
            }
            s.push_str("}\n");
            s
        };
        let desc = self.desc;
        let methods = table(
            "Method names",
            "methods",
            desc.handlers.iter().map(|h| h.name.as_str()).collect(),
        );
        let host_fns = table(
            "Host fn names",
            "hostFns",
            desc.host_fns.iter().map(|h| h.name.as_str()).collect(),
        );
        let events = table(
            "Event names",
            "events",
            desc.events.iter().map(|e| e.name.as_str()).collect(),
        );
        self.body.push_str(&methods);
        self.body.push_str(&host_fns);
        self.body.push_str(&events);
    }
}

fn exported_of(args: &[FieldDesc], local_name: &str) -> String {
    args.iter()
        .find(|a| local(&a.name) == local_name)
        .map(|a| exported(&a.name))
        .unwrap_or_default()
}

/// Renders the Go package: `(file name, contents)` pairs, the header
/// included.
pub fn package(desc: &LibraryDesc, runtime: &str) -> Result<Vec<(String, String)>, String> {
    let mut g = Gen {
        desc,
        runtime,
        preamble: String::new(),
        body: String::new(),
    };
    g.preamble();
    g.header();
    g.records();
    for f in &desc.handlers {
        g.handler(f)?;
    }
    for (index, f) in desc.host_fns.iter().enumerate() {
        g.host_fn(index, f);
    }
    for e in &desc.events {
        g.event(&e.name, &e.doc, &e.payload);
    }
    g.names();
    let p = &desc.prefix;
    let mut file = format!(
        "// Code generated by hostcall-gen from the {p} library's own description. DO NOT EDIT.\n\n\
         // Package {p} is the Go binding of the {p} library (lib{p}, C prefix `{p}_`).\n\
         //\n\
         // Build with lib{p} on the linker path, e.g.\n\
         // CGO_LDFLAGS=\"-L/path/to/lib -Wl,-rpath,/path/to/lib\". See docs/go.md.\n\
         package {p}\n\n/*\n"
    );
    file.push_str(&g.preamble);
    file.push_str("*/\n");
    file.push_str(&g.body);
    Ok(vec![
        (format!("{p}.go"), file),
        (
            format!("{p}.h"),
            crate::c::header(&crate::Model::lower(desc)?),
        ),
        (
            crate::c::ABI_HEADER.to_owned(),
            crate::c::abi_header(&crate::model::Abi::new()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_follows_gofmt() {
        let rows = vec![
            vec!["_".to_owned(), "struct{}".to_owned(), "`t`".to_owned()],
            vec!["UserID".to_owned(), "string".to_owned()],
        ];
        assert_eq!(align(&rows), vec!["_      struct{} `t`", "UserID string"]);
    }

    #[test]
    fn names_follow_go_conventions() {
        assert_eq!(exported("login_many"), "LoginMany");
        assert_eq!(exported("user_id"), "UserID");
        assert_eq!(exported("user_ids"), "UserIDs");
        assert_eq!(local("user_ids"), "userIDs");
        assert_eq!(local("id"), "id");
        assert_eq!(local("type"), "type_");
        assert_eq!(local("ctx"), "ctx_");
        assert_eq!(
            go_type(&TypeDesc::List(Box::new(TypeDesc::Record(
                "session".into()
            )))),
            "[]Session"
        );
    }
}
