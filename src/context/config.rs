//! Context configuration: the CBOR map given to `<lib>_new`.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `max_in_flight` | outstanding host calls per context; past it a host call fails at once as overloaded (1 ..= 16 777 215) | 1 048 576 |
//! | `host_call_timeout_ms` | default timeout of each host call; 0 means none | 0 |
//! | `max_pending_requests` | requests queued or running per context; past it `call` returns `HC_ERR_OVERLOADED`; 0 means unbounded | 0 |
//! | `spin_us` | how long the idle loop thread watches for completions before it sleeps, only while host calls are outstanding; 0 never spins | 50 |
//!
//! Unknown keys, duplicate keys and values of the wrong type are errors.

use std::time::Duration;

use ciborium::Value;

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
            max_in_flight: 1 << 20,
            host_call_timeout: None,
            max_pending_requests: None,
            spin: Some(Duration::from_micros(DEFAULT_SPIN_US)),
        }
    }
}

/// The keys [`Config::from_cbor`] accepts.
pub const KEYS: &[&str] = &[
    "max_in_flight",
    "host_call_timeout_ms",
    "max_pending_requests",
    "spin_us",
];

/// The default `spin_us`: about the cost of waking a sleeping thread here.
pub const DEFAULT_SPIN_US: u64 = 50;

/// The largest `spin_us` accepted (10 ms): a spin is meant to be short.
pub const MAX_SPIN_US: u64 = 10_000;

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
            let number = |max: u64| -> Result<u64, String> {
                match &value {
                    Value::Integer(i) => u64::try_from(i128::from(*i))
                        .ok()
                        .filter(|n| *n <= max)
                        .ok_or_else(|| format!("config key '{key}' must be between 0 and {max}")),
                    _ => Err(format!("config key '{key}' must be an unsigned integer")),
                }
            };
            match key.as_str() {
                "max_in_flight" => {
                    let n = number(u64::from(MAX_SLOTS))?;
                    if n == 0 {
                        return Err("config key 'max_in_flight' must be at least 1".to_owned());
                    }
                    config.max_in_flight = n as u32;
                }
                "host_call_timeout_ms" => {
                    let n = number(u64::MAX)?;
                    config.host_call_timeout = (n > 0).then(|| Duration::from_millis(n));
                }
                "spin_us" => {
                    let n = number(MAX_SPIN_US)?;
                    config.spin = (n > 0).then(|| Duration::from_micros(n));
                }
                "max_pending_requests" => {
                    let n = number(usize::MAX as u64)?;
                    config.max_pending_requests = (n > 0).then_some(n as usize);
                }
                _ => {
                    return Err(format!(
                        "unknown config key '{key}' (known keys: {})",
                        KEYS.join(", ")
                    ));
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
