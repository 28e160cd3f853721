//! What a receipt printer prints, as a document, and the ESC/POS bytes for it — both ways, so
//! a test printer on loopback reads back exactly what the kiosk sent.
//!
//! Only the commands a kiosk needs, which every ESC/POS thermal printer takes:
//!
//! | command | bytes | used for |
//! |---|---|---|
//! | ESC @ | `1B 40` | reset, at the start of each job |
//! | ESC t 2 | `1B 74 02` | code page 850 (accented Spanish letters) |
//! | ESC a n | `1B 61 n` | alignment: 0 left, 1 centre, 2 right |
//! | ESC E n | `1B 45 n` | bold off/on |
//! | GS ! n | `1D 21 n` | character size: width − 1 in the high nibble, height − 1 in the low |
//! | LF | `0A` | end of a line |
//! | ESC d n | `1B 64 n` | feed n lines |
//! | GS ( k | `1D 28 6B …` | QR code: model 2, module size, error correction M, store, print |
//! | GS V 0 | `1D 56 00` | cut |
//! | DLE EOT n | `10 04 n` | real-time status (n = 1 printer, 2 offline cause, 4 paper sensor) |
//!
//! Written by hand rather than through a crate: these ten commands, and a decoder for the
//! test printer, are smaller than any dependency, and the decoder must mirror the encoder
//! exactly.

use serde::{Deserialize, Serialize};

/// Where a line sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One piece of a printed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Block {
    /// One line of text; `size` 1 is normal, 2 double width and height.
    Text {
        text: String,
        align: Align,
        bold: bool,
        size: u8,
    },
    /// A QR code of `data`, centred.
    Qr { data: String, module: u8 },
    /// Blank lines.
    Feed(u8),
    /// The end of a ticket or a receipt: the printer cuts the paper.
    Cut,
}

impl Block {
    pub fn text(text: impl Into<String>) -> Self {
        Block::Text {
            text: text.into(),
            align: Align::Left,
            bold: false,
            size: 1,
        }
    }

    pub fn centred(text: impl Into<String>) -> Self {
        Block::Text {
            text: text.into(),
            align: Align::Center,
            bold: false,
            size: 1,
        }
    }

    pub fn title(text: impl Into<String>) -> Self {
        Block::Text {
            text: text.into(),
            align: Align::Center,
            bold: true,
            size: 2,
        }
    }

    pub fn bold(text: impl Into<String>) -> Self {
        Block::Text {
            text: text.into(),
            align: Align::Left,
            bold: true,
            size: 1,
        }
    }
}

/// A whole print job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrintDoc(pub Vec<Block>);

impl PrintDoc {
    /// How many cuts (tickets or receipts) the job holds.
    pub fn cuts(&self) -> usize {
        self.0.iter().filter(|b| matches!(b, Block::Cut)).count()
    }

    /// The document as a printer reads it back: each text in the printer's characters
    /// ([`printable`]).
    pub fn as_printed(&self) -> PrintDoc {
        PrintDoc(
            self.0
                .iter()
                .map(|b| match b {
                    Block::Text {
                        text,
                        align,
                        bold,
                        size,
                    } => Block::Text {
                        text: printable(text),
                        align: *align,
                        bold: *bold,
                        size: *size,
                    },
                    other => other.clone(),
                })
                .collect(),
        )
    }

    /// The documents between cuts.
    pub fn pieces(&self) -> Vec<PrintDoc> {
        let mut out = vec![PrintDoc::default()];
        for b in &self.0 {
            if let Some(last) = out.last_mut() {
                last.0.push(b.clone());
            }
            if matches!(b, Block::Cut) {
                out.push(PrintDoc::default());
            }
        }
        out.retain(|d| !d.0.is_empty());
        out
    }
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;
const LF: u8 = 0x0A;

/// Code page 850 for the letters a Spanish or English receipt uses; anything else prints as
/// `?` (the en dash as `-`).
const CP850: &[(char, u8)] = &[
    ('Ç', 0x80),
    ('ü', 0x81),
    ('é', 0x82),
    ('â', 0x83),
    ('ä', 0x84),
    ('à', 0x85),
    ('ç', 0x87),
    ('ê', 0x88),
    ('ë', 0x89),
    ('è', 0x8A),
    ('ï', 0x8B),
    ('î', 0x8C),
    ('ì', 0x8D),
    ('Ä', 0x8E),
    ('É', 0x90),
    ('ô', 0x93),
    ('ö', 0x94),
    ('ò', 0x95),
    ('û', 0x96),
    ('ù', 0x97),
    ('Ö', 0x99),
    ('Ü', 0x9A),
    ('£', 0x9C),
    ('á', 0xA0),
    ('í', 0xA1),
    ('ó', 0xA2),
    ('ú', 0xA3),
    ('ñ', 0xA4),
    ('Ñ', 0xA5),
    ('ª', 0xA6),
    ('º', 0xA7),
    ('¿', 0xA8),
    ('¡', 0xAD),
    ('Á', 0xB5),
    ('€', 0xD5),
    ('Í', 0xD6),
    ('Ó', 0xE0),
    ('Ú', 0xE9),
    ('·', 0xFA),
];

fn encode_char(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '–' | '—' => b'-',
        _ => CP850
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(b'?', |(_, b)| *b),
    }
}

fn decode_byte(b: u8) -> char {
    match b {
        0x20..=0x7E => b as char,
        _ => CP850.iter().find(|(_, v)| *v == b).map_or('?', |(c, _)| *c),
    }
}

/// The text as the printer will print it (what [`decode`] reads back).
pub fn printable(text: &str) -> String {
    text.chars().map(|c| decode_byte(encode_char(c))).collect()
}

/// The ESC/POS bytes of a job.
pub fn encode(doc: &PrintDoc) -> Vec<u8> {
    let mut b = vec![ESC, b'@', ESC, b't', 2];
    for block in &doc.0 {
        match block {
            Block::Text {
                text,
                align,
                bold,
                size,
            } => {
                let size = size.clamp(&1, &8) - 1;
                b.extend([ESC, b'a', *align as u8, ESC, b'E', u8::from(*bold)]);
                b.extend([GS, b'!', (size << 4) | size]);
                b.extend(text.chars().filter(|c| *c != '\n').map(encode_char));
                b.push(LF);
            }
            Block::Qr { data, module } => {
                let data = data.as_bytes();
                let len = data.len() + 3;
                b.extend([ESC, b'a', 1]);
                b.extend([GS, b'(', b'k', 4, 0, 49, 65, 50, 0]);
                b.extend([GS, b'(', b'k', 3, 0, 49, 67, (*module).clamp(1, 16)]);
                b.extend([GS, b'(', b'k', 3, 0, 49, 69, 49]);
                b.extend([
                    GS,
                    b'(',
                    b'k',
                    (len % 256) as u8,
                    (len / 256) as u8,
                    49,
                    80,
                    48,
                ]);
                b.extend(data);
                b.extend([GS, b'(', b'k', 3, 0, 49, 81, 48]);
            }
            Block::Feed(n) => b.extend([ESC, b'd', *n]),
            Block::Cut => b.extend([GS, b'V', 0]),
        }
    }
    b
}

/// A real-time status request (`DLE EOT n`).
pub fn status_request(n: u8) -> [u8; 3] {
    [DLE, EOT, n]
}

/// What the printer says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrinterStatus {
    pub online: bool,
    pub cover_open: bool,
    pub paper_out: bool,
    pub paper_near_end: bool,
}

impl PrinterStatus {
    /// Ready to print a whole order.
    pub fn can_print(&self) -> bool {
        self.online && !self.cover_open && !self.paper_out
    }

    /// The answers to `DLE EOT 1`, `2` and `4`, as a printer sends them.
    pub fn to_bytes(self) -> [u8; 3] {
        let mut printer = 0b0001_0010;
        if !self.online {
            printer |= 0x08;
        }
        let mut offline = 0b0001_0010;
        if self.cover_open {
            offline |= 0x04;
        }
        if self.paper_out {
            offline |= 0x20;
        }
        let mut paper = 0b0001_0010;
        if self.paper_near_end {
            paper |= 0x0C;
        }
        if self.paper_out {
            paper |= 0x60;
        }
        [printer, offline, paper]
    }

    /// Reads the answers to `DLE EOT 1`, `2` and `4`.
    pub fn from_bytes([printer, offline, paper]: [u8; 3]) -> Self {
        Self {
            online: printer & 0x08 == 0,
            cover_open: offline & 0x04 != 0,
            paper_out: offline & 0x20 != 0 || paper & 0x60 != 0,
            paper_near_end: paper & 0x0C != 0,
        }
    }
}

/// What the decoder met in a byte stream besides documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Doc(PrintDoc),
    /// A status request, `DLE EOT n`, at this point of the stream.
    StatusRequest(u8),
}

/// Why bytes are not a job this encoder writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the stream ends inside a command at byte {0}")]
    Truncated(usize),
    #[error("unknown command {0:#04x} {1:#04x} at byte {2}")]
    Unknown(u8, u8, usize),
}

/// Reads ESC/POS bytes back into documents and status requests, in order. A command cut off
/// at the end is left unread (its length is returned).
pub fn decode(bytes: &[u8]) -> Result<(Vec<Decoded>, usize), DecodeError> {
    let mut out = Vec::new();
    let mut doc = PrintDoc::default();
    let mut line: Vec<u8> = Vec::new();
    let (mut align, mut bold, mut size) = (Align::Left, false, 1u8);
    let mut i = 0;
    let need = |i: usize, n: usize| {
        if i + n <= bytes.len() { Ok(()) } else { Err(i) }
    };
    let mut qr = (String::new(), 3u8);
    while i < bytes.len() {
        let b = bytes[i];
        let step: Result<usize, usize> = (|| match b {
            ESC => {
                need(i, 2)?;
                match bytes[i + 1] {
                    b'@' => Ok(2),
                    b't' | b'a' | b'E' | b'd' => {
                        need(i, 3)?;
                        Ok(3)
                    }
                    _ => Ok(0),
                }
            }
            GS => {
                need(i, 2)?;
                match bytes[i + 1] {
                    b'!' | b'V' => {
                        need(i, 3)?;
                        Ok(3)
                    }
                    b'(' => {
                        need(i, 5)?;
                        let len = usize::from(bytes[i + 3]) + 256 * usize::from(bytes[i + 4]);
                        need(i, 5 + len)?;
                        Ok(5 + len)
                    }
                    _ => Ok(0),
                }
            }
            DLE => {
                need(i, 3)?;
                Ok(3)
            }
            _ => Ok(1),
        })();
        let n = match step {
            Ok(0) => return Err(DecodeError::Unknown(b, bytes[i + 1], i)),
            Ok(n) => n,
            Err(_) => break,
        };
        let cmd = &bytes[i..i + n];
        match cmd {
            [ESC, b'@'] | [ESC, b't', _] => {}
            [ESC, b'a', n] => {
                align = match n {
                    1 => Align::Center,
                    2 => Align::Right,
                    _ => Align::Left,
                }
            }
            [ESC, b'E', n] => bold = *n != 0,
            [GS, b'!', n] => size = (n & 0x0F) + 1,
            [ESC, b'd', n] => doc.0.push(Block::Feed(*n)),
            [GS, b'V', _] => doc.0.push(Block::Cut),
            [GS, b'(', b'k', _, _, 49, 67, m] => qr.1 = *m,
            [GS, b'(', b'k', _, _, 49, 80, 48, data @ ..] => {
                qr.0 = String::from_utf8_lossy(data).into_owned()
            }
            [GS, b'(', b'k', _, _, 49, 81, 48] => doc.0.push(Block::Qr {
                data: std::mem::take(&mut qr.0),
                module: qr.1,
            }),
            [GS, b'(', ..] => {}
            [DLE, EOT, n] => {
                if !doc.0.is_empty() {
                    out.push(Decoded::Doc(std::mem::take(&mut doc)));
                }
                out.push(Decoded::StatusRequest(*n));
            }
            [LF] => {
                doc.0.push(Block::Text {
                    text: line.drain(..).map(decode_byte).collect(),
                    align,
                    bold,
                    size,
                });
            }
            [byte] => line.push(*byte),
            _ => {}
        }
        i += n;
    }
    if !doc.0.is_empty() {
        out.push(Decoded::Doc(doc));
    }
    Ok((out, bytes.len() - i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PrintDoc {
        PrintDoc(vec![
            Block::title("Riverside Zoo"),
            Block::centred("Entrada con horario · Niño"),
            Block::Text {
                text: "Total $67.12".into(),
                align: Align::Right,
                bold: true,
                size: 1,
            },
            Block::Qr {
                data: "PT:AEAQAAAAAAAAAAAFAIAAAA".into(),
                module: 6,
            },
            Block::Feed(3),
            Block::text("¿Preguntas? ¡Visítenos!"),
            Block::Cut,
        ])
    }

    #[test]
    fn a_job_reads_back_as_it_was_written() {
        let doc = sample();
        let bytes = encode(&doc);
        let (decoded, left) = decode(&bytes).unwrap();
        assert_eq!(left, 0);
        assert_eq!(decoded, vec![Decoded::Doc(doc.as_printed())]);
        assert_eq!(printable("Niño – ¿sí?"), "Niño - ¿sí?");
        assert_eq!(printable("·"), "·");
        assert_eq!(printable("✓"), "?");
    }

    #[test]
    fn status_requests_are_found_between_jobs_and_a_partial_command_waits() {
        let mut bytes = encode(&sample());
        bytes.extend(status_request(4));
        bytes.extend(encode(&PrintDoc(vec![Block::text("two"), Block::Cut])));
        let (decoded, left) = decode(&bytes).unwrap();
        assert_eq!(left, 0);
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[1], Decoded::StatusRequest(4));
        let (_, left) = decode(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(left, 2, "an unfinished cut waits for its last byte");
        assert!(matches!(
            decode(&[ESC, b'Z', 0]),
            Err(DecodeError::Unknown(ESC, b'Z', 0))
        ));
    }

    #[test]
    fn printer_status_bytes_round_trip() {
        for bits in 0..16u8 {
            let s = PrinterStatus {
                online: bits & 1 != 0,
                cover_open: bits & 2 != 0,
                paper_out: bits & 4 != 0,
                paper_near_end: bits & 8 != 0,
            };
            assert_eq!(PrinterStatus::from_bytes(s.to_bytes()), s, "{s:?}");
            assert_eq!(s.can_print(), s.online && !s.cover_open && !s.paper_out);
        }
    }
}
