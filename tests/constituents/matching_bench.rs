//! The in-memory matching benchmark runs, is deterministic in its outcomes and reports latencies.

use portico::bench::match_data::run_queries;
use serde_json::Value;

fn counts(report: &Value) -> Vec<u64> {
    [
        ("strict", "matched"),
        ("strict", "ambiguous"),
        ("strict", "no_match"),
        ("scored", "automatic"),
        ("scored", "review"),
        ("scored", "no_match"),
    ]
    .iter()
    .map(|(mode, key)| report[mode][key].as_u64().unwrap())
    .collect()
}

#[test]
fn bench_reports_latencies_and_outcomes() {
    let report = run_queries(2_000, 7, 400);
    assert_eq!(report["constituents"], 2_000);
    assert_eq!(report["queries"], 400);
    for mode in ["strict", "scored"] {
        let latency = &report[mode]["latency"];
        let p50 = latency["p50_us"].as_f64().unwrap();
        let p99 = latency["p99_us"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= p99, "{mode}: {latency}");
    }
    let c = counts(&report);
    assert_eq!(c[0] + c[1] + c[2], 400);
    assert_eq!(c[3] + c[4] + c[5], 400);
    // Most queries are returning visitors: both modes find many of them.
    assert!(c[0] > 150, "strict matched {}", c[0]);
    assert!(c[3] + c[4] > 150, "scored found {}", c[3] + c[4]);
    // New visitors are not matched.
    assert!(c[2] > 50 && c[5] > 50, "{c:?}");
}

#[test]
fn bench_outcomes_are_deterministic() {
    let a = run_queries(1_000, 11, 200);
    let b = run_queries(1_000, 11, 200);
    assert_eq!(counts(&a), counts(&b));
    assert_eq!(a["index_keys"], b["index_keys"]);
    let c = run_queries(1_000, 12, 200);
    assert_ne!(a["index_keys"], c["index_keys"]);
}
