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
    /// The condition under which the option is refused, and the refusal's
    /// format string and its argument (`n < 1 || n > 16777215`,
    /// `"WithMaxInFlight(%d): must be between 1 and 16777215"`, `n`); none
    /// when every value of the parameter is accepted. The same range the
    /// library checks, from the same key list, so that the error names the
    /// option rather than the key.
    pub check: Option<Check>,
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

/// The options, in the ABI's order.
///
/// The isolation keys are not offered yet: the Go binding's config map
/// holds numbers only (docs/isolation.md, *Bindings*).
pub fn options(keys: &[ConfigKey]) -> Vec<GoOption> {
    keys.iter()
        .filter(|k| !k.is_isolation())
        .map(option)
        .collect()
}

fn option(key: &ConfigKey) -> GoOption {
    let name = format!("With{}", Name::new(key.setting).upper_camel());
    let check = check(key, &name);
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
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
        ),
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
        check,
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
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
        ),
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
            match key.value {
                ConfigValue::Duration { max, .. } if max != u64::MAX => {
                    format!(", at most {}", duration(key, max))
                }
                _ => String::new(),
            },
            unit_name(key)
        ),
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
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
}
