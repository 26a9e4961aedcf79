//! `<Class>Config`: one option per key of the ABI's config list.
//!
//! The option's name (the key's `setting`), its wire key, its Kotlin type
//! (from the key's range or unit) and the numbers its doc quotes (ranges,
//! defaults) come from `hostcall_abi::CONFIG_KEYS`. What only Kotlin says
//! — the doc's wording, and how a `Duration` becomes the key's number
//! (`ConfigUnits`: what zero and infinity mean differs per setting) — is
//! matched on the key's id below, so a new key does not compile until the
//! Kotlin binding knows it. A text key with choices (`isolation`) takes an
//! enum class nested in the config class (`DemoConfig.Isolation`), a free
//! text key a `String`, a flag a `Boolean`; each is written as its CBOR
//! kind (text, bool), numbers as unsigned integers.

use hostcall_abi::ConfigKey;
use hostcall_abi::config::{ConfigId, ConfigValue, IsolationMode};

use super::names::{member, type_name};
use crate::model::{Abi, Name};
use crate::text;

/// The width the `@property` paragraphs are wrapped to.
const WIDTH: usize = 95;

/// One option of the config data class.
pub struct Setting {
    /// `maxInFlight`.
    pub member: String,
    /// `UInt`, `ULong`, `Duration`, `String`, `Boolean`, `Isolation`.
    pub kotlin_type: String,
    /// The key on the wire.
    pub key: &'static str,
    /// The call of the `CborWriter` `w` writing the option's value `it`:
    /// `uint(it.toULong())`, `text(it.wire)`, `bool(it)`.
    pub write: String,
    /// The `@property` paragraph's lines, continuations indented.
    pub doc: Vec<String>,
    /// For a text key with choices, the enum class nested in the config
    /// class that it takes.
    pub choices: Option<Choices>,
}

/// The enum class of a text key with choices.
pub struct Choices {
    /// `Isolation`.
    pub class: String,
    /// Its KDoc's lines.
    pub doc: Vec<String>,
    pub constants: Vec<Choice>,
}

/// One constant of a [`Choices`] enum.
pub struct Choice {
    /// `IN_PROCESS`.
    pub constant: String,
    /// `in_process`, its value on the wire.
    pub wire: &'static str,
    /// Its KDoc's lines.
    pub doc: Vec<String>,
}

/// The options, in the ABI's order.
pub fn settings(abi: &Abi) -> Vec<Setting> {
    abi.config_keys.iter().map(setting).collect()
}

fn setting(key: &ConfigKey) -> Setting {
    let member = member(&Name::new(key.setting));
    let mut choices = None;
    let (kotlin_type, write) = match key.value {
        ConfigValue::Count { max, .. } if max <= u64::from(u32::MAX) => {
            ("UInt".to_owned(), "uint(it.toULong())".to_owned())
        }
        ConfigValue::Count { .. } => ("ULong".to_owned(), "uint(it)".to_owned()),
        ConfigValue::Duration { .. } => (
            "Duration".to_owned(),
            format!("uint(ConfigUnits.{}(it))", convert(key)),
        ),
        ConfigValue::Text { choices: values } if !values.is_empty() => {
            let class = type_name(&Name::new(key.setting));
            choices = Some(Choices {
                doc: kdoc_lines(format!(
                    "The values of [{member}]: `{}` on the wire.",
                    values.join("`, `")
                )),
                constants: values
                    .iter()
                    .map(|&wire| Choice {
                        constant: Name::new(wire).screaming(),
                        wire,
                        doc: kdoc_lines(choice_prose(key, wire)),
                    })
                    .collect(),
                class: class.clone(),
            });
            (class, "text(it.wire)".to_owned())
        }
        ConfigValue::Text { .. } => ("String".to_owned(), "text(it)".to_owned()),
        ConfigValue::Flag => ("Boolean".to_owned(), "bool(it)".to_owned()),
    };
    let mut doc = text::wrap(
        format!("@property {member} {}{}", marker(key), prose(key)),
        WIDTH,
    );
    for continued in doc.iter_mut().skip(1) {
        continued.insert_str(0, "  ");
    }
    Setting {
        member,
        kotlin_type,
        key: key.key,
        write,
        doc,
        choices,
    }
}

/// `*isolation*: ` before the doc of a key that applies only with
/// isolation, `*isolation PROCESS*: ` before one that applies only with
/// some modes; nothing before the others.
fn marker(key: &ConfigKey) -> String {
    let modes = key.modes();
    if modes.is_empty() {
        String::new()
    } else if modes.len() == IsolationMode::ALL.len() - 1 {
        "*isolation*: ".to_owned()
    } else {
        let names: Vec<String> = modes
            .iter()
            .map(|m| Name::new(m.name()).screaming())
            .collect();
        format!("*isolation {}*: ", names.join(", "))
    }
}

/// `text` wrapped for a KDoc nested in the config class.
fn kdoc_lines(text: String) -> Vec<String> {
    text::wrap(text, WIDTH - 4)
}

/// The `ConfigUnits` function turning a duration into the key's number.
fn convert(key: &ConfigKey) -> &'static str {
    match key.id {
        ConfigId::HostCallTimeout => "timeoutMillis",
        ConfigId::Spin => "spinMicros",
        ConfigId::HandshakeTimeout => "handshakeMillis",
        ConfigId::MaxInFlight
        | ConfigId::MaxPendingRequests
        | ConfigId::LimitAddressSpace
        | ConfigId::LimitCpu
        | ConfigId::LimitOpenFiles => {
            unreachable!("{} is a count", key.key)
        }
        ConfigId::Isolation | ConfigId::Address | ConfigId::HelperPath | ConfigId::LibraryPath => {
            unreachable!("{} is a text", key.key)
        }
        ConfigId::Restart => unreachable!("{} is a flag", key.key),
    }
}

/// What a choice of a text key means, as the Kotlin docs say it.
fn choice_prose(key: &ConfigKey, choice: &str) -> String {
    match (key.id, choice) {
        (ConfigId::Isolation, "in_process") => {
            "The library runs in this process, on its own loop thread.".to_owned()
        }
        (ConfigId::Isolation, "process") => "The library runs in a helper process \
            (`hostcall-helper`) the context starts, over a socketpair; a crash in it fails the \
            pending calls with [CallException.ProcessDied] instead of killing the JVM."
            .to_owned(),
        (ConfigId::Isolation, "socket") => "The library runs in a helper already running \
            (`hostcall-helper --socket PATH`) at the unix socket [address] names, shared with \
            every context connected to it (each has a context of its own in it); its death \
            fails the pending calls with [CallException.ProcessDied], and the context connects \
            again when it is back."
            .to_owned(),
        (ConfigId::Isolation, "tcp") => "As [SOCKET], with a helper started with \
            `hostcall-helper --tcp ADDR` at the `host:port` [address] names, on this machine or \
            another; the connection is neither authenticated nor encrypted."
            .to_owned(),
        _ => panic!(
            "{}: the Kotlin binding has no doc for its choice '{choice}'",
            key.key
        ),
    }
}

/// What the option does, as the Kotlin docs say it.
fn prose(key: &ConfigKey) -> String {
    match key.id {
        ConfigId::MaxInFlight => format!(
            "host calls outstanding at once ({}); past it a host call fails at once as overloaded. \
             Library default: {}.",
            range(key),
            text::grouped(key.default)
        ),
        ConfigId::HostCallTimeout => format!(
            "timeout of every host call, rounded up to whole {}; when it elapses the awaiting \
             Rust code gets an error and the host function's coroutine is cancelled. Must be \
             positive; [Duration.INFINITE] means none, as does `null`.",
            unit_name(key)
        ),
        ConfigId::MaxPendingRequests => format!(
            "calls queued or running at once; past it a call fails at once with [StatusException] \
             (`HC_ERR_OVERLOADED`). 0 means unbounded{}.",
            if key.default == 0 {
                ", the library default"
            } else {
                ""
            }
        ),
        ConfigId::Spin => format!(
            "the longest the library's idle loop thread watches for work before it sleeps; \
             within it the loop learns its window, and watches only while a core is spare \
             ({}rounded up to whole {}; zero: never watch). Library default: {}.",
            max_duration(key),
            unit_name(key),
            duration(key, key.default)
        ),
        ConfigId::Isolation => format!(
            "where the library runs: [{class}.{}] (in this process, the library default), or in \
             a helper process: one the context starts ([{class}.{}]) or one already running \
             ([{class}.{}], [{class}.{}]), so that a crash in the library fails the pending \
             calls with [CallException.ProcessDied] instead of killing the JVM. The options \
             below marked *isolation* are refused ([StatusException]) without it, those marked \
             with modes with any other mode.",
            Name::new(key.default_choice().expect("isolation has choices")).screaming(),
            Name::new(IsolationMode::Process.name()).screaming(),
            Name::new(IsolationMode::Socket.name()).screaming(),
            Name::new(IsolationMode::Tcp.name()).screaming(),
            class = type_name(&Name::new(key.setting)),
        ),
        ConfigId::Address => "where the running helper is: its unix socket's path \
             ([Isolation.SOCKET]) or its `host:port` ([Isolation.TCP]); required by both."
            .to_owned(),
        ConfigId::HelperPath => "the `hostcall-helper` program to start; `null`: \
             the one beside the library's file, else the first on `PATH`."
            .to_owned(),
        ConfigId::LibraryPath => "the library file the helper loads; `null`: the \
             file the library was loaded from in this process."
            .to_owned(),
        ConfigId::Restart => format!(
            "whether a helper that died is started again (or, at an address, connected to \
             again; after a back-off while it keeps dying) for the calls that follow; `false` makes them fail with \
             [StatusException] (`HC_ERR_SHUTTING_DOWN`). Library default: {}.",
            key.default == 1
        ),
        ConfigId::HandshakeTimeout => format!(
            "how long the helper has to start (or accept the connection) and answer the handshake, and the \
             longest a write to it may block before it is taken for dead ({}rounded up to whole \
             {}). Must be positive. Library default: {}.",
            max_duration(key),
            unit_name(key),
            duration(key, key.default)
        ),
        ConfigId::LimitAddressSpace => format!(
            "the helper's address-space limit (`RLIMIT_AS`) in MiB, set before it \
             loads the library ({}); 0 means none{}.",
            range(key),
            none_default(key)
        ),
        ConfigId::LimitCpu => format!(
            "the helper's CPU-time limit (`RLIMIT_CPU`) in seconds; past it the \
             helper dies (of `SIGXCPU`) and its pending calls fail with \
             [CallException.ProcessDied]; 0 means none{}.",
            none_default(key)
        ),
        ConfigId::LimitOpenFiles => format!(
            "the helper's limit on open files (`RLIMIT_NOFILE`); 0 means none{}.",
            none_default(key)
        ),
    }
}

/// `, the library default` when a count's default is 0 (none).
fn none_default(key: &ConfigKey) -> &'static str {
    if key.default == 0 {
        ", the library default"
    } else {
        ""
    }
}

/// `at most 10 ms, ` for a duration key with a bound, else nothing.
fn max_duration(key: &ConfigKey) -> String {
    match key.value {
        ConfigValue::Duration { max, .. } if max != u64::MAX => {
            format!("at most {}, ", duration(key, max))
        }
        _ => String::new(),
    }
}

/// A count's range: `1 ..= 16 777 215`, `0 or more`.
fn range(key: &ConfigKey) -> String {
    match key.value {
        ConfigValue::Count { min, max } if max == u64::MAX => {
            format!("{} or more", text::grouped(min))
        }
        ConfigValue::Count { min, max } => {
            format!("{} ..= {}", text::grouped(min), text::grouped(max))
        }
        _ => unreachable!("{} is not a count", key.key),
    }
}

fn unit_name(key: &ConfigKey) -> &'static str {
    key.unit().expect("a duration key").name()
}

/// `value` of the key's unit, in the largest unit it is whole in: `10 ms`,
/// `50 µs`.
fn duration(key: &ConfigKey, value: u64) -> String {
    let (n, unit) = text::whole_unit(key.unit().expect("a duration key").micros(value));
    format!("{} {unit}", text::grouped(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_key_list() {
        let settings = settings(&Abi::new());
        assert_eq!(settings.len(), hostcall_abi::CONFIG_KEYS.len());
        let names: Vec<&str> = settings.iter().map(|s| s.member.as_str()).collect();
        assert_eq!(
            names,
            [
                "maxInFlight",
                "hostCallTimeout",
                "maxPendingRequests",
                "spin",
                "isolation",
                "address",
                "helperPath",
                "libraryPath",
                "restart",
                "handshakeTimeout",
                "limitAddressSpaceMb",
                "limitCpuSeconds",
                "limitOpenFiles",
            ]
        );
        for (s, key) in settings.iter().zip(hostcall_abi::CONFIG_KEYS) {
            assert_eq!(s.key, key.key);
        }
    }

    #[test]
    fn each_kind_is_written_as_its_cbor_kind() {
        let settings = settings(&Abi::new());
        let of = |key: &str| settings.iter().find(|s| s.key == key).unwrap();
        let isolation = of("isolation");
        assert_eq!(
            (isolation.kotlin_type.as_str(), isolation.write.as_str()),
            ("Isolation", "text(it.wire)")
        );
        let choices = isolation.choices.as_ref().expect("an enum");
        let constants: Vec<(&str, &str)> = choices
            .constants
            .iter()
            .map(|c| (c.constant.as_str(), c.wire))
            .collect();
        assert_eq!(
            constants,
            [
                ("IN_PROCESS", "in_process"),
                ("PROCESS", "process"),
                ("SOCKET", "socket"),
                ("TCP", "tcp"),
            ]
        );
        let path = of("helper_path");
        assert_eq!(
            (path.kotlin_type.as_str(), path.write.as_str()),
            ("String", "text(it)")
        );
        assert!(path.choices.is_none());
        let restart = of("restart");
        assert_eq!(
            (restart.kotlin_type.as_str(), restart.write.as_str()),
            ("Boolean", "bool(it)")
        );
        let handshake = of("handshake_timeout_ms");
        assert_eq!(handshake.kotlin_type, "Duration");
        assert_eq!(handshake.write, "uint(ConfigUnits.handshakeMillis(it))");
        assert!(
            handshake.doc.join(" ").contains("at most 600 s"),
            "{:?}",
            handshake.doc
        );
        assert_eq!(of("limit_address_space_mb").kotlin_type, "ULong");
        assert_eq!(of("max_in_flight").write, "uint(it.toULong())");
    }
}
