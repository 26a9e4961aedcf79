//! `With<Setting>` options of `New`: one per key of the ABI's config list.
//!
//! The option's name (from the key's `setting`), its parameter type and how
//! it becomes the key's number (from the key's range or unit), and the
//! numbers its doc quotes come from `hostcall_abi::CONFIG_KEYS`. The doc's
//! wording is Go's own, matched on the key's id, so a new key does not
//! compile until the Go binding knows it.

use hostcall_abi::ConfigKey;
use hostcall_abi::config::{ConfigId, ConfigValue, TimeUnit};

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
    /// `n uint32`, `d time.Duration`.
    pub param: &'static str,
    /// The key on the wire.
    pub key: &'static str,
    /// The expression giving the key's number.
    pub value: &'static str,
}

/// The options, in the ABI's order.
pub fn options(keys: &[ConfigKey]) -> Vec<GoOption> {
    keys.iter().map(option).collect()
}

fn option(key: &ConfigKey) -> GoOption {
    let name = format!("With{}", Name::new(key.setting).upper_camel());
    let (param, value) = match key.value {
        ConfigValue::Count { max, .. } if max <= u64::from(u32::MAX) => ("n uint32", "uint64(n)"),
        ConfigValue::Count { .. } => ("n uint64", "n"),
        ConfigValue::Duration {
            unit: TimeUnit::Millis,
            ..
        } => ("d time.Duration", "ceilUnits(d, time.Millisecond)"),
        ConfigValue::Duration {
            unit: TimeUnit::Micros,
            ..
        } => ("d time.Duration", "ceilUnits(d, time.Microsecond)"),
    };
    let doc = text::wrap(format!("{name} {}", prose(key)), WIDTH)
        .iter()
        .map(|line| format!("// {line}"))
        .collect::<Vec<_>>()
        .join("\n");
    GoOption {
        doc,
        name,
        param,
        key: key.key,
        value,
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
            "sets how long the library's idle loop spins for host results before it sleeps, \
             while host calls are outstanding (default {}{}). The library counts whole {}, so d \
             is rounded up to one; d <= 0 never spins.",
            duration(key, key.default),
            match key.value {
                ConfigValue::Duration { max, .. } if max != u64::MAX => {
                    format!(", at most {}", duration(key, max))
                }
                _ => String::new(),
            },
            unit_name(key)
        ),
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
                "WithSpin"
            ]
        );
        let spin = options[3].doc.replace("\n// ", " ");
        assert!(spin.contains("(default 50µs, at most 10ms)"), "{spin}");
    }
}
