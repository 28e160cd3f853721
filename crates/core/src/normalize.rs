//! Normalisation of match keys: emails, phone numbers, names, postcodes and address lines.
//!
//! Pure functions configured by the device's [`Normalizer`]. The replica stores the normalised
//! forms beside the raw values so lookups are index probes; matching and the update rules
//! compare normalised forms only.
//!
//! # Rules
//!
//! * **Email**: trimmed and lowercased. Malformed addresses (no `@`, empty local part or domain,
//!   inner whitespace, a domain without a dot) and placeholders (`noemail@…`, `none@…`, … see
//!   [`DEFAULT_PLACEHOLDER_EMAILS`]) give `None`: they never count as a match key.
//! * **Phone**: E.164 (`+` and digits). Extensions (`x123`, `ext. 123`, `#123`, and anything after
//!   `,` or `;`) are dropped. A number written with `+`, with the configured international
//!   prefix (`011` in North America, `0011` in Australia) or with `00` is international; any other
//!   number is national to the default country. A leading trunk prefix (`0`, or `1` in North
//!   America) is dropped in both forms, so `+44 (0)20 …` and `020 …` agree. Numbers whose national
//!   significant number has an implausible length for a known country give `None`.
//! * **Name**: Unicode NFKC, lowercased, accents folded on Latin and Greek letters (`é`→`e`,
//!   `ß`→`ss`, `ø`→`o`, `æ`→`ae`, `ł`→`l`, …; other scripts keep their marks). Apostrophes are deleted (`O'Brien` → `obrien`); every other character that is
//!   not a letter or a digit (hyphens, dots, commas, spaces) separates words; words are joined
//!   by one space. [`Normalizer::name`] keeps the word breaks (`Smith-Jones` → `smith jones`);
//!   [`Normalizer::name_key`], which matching compares, also drops them, so `O'Brien`, `OBrien`
//!   and `O Brien` all have the key `obrien`, and `Smith-Jones` equals `Smith Jones`.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Local parts (plain entries), whole addresses (entries with `@` inside) and domains (entries
/// starting with `@`) that mark an email as a placeholder rather than a real address.
pub const DEFAULT_PLACEHOLDER_EMAILS: &[&str] = &[
    "noemail",
    "no-email",
    "no.email",
    "no_email",
    "nomail",
    "none",
    "noreply",
    "no-reply",
    "donotreply",
    "donotemail",
    "declined",
    "refused",
    "unknown",
    "null",
    "na",
    "n/a",
    "@noemail.com",
    "@none.com",
    "@example.com",
    "@example.org",
];

/// How a country writes telephone numbers: what the normaliser needs to turn a national or
/// international form into E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingPlan {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Country calling code without `+`, e.g. `"44"`.
    pub calling_code: String,
    /// Prefix dialled before a national number inside the country, e.g. `"0"` (or `"1"` in
    /// North America).
    pub trunk_prefix: String,
    /// Prefix dialled before an international number, e.g. `"00"` or `"011"`.
    pub international_prefix: String,
    /// Shortest and longest national significant number (digits after the calling code).
    pub min_national_len: usize,
    pub max_national_len: usize,
}

/// (country, calling code, trunk prefix, international prefix, shortest, longest national
/// significant number).
const DIALING_PLANS: &[(&str, &str, &str, &str, usize, usize)] = &[
    ("US", "1", "1", "011", 10, 10),
    ("CA", "1", "1", "011", 10, 10),
    ("GB", "44", "0", "00", 9, 10),
    ("IE", "353", "0", "00", 7, 9),
    ("DE", "49", "0", "00", 6, 13),
    ("FR", "33", "0", "00", 9, 9),
    ("AU", "61", "0", "0011", 9, 9),
    ("NZ", "64", "0", "00", 8, 10),
];

impl DialingPlan {
    /// The plan of a country Portico knows (`US`, `CA`, `GB`, `IE`, `DE`, `FR`, `AU`, `NZ`),
    /// by ISO alpha-2 code in any case.
    pub fn for_country(iso_alpha2: &str) -> Option<Self> {
        let wanted = iso_alpha2.trim().to_ascii_uppercase();
        DIALING_PLANS
            .iter()
            .find(|p| p.0 == wanted)
            .map(|&(country, cc, trunk, intl, min, max)| Self {
                country: country.to_owned(),
                calling_code: cc.to_owned(),
                trunk_prefix: trunk.to_owned(),
                international_prefix: intl.to_owned(),
                min_national_len: min,
                max_national_len: max,
            })
    }

    /// The ISO codes [`DialingPlan::for_country`] knows.
    pub fn known_countries() -> impl Iterator<Item = &'static str> {
        DIALING_PLANS.iter().map(|p| p.0)
    }

    /// The known plan whose calling code starts `digits` (an international number without `+`).
    fn for_international(digits: &str) -> Option<Self> {
        DIALING_PLANS
            .iter()
            .find(|p| digits.starts_with(p.1))
            .and_then(|p| Self::for_country(p.0))
    }

    fn national_len_ok(&self, len: usize) -> bool {
        (self.min_national_len..=self.max_national_len).contains(&len)
    }

    /// Drops one leading trunk prefix: national significant numbers never start with it in the
    /// known plans.
    fn strip_trunk<'a>(&self, national: &'a str) -> &'a str {
        if self.trunk_prefix.is_empty() {
            national
        } else {
            national
                .strip_prefix(&self.trunk_prefix)
                .unwrap_or(national)
        }
    }
}

/// Settings for normalisation (from the device config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalizer {
    /// The venue's country: national-format phone numbers belong to it.
    pub dialing: DialingPlan,
    /// Placeholder emails that never count as a match key: a local part (`"noemail"`), a whole
    /// address (`"nobody@venue.org"`) or a domain (`"@example.com"`). Compared lowercased.
    pub placeholder_emails: Vec<String>,
}

impl Default for Normalizer {
    /// United States, with [`DEFAULT_PLACEHOLDER_EMAILS`].
    fn default() -> Self {
        Self::for_country("US").expect("US is a known dialing plan")
    }
}

/// Shortest and longest E.164 number (digits, calling code included) accepted for countries
/// without a known plan.
const E164_MIN_DIGITS: usize = 8;
const E164_MAX_DIGITS: usize = 15;

impl Normalizer {
    /// A normaliser for a venue in `iso_alpha2`, with the default placeholder list; `None` for a
    /// country without a known dialing plan (use [`Normalizer::with_plan`] then).
    pub fn for_country(iso_alpha2: &str) -> Option<Self> {
        DialingPlan::for_country(iso_alpha2).map(Self::with_plan)
    }

    /// A normaliser for a custom dialing plan, with the default placeholder list.
    pub fn with_plan(dialing: DialingPlan) -> Self {
        Self {
            dialing,
            placeholder_emails: DEFAULT_PLACEHOLDER_EMAILS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    /// Trimmed, lowercased email; `None` for empty, malformed or placeholder addresses.
    pub fn email(&self, raw: &str) -> Option<String> {
        let e = raw.trim().to_lowercase();
        let (local, domain) = e.split_once('@')?;
        let malformed = local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || e.chars().any(char::is_whitespace);
        if malformed || self.is_placeholder(&e, local, domain) {
            return None;
        }
        Some(e)
    }

    fn is_placeholder(&self, address: &str, local: &str, domain: &str) -> bool {
        self.placeholder_emails.iter().any(|p| {
            let p = p.trim().to_lowercase();
            if let Some(d) = p.strip_prefix('@') {
                d == domain
            } else if p.contains('@') {
                p == address
            } else {
                p == local
            }
        })
    }

    /// E.164: `+` then digits. `None` when no plausible number remains.
    pub fn phone(&self, raw: &str) -> Option<String> {
        let text = if raw.is_ascii() {
            raw.to_ascii_lowercase()
        } else {
            raw.nfkc().collect::<String>().to_lowercase()
        };
        let main = ["ext", "x", "#", ",", ";"]
            .iter()
            .filter_map(|m| text.find(m))
            .min()
            .map_or(text.as_str(), |i| &text[..i]);
        let plus = main
            .chars()
            .find(|c| *c == '+' || c.is_ascii_digit())
            .is_some_and(|c| c == '+');
        let digits: String = main.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let international = if plus {
            Some(digits.as_str())
        } else if !self.dialing.international_prefix.is_empty()
            && digits.starts_with(&self.dialing.international_prefix)
        {
            Some(&digits[self.dialing.international_prefix.len()..])
        } else {
            digits.strip_prefix("00")
        };
        match international {
            Some(number) => international_e164(number),
            None => {
                let national = self.dialing.strip_trunk(&digits);
                self.dialing
                    .national_len_ok(national.len())
                    .then(|| format!("+{}{}", self.dialing.calling_code, national))
            }
        }
    }

    /// Name for comparison, words separated by one space (see the module documentation).
    pub fn name(&self, raw: &str) -> String {
        fold_words(raw)
    }

    /// Name key that matching compares: [`Normalizer::name`] without the word breaks, so
    /// `"O'Brien"`, `"OBrien"` and `"O Brien"` are all `"obrien"`.
    pub fn name_key(&self, raw: &str) -> String {
        fold_words(raw).replace(' ', "")
    }

    /// Postcode for comparison: letters and digits only, upper case; `None` when empty.
    /// `"sw1a 1aa"` and `"SW1A1AA"` are equal; `"12345-6789"` is `"123456789"`.
    pub fn postcode(&self, raw: &str) -> Option<String> {
        let p: String = raw
            .nfkc()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect();
        (!p.is_empty()).then_some(p)
    }

    /// Address line for comparison: folded like a name, with common street words abbreviated
    /// (`"12 High Street"` equals `"12 high st."`).
    pub fn address_line(&self, raw: &str) -> String {
        fold_words(raw)
            .split(' ')
            .map(abbreviate_street_word)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// E.164 for an international number given without its prefix (`"442079460018"`).
fn international_e164(number: &str) -> Option<String> {
    match DialingPlan::for_international(number) {
        Some(plan) => {
            let national = plan.strip_trunk(&number[plan.calling_code.len()..]);
            plan.national_len_ok(national.len())
                .then(|| format!("+{}{}", plan.calling_code, national))
        }
        None => (E164_MIN_DIGITS..=E164_MAX_DIGITS)
            .contains(&number.len())
            .then(|| format!("+{number}")),
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{02BB}' | '`' | '\u{00B4}'
    )
}

/// Letters that do not decompose into a base letter plus combining marks.
fn fold_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'ø' => "o",
        'æ' => "ae",
        'œ' => "oe",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ł' => "l",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        'ŋ' => "n",
        'ĸ' => "k",
        'ƒ' => "f",
        'ς' => "σ",
        _ => return None,
    })
}

/// NFKC, lowercase, accent folding, apostrophes deleted, other non-alphanumerics as word breaks.
fn fold_words(raw: &str) -> String {
    if raw.is_ascii() {
        fold_words_ascii(raw)
    } else {
        fold_words_unicode(raw)
    }
}

/// [`fold_words`] for ASCII input, where NFKC and accent folding change nothing.
fn fold_words_ascii(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else if !is_apostrophe(c) {
            pending_space = true;
        }
    }
    out
}

fn fold_words_unicode(raw: &str) -> String {
    let lowered = raw.nfkc().collect::<String>().to_lowercase();
    let mut out = String::with_capacity(lowered.len());
    let mut pending_space = false;
    // Marks are kept only on a kept letter of a script whose accents are not folded.
    let mut keep_marks = false;
    for c in lowered.nfd() {
        if is_combining_mark(c) {
            if keep_marks {
                out.push(c);
            }
            continue;
        }
        keep_marks = false;
        if is_apostrophe(c) {
            continue;
        }
        let mut buf = [0u8; 4];
        let piece = match fold_special(c) {
            Some(s) => s,
            None if c.is_alphanumeric() => c.encode_utf8(&mut buf),
            None => {
                pending_space = true;
                continue;
            }
        };
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        keep_marks = !folds_accents(c);
        out.push_str(piece);
    }
    if out.chars().any(is_combining_mark) {
        out.nfc().collect()
    } else {
        out
    }
}

/// Accents are folded on Latin and Greek letters; other scripts keep their marks (Cyrillic
/// `й` stays distinct from `и`).
fn folds_accents(base: char) -> bool {
    matches!(base, '\u{0}'..='\u{024F}' | '\u{0370}'..='\u{03FF}' | '\u{1E00}'..='\u{1FFF}')
}

fn abbreviate_street_word(word: &str) -> &str {
    match word {
        "street" => "st",
        "road" => "rd",
        "avenue" => "ave",
        "av" => "ave",
        "drive" => "dr",
        "lane" => "ln",
        "boulevard" => "blvd",
        "court" => "ct",
        "place" => "pl",
        "square" => "sq",
        "terrace" => "ter",
        "crescent" => "cres",
        "highway" => "hwy",
        "parkway" => "pkwy",
        "apartment" => "apt",
        "suite" => "ste",
        "north" => "n",
        "south" => "s",
        "east" => "e",
        "west" => "w",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_country_has_a_plan() {
        for c in ["us", "CA", "gb", "IE", "de", "FR", "au", "NZ"] {
            assert!(Normalizer::for_country(c).is_some(), "{c}");
        }
        assert!(Normalizer::for_country("ZZ").is_none());
        assert_eq!(DialingPlan::known_countries().count(), 8);
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_equals_unicode_path(s in "[ -~]{0,40}") {
            proptest::prop_assert_eq!(fold_words_ascii(&s), fold_words_unicode(&s));
        }
    }

    #[test]
    fn fold_words_keeps_non_latin_scripts() {
        assert_eq!(fold_words("Дмитрий  Иванов"), "дмитрий иванов");
        assert_eq!(fold_words("ΟΔΥΣΣΕΥΣ"), "οδυσσευσ");
    }
}
