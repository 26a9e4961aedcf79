//! The keys of the config map given to `<prefix>_new`.
//!
//! Declared once here: the runtime parses by this list (an unknown key is an
//! error that names the known ones), the header documents it, and the Go,
//! Kotlin and Swift bindings render one option per key from it.

/// What a key's value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValue {
    /// A count from `min` to `max`.
    Count {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A duration in whole `unit`s from 0 to `max`; 0 means none.
    Duration {
        /// The unit of the number on the wire.
        unit: TimeUnit,
        /// The largest value accepted.
        max: u64,
    },
    /// A text string: one of `choices` (the first is the default), or,
    /// when `choices` is empty, any non-empty UTF-8 text (a path or an
    /// address; absent, the runtime finds the thing itself, as the key's
    /// doc says, unless the key [is required](ConfigKey::is_required)).
    Text {
        /// The values accepted; empty for free text.
        choices: &'static [&'static str],
    },
    /// A boolean (CBOR `true`/`false`); `default` is 0 or 1.
    Flag,
}

/// The unit of a duration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (keys ending `_ms`).
    Millis,
    /// Microseconds (keys ending `_us`).
    Micros,
}

impl TimeUnit {
    /// `milliseconds`, `microseconds`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Millis => "milliseconds",
            TimeUnit::Micros => "microseconds",
        }
    }

    /// `ms`, `µs`.
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Micros => "µs",
        }
    }

    /// `n` of this unit in microseconds (saturating).
    pub fn micros(self, n: u64) -> u64 {
        match self {
            TimeUnit::Millis => n.saturating_mul(1000),
            TimeUnit::Micros => n,
        }
    }
}

impl ConfigKey {
    /// The unit of a duration key; `None` for any other.
    pub fn unit(&self) -> Option<TimeUnit> {
        match self.value {
            ConfigValue::Duration { unit, .. } => Some(unit),
            _ => None,
        }
    }

    /// Whether the key belongs to isolation: `isolation` itself, and the
    /// keys that apply only with it (refused without it).
    pub fn is_isolation(&self) -> bool {
        self.id == ConfigId::Isolation || !self.modes().is_empty()
    }

    /// The isolation modes the key applies with; empty for a key that
    /// applies in every mode. A key given with a mode it does not apply to
    /// is refused.
    pub fn modes(&self) -> &'static [IsolationMode] {
        use IsolationMode::{Process, Socket, Tcp};
        match self.id {
            ConfigId::MaxInFlight
            | ConfigId::HostCallTimeout
            | ConfigId::MaxPendingRequests
            | ConfigId::Spin
            | ConfigId::Isolation => &[],
            ConfigId::HelperPath
            | ConfigId::LibraryPath
            | ConfigId::LimitAddressSpace
            | ConfigId::LimitCpu
            | ConfigId::LimitOpenFiles => &[Process],
            ConfigId::Address => &[Socket, Tcp],
            ConfigId::Restart | ConfigId::HandshakeTimeout => &[Process, Socket, Tcp],
        }
    }

    /// Whether the modes the key applies to cannot do without it (a free
    /// text key that names nothing the runtime could find itself).
    pub fn is_required(&self) -> bool {
        self.id == ConfigId::Address
    }

    /// The default of a text key with choices (its first); `None` for
    /// free text (found by the runtime when absent) and other kinds.
    pub fn default_choice(&self) -> Option<&'static str> {
        match self.value {
            ConfigValue::Text { choices } => choices.first().copied(),
            _ => None,
        }
    }
}

/// Which setting a key is; the runtime matches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigId {
    /// `max_in_flight`.
    MaxInFlight,
    /// `host_call_timeout_ms`.
    HostCallTimeout,
    /// `max_pending_requests`.
    MaxPendingRequests,
    /// `spin_us`.
    Spin,
    /// `isolation`.
    Isolation,
    /// `address`.
    Address,
    /// `helper_path`.
    HelperPath,
    /// `library_path`.
    LibraryPath,
    /// `restart`.
    Restart,
    /// `handshake_timeout_ms`.
    HandshakeTimeout,
    /// `limit_address_space_mb`.
    LimitAddressSpace,
    /// `limit_cpu_seconds`.
    LimitCpu,
    /// `limit_open_files`.
    LimitOpenFiles,
}

/// One key of the config map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    /// Which setting it is.
    pub id: ConfigId,
    /// The key on the wire.
    pub key: &'static str,
    /// The setting's name without its unit (`host_call_timeout`), which
    /// bindings name their option after.
    pub setting: &'static str,
    /// What it bounds or sets, one sentence or two.
    pub doc: &'static str,
    /// Its values.
    pub value: ConfigValue,
    /// The value used when the key is absent, for a number or a flag (0 or
    /// 1); 0 for a text key ([`ConfigKey::default_choice`]).
    pub default: u64,
}

/// The largest `max_in_flight`: a token holds a 24-bit slot index.
pub const MAX_IN_FLIGHT_LIMIT: u64 = (1 << 24) - 1;

/// The largest `spin_us` (10 ms): a spin is meant to be short.
pub const MAX_SPIN_US: u64 = 10_000;

/// The default `spin_us`: about the cost of waking a sleeping thread here
/// (the loop's idle window is learnt below it, `src/context/idle.rs`).
pub const DEFAULT_SPIN_US: u64 = 50;

/// Every key, in the order the docs list them.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        id: ConfigId::MaxInFlight,
        key: "max_in_flight",
        setting: "max_in_flight",
        doc: "Host calls outstanding at once per context; past it a host call fails at once as overloaded.",
        value: ConfigValue::Count {
            min: 1,
            max: MAX_IN_FLIGHT_LIMIT,
        },
        default: 1 << 20,
    },
    ConfigKey {
        id: ConfigId::HostCallTimeout,
        key: "host_call_timeout_ms",
        setting: "host_call_timeout",
        doc: "The default timeout of each host call; 0 means none.",
        value: ConfigValue::Duration {
            unit: TimeUnit::Millis,
            max: u64::MAX,
        },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::MaxPendingRequests,
        key: "max_pending_requests",
        setting: "max_pending_requests",
        doc: "Requests queued or running per context; past it `call` returns HC_ERR_OVERLOADED; 0 means unbounded.",
        value: ConfigValue::Count {
            min: 0,
            max: u64::MAX,
        },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::Spin,
        key: "spin_us",
        setting: "spin",
        doc: "The longest the idle loop thread watches for work (requests, completions) before it sleeps; within it the loop learns its window from what it sees, and watches only while a core is spare; 0 never watches.",
        value: ConfigValue::Duration {
            unit: TimeUnit::Micros,
            max: MAX_SPIN_US,
        },
        default: DEFAULT_SPIN_US,
    },
    ConfigKey {
        id: ConfigId::Isolation,
        key: "isolation",
        setting: "isolation",
        doc: "Where the library runs: `in_process`; `process`: in a helper process (`hostcall-helper`) the context starts, so that a crash in the library fails the pending requests with RET_PROCESS_DIED instead of killing the host; `socket` or `tcp`: in a running `hostcall-helper --socket` or `--tcp` at `address` (docs/isolation.md).",
        value: ConfigValue::Text {
            choices: ISOLATION_MODES,
        },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::Address,
        key: "address",
        setting: "address",
        doc: "With isolation `socket`: the path of the helper's unix socket; with `tcp`: its `host:port`. Required by both.",
        value: ConfigValue::Text { choices: &[] },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::HelperPath,
        key: "helper_path",
        setting: "helper_path",
        doc: "With isolation `process`: the `hostcall-helper` program to start; absent, the one beside the library's file, else the first on PATH.",
        value: ConfigValue::Text { choices: &[] },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::LibraryPath,
        key: "library_path",
        setting: "library_path",
        doc: "With isolation `process`: the library file the helper loads; absent, the file this library was loaded from.",
        value: ConfigValue::Text { choices: &[] },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::Restart,
        key: "restart",
        setting: "restart",
        doc: "With isolation: whether a helper that died is started again (`process`) or connected to again (`socket`, `tcp`) for the calls that follow (after a back-off that doubles from 10 ms to 1 s while it keeps dying); false refuses them with HC_ERR_SHUTTING_DOWN.",
        value: ConfigValue::Flag,
        default: 1,
    },
    ConfigKey {
        id: ConfigId::HandshakeTimeout,
        key: "handshake_timeout_ms",
        setting: "handshake_timeout",
        doc: "With isolation: how long the helper has to start (or accept the connection) and answer the handshake; 0 means the default.",
        value: ConfigValue::Duration {
            unit: TimeUnit::Millis,
            max: 600_000,
        },
        default: DEFAULT_HANDSHAKE_TIMEOUT_MS,
    },
    ConfigKey {
        id: ConfigId::LimitAddressSpace,
        key: "limit_address_space_mb",
        setting: "limit_address_space_mb",
        doc: "With isolation `process`: the helper's address-space limit (RLIMIT_AS) in MiB, set before it loads the library; 0 means none.",
        value: ConfigValue::Count {
            min: 0,
            max: u64::MAX >> 20,
        },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::LimitCpu,
        key: "limit_cpu_seconds",
        setting: "limit_cpu_seconds",
        doc: "With isolation `process`: the helper's CPU-time limit (RLIMIT_CPU) in seconds; 0 means none.",
        value: ConfigValue::Count {
            min: 0,
            max: u64::MAX,
        },
        default: 0,
    },
    ConfigKey {
        id: ConfigId::LimitOpenFiles,
        key: "limit_open_files",
        setting: "limit_open_files",
        doc: "With isolation `process`: the helper's limit on open files (RLIMIT_NOFILE); 0 means none.",
        value: ConfigValue::Count {
            min: 0,
            max: u64::MAX,
        },
        default: 0,
    },
];

/// Where a context's library runs: the values of `isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationMode {
    /// `in_process` (the default): in the host's process.
    InProcess,
    /// `process`: in a helper process the context starts and talks to over
    /// a socketpair.
    Process,
    /// `socket`: in a running helper reached over a unix socket.
    Socket,
    /// `tcp`: in a running helper reached over TCP.
    Tcp,
}

impl IsolationMode {
    /// Every mode, the default first.
    pub const ALL: [IsolationMode; 4] = [
        IsolationMode::InProcess,
        IsolationMode::Process,
        IsolationMode::Socket,
        IsolationMode::Tcp,
    ];

    /// The value of `isolation` that means this mode.
    pub const fn name(self) -> &'static str {
        match self {
            IsolationMode::InProcess => "in_process",
            IsolationMode::Process => "process",
            IsolationMode::Socket => "socket",
            IsolationMode::Tcp => "tcp",
        }
    }

    /// The mode `name` means.
    pub fn from_name(name: &str) -> Option<IsolationMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The values of `isolation`, as [`IsolationMode::ALL`] names them.
pub const ISOLATION_MODES: &[&str] = &[
    IsolationMode::ALL[0].name(),
    IsolationMode::ALL[1].name(),
    IsolationMode::ALL[2].name(),
    IsolationMode::ALL[3].name(),
];

/// The default `handshake_timeout_ms`.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// The key named `key`.
pub fn config_key(key: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS.iter().find(|k| k.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_units_match_their_suffix() {
        for (i, k) in CONFIG_KEYS.iter().enumerate() {
            assert!(
                CONFIG_KEYS[i + 1..]
                    .iter()
                    .all(|o| o.key != k.key && o.id != k.id)
            );
            assert_eq!(config_key(k.key), Some(k));
            let suffix = match k.value {
                ConfigValue::Duration {
                    unit: TimeUnit::Millis,
                    ..
                } => "_ms",
                ConfigValue::Duration {
                    unit: TimeUnit::Micros,
                    ..
                } => "_us",
                ConfigValue::Count { .. } | ConfigValue::Text { .. } | ConfigValue::Flag => "",
            };
            assert_eq!(k.key, format!("{}{suffix}", k.setting));
        }
    }

    #[test]
    fn isolation_modes_are_named_once() {
        assert_eq!(ISOLATION_MODES.len(), IsolationMode::ALL.len());
        for mode in IsolationMode::ALL {
            assert_eq!(IsolationMode::from_name(mode.name()), Some(mode));
        }
        let isolation = config_key("isolation").unwrap();
        assert_eq!(isolation.default_choice(), Some("in_process"));
        assert!(isolation.is_isolation() && isolation.modes().is_empty());
        assert!(!config_key("spin_us").unwrap().is_isolation());
    }
}
