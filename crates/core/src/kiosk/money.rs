//! Money as a visitor reads it: integer minor units to `$67.12`.

use crate::domain::MinorUnits;

/// The symbol written before an amount in `currency`; `None` for a currency written as its
/// code after the amount.
fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" | "CAD" | "AUD" | "MXN" | "NZD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => return None,
    })
}

/// How many minor-unit digits `currency` has (ISO 4217): 2 for the dollar, 0 for the yen or
/// the won, 3 for the Kuwaiti dinar.
pub fn minor_digits(currency: &str) -> u32 {
    const NONE: [&str; 17] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if NONE.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    }
}

/// `minor` units of `currency`, as on a receipt: `$67.12`, `-$3.00`, `€0.50`, `12.00 CHF`.
pub fn format(minor: MinorUnits, currency: &str) -> String {
    let (prefix, digits) = (symbol(currency).unwrap_or(""), minor_digits(currency));
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(digits);
    let amount = if digits == 0 {
        abs.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    };
    if prefix.is_empty() {
        format!("{sign}{amount} {currency}")
    } else {
        format!("{sign}{prefix}{amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_on_a_receipt() {
        let cases = [
            (6712, "USD", "$67.12"),
            (0, "USD", "$0.00"),
            (5, "USD", "$0.05"),
            (-300, "USD", "-$3.00"),
            (50, "EUR", "€0.50"),
            (1200, "CHF", "12.00 CHF"),
            (1500, "JPY", "¥1500"),
            (15000, "KRW", "15000 KRW"),
            (1234, "KWD", "1.234 KWD"),
            (i64::MIN, "USD", "-$92233720368547758.08"),
        ];
        for (minor, currency, want) in cases {
            assert_eq!(format(minor, currency), want, "{minor} {currency}");
        }
    }
}
