//! Times the in-memory matching core: `cargo run --release --example matching_bench -- [N] [SEED]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let n = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let report = portico::bench::match_data::run(n, seed);
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("JSON report")
    );
}
