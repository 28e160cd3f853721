//! Double-scan suppression cases.

use std::time::Duration;

use portico::input::dedupe::{DEFAULT_WINDOW, Deduper};

#[test]
fn suppression_table() {
    // (reader, code, time ms, counts?)
    type Step = (&'static str, &'static str, u64, bool);
    let cases: &[(u64, &[Step])] = &[
        (
            1500,
            &[
                ("gate", "A", 0, true),
                ("gate", "A", 1499, false),
                // The window slides from the last repeat: still held on the reader.
                ("gate", "A", 2998, false),
                ("gate", "A", 4498, true),
            ],
        ),
        (
            1500,
            &[
                ("gate", "A", 0, true),
                ("gate", "B", 10, true),
                ("gate", "A", 20, false),
                ("kiosk", "A", 30, true),
                ("gate", "B", 1600, true),
            ],
        ),
        (
            0,
            &[
                ("gate", "A", 0, true),
                ("gate", "A", 0, true),
                ("gate", "A", 1, true),
            ],
        ),
        (
            100,
            &[
                ("gate", "A", 1000, true),
                ("gate", "A", 500, true),
                ("gate", "A", 550, false),
            ],
        ),
    ];
    for (i, (window, steps)) in cases.iter().enumerate() {
        let mut d = Deduper::new(Duration::from_millis(*window));
        for (j, (reader, code, t, counts)) in steps.iter().enumerate() {
            assert_eq!(
                d.admit(reader, code.as_bytes(), Duration::from_millis(*t)),
                *counts,
                "case {i} step {j}"
            );
        }
    }
}

#[test]
fn default_window_and_pruning() {
    assert_eq!(DEFAULT_WINDOW, Duration::from_millis(1500));
    let mut d = Deduper::default();
    for n in 0..1000u32 {
        d.admit(
            "gate",
            &n.to_be_bytes(),
            Duration::from_millis(u64::from(n) * 100),
        );
    }
    // Only codes seen within the last window are remembered (plus up to one prune interval).
    assert!(d.len() <= 256 + 16, "{}", d.len());
    d.prune(Duration::from_secs(1000));
    assert!(d.is_empty());
}
