//! What the kiosk's printer puts on paper, drawn as a picture: the print job's blocks
//! ([`PrintDoc`], the same the printer receives as ESC/POS) as lines of `ui/paper.slint`, with
//! each QR code drawn module for module. For the documentation's pictures of a ticket and a
//! receipt, and the demo's.

use qrcodegen::{QrCode, QrCodeEcc};
use slint::{Image, Rgb8Pixel, SharedPixelBuffer};

use portico_core::kiosk::escpos::{Align, Block, PrintDoc};

use super::generated::PaperLine;

/// Modules of white around a QR code (the standard's quiet zone).
const QUIET: u32 = 4;

/// A QR code of `data` (error correction M, as printed), `module` dots a module.
pub fn qr_picture(data: &str, module: u8) -> Option<Image> {
    let qr = QrCode::encode_text(data, QrCodeEcc::Medium).ok()?;
    let n = u32::try_from(qr.size()).ok()?;
    let m = u32::from(module.max(1));
    let side = (n + 2 * QUIET) * m;
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side, side);
    let width = side as usize;
    for (i, px) in buffer.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = ((i % width) as u32 / m, (i / width) as u32 / m);
        let dark = x >= QUIET
            && y >= QUIET
            && x < n + QUIET
            && y < n + QUIET
            && qr.get_module(
                i32::try_from(x - QUIET).unwrap_or(0),
                i32::try_from(y - QUIET).unwrap_or(0),
            );
        *px = if dark {
            Rgb8Pixel::new(0, 0, 0)
        } else {
            Rgb8Pixel::new(255, 255, 255)
        };
    }
    Some(Image::from_rgb8(buffer))
}

fn line(kind: i32) -> PaperLine {
    PaperLine {
        kind,
        text: Default::default(),
        align: 0,
        bold: false,
        size: 1,
        picture: Image::default(),
        feed: 0,
    }
}

/// The job's blocks as the paper's lines. A QR code that cannot be encoded is shown as its
/// text, as a printer that could not draw it would leave it.
pub fn paper_lines(doc: &PrintDoc) -> Vec<PaperLine> {
    doc.0
        .iter()
        .map(|b| match b {
            Block::Text {
                text,
                align,
                bold,
                size,
            } => PaperLine {
                text: text.as_str().into(),
                align: match align {
                    Align::Left => 0,
                    Align::Center => 1,
                    Align::Right => 2,
                },
                bold: *bold,
                size: i32::from((*size).clamp(1, 2)),
                ..line(0)
            },
            Block::Qr { data, module } => match qr_picture(data, *module) {
                Some(picture) => PaperLine { picture, ..line(1) },
                None => PaperLine {
                    text: data.as_str().into(),
                    ..line(0)
                },
            },
            Block::Feed(n) => PaperLine {
                feed: i32::from(*n),
                ..line(2)
            },
            Block::Cut => line(3),
        })
        .collect()
}

/// The paper's length in pixels for `lines`, by the markup's own metrics (`line`, `cut` and
/// `qr_margin` in pixels).
pub fn paper_height(lines: &[PaperLine], line_px: f32, cut_px: f32, qr_margin_px: f32) -> u32 {
    let h: f32 = lines
        .iter()
        .map(|l| match l.kind {
            0 => line_px * l.size as f32,
            1 => l.picture.size().height as f32 + 2. * qr_margin_px,
            2 => line_px * l.feed as f32,
            _ => cut_px,
        })
        .sum();
    h.ceil().max(1.) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_code_is_drawn_module_for_module_with_its_quiet_zone() {
        let img = qr_picture("PT:example", 6).unwrap();
        let side = img.size().width;
        assert_eq!(side, img.size().height);
        // Version 1 is 21 modules; the data needs at least that, plus 8 of quiet zone.
        assert!(side >= (21 + 8) * 6 && side.is_multiple_of(6), "{side}");
        let px = img.to_rgb8().unwrap();
        let at = |x: u32, y: u32| px.as_slice()[(y * side + x) as usize];
        // The quiet zone is white, the finder pattern's corner black.
        assert_eq!(at(0, 0), Rgb8Pixel::new(255, 255, 255));
        assert_eq!(at(QUIET * 6, QUIET * 6), Rgb8Pixel::new(0, 0, 0));
    }
}
