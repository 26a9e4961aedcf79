//! Diagnostics: `tracing` spans and events, printed when the host asks.
//!
//! Set `HOSTCALL_LOG` to `error`, `warn`, `info`, `debug` or `trace` before
//! the first `<lib>_new` and a subscriber printing to stderr is installed at
//! that level (unless the process already has one). Unset or `off` prints
//! nothing. Spans: `request{method, id}` around every handler, `host_call{name,
//! token}` around every host fn invocation; events mark refusals, timeouts
//! and cancellations.

use std::sync::Once;

use tracing::level_filters::LevelFilter;

/// The environment variable that selects the level.
pub const ENV: &str = "HOSTCALL_LOG";

/// Parses a level name (case-insensitive).
pub fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" | "" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// Installs the stderr subscriber if `HOSTCALL_LOG` asks for one. Runs once.
pub(crate) fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(value) = std::env::var(ENV) else {
            return;
        };
        let (level, bad) = match parse_level(&value) {
            Some(level) => (level, false),
            None => (LevelFilter::WARN, true),
        };
        if level == LevelFilter::OFF {
            return;
        }
        let installed = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_thread_names(true)
            .with_ansi(false)
            .try_init()
            .is_ok();
        if installed && bad {
            tracing::warn!(
                value,
                "{ENV} is not one of off, error, warn, info, debug, trace; using warn"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse() {
        assert_eq!(parse_level("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level(" off "), Some(LevelFilter::OFF));
        assert_eq!(parse_level("loud"), None);
    }
}
