//! Constituents: normalisation, matching, the CRM update rules, intake, Find My Membership and staff search.
//!
//! One test binary for the area (each binary links the whole firmware).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/find_membership.rs"]
mod fixtures;
#[path = "../common/intake.rs"]
mod intake_helpers;

mod constituent_intake;
mod find_my_membership;
mod hub_import;
mod match_quality;
mod matching_bench;
mod matching_props;
mod matching_scored;
mod matching_strict;
mod normalize;
mod replica_search;
mod update_rules;
