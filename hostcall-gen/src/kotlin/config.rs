//! `<Class>Config`: one option per key of the ABI's config list.
//!
//! The option's name (the key's `setting`), its wire key, its Kotlin type
//! (from the key's range or unit) and the numbers its doc quotes (ranges,
//! defaults) come from `hostcall_abi::CONFIG_KEYS`. What only Kotlin says
//! — the doc's wording, and how a `Duration` becomes the key's number
//! (`ConfigUnits`: what zero and infinity mean differs per setting) — is
//! matched on the key's id below, so a new key does not compile until the
//! Kotlin binding knows it.

use hostcall_abi::ConfigKey;
use hostcall_abi::config::{ConfigId, ConfigValue};

use super::names::member;
use crate::model::{Abi, Name};
use crate::text;

/// The width the `@property` paragraphs are wrapped to.
const WIDTH: usize = 95;

/// One option of the config data class.
pub struct Setting {
    /// `maxInFlight`.
    pub member: String,
    /// `UInt`, `ULong`, `Duration`.
    pub kotlin_type: &'static str,
    /// The key on the wire.
    pub key: &'static str,
    /// The expression giving the key's number from the option's value `it`.
    pub value: String,
    /// The `@property` paragraph's lines, continuations indented.
    pub doc: Vec<String>,
}

/// The options, in the ABI's order.
///
/// The isolation keys are not offered yet: the Kotlin binding's config
/// holds numbers only (docs/isolation.md, *Bindings*).
pub fn settings(abi: &Abi) -> Vec<Setting> {
    abi.config_keys
        .iter()
        .filter(|k| !k.is_isolation())
        .map(setting)
        .collect()
}

fn setting(key: &ConfigKey) -> Setting {
    let member = member(&Name::new(key.setting));
    let (kotlin_type, value) = match key.value {
        ConfigValue::Count { max, .. } if max <= u64::from(u32::MAX) => {
            ("UInt", "it.toULong()".to_owned())
        }
        ConfigValue::Count { .. } => ("ULong", "it".to_owned()),
        ConfigValue::Duration { .. } => ("Duration", format!("ConfigUnits.{}(it)", convert(key))),
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
        ),
    };
    let mut doc = text::wrap(format!("@property {member} {}", prose(key)), WIDTH);
    for continued in doc.iter_mut().skip(1) {
        continued.insert_str(0, "  ");
    }
    Setting {
        member,
        kotlin_type,
        key: key.key,
        value,
        doc,
    }
}

/// The `ConfigUnits` function turning a duration into the key's number.
fn convert(key: &ConfigKey) -> &'static str {
    match key.id {
        ConfigId::HostCallTimeout => "timeoutMillis",
        ConfigId::Spin => "spinMicros",
        ConfigId::MaxInFlight | ConfigId::MaxPendingRequests => {
            unreachable!("{} is a count", key.key)
        }
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
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
            match key.value {
                ConfigValue::Duration { max, .. } if max != u64::MAX => {
                    format!("at most {}, ", duration(key, max))
                }
                _ => String::new(),
            },
            unit_name(key),
            duration(key, key.default)
        ),
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
        ),
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
        ConfigValue::Duration { .. } => unreachable!("{} is a duration", key.key),
        _ => unreachable!(
            "{} is an isolation key, which this binding does not offer yet",
            key.key
        ),
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
        let offered = hostcall_abi::CONFIG_KEYS
            .iter()
            .filter(|k| !k.is_isolation())
            .count();
        assert_eq!(settings.len(), offered);
        let names: Vec<&str> = settings.iter().map(|s| s.member.as_str()).collect();
        assert_eq!(
            names,
            [
                "maxInFlight",
                "hostCallTimeout",
                "maxPendingRequests",
                "spin"
            ]
        );
    }
}
