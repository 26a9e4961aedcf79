//! `With<Setting>` options of `New`: one per key of the ABI's config list.
//!
//! The option's name (from the key's `setting`), its parameter type and how
//! it becomes the key's value (from the key's kind, range or unit: a count
//! or a duration as a number, a text as text, a flag as a bool), the named
//! type and constants of a text key's choices, and the numbers its doc
//! quotes come from `hostcall_abi::CONFIG_KEYS`. The doc's wording is Go's
//! own, matched on the key's id, so a new key does not compile until the Go
//! binding knows it.

use hostcall_abi::ConfigKey;
use hostcall_abi::config::{ConfigId, ConfigValue, IsolationMode, TimeUnit};

use super::names::exported;
use crate::model::Name;
use crate::text;

/// The width Go doc comments are wrapped to (after `// `).
const WIDTH: usize = 73;

/// One option.
pub struct GoOption {
    /// The doc comment, `// `-prefixed lines.
    pub doc: String,
    /// `WithMaxInFlight`.
    pub name: String,
    /// `n uint32`, `d time.Duration`, `v Isolation`, `path string`,
    /// `on bool`.
    pub param: String,
    /// The key on the wire.
    pub key: &'static str,
    /// The expression giving the key's value, as the config map holds it
    /// (`uint64(n)`, `string(v)`, `path`, `on`): a number, a text or a
    /// bool, which `hostcall.Encode` writes as the CBOR the key takes.
    pub value: String,
    /// The condition under which the option is refused, and the refusal's
    /// format string and its argument (`n < 1 || n > 16777215`,
    /// `"WithMaxInFlight(%d): must be between 1 and 16777215"`, `n`); none
    /// when every value of the parameter is accepted. The same range the
    /// library checks, from the same key list, so that the error names the
    /// option rather than the key.
    pub check: Option<Check>,
    /// The named string type of a text key with choices, and its
    /// constants.
    pub choices: Option<Choices>,
}

/// A refusal of an option's value.
pub struct Check {
    /// The Go condition on the parameter.
    pub cond: String,
    /// The Go string literal of the message's format (without quotes).
    pub format: String,
    /// The parameter's name.
    pub arg: &'static str,
}

/// The Go type of a text key's choices: `type Isolation string` and one
/// constant per choice.
pub struct Choices {
    /// The type's doc comment, `// `-prefixed lines.
    pub doc: String,
    /// `Isolation`.
    pub name: String,
    /// The constants, in the key's order (the default first).
    pub constants: Vec<Constant>,
}

/// One constant of a [`Choices`] type.
pub struct Constant {
    /// Its doc comment, `\t// `-prefixed lines.
    pub doc: String,
    /// `IsolationProcess`.
    pub name: String,
    /// The choice on the wire: `process`.
    pub value: &'static str,
}

/// The options, in the ABI's order.
pub fn options(keys: &[ConfigKey]) -> Vec<GoOption> {
    keys.iter().map(|k| option(keys, k)).collect()
}

/// `WithMaxInFlight`: from the key's setting, with Go's initialisms.
fn option_name(key: &ConfigKey) -> String {
    format!("With{}", exported(&Name::new(key.setting)))
}

/// The Go option of the key `id`, for the prose that names it.
fn option_of(keys: &[ConfigKey], id: ConfigId) -> String {
    keys.iter()
        .find(|k| k.id == id)
        .map_or_else(|| format!("{id:?}"), option_name)
}

/// The type of a text key's choices: `Isolation`.
fn choices_type(key: &ConfigKey) -> String {
    exported(&Name::new(key.setting))
}

/// The constant of one choice: `IsolationInProcess`.
fn constant_name(key: &ConfigKey, choice: &str) -> String {
    format!("{}{}", choices_type(key), exported(&Name::new(choice)))
}

fn option(keys: &[ConfigKey], key: &ConfigKey) -> GoOption {
    let name = option_name(key);
    let check = check(key, &name);
    let (param, value) = match key.value {
        ConfigValue::Count { max, .. } if max <= u64::from(u32::MAX) => {
            ("n uint32".to_owned(), "uint64(n)")
        }
        ConfigValue::Count { .. } => ("n uint64".to_owned(), "n"),
        ConfigValue::Duration {
            unit: TimeUnit::Millis,
            ..
        } => (
            "d time.Duration".to_owned(),
            "ceilUnits(d, time.Millisecond)",
        ),
        ConfigValue::Duration {
            unit: TimeUnit::Micros,
            ..
        } => (
            "d time.Duration".to_owned(),
            "ceilUnits(d, time.Microsecond)",
        ),
        ConfigValue::Text { choices: [] } => ("path string".to_owned(), "path"),
        ConfigValue::Text { .. } => (format!("v {}", choices_type(key)), "string(v)"),
        ConfigValue::Flag => ("on bool".to_owned(), "on"),
    };
    let mut prose = prose(key);
    let modes = key.modes();
    if modes.len() == IsolationMode::ALL.len() - 1 {
        prose.push_str(&format!(
            " It applies only to an isolated Context ({}): New refuses it on any other.",
            option_of(keys, ConfigId::Isolation)
        ));
    } else if !modes.is_empty() {
        let isolation = keys
            .iter()
            .find(|k| k.id == ConfigId::Isolation)
            .expect("isolation is a key");
        let option = option_of(keys, ConfigId::Isolation);
        let made_with: Vec<String> = modes
            .iter()
            .map(|m| format!("{option}({})", constant_name(isolation, m.name())))
            .collect();
        prose.push_str(&format!(
            " It applies only to a Context made with {}: New refuses it on any other.",
            made_with.join(" or ")
        ));
    }
    GoOption {
        doc: doc_lines(&format!("{name} {prose}"), ""),
        name,
        param,
        key: key.key,
        value: value.to_owned(),
        check,
        choices: choices(key, &option_of(keys, ConfigId::Isolation)),
    }
}

/// Doc text as `// ` lines wrapped to [`WIDTH`], each after `indent`.
fn doc_lines(text: &str, indent: &str) -> String {
    text::wrap(text, WIDTH - indent.len() * 4)
        .iter()
        .map(|line| format!("{indent}// {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The named type of a text key with choices; `None` for any other key.
fn choices(key: &ConfigKey, isolation_option: &str) -> Option<Choices> {
    let ConfigValue::Text { choices } = key.value else {
        return None;
    };
    if choices.is_empty() {
        return None;
    }
    let name = choices_type(key);
    let option = option_name(key);
    let constants = choices
        .iter()
        .enumerate()
        .map(|(i, &choice)| {
            let constant = constant_name(key, choice);
            let default = if i == 0 { " This is the default." } else { "" };
            let text = format!(
                "{constant} {}{default}",
                choice_prose(key, choice, isolation_option)
            );
            Constant {
                doc: doc_lines(&text, "\t"),
                name: constant,
                value: choice,
            }
        })
        .collect();
    Some(Choices {
        doc: doc_lines(&format!("{name} is a value of {option}."), ""),
        name,
        constants,
    })
}

/// What one choice of a text key means, as the Go docs say it.
fn choice_prose(key: &ConfigKey, choice: &str, isolation_option: &str) -> String {
    match (key.id, choice) {
        (ConfigId::Isolation, "in_process") => {
            "runs the library in this process, through its native entry points where a method \
             has one."
                .to_owned()
        }
        (ConfigId::Isolation, "process") => format!(
            "runs the library in a helper process (hostcall-helper) that New starts and the \
             Context talks to over a socketpair: a crash in the library then fails the calls \
             pending in it with an error matching ErrProcessDied instead of killing this \
             process. Methods with native entry points keep them (the library carries their \
             arguments to the helper). See {isolation_option} and the options that apply only \
             to an isolated Context."
        ),
        (ConfigId::Isolation, "socket") => "runs the library in a helper already running \
             (hostcall-helper --socket PATH), reached at the unix socket WithAddress names and \
             shared with every Context connected to it, each with a context of its own in it. \
             When the helper dies the calls pending in it fail with ErrProcessDied, as with \
             IsolationProcess; whoever started it starts it again, and the Context connects \
             again."
            .to_owned(),
        (ConfigId::Isolation, "tcp") => "runs the library in a helper already running \
             (hostcall-helper --tcp ADDR), reached at the host:port WithAddress names, on this \
             machine or another, as with IsolationSocket. The connection is neither \
             authenticated nor encrypted."
            .to_owned(),
        _ => format!("is the {} value {choice:?}.", key.key),
    }
}

/// The Go check of an option's value: the key's range, in the parameter's
/// terms (a duration's limit in Go's notation: `10ms`).
fn check(key: &ConfigKey, name: &str) -> Option<Check> {
    match key.value {
        ConfigValue::Count { min, max } => {
            let type_max = if max <= u64::from(u32::MAX) {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            };
            let (cond, rule) = match (min > 0, max < type_max) {
                (false, false) => return None,
                (true, false) => (format!("n < {min}"), format!("at least {min}")),
                (false, true) => (format!("n > {max}"), format!("at most {max}")),
                (true, true) => (
                    format!("n < {min} || n > {max}"),
                    format!("between {min} and {max}"),
                ),
            };
            Some(Check {
                cond,
                format: format!("{name}(%d): must be {rule}"),
                arg: "n",
            })
        }
        ConfigValue::Duration { unit, max } => {
            if max == u64::MAX {
                return None;
            }
            let limit = match unit {
                TimeUnit::Millis => "time.Millisecond",
                TimeUnit::Micros => "time.Microsecond",
            };
            Some(Check {
                cond: format!("ceilUnits(d, {limit}) > {max}"),
                format: format!("{name}(%v): must be at most {}", duration(key, max)),
                arg: "d",
            })
        }
        ConfigValue::Text { choices: [] } => Some(Check {
            cond: "path == \"\"".to_owned(),
            format: format!("{name}(%q): must not be empty"),
            arg: "path",
        }),
        ConfigValue::Text { choices } => {
            let constants: Vec<String> = choices.iter().map(|c| constant_name(key, c)).collect();
            Some(Check {
                cond: constants
                    .iter()
                    .map(|c| format!("v != {c}"))
                    .collect::<Vec<_>>()
                    .join(" && "),
                format: format!("{name}(%q): must be one of {}", constants.join(", ")),
                arg: "v",
            })
        }
        ConfigValue::Flag => None,
    }
}

/// What the option does, as the Go docs say it.
fn prose(key: &ConfigKey) -> String {
    match key.id {
        ConfigId::MaxInFlight => format!(
            "bounds the host calls outstanding at once; past it a host call fails at once as \
             overloaded (default {}).",
            text::grouped(key.default)
        ),
        ConfigId::HostCallTimeout => format!(
            "sets the timeout of every host call (default {}): a host function still running \
             then has its context cancelled. The library counts whole {}, so d is rounded up to \
             one; d <= 0 means no timeout.",
            if key.default == 0 {
                "none".to_owned()
            } else {
                duration(key, key.default)
            },
            unit_name(key)
        ),
        ConfigId::MaxPendingRequests => format!(
            "bounds the calls queued or running; past it a call is refused at once (default {}).",
            if key.default == 0 {
                "unbounded".to_owned()
            } else {
                text::grouped(key.default)
            }
        ),
        ConfigId::Spin => format!(
            "sets the longest the library's idle loop watches for work before it sleeps \
             (default {}{}); within it the loop learns its window from what it sees, and it \
             watches only while a core is spare. The library counts whole {}, so d is rounded up \
             to one; d <= 0 never watches.",
            duration(key, key.default),
            limit(key),
            unit_name(key)
        ),
        ConfigId::Isolation => format!(
            "sets where the library runs (default {}): in this process, or, isolated, in a \
             helper process the Context starts or one already running, which turns a crash in \
             the library into an error matching ErrProcessDied for each call pending in it.",
            key.default_choice()
                .map_or_else(|| "none".to_owned(), |c| constant_name(key, c))
        ),
        ConfigId::Address => "sets where the running helper is: the path of its unix socket \
             (IsolationSocket) or its host:port (IsolationTCP). Required by both."
            .to_owned(),
        ConfigId::HelperPath => "sets the helper program (hostcall-helper) an isolated Context \
             starts; by default the one beside the library's file, else the first on PATH."
            .to_owned(),
        ConfigId::LibraryPath => "sets the library file the helper loads; by default the file \
             this process loaded the library from."
            .to_owned(),
        ConfigId::Restart => format!(
            "sets whether a helper process that died is started again (or, at an address, \
             connected to again) for the calls that follow (default {}), after a back-off that \
             grows while it keeps dying; with false they are \
             refused: a *hostcall.StatusError with Code hostcall.StatusShuttingDown whose Detail \
             says how the helper died. Either way the calls pending when it died fail with \
             ErrProcessDied.",
            key.default != 0
        ),
        ConfigId::HandshakeTimeout => format!(
            "sets how long the helper has to start (or accept the connection) and answer the \
             handshake, past which New \
             fails, and the longest a write to it may block before it is taken for dead \
             (default {}{}). The library counts whole {}, so d is rounded up to one; d <= 0 \
             means the default.",
            duration(key, key.default),
            limit(key),
            unit_name(key)
        ),
        ConfigId::LimitAddressSpace => format!(
            "sets the helper's address-space limit (RLIMIT_AS) in MiB, applied before it loads \
             the library: an allocation past it fails, which Rust's allocator answers by \
             aborting, so the pending calls fail with ErrProcessDied. {}.",
            zero_is_none(key)
        ),
        ConfigId::LimitCpu => format!(
            "sets the helper's CPU-time limit (RLIMIT_CPU) in seconds: past it the helper is \
             killed (SIGXCPU) and its pending calls fail with ErrProcessDied. {}.",
            zero_is_none(key)
        ),
        ConfigId::LimitOpenFiles => format!(
            "sets the helper's limit on open files (RLIMIT_NOFILE). {}.",
            zero_is_none(key)
        ),
    }
}

/// `0 means none (the default)`, or the default when it is another.
fn zero_is_none(key: &ConfigKey) -> String {
    if key.default == 0 {
        "0 means none (the default)".to_owned()
    } else {
        format!("0 means none (default {})", key.default)
    }
}

/// `, at most 10ms` for a duration key with a limit; empty otherwise.
fn limit(key: &ConfigKey) -> String {
    match key.value {
        ConfigValue::Duration { max, .. } if max != u64::MAX => {
            format!(", at most {}", duration(key, max))
        }
        _ => String::new(),
    }
}

fn unit_name(key: &ConfigKey) -> &'static str {
    key.unit().expect("a duration key").name()
}

/// A duration key's `value` as Go prints durations: `50µs`, `10ms`.
fn duration(key: &ConfigKey, value: u64) -> String {
    let (n, unit) = text::whole_unit(key.unit().expect("a duration key").micros(value));
    format!("{n}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_key_list() {
        let options = options(hostcall_abi::CONFIG_KEYS);
        let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "WithMaxInFlight",
                "WithHostCallTimeout",
                "WithMaxPendingRequests",
                "WithSpin",
                "WithIsolation",
                "WithAddress",
                "WithHelperPath",
                "WithLibraryPath",
                "WithRestart",
                "WithHandshakeTimeout",
                "WithLimitAddressSpaceMB",
                "WithLimitCPUSeconds",
                "WithLimitOpenFiles",
            ]
        );
        let spin = options[3].doc.replace("\n// ", " ");
        assert!(spin.contains("(default 50µs, at most 10ms)"), "{spin}");
        let check = options[0]
            .check
            .as_ref()
            .expect("max_in_flight has a range");
        assert_eq!(check.cond, "n < 1 || n > 16777215");
        assert_eq!(
            check.format,
            "WithMaxInFlight(%d): must be between 1 and 16777215"
        );
        assert!(options[1].check.is_none() && options[2].check.is_none());
        let check = options[3].check.as_ref().expect("spin has a limit");
        assert_eq!(check.format, "WithSpin(%v): must be at most 10ms");
    }

    #[test]
    fn isolation_options_take_their_values_kinds() {
        let options = options(hostcall_abi::CONFIG_KEYS);
        let by_key = |key: &str| options.iter().find(|o| o.key == key).expect(key);
        // A text key with choices: a named string type, one constant per
        // choice, the default first, and a check naming the constants.
        let isolation = by_key("isolation");
        assert_eq!(
            (isolation.param.as_str(), isolation.value.as_str()),
            ("v Isolation", "string(v)")
        );
        let choices = isolation.choices.as_ref().expect("isolation has choices");
        assert_eq!(choices.name, "Isolation");
        let constants: Vec<(&str, &str)> = choices
            .constants
            .iter()
            .map(|c| (c.name.as_str(), c.value))
            .collect();
        assert_eq!(
            constants,
            [
                ("IsolationInProcess", "in_process"),
                ("IsolationProcess", "process"),
                ("IsolationSocket", "socket"),
                ("IsolationTCP", "tcp"),
            ]
        );
        assert!(choices.constants[0].doc.contains("This is the default."));
        let check = isolation.check.as_ref().expect("isolation has choices");
        assert_eq!(
            check.cond,
            "v != IsolationInProcess && v != IsolationProcess && v != IsolationSocket && v != \
             IsolationTCP"
        );
        assert_eq!(
            check.format,
            "WithIsolation(%q): must be one of IsolationInProcess, IsolationProcess, \
             IsolationSocket, IsolationTCP"
        );
        let doc = isolation.doc.replace("\n// ", " ");
        assert!(doc.contains("(default IsolationInProcess)"), "{doc}");
        assert!(!doc.contains("applies only"), "{doc}");
        // Free text (a path): a string, refused when empty.
        let helper = by_key("helper_path");
        assert_eq!(
            (helper.param.as_str(), helper.value.as_str()),
            ("path string", "path")
        );
        let check = helper.check.as_ref().expect("a path must not be empty");
        assert_eq!(check.cond, "path == \"\"");
        assert_eq!(check.format, "WithHelperPath(%q): must not be empty");
        // A flag: a bool, any value accepted.
        let restart = by_key("restart");
        assert_eq!(
            (restart.param.as_str(), restart.value.as_str()),
            ("on bool", "on")
        );
        assert!(restart.check.is_none() && restart.choices.is_none());
        let doc = restart.doc.replace("\n// ", " ");
        assert!(doc.contains("(default true)"), "{doc}");
        assert!(
            doc.contains("It applies only to an isolated Context (WithIsolation)"),
            "{doc}"
        );
        // A duration with a limit, and a count wider than uint32.
        let handshake = by_key("handshake_timeout_ms");
        let check = handshake.check.as_ref().expect("a limit");
        assert_eq!(check.cond, "ceilUnits(d, time.Millisecond) > 600000");
        assert_eq!(
            check.format,
            "WithHandshakeTimeout(%v): must be at most 600s"
        );
        let doc = handshake.doc.replace("\n// ", " ");
        assert!(doc.contains("(default 5s, at most 600s)"), "{doc}");
        let address_space = by_key("limit_address_space_mb");
        assert_eq!(address_space.param, "n uint64");
        let check = address_space.check.as_ref().expect("a limit");
        assert_eq!(check.cond, format!("n > {}", u64::MAX >> 20));
        let open_files = by_key("limit_open_files");
        assert_eq!(
            (open_files.param.as_str(), open_files.value.as_str()),
            ("n uint64", "n")
        );
        assert!(open_files.check.is_none());
    }
}
