//! Context configuration: the CBOR map given to `<lib>_new`.
//!
//! The keys, their bounds and defaults are declared once, in
//! `hostcall_abi::config::CONFIG_KEYS` (the header and the bindings
//! document and offer the same list). Unknown keys, duplicate keys and
//! values of the wrong type or out of bounds are errors.

use std::path::PathBuf;
use std::time::Duration;

use ciborium::Value;
use hostcall_abi::config::{
    CONFIG_KEYS, ConfigId, ConfigKey, ConfigValue, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_SPIN_US,
    IsolationMode, config_key,
};

use crate::core::inflight::MAX_SLOTS;

/// A context's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bound on outstanding host calls.
    pub max_in_flight: u32,
    /// Default timeout of a host call; `None` means none.
    pub host_call_timeout: Option<Duration>,
    /// Bound on requests queued or running; `None` means unbounded.
    pub max_pending_requests: Option<usize>,
    /// How long the idle loop spins for completions before parking, while
    /// host calls are outstanding; `None` never spins.
    pub spin: Option<Duration>,
    /// `Some` when the library runs in a helper process (`isolation`).
    pub isolation: Option<Isolation>,
}

/// The settings of a context whose library runs in a helper process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// How the helper is reached (the mode of `isolation`).
    pub connect: Connect,
    /// `restart`.
    pub restart: bool,
    /// `handshake_timeout_ms`.
    pub handshake_timeout: Duration,
}

/// How an isolated context reaches its helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// `process`: start one, over a socketpair.
    Spawn(Spawn),
    /// `socket`: connect to a running one at this unix socket (`address`).
    Socket(PathBuf),
    /// `tcp`: connect to a running one at this `host:port` (`address`).
    Tcp(String),
}

/// The helper a `process` context starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawn {
    /// `helper_path`; `None`: beside the library, else on PATH.
    pub helper: Option<PathBuf>,
    /// `library_path`; `None`: the file this library was loaded from.
    pub library: Option<PathBuf>,
    /// The helper's resource limits.
    pub limits: Limits,
}

/// Resource limits the helper sets on itself before it loads the library;
/// `None` leaves a limit as inherited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `limit_address_space_mb`, in bytes.
    pub address_space: Option<u64>,
    /// `limit_cpu_seconds`.
    pub cpu_seconds: Option<u64>,
    /// `limit_open_files`.
    pub open_files: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_in_flight: default(ConfigId::MaxInFlight) as u32,
            host_call_timeout: None,
            max_pending_requests: None,
            spin: Some(Duration::from_micros(DEFAULT_SPIN_US)),
            isolation: None,
        }
    }
}

/// A parsed value of a config key.
enum Setting {
    Number(u64),
    Text(String),
    Flag(bool),
}

/// The key of a setting, from the ABI list.
fn spec(id: ConfigId) -> &'static ConfigKey {
    CONFIG_KEYS
        .iter()
        .find(|k| k.id == id)
        .expect("every setting has a key")
}

/// The default of a key, from the ABI list.
fn default(id: ConfigId) -> u64 {
    spec(id).default
}

/// The ABI list's bound on `max_in_flight` is what a token can address.
const _: () = assert!(hostcall_abi::config::MAX_IN_FLIGHT_LIMIT == MAX_SLOTS as u64);

impl Config {
    /// Parses the CBOR map given to `<lib>_new`; an empty input means defaults.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, String> {
        let mut config = Config::default();
        if bytes.is_empty() {
            return Ok(config);
        }
        let entries = match crate::wire::from_cbor::<Value>(bytes)
            .map_err(|e| format!("config is not valid CBOR: {e}"))?
        {
            Value::Map(entries) => entries,
            _ => return Err("config must be a CBOR map".to_owned()),
        };
        let mut seen = Vec::new();
        let mut settings = Vec::new();
        for (key, value) in entries {
            let Value::Text(key) = key else {
                return Err("config keys must be text strings".to_owned());
            };
            if seen.contains(&key) {
                return Err(format!("config key '{key}' appears twice"));
            }
            let Some(spec) = config_key(&key) else {
                let known: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.key).collect();
                return Err(format!(
                    "unknown config key '{key}' (known keys: {})",
                    known.join(", ")
                ));
            };
            let setting = match (spec.value, value) {
                (ConfigValue::Count { min, max }, value) => {
                    let n = number(&key, &value, max)?;
                    if n < min {
                        return Err(format!("config key '{key}' must be at least {min}"));
                    }
                    Setting::Number(n)
                }
                (ConfigValue::Duration { max, .. }, value) => {
                    Setting::Number(number(&key, &value, max)?)
                }
                (ConfigValue::Text { choices }, Value::Text(text)) => {
                    if !choices.is_empty() && !choices.contains(&text.as_str()) {
                        return Err(format!(
                            "config key '{key}' must be one of {}, not '{text}'",
                            choices.join(", ")
                        ));
                    }
                    if text.is_empty() {
                        return Err(format!("config key '{key}' must not be empty"));
                    }
                    Setting::Text(text)
                }
                (ConfigValue::Text { .. }, _) => {
                    return Err(format!("config key '{key}' must be a text string"));
                }
                (ConfigValue::Flag, Value::Bool(flag)) => Setting::Flag(flag),
                (ConfigValue::Flag, _) => {
                    return Err(format!("config key '{key}' must be true or false"));
                }
            };
            settings.push((spec, setting));
            seen.push(key);
        }
        // The mode first: which keys apply depends on it.
        let mode = settings
            .iter()
            .find_map(|(spec, setting)| match (spec.id, setting) {
                (ConfigId::Isolation, Setting::Text(mode)) => IsolationMode::from_name(mode),
                _ => None,
            })
            .unwrap_or(IsolationMode::InProcess);
        for (spec, _) in &settings {
            let modes = spec.modes();
            if !modes.is_empty() && !modes.contains(&mode) {
                let names: Vec<String> =
                    modes.iter().map(|m| format!("\"{}\"", m.name())).collect();
                let with = match names.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => unreachable!("not empty"),
                };
                return Err(format!(
                    "config key '{}' applies only with isolation {with} (this config's \
                     isolation is \"{}\")",
                    spec.key,
                    mode.name()
                ));
            }
        }
        let mut spawn = Spawn {
            helper: None,
            library: None,
            limits: Limits::default(),
        };
        let mut address = None;
        let mut restart = default(ConfigId::Restart) != 0;
        let mut handshake_timeout = Duration::from_millis(DEFAULT_HANDSHAKE_TIMEOUT_MS);
        for (spec, setting) in settings {
            let nonzero = |n: u64| (n > 0).then_some(n);
            match (spec.id, setting) {
                (ConfigId::MaxInFlight, Setting::Number(n)) => config.max_in_flight = n as u32,
                (ConfigId::HostCallTimeout, Setting::Number(n)) => {
                    config.host_call_timeout = (n > 0).then(|| Duration::from_millis(n));
                }
                (ConfigId::Spin, Setting::Number(n)) => {
                    config.spin = (n > 0).then(|| Duration::from_micros(n));
                }
                (ConfigId::MaxPendingRequests, Setting::Number(n)) => {
                    config.max_pending_requests = usize::try_from(n).ok().filter(|n| *n > 0);
                }
                (ConfigId::Isolation, Setting::Text(_)) => {}
                (ConfigId::Address, Setting::Text(text)) => address = Some(text),
                (ConfigId::HelperPath, Setting::Text(path)) => spawn.helper = Some(path.into()),
                (ConfigId::LibraryPath, Setting::Text(path)) => spawn.library = Some(path.into()),
                (ConfigId::Restart, Setting::Flag(flag)) => restart = flag,
                (ConfigId::HandshakeTimeout, Setting::Number(n)) => {
                    if n > 0 {
                        handshake_timeout = Duration::from_millis(n);
                    }
                }
                (ConfigId::LimitAddressSpace, Setting::Number(n)) => {
                    spawn.limits.address_space = nonzero(n.saturating_mul(1 << 20));
                }
                (ConfigId::LimitCpu, Setting::Number(n)) => spawn.limits.cpu_seconds = nonzero(n),
                (ConfigId::LimitOpenFiles, Setting::Number(n)) => {
                    spawn.limits.open_files = nonzero(n);
                }
                _ => unreachable!("every key's value is parsed by its kind"),
            }
        }
        let connect = match (mode, address) {
            (IsolationMode::InProcess, _) => return Ok(config),
            (IsolationMode::Process, _) => Connect::Spawn(spawn),
            (IsolationMode::Socket, Some(path)) => Connect::Socket(path.into()),
            (IsolationMode::Tcp, Some(address)) => Connect::Tcp(address),
            (IsolationMode::Socket | IsolationMode::Tcp, None) => {
                return Err(format!(
                    "\"isolation\": \"{}\" needs config key 'address' (the helper's {})",
                    mode.name(),
                    if mode == IsolationMode::Socket {
                        "socket path"
                    } else {
                        "host:port"
                    }
                ));
            }
        };
        config.isolation = Some(Isolation {
            connect,
            restart,
            handshake_timeout,
        });
        Ok(config)
    }

    /// The config map the helper's own context is created with: this
    /// context's settings that apply inside the library (the isolation keys
    /// stay with the host's side; `max_pending_requests` is counted there).
    pub fn for_helper(&self) -> Vec<u8> {
        let entry = |id: ConfigId, n: u64| {
            (
                Value::Text(spec(id).key.to_owned()),
                Value::Integer(n.into()),
            )
        };
        let map = Value::Map(vec![
            entry(ConfigId::MaxInFlight, u64::from(self.max_in_flight)),
            entry(
                ConfigId::HostCallTimeout,
                self.host_call_timeout
                    .map_or(0, |d| d.as_millis().max(1) as u64),
            ),
            entry(
                ConfigId::Spin,
                self.spin.map_or(0, |d| d.as_micros().max(1) as u64),
            ),
        ]);
        crate::wire::to_cbor(&map).expect("a map of numbers encodes")
    }
}

/// A count's or a duration's number, at most `max`.
fn number(key: &str, value: &Value, max: u64) -> Result<u64, String> {
    match value {
        Value::Integer(i) => u64::try_from(i128::from(*i))
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("config key '{key}' must be between 0 and {max}")),
        _ => Err(format!("config key '{key}' must be an unsigned integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> Vec<u8> {
        let value = Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        );
        crate::wire::to_cbor(&value).unwrap()
    }

    #[test]
    fn empty_means_defaults() {
        assert_eq!(Config::from_cbor(&[]).unwrap(), Config::default());
        assert_eq!(Config::from_cbor(&map(vec![])).unwrap(), Config::default());
        assert!(Config::default().max_in_flight >= 1_000_000);
    }

    #[test]
    fn known_keys_are_applied() {
        let config = Config::from_cbor(&map(vec![
            ("max_in_flight", Value::Integer(3.into())),
            ("host_call_timeout_ms", Value::Integer(250.into())),
            ("max_pending_requests", Value::Integer(9.into())),
            ("spin_us", Value::Integer(0.into())),
        ]))
        .unwrap();
        assert_eq!(config.spin, None);
        assert_eq!(config.max_in_flight, 3);
        assert_eq!(config.host_call_timeout, Some(Duration::from_millis(250)));
        assert_eq!(config.max_pending_requests, Some(9));
        let config = Config::from_cbor(&map(vec![(
            "host_call_timeout_ms",
            Value::Integer(0.into()),
        )]))
        .unwrap();
        assert_eq!(config.host_call_timeout, None);
    }

    #[test]
    fn isolation_modes_take_their_keys() {
        let isolation = |entries| Config::from_cbor(&map(entries)).unwrap().isolation;
        let text = |s: &str| Value::Text(s.into());
        let spawned = isolation(vec![
            ("isolation", text("process")),
            ("helper_path", text("/h")),
            ("limit_open_files", Value::Integer(64.into())),
            ("restart", Value::Bool(false)),
        ])
        .unwrap();
        assert!(!spawned.restart);
        let Connect::Spawn(spawn) = spawned.connect else {
            panic!("{spawned:?}")
        };
        assert_eq!(spawn.helper, Some(PathBuf::from("/h")));
        assert_eq!(spawn.limits.open_files, Some(64));
        let socket = isolation(vec![
            ("isolation", text("socket")),
            ("address", text("/run/h.sock")),
            ("handshake_timeout_ms", Value::Integer(75.into())),
        ])
        .unwrap();
        assert_eq!(socket.connect, Connect::Socket("/run/h.sock".into()));
        assert_eq!(socket.handshake_timeout, Duration::from_millis(75));
        assert!(socket.restart);
        let tcp = isolation(vec![
            ("address", text("127.0.0.1:7000")),
            ("isolation", text("tcp")),
        ])
        .unwrap();
        assert_eq!(tcp.connect, Connect::Tcp("127.0.0.1:7000".into()));
        assert_eq!(isolation(vec![("isolation", text("in_process"))]), None);
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let cases = [
            (
                map(vec![("bogus", Value::Integer(1.into()))]),
                "unknown config key 'bogus'",
            ),
            (
                map(vec![("max_in_flight", Value::Integer(0.into()))]),
                "at least 1",
            ),
            (
                map(vec![("max_in_flight", Value::Integer((-1).into()))]),
                "between 0 and",
            ),
            (
                map(vec![("max_in_flight", Value::Integer((1 << 24).into()))]),
                "between 0 and",
            ),
            (
                map(vec![("max_in_flight", Value::Text("1".into()))]),
                "unsigned integer",
            ),
            (
                map(vec![
                    ("max_in_flight", Value::Integer(1.into())),
                    ("max_in_flight", Value::Integer(2.into())),
                ]),
                "twice",
            ),
            (crate::wire::to_cbor(&[1, 2]).unwrap(), "must be a CBOR map"),
            (
                map(vec![("restart", Value::Bool(false))]),
                "'restart' applies only with isolation \"process\", \"socket\" or \"tcp\" \
                 (this config's isolation is \"in_process\")",
            ),
            (
                map(vec![
                    ("isolation", Value::Text("socket".into())),
                    ("helper_path", Value::Text("/x".into())),
                    ("address", Value::Text("/run/x.sock".into())),
                ]),
                "'helper_path' applies only with isolation \"process\" (this config's \
                 isolation is \"socket\")",
            ),
            (
                map(vec![
                    ("isolation", Value::Text("process".into())),
                    ("address", Value::Text("/run/x.sock".into())),
                ]),
                "'address' applies only with isolation \"socket\" or \"tcp\"",
            ),
            (
                map(vec![("isolation", Value::Text("tcp".into()))]),
                "\"isolation\": \"tcp\" needs config key 'address' (the helper's host:port)",
            ),
            (
                map(vec![("isolation", Value::Text("thread".into()))]),
                "must be one of in_process, process, socket, tcp, not 'thread'",
            ),
            (vec![0xa1], "not valid CBOR"),
        ];
        for (bytes, expected) in cases {
            let err = Config::from_cbor(&bytes).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }
}
