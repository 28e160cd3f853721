//! Money as a visitor reads it: integer minor units to `$67.12`.

use crate::domain::MinorUnits;

/// The symbol written before an amount in `currency`, and its minor-unit digits; `None` for a
/// currency written as its code after the amount.
fn symbol(currency: &str) -> Option<(&'static str, u32)> {
    Some(match currency {
        "USD" | "CAD" | "AUD" | "MXN" | "NZD" => ("$", 2),
        "EUR" => ("€", 2),
        "GBP" => ("£", 2),
        "JPY" => ("¥", 0),
        _ => return None,
    })
}

/// How many minor-unit digits `currency` has: 2 for the dollar, 0 for the yen (2 for a
/// currency this table does not know).
pub fn minor_digits(currency: &str) -> u32 {
    symbol(currency).map_or(2, |(_, digits)| digits)
}

/// `minor` units of `currency`, as on a receipt: `$67.12`, `-$3.00`, `€0.50`, `12.00 CHF`.
pub fn format(minor: MinorUnits, currency: &str) -> String {
    let (prefix, digits) = symbol(currency).unwrap_or(("", 2));
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
            (i64::MIN, "USD", "-$92233720368547758.08"),
        ];
        for (minor, currency, want) in cases {
            assert_eq!(format(minor, currency), want, "{minor} {currency}");
        }
    }
}
