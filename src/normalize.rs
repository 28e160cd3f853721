//! Normalisation of match keys: emails, phone numbers and names.
//!
//! Pure functions. The replica stores the normalised forms beside the raw values so lookups
//! are index probes; matching compares normalised forms only.

/// Settings for normalisation (from the device config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalizer {
    /// Country calling code used for national-format numbers, e.g. "1" or "44".
    pub default_calling_code: String,
    /// Local parts (or whole addresses) that never count as a match key, e.g. "noemail".
    pub placeholder_emails: Vec<String>,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self {
            default_calling_code: "1".to_owned(),
            placeholder_emails: vec!["noemail".to_owned(), "none".to_owned()],
        }
    }
}

impl Normalizer {
    /// Trimmed, lowercased email; `None` for empty, malformed or placeholder addresses.
    pub fn email(&self, raw: &str) -> Option<String> {
        let e = raw.trim().to_lowercase();
        let (local, domain) = e.split_once('@')?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return None;
        }
        if self
            .placeholder_emails
            .iter()
            .any(|p| p == local || *p == e)
        {
            return None;
        }
        Some(e)
    }

    /// E.164 digits with a leading `+`; `None` when too few digits remain.
    pub fn phone(&self, raw: &str) -> Option<String> {
        let lowered = raw.to_lowercase();
        let main = ["ext", "x", "#"]
            .iter()
            .filter_map(|m| lowered.find(m))
            .min()
            .map_or(lowered.as_str(), |i| &lowered[..i]);
        let international = main.trim_start().starts_with('+');
        let mut digits: String = main.chars().filter(char::is_ascii_digit).collect();
        if !international {
            if let Some(rest) = digits.strip_prefix("00") {
                digits = rest.to_owned();
            } else {
                let national = digits.trim_start_matches('0');
                digits = if national.starts_with(&self.default_calling_code) && national.len() > 10
                {
                    national.to_owned()
                } else {
                    format!("{}{}", self.default_calling_code, national)
                };
            }
        }
        (digits.len() >= 7).then(|| format!("+{digits}"))
    }

    /// Lowercased, whitespace-collapsed name for comparison.
    pub fn name(&self, raw: &str) -> String {
        raw.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// Country calling code for an ISO 3166-1 alpha-2 country, for the countries whose numbering
/// plans the normaliser knows.
pub fn calling_code(country: &str) -> Option<&'static str> {
    Some(match country.trim().to_ascii_uppercase().as_str() {
        "US" | "CA" => "1",
        "GB" => "44",
        "IE" => "353",
        "DE" => "49",
        "FR" => "33",
        "AU" => "61",
        "NZ" => "64",
        _ => return None,
    })
}
