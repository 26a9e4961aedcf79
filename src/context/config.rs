//! Context configuration: the CBOR map given to `<lib>_new`.
//!
//! The keys, their bounds and defaults are declared once, in
//! `hostcall_abi::config::CONFIG_KEYS` (the header and the bindings
//! document and offer the same list). Unknown keys, duplicate keys and
//! values of the wrong type or out of bounds are errors.

use std::time::Duration;

use ciborium::Value;
use hostcall_abi::config::{CONFIG_KEYS, ConfigId, ConfigValue, DEFAULT_SPIN_US, config_key};

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_in_flight: default(ConfigId::MaxInFlight) as u32,
            host_call_timeout: None,
            max_pending_requests: None,
            spin: Some(Duration::from_micros(DEFAULT_SPIN_US)),
        }
    }
}

/// The default of a key, from the ABI list.
fn default(id: ConfigId) -> u64 {
    CONFIG_KEYS
        .iter()
        .find(|k| k.id == id)
        .map(|k| k.default)
        .expect("every setting has a key")
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
            let (min, max) = match spec.value {
                ConfigValue::Count { min, max } => (min, max),
                ConfigValue::Duration { max, .. } => (0, max),
            };
            let n = match &value {
                Value::Integer(i) => u64::try_from(i128::from(*i))
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("config key '{key}' must be between 0 and {max}"))?,
                _ => return Err(format!("config key '{key}' must be an unsigned integer")),
            };
            if n < min {
                return Err(format!("config key '{key}' must be at least {min}"));
            }
            match spec.id {
                ConfigId::MaxInFlight => config.max_in_flight = n as u32,
                ConfigId::HostCallTimeout => {
                    config.host_call_timeout = (n > 0).then(|| Duration::from_millis(n));
                }
                ConfigId::Spin => config.spin = (n > 0).then(|| Duration::from_micros(n)),
                ConfigId::MaxPendingRequests => {
                    config.max_pending_requests = usize::try_from(n).ok().filter(|n| *n > 0);
                }
            }
            seen.push(key);
        }
        Ok(config)
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
