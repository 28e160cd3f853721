//! Where the log goes and how it looks: the systemd journal with structured fields when the
//! process runs under systemd, otherwise lines on stderr, coloured only on a terminal and
//! never with `NO_COLOR`.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The `--log-format` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// The journal when stderr is connected to it (`JOURNAL_STREAM`), otherwise text.
    Auto,
    Text,
    Json,
    Journal,
}

impl LogFormat {
    pub const NAMES: [&'static str; 4] = ["auto", "text", "json", "journal"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => LogFormat::Auto,
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            "journal" => LogFormat::Journal,
            _ => return None,
        })
    }
}

/// What the process knows about its surroundings when the log starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surroundings {
    pub stderr_is_terminal: bool,
    /// `NO_COLOR` is set to something other than the empty string (no-color.org).
    pub no_color: bool,
    /// `JOURNAL_STREAM` names the device and inode of this process's stderr: systemd
    /// connected stderr to the journal.
    pub stderr_is_journal: bool,
}

/// Where lines go, decided from the choice and the surroundings (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr { json: bool, ansi: bool },
}

pub fn sink(format: LogFormat, env: Surroundings) -> Sink {
    let ansi = env.stderr_is_terminal && !env.no_color;
    match format {
        LogFormat::Journal => Sink::Journal,
        LogFormat::Auto if env.stderr_is_journal => Sink::Journal,
        LogFormat::Json => Sink::Stderr {
            json: true,
            ansi: false,
        },
        LogFormat::Auto | LogFormat::Text => Sink::Stderr { json: false, ansi },
    }
}

/// `JOURNAL_STREAM`'s `DEVICE:INODE` matched against stderr, as systemd's documentation asks
/// (a child whose stderr was redirected inherits the variable but not the stream).
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

pub fn surroundings() -> Surroundings {
    Surroundings {
        stderr_is_terminal: std::io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        stderr_is_journal: stderr_is_journal(),
    }
}

/// Starts the log. `RUST_LOG` filters (default `info`). A journal that cannot be reached falls
/// back to plain lines on stderr, which systemd also keeps.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let env = surroundings();
    let chosen = sink(format, env);
    if chosen == Sink::Journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer.with_syslog_identifier("portico".into()))
                    .init();
                return;
            }
            Err(e) => eprintln!("the journal cannot be reached ({e}); logging to stderr"),
        }
    }
    let ansi = matches!(chosen, Sink::Stderr { ansi: true, .. });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if matches!(chosen, Sink::Stderr { json: true, .. }) {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_and_the_journal_under_systemd() {
        let env = |tty, no_color, journal| Surroundings {
            stderr_is_terminal: tty,
            no_color,
            stderr_is_journal: journal,
        };
        let text = |ansi| Sink::Stderr { json: false, ansi };
        let cases = [
            (LogFormat::Auto, env(true, false, false), text(true)),
            (LogFormat::Auto, env(true, true, false), text(false)),
            (LogFormat::Auto, env(false, false, false), text(false)),
            (LogFormat::Auto, env(false, false, true), Sink::Journal),
            (LogFormat::Text, env(false, false, true), text(false)),
            (
                LogFormat::Json,
                env(true, false, false),
                Sink::Stderr {
                    json: true,
                    ansi: false,
                },
            ),
            (LogFormat::Journal, env(true, false, false), Sink::Journal),
        ];
        for (format, surroundings, want) in cases {
            assert_eq!(
                sink(format, surroundings),
                want,
                "{format:?} {surroundings:?}"
            );
        }
    }
}
