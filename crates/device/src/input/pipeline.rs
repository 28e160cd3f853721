//! The per-reader path from framer output to events: parse, suppress repeats, report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::credential::{CredentialParser, FormatSet};
use super::dedupe::Deduper;
use super::event::{Disconnected, EventSink, InputEvent, Scan};
use super::framer::FramerOutput;

/// Turns one reader's frames into events.
#[derive(Debug)]
pub struct Pipeline {
    reader: String,
    parser: Arc<CredentialParser>,
    formats: FormatSet,
    dedupe: Deduper,
}

impl Pipeline {
    pub fn new(
        reader: impl Into<String>,
        parser: Arc<CredentialParser>,
        formats: FormatSet,
        window: Duration,
    ) -> Self {
        Self {
            reader: reader.into(),
            parser,
            formats,
            dedupe: Deduper::new(window),
        }
    }

    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Builds the event for one framer output. `at` is when the reader finished it.
    pub fn event(&mut self, out: FramerOutput, at: Instant) -> InputEvent {
        match out {
            FramerOutput::Frame(f) => {
                let span = f.last_at.saturating_sub(f.first_at);
                let fresh = self.dedupe.admit(&self.reader, &f.bytes, f.last_at);
                let credential = self.parser.parse_owned(&self.reader, f.bytes, self.formats);
                let scan = Box::new(Scan {
                    credential,
                    at,
                    span,
                    ended_by: f.ended_by,
                });
                if fresh {
                    InputEvent::Scan(scan)
                } else {
                    InputEvent::Repeat(scan)
                }
            }
            FramerOutput::Dropped(d) => {
                tracing::warn!(reader = %self.reader, len = d.len, "frame dropped: {}", d.reason);
                InputEvent::Dropped {
                    reader: self.reader.clone(),
                    reason: d.reason,
                    len: d.len,
                    at,
                }
            }
        }
    }

    /// Sends the events for a batch of framer outputs.
    pub fn send_all(
        &mut self,
        outs: &mut Vec<FramerOutput>,
        sink: &impl EventSink,
    ) -> Result<(), Disconnected> {
        if outs.is_empty() {
            return Ok(());
        }
        let at = Instant::now();
        for o in outs.drain(..) {
            sink.send_event(self.event(o, at))?;
        }
        Ok(())
    }
}
