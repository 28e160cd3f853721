//! Common English given-name variants: Mike = Michael, Bill = William, Liz = Elizabeth, …
//!
//! Two first names are nickname-equivalent when one is a variant of the other or both are
//! variants of the same formal name (Bill = Will = William). A variant may belong to several
//! formal names (Chris: Christopher, Christine, Christina). Names are compared in their
//! normalised key form ([`crate::normalize::Normalizer::name_key`]).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Formal name and its common variants, all in key form (lowercase ASCII letters).
const GROUPS: &[(&str, &[&str])] = &[
    ("abigail", &["abby", "abbie", "gail"]),
    ("albert", &["al", "bert", "bertie"]),
    ("alexander", &["alex", "al", "sandy", "xander", "alec"]),
    ("alexandra", &["alex", "alexa", "sandra", "sandy", "lexi"]),
    ("alfred", &["alf", "alfie", "fred", "al"]),
    ("andrew", &["andy", "drew"]),
    ("anthony", &["tony"]),
    ("barbara", &["barb", "barbie", "babs"]),
    ("benjamin", &["ben", "benny", "benji"]),
    ("catherine", &["cathy", "cath", "kate", "katie", "cat"]),
    (
        "katherine",
        &["kathy", "kate", "katie", "kat", "kay", "kitty"],
    ),
    ("charles", &["charlie", "chuck", "chas", "chaz"]),
    ("christopher", &["chris", "kit", "topher"]),
    ("christine", &["chris", "chrissy", "tina"]),
    ("christina", &["chris", "chrissy", "tina"]),
    ("daniel", &["dan", "danny"]),
    ("david", &["dave", "davey", "davy"]),
    ("deborah", &["deb", "debbie", "debby"]),
    ("donald", &["don", "donnie"]),
    ("dorothy", &["dot", "dottie", "dolly"]),
    ("edward", &["ed", "eddie", "ted", "teddy", "ned"]),
    (
        "elizabeth",
        &[
            "liz", "lizzie", "beth", "betty", "betsy", "eliza", "libby", "lisa", "bess",
        ],
    ),
    ("eleanor", &["ellie", "nell", "nora", "elle"]),
    ("frances", &["fran", "frankie", "fanny"]),
    ("francis", &["frank", "frankie"]),
    ("frederick", &["fred", "freddie", "freddy", "rick"]),
    ("gregory", &["greg"]),
    ("harold", &["harry", "hal"]),
    ("henry", &["harry", "hank", "hal"]),
    ("jacob", &["jake", "jack"]),
    ("james", &["jim", "jimmy", "jamie", "jimbo"]),
    ("jennifer", &["jen", "jenny", "jenn"]),
    ("jessica", &["jess", "jessie"]),
    ("john", &["jack", "johnny", "jon"]),
    ("jonathan", &["jon", "jonny", "nathan"]),
    ("joseph", &["joe", "joey", "jos"]),
    ("joshua", &["josh"]),
    ("kenneth", &["ken", "kenny"]),
    ("lawrence", &["larry", "laurie"]),
    ("leonard", &["leo", "len", "lenny"]),
    (
        "margaret",
        &["maggie", "meg", "peggy", "marge", "madge", "greta", "daisy"],
    ),
    ("matthew", &["matt", "matty"]),
    ("michael", &["mike", "mikey", "mick", "mickey"]),
    ("nathaniel", &["nate", "nat", "nathan"]),
    ("nicholas", &["nick", "nicky", "nico"]),
    ("patricia", &["pat", "patty", "patsy", "trish", "tricia"]),
    ("patrick", &["pat", "paddy", "rick"]),
    ("peter", &["pete"]),
    ("philip", &["phil", "pip"]),
    ("rebecca", &["becky", "becca", "beck"]),
    ("richard", &["rick", "ricky", "dick", "rich", "richie"]),
    ("robert", &["bob", "bobby", "rob", "robbie", "bert"]),
    ("ronald", &["ron", "ronnie"]),
    ("samuel", &["sam", "sammy"]),
    ("samantha", &["sam", "sammy", "sammie"]),
    ("stephen", &["steve", "stevie"]),
    ("steven", &["steve", "stevie"]),
    ("susan", &["sue", "susie", "suzy"]),
    ("theodore", &["ted", "teddy", "theo"]),
    ("thomas", &["tom", "tommy"]),
    ("timothy", &["tim", "timmy"]),
    ("victoria", &["vicky", "vicki", "tori"]),
    ("walter", &["walt", "wally"]),
    ("william", &["bill", "billy", "will", "willy", "liam"]),
    ("zachary", &["zach", "zack"]),
];

/// For every name in the table, the formal names it stands for (a formal name stands for
/// itself).
fn index() -> &'static HashMap<&'static str, Vec<&'static str>> {
    static INDEX: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for (formal, variants) in GROUPS {
            map.entry(formal).or_default().push(formal);
            for v in *variants {
                map.entry(v).or_default().push(formal);
            }
        }
        map
    })
}

/// Formal names that `key` is a variant of (or is); empty for a name not in the table.
pub fn formal_names(key: &str) -> &'static [&'static str] {
    index().get(key).map_or(&[], Vec::as_slice)
}

/// True when two different first-name keys are variants of one formal name.
pub fn are_variants(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let fa = formal_names(a);
    let fb = formal_names(b);
    fa.iter().any(|f| fb.contains(f))
}

/// Number of (variant, formal name) pairs in the table.
pub fn pair_count() -> usize {
    GROUPS.iter().map(|(_, v)| v.len()).sum()
}

/// Every name the table knows, for tests and diagnostics.
pub fn known_names() -> HashSet<&'static str> {
    index().keys().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_at_least_sixty_pairs() {
        assert!(pair_count() >= 60, "{}", pair_count());
    }

    #[test]
    fn required_pairs() {
        for (a, b) in [
            ("mike", "michael"),
            ("bill", "william"),
            ("bob", "robert"),
            ("liz", "elizabeth"),
            ("bill", "will"),
            ("chris", "christine"),
            ("chris", "christopher"),
        ] {
            assert!(are_variants(a, b), "{a} {b}");
            assert!(are_variants(b, a), "{b} {a}");
        }
    }

    #[test]
    fn unrelated_names_are_not_variants() {
        assert!(!are_variants("mike", "william"));
        assert!(!are_variants("michael", "michael"));
        assert!(!are_variants("zed", "zed"));
        assert!(!are_variants("christopher", "christine"));
    }

    #[test]
    fn keys_are_normalised_form() {
        let n = crate::normalize::Normalizer::default();
        for name in known_names() {
            assert_eq!(n.name_key(name), name);
        }
    }
}
