//! An error and its causes as one line a technician reads: each cause once, in order.
//!
//! Many errors already include their source in their own message (`cannot read {path}:
//! {source}`) and also return it from `source()`, so printing every link of the chain repeats
//! it (`File exists (os error 17): File exists (os error 17)`). A cause whose text is already
//! in the line is left out.

use std::error::Error;

/// The chain from `top` down, each cause appended once.
pub fn chain<'a>(links: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut line = String::new();
    for link in links {
        let text = link.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// [`chain`] of one error and its sources.
pub fn of(e: &(dyn Error + 'static)) -> String {
    let mut links = vec![e];
    let mut current = e;
    while let Some(next) = current.source() {
        links.push(next);
        current = next;
    }
    chain(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot write {path}: {source}")]
        Repeats {
            path: String,
            source: std::io::Error,
        },
        #[error("cannot write {path}")]
        Names {
            path: String,
            #[source]
            source: std::io::Error,
        },
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = || std::io::Error::from_raw_os_error(17);
        let cases = [
            (
                Outer::Repeats {
                    path: "/etc/portico/device.token".into(),
                    source: io(),
                },
                "cannot write /etc/portico/device.token: File exists (os error 17)",
            ),
            (
                Outer::Names {
                    path: "t".into(),
                    source: io(),
                },
                "cannot write t: File exists (os error 17)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(of(&e), want);
        }
    }
}
