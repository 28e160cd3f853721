//! A simulated relay and sensor for the demo and the tests.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{GateOutput, OutputState, PassageSensor, RelayError, SensorError};
use crate::clock::Clock;

/// One pulse the simulated relay received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPulse {
    pub at: DateTime<Utc>,
    pub duration: Duration,
}

#[derive(Default)]
struct Shared {
    pulses: Vec<RecordedPulse>,
    opened_at: Option<DateTime<Utc>>,
    fail_next: Option<String>,
}

/// Records pulses with the clock's timestamps instead of switching anything. Clones share the
/// record, so a test keeps one clone and hands the other to the shell.
#[derive(Clone)]
pub struct SimulatedOutput {
    clock: Arc<dyn Clock>,
    shared: Arc<Mutex<Shared>>,
    state: OutputState,
}

impl SimulatedOutput {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            shared: Arc::default(),
            state: OutputState::Closed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pulses recorded so far, oldest first.
    pub fn pulses(&self) -> Vec<RecordedPulse> {
        self.lock().pulses.clone()
    }

    /// Makes the next open fail with this message.
    pub fn fail_next(&self, message: impl Into<String>) {
        self.lock().fail_next = Some(message.into());
    }
}

impl GateOutput for SimulatedOutput {
    fn open(&mut self) -> Result<(), RelayError> {
        let now = self.clock.now();
        let mut s = self.lock();
        if let Some(msg) = s.fail_next.take() {
            drop(s);
            self.state = OutputState::Fault(msg.clone());
            return Err(RelayError::Simulated(msg));
        }
        s.opened_at = Some(now);
        drop(s);
        self.state = OutputState::Open;
        Ok(())
    }

    fn close(&mut self) -> Result<(), RelayError> {
        let now = self.clock.now();
        let mut s = self.lock();
        if let Some(at) = s.opened_at.take() {
            let duration = now.signed_duration_since(at).to_std().unwrap_or_default();
            s.pulses.push(RecordedPulse { at, duration });
        }
        drop(s);
        self.state = OutputState::Closed;
        Ok(())
    }

    fn state(&self) -> OutputState {
        self.state.clone()
    }

    fn describe(&self) -> String {
        "simulated relay".into()
    }

    /// Records the pulse at the clock's time without waiting.
    fn pulse(&mut self, duration: Duration) -> Result<(), RelayError> {
        self.open()?;
        let mut s = self.lock();
        if let Some(at) = s.opened_at.take() {
            s.pulses.push(RecordedPulse { at, duration });
        }
        drop(s);
        self.state = OutputState::Closed;
        Ok(())
    }
}

/// A sensor fed by hand: each [`SimulatedSensor::pass`] is one passage. Clones share the
/// queue, so the demo or a test keeps one and the station watches the other.
#[derive(Clone, Default)]
pub struct SimulatedSensor {
    shared: Arc<(Mutex<VecDeque<bool>>, Condvar)>,
}

impl SimulatedSensor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Someone goes through (seen by the next wait).
    pub fn pass(&self) {
        let (queue, ready) = &*self.shared;
        queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(true);
        ready.notify_all();
    }
}

impl PassageSensor for SimulatedSensor {
    /// A queued passage, or `false` once `timeout` has passed without one.
    fn wait_passage(&mut self, timeout: Duration) -> Result<bool, SensorError> {
        let (queue, ready) = &*self.shared;
        let guard = queue.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = ready
            .wait_timeout_while(guard, timeout, |q| q.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        Ok(guard.pop_front().unwrap_or(false))
    }
}
