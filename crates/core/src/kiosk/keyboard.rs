//! The kiosk's on-screen keyboard, sans-IO: which keys each kind of field offers, and what a key
//! does to the text being typed.
//!
//! The keys are data the screen draws (a grid of caps), and a tapped key comes back to the
//! checkout flow as a [`Key`], which edits the field's text held in the session. No text box on
//! screen owns any text, so ending a session wipes what the screen shows too.

use serde::{Deserialize, Serialize};

/// A field the visitor types into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Field {
    #[default]
    First,
    Last,
    Email,
    Phone,
    /// A membership ID typed on the "Are you a member?" screen.
    MemberId,
    /// The one more detail asked for when several records match.
    Extra,
    /// A verification code sent to the member (Find My Membership).
    Code,
    /// The last four digits of a volunteer's phone.
    Last4,
}

/// The set of keys shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layout {
    /// Letters of a name: QWERTY with ñ and the accented vowels, hyphen, apostrophe, space;
    /// the first letter of each word in capitals.
    Letters,
    /// An email address: digits, letters, `@ . - _ +` and `.com`.
    Email,
    /// A telephone pad with `+`.
    Phone,
    /// A membership ID: digits and capital letters.
    Id,
    /// Digits only: a code.
    Digits,
}

impl Field {
    /// The keyboard a field opens.
    pub fn layout(self) -> Layout {
        match self {
            Field::First | Field::Last => Layout::Letters,
            Field::Email => Layout::Email,
            Field::Phone => Layout::Phone,
            Field::MemberId => Layout::Id,
            // The one more detail is a phone number, an email or a postcode: a postcode may
            // hold letters, so the ID keys serve it.
            Field::Extra => Layout::Id,
            Field::Code | Field::Last4 => Layout::Digits,
        }
    }
}

/// What one key does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Key {
    /// Types this text (one character, or `.com`).
    Text(String),
    Space,
    Backspace,
    /// Capitals for the next letter (letters only).
    Shift,
    /// Empties the field.
    Clear,
}

/// A key as drawn: what it shows, what it does, and how many columns it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCap {
    pub label: String,
    pub key: Key,
    pub span: u8,
}

fn text_keys(chars: &str, upper: bool) -> Vec<KeyCap> {
    chars
        .chars()
        .map(|c| {
            let shown: String = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_string()
            };
            KeyCap {
                label: shown.clone(),
                key: Key::Text(shown),
                span: 1,
            }
        })
        .collect()
}

fn special(label: &str, key: Key, span: u8) -> KeyCap {
    KeyCap {
        label: label.into(),
        key,
        span,
    }
}

/// Columns every layout's rows fit in (a row may use fewer).
pub const COLUMNS: u8 = 11;

/// The rows of keys of `layout`, letters in capitals when `shift` is on.
pub fn rows(layout: Layout, shift: bool) -> Vec<Vec<KeyCap>> {
    let back = || special("⌫", Key::Backspace, 2);
    match layout {
        Layout::Letters => vec![
            text_keys("qwertyuiop", shift),
            text_keys("asdfghjklñ", shift),
            {
                let mut r = vec![special("⇧", Key::Shift, 2)];
                r.extend(text_keys("zxcvbnm", shift));
                r.push(back());
                r
            },
            {
                let mut r = text_keys("áéíóúü", shift);
                r.extend(text_keys("'-", false));
                r.push(special("␣", Key::Space, 3));
                r
            },
        ],
        Layout::Email => vec![
            text_keys("1234567890", false),
            text_keys("qwertyuiop", false),
            text_keys("asdfghjkl_", false),
            {
                let mut r = text_keys("zxcvbnm.-", false);
                r.push(back());
                r
            },
            {
                let mut r = text_keys("@+", false);
                r.push(special(".com", Key::Text(".com".into()), 2));
                r.push(special(".org", Key::Text(".org".into()), 2));
                r
            },
        ],
        Layout::Phone => vec![
            text_keys("123", false),
            text_keys("456", false),
            text_keys("789", false),
            {
                let mut r = text_keys("+0", false);
                r.push(special("⌫", Key::Backspace, 1));
                r
            },
        ],
        Layout::Digits => vec![
            text_keys("123", false),
            text_keys("456", false),
            text_keys("789", false),
            {
                let mut r = text_keys("0", false);
                r.push(special("⌫", Key::Backspace, 1));
                r
            },
        ],
        Layout::Id => vec![
            text_keys("1234567890", false),
            text_keys("QWERTYUIOP", false),
            text_keys("ASDFGHJKL-", false),
            {
                let mut r = text_keys("ZXCVBNM", false);
                r.push(special("␣", Key::Space, 1));
                r.push(back());
                r
            },
        ],
    }
}

/// The longest text a field takes from the keyboard.
pub const MAX_TYPED: usize = 100;

/// Whether the next letter of `text` starts a word (so the letters keyboard shows capitals).
pub fn starts_word(text: &str) -> bool {
    text.chars()
        .last()
        .is_none_or(|c| c == ' ' || c == '-' || c == '\'')
}

/// Applies `key` to `text`; `shift` is the one-shot capitals of the letters keyboard. Returns
/// whether the text changed.
pub fn apply(text: &mut String, key: &Key, layout: Layout, shift: &mut bool) -> bool {
    let before = text.len();
    match key {
        Key::Shift => {
            *shift = !*shift;
            return false;
        }
        Key::Backspace => {
            text.pop();
        }
        Key::Clear => text.clear(),
        Key::Space => {
            // No leading or doubled spaces; none in an email address or a phone number.
            let allowed = matches!(layout, Layout::Letters | Layout::Id)
                && !text.is_empty()
                && !text.ends_with(' ');
            if allowed && text.chars().count() < MAX_TYPED {
                text.push(' ');
            }
        }
        Key::Text(t) => {
            if text.chars().count() + t.chars().count() <= MAX_TYPED {
                text.push_str(t);
            }
        }
    }
    if layout == Layout::Letters {
        *shift = starts_word(text);
    }
    text.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(layout: Layout, keys: &[Key]) -> String {
        let mut text = String::new();
        let mut shift = layout == Layout::Letters;
        for k in keys {
            // The screen shows capitals while shift is on: the key carries what it showed.
            let k = match k {
                Key::Text(t) if shift && layout == Layout::Letters => Key::Text(t.to_uppercase()),
                other => other.clone(),
            };
            apply(&mut text, &k, layout, &mut shift);
        }
        text
    }

    fn t(s: &str) -> Vec<Key> {
        s.chars()
            .map(|c| match c {
                ' ' => Key::Space,
                '<' => Key::Backspace,
                c => Key::Text(c.to_string()),
            })
            .collect()
    }

    #[test]
    fn keys_edit_the_field_as_the_visitor_expects() {
        let cases: &[(Layout, &str, &str)] = &[
            (Layout::Letters, "maría josé", "María José"),
            (Layout::Letters, "o'brien-smith", "O'Brien-Smith"),
            (Layout::Letters, "  ana  lu", "Ana Lu"),
            (Layout::Letters, "anx<a", "Ana"),
            (Layout::Letters, "<<<", ""),
            (Layout::Email, "jo @x.org", "jo@x.org"),
            (Layout::Phone, "+1 555<6", "+1556"),
            (Layout::Id, "M 1234", "M 1234"),
        ];
        for (layout, keys, want) in cases {
            assert_eq!(typed(*layout, &t(keys)), *want, "{layout:?} {keys:?}");
        }
    }

    #[test]
    fn a_field_takes_at_most_max_typed_characters() {
        let keys = vec![Key::Text("a".into()); MAX_TYPED + 5];
        assert_eq!(typed(Layout::Email, &keys).chars().count(), MAX_TYPED);
        let mut text = "a".repeat(MAX_TYPED - 1);
        let mut shift = false;
        assert!(!apply(
            &mut text,
            &Key::Text(".com".into()),
            Layout::Email,
            &mut shift
        ));
    }

    #[test]
    fn every_layout_fits_the_grid_and_has_a_way_to_erase() {
        for layout in [Layout::Letters, Layout::Email, Layout::Phone, Layout::Id] {
            for shift in [false, true] {
                let rows = rows(layout, shift);
                for row in &rows {
                    let cols: u8 = row.iter().map(|k| k.span).sum();
                    assert!(cols <= COLUMNS, "{layout:?}: a row of {cols} columns");
                }
                assert!(
                    rows.iter().flatten().any(|k| k.key == Key::Backspace),
                    "{layout:?} has no backspace"
                );
            }
        }
        let shifted = rows(Layout::Letters, true);
        assert_eq!(shifted[1][9].label, "Ñ");
        assert!(
            rows(Layout::Email, false)
                .iter()
                .flatten()
                .any(|k| k.label == "@")
        );
    }
}
