//! Keyboard layouts: which character a Linux key code produces under US, UK, DE (QWERTZ) and
//! FR (AZERTY) with Shift and AltGr.
//!
//! A keyboard-wedge scanner "types" a code on the layout it is configured for, so a scanner set
//! to AZERTY presses the key labelled A on an AZERTY keyboard (Linux `KEY_Q`) for an `A`. The
//! decoder must use the same layout as the scanner.
//!
//! Tables follow the xkb layouts `us`, `gb`, `de` and `fr` (level 1, 2 and 3). Keys marked dead
//! (DE `^ ´ \``, FR `^ ¨`) compose with the next character.

use serde::{Deserialize, Serialize};

/// Linux key codes used by the decoder (from `linux/input-event-codes.h`).
pub mod code {
    pub const KEY_ESC: u16 = 1;
    pub const KEY_1: u16 = 2;
    pub const KEY_6: u16 = 7;
    pub const KEY_0: u16 = 11;
    pub const KEY_MINUS: u16 = 12;
    pub const KEY_EQUAL: u16 = 13;
    pub const KEY_BACKSPACE: u16 = 14;
    pub const KEY_TAB: u16 = 15;
    pub const KEY_Q: u16 = 16;
    pub const KEY_E: u16 = 18;
    pub const KEY_LEFTBRACE: u16 = 26;
    pub const KEY_RIGHTBRACE: u16 = 27;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_A: u16 = 30;
    pub const KEY_SEMICOLON: u16 = 39;
    pub const KEY_APOSTROPHE: u16 = 40;
    pub const KEY_GRAVE: u16 = 41;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_BACKSLASH: u16 = 43;
    pub const KEY_Z: u16 = 44;
    pub const KEY_M: u16 = 50;
    pub const KEY_SLASH: u16 = 53;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_KPASTERISK: u16 = 55;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_SPACE: u16 = 57;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_NUMLOCK: u16 = 69;
    pub const KEY_KP7: u16 = 71;
    pub const KEY_KP8: u16 = 72;
    pub const KEY_KP9: u16 = 73;
    pub const KEY_KPMINUS: u16 = 74;
    pub const KEY_KP4: u16 = 75;
    pub const KEY_KP5: u16 = 76;
    pub const KEY_KP6: u16 = 77;
    pub const KEY_KPPLUS: u16 = 78;
    pub const KEY_KP1: u16 = 79;
    pub const KEY_KP2: u16 = 80;
    pub const KEY_KP3: u16 = 81;
    pub const KEY_KP0: u16 = 82;
    pub const KEY_KPDOT: u16 = 83;
    pub const KEY_102ND: u16 = 86;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_KPSLASH: u16 = 98;
    pub const KEY_RIGHTALT: u16 = 100;
    pub const KEY_KPEQUAL: u16 = 117;
    pub const KEY_KPCOMMA: u16 = 121;
}

/// A keyboard layout a wedge scanner can be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Us,
    Uk,
    De,
    Fr,
}

impl Layout {
    pub const ALL: [Layout; 4] = [Layout::Us, Layout::Uk, Layout::De, Layout::Fr];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Uk => "uk",
            Self::De => "de",
            Self::Fr => "fr",
        }
    }
}

/// The characters of one key. `'\0'` means "nothing on this level".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyDef {
    pub base: char,
    pub shift: char,
    pub altgr: char,
    /// Bit 0: base is dead, bit 1: shift is dead, bit 2: altgr is dead.
    pub dead: u8,
}

/// A resolved layout: key code → characters.
#[derive(Debug, Clone)]
pub struct Keymap {
    layout: Layout,
    keys: [KeyDef; 128],
}

/// A row of keys: first key code, unshifted characters, shifted characters.
type Row = (u16, &'static str, &'static str);
/// A layout's tables: rows, AltGr characters, dead keys.
type Tables = (&'static [Row], &'static [(u16, char)], &'static [(u16, u8)]);

const US_ROWS: &[Row] = &[
    (2, "1234567890-=", "!@#$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", "ASDFGHJKL:\"~"),
    (43, "\\", "|"),
    (44, "zxcvbnm,./", "ZXCVBNM<>?"),
    (57, " ", " "),
    (86, "<", ">"),
];

const UK_ROWS: &[Row] = &[
    (2, "1234567890-=", "!\"£$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", "ASDFGHJKL:@¬"),
    (43, "#", "~"),
    (44, "zxcvbnm,./", "ZXCVBNM<>?"),
    (57, " ", " "),
    (86, "\\", "|"),
];

const DE_ROWS: &[Row] = &[
    (2, "1234567890ß´", "!\"§$%&/()=?`"),
    (16, "qwertzuiopü+", "QWERTZUIOPÜ*"),
    (30, "asdfghjklöä^", "ASDFGHJKLÖÄ°"),
    (43, "#", "'"),
    (44, "yxcvbnm,.-", "YXCVBNM;:_"),
    (57, " ", " "),
    (86, "<", ">"),
];

const FR_ROWS: &[Row] = &[
    (2, "&é\"'(-è_çà)=", "1234567890°+"),
    (16, "azertyuiop^$", "AZERTYUIOP¨£"),
    (30, "qsdfghjklmù²", "QSDFGHJKLM%\0"),
    (43, "*", "µ"),
    (44, "wxcvbn,;:!", "WXCVBN?./§"),
    (57, " ", " "),
    (86, "<", ">"),
];

/// AltGr (level 3) characters: (key code, character).
const UK_ALTGR: &[(u16, char)] = &[(5, '€'), (41, '¦')];
const DE_ALTGR: &[(u16, char)] = &[
    (3, '²'),
    (4, '³'),
    (8, '{'),
    (9, '['),
    (10, ']'),
    (11, '}'),
    (12, '\\'),
    (16, '@'),
    (18, '€'),
    (27, '~'),
    (50, 'µ'),
    (86, '|'),
];
const FR_ALTGR: &[(u16, char)] = &[
    (3, '~'),
    (4, '#'),
    (5, '{'),
    (6, '['),
    (7, '|'),
    (8, '`'),
    (9, '\\'),
    (10, '^'),
    (11, '@'),
    (12, ']'),
    (13, '}'),
    (18, '€'),
    (27, '¤'),
];

/// Dead keys: (key code, level bit).
const DE_DEAD: &[(u16, u8)] = &[(13, 0b11), (41, 0b01)];
const FR_DEAD: &[(u16, u8)] = &[(26, 0b11), (3, 0b100), (8, 0b100)];

impl Keymap {
    pub fn new(layout: Layout) -> Self {
        let (rows, altgr, dead): Tables = match layout {
            Layout::Us => (US_ROWS, &[], &[]),
            Layout::Uk => (UK_ROWS, UK_ALTGR, &[]),
            Layout::De => (DE_ROWS, DE_ALTGR, DE_DEAD),
            Layout::Fr => (FR_ROWS, FR_ALTGR, FR_DEAD),
        };
        let mut keys = [KeyDef::default(); 128];
        for &(first, base, shift) in rows {
            for (i, (b, s)) in base.chars().zip(shift.chars()).enumerate() {
                let k = &mut keys[usize::from(first) + i];
                k.base = b;
                k.shift = s;
            }
        }
        for &(c, ch) in altgr {
            keys[usize::from(c)].altgr = ch;
        }
        for &(c, bits) in dead {
            keys[usize::from(c)].dead |= bits;
        }
        Self { layout, keys }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The definition of a key, if the layout has one.
    pub fn key(&self, code: u16) -> Option<&KeyDef> {
        self.keys
            .get(usize::from(code))
            .filter(|k| k.base != '\0' || k.shift != '\0' || k.altgr != '\0')
    }

    /// Every (code, shift, altgr) that types `ch` on this layout, first the simplest. Used to
    /// synthesise key streams (benchmarks, round-trip tests).
    pub fn strokes_for(&self, ch: char) -> Option<(u16, bool, bool)> {
        for (code, k) in self.keys.iter().enumerate() {
            let code = code as u16;
            if k.base == ch && k.dead & 0b001 == 0 {
                return Some((code, false, false));
            }
            if k.shift == ch && k.dead & 0b010 == 0 {
                return Some((code, true, false));
            }
            if k.altgr == ch && k.dead & 0b100 == 0 {
                return Some((code, false, true));
            }
        }
        None
    }
}

/// Characters produced by keypad keys (NumLock on), independent of the layout.
pub fn keypad_char(code: u16) -> Option<char> {
    use code::*;
    Some(match code {
        KEY_KP0 => '0',
        KEY_KP1 => '1',
        KEY_KP2 => '2',
        KEY_KP3 => '3',
        KEY_KP4 => '4',
        KEY_KP5 => '5',
        KEY_KP6 => '6',
        KEY_KP7 => '7',
        KEY_KP8 => '8',
        KEY_KP9 => '9',
        KEY_KPDOT => '.',
        KEY_KPSLASH => '/',
        KEY_KPASTERISK => '*',
        KEY_KPMINUS => '-',
        KEY_KPPLUS => '+',
        KEY_KPEQUAL => '=',
        KEY_KPCOMMA => ',',
        _ => return None,
    })
}

/// Composes a dead accent with the next character, if the pair has a precomposed form.
pub fn compose(dead: char, c: char) -> Option<char> {
    let (from, to) = match dead {
        '^' => ("aeiouAEIOU", "âêîôûÂÊÎÔÛ"),
        '¨' => ("aeiouyAEIOU", "äëïöüÿÄËÏÖÜ"),
        '´' => ("aeiouyAEIOUY", "áéíóúýÁÉÍÓÚÝ"),
        '`' => ("aeiouAEIOU", "àèìòùÀÈÌÒÙ"),
        '~' => ("aonAON", "ãõñÃÕÑ"),
        _ => return None,
    };
    let i = from.chars().position(|x| x == c)?;
    to.chars().nth(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_place_letters_where_xkb_does() {
        let fr = Keymap::new(Layout::Fr);
        assert_eq!(fr.key(code::KEY_Q).map(|k| k.base), Some('a'));
        assert_eq!(fr.key(code::KEY_A).map(|k| k.base), Some('q'));
        assert_eq!(fr.key(code::KEY_SEMICOLON).map(|k| k.base), Some('m'));
        let de = Keymap::new(Layout::De);
        assert_eq!(de.key(code::KEY_Z).map(|k| k.base), Some('y'));
        assert_eq!(de.key(21).map(|k| k.base), Some('z'));
        assert_eq!(de.key(code::KEY_Q).map(|k| k.altgr), Some('@'));
        let uk = Keymap::new(Layout::Uk);
        assert_eq!(uk.key(code::KEY_APOSTROPHE).map(|k| k.shift), Some('@'));
    }

    #[test]
    fn every_printable_ascii_is_typable_on_us() {
        let us = Keymap::new(Layout::Us);
        for c in ' '..='~' {
            assert!(us.strokes_for(c).is_some(), "{c:?}");
        }
    }

    #[test]
    fn compose_known_pairs() {
        assert_eq!(compose('^', 'e'), Some('ê'));
        assert_eq!(compose('¨', 'U'), Some('Ü'));
        assert_eq!(compose('^', 'x'), None);
    }
}
