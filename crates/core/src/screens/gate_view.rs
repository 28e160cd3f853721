//! The gate screen's controller: a pure state machine from admission results, connectivity and
//! staff input to a [`GateScreenModel`], the plain data the Slint adapter copies into the screen.
//!
//! No Slint, no clock: the time comes in as an argument, so every transition is tested without
//! rendering.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::lang::{Lang, date_text, weekday_text};

/// What the screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GateMode {
    /// Waiting for a scan.
    #[default]
    Ready,
    /// Entry allowed (green, check mark).
    Admit,
    /// Entry refused (red, cross).
    Deny,
}

/// An admission decision as the gate screen presents it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultView {
    pub admit: bool,
    /// The visitor's display name, when the credential names a person.
    pub name: Option<String>,
    /// Membership level ("Family", "Patron"), when the credential is a membership.
    pub level: Option<String>,
    /// Guests the membership admits with the member on this visit.
    pub guests_allowed: u32,
    /// The decision in plain words ("Membership expired on 3 Oct 2026").
    pub reason: String,
    /// On admit, a remark for the visitor or staff ("Card replaced by merged record"); on deny,
    /// what staff should do (a default hint is shown when absent).
    pub note: Option<String>,
}

/// How long results stay on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateTimeouts {
    /// A result without pending staff input returns to Ready after this long.
    pub result: Duration,
    /// While staff choose the party size, the screen waits this long after the last touch.
    pub party: Duration,
}

impl Default for GateTimeouts {
    fn default() -> Self {
        Self {
            result: Duration::from_secs(5),
            party: Duration::from_secs(30),
        }
    }
}

/// Everything the gate screen displays, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateScreenModel {
    pub mode: GateMode,
    pub gate_name: String,
    pub prompt: String,
    pub clock: String,
    /// One phrase for the result: "Ready", "Admitted" or "Not admitted".
    pub result_text: String,
    /// The whole result as one sentence, for assistive technology.
    pub announcement: String,
    pub headline: String,
    pub visitor_name: String,
    pub level: String,
    /// "Member + 2 guests"; empty when there is no membership.
    pub guests_text: String,
    /// "Party of 3 admitted" once confirmed (or when no choice is needed).
    pub party_text: String,
    pub reason: String,
    pub note: String,
    pub staff_hint: String,
    pub offline: bool,
    pub offline_text: String,
    /// The words around the values: "Staff:", "Party:", "Confirm".
    pub staff_label: String,
    pub party_label: String,
    pub confirm_label: String,
    pub show_party_controls: bool,
    pub party_size: u32,
    pub can_party_minus: bool,
    pub can_party_plus: bool,
}

/// The gate screen's own words in one language (the decision's come with it).
#[derive(Debug)]
pub struct GateWords {
    /// The prompt shown while waiting for a scan.
    pub prompt: &'static str,
    /// Shown to staff on a refusal when the decision carries no hint of its own.
    pub staff_hint: &'static str,
    pub ready: &'static str,
    pub admitted: &'static str,
    pub not_admitted: &'static str,
    pub welcome: &'static str,
    pub welcome_enter: &'static str,
    pub staff_label: &'static str,
    pub party_label: &'static str,
    pub confirm: &'static str,
    member: &'static str,
    one_guest: &'static str,
    guests: &'static str,
    one_admitted: &'static str,
    party_of: &'static str,
    party_admitted: &'static str,
    offline: &'static str,
}

const EN: GateWords = GateWords {
    prompt: "Scan your ticket or membership card",
    staff_hint: "Check the visitor's details at the membership desk.",
    ready: "Ready",
    admitted: "Admitted",
    not_admitted: "Not admitted",
    welcome: "Welcome",
    welcome_enter: "Welcome — please enter",
    staff_label: "Staff:",
    party_label: "Party:",
    confirm: "Confirm",
    member: "Member",
    one_guest: "Member + 1 guest",
    guests: "guests",
    one_admitted: "1 person admitted",
    party_of: "Party of",
    party_admitted: "admitted",
    offline: "Offline — decisions are local, uploads queued:",
};

const ES: GateWords = GateWords {
    prompt: "Escanee su entrada o su tarjeta de socio",
    staff_hint: "Compruebe los datos del visitante en el mostrador de socios.",
    ready: "Lista",
    admitted: "Puede pasar",
    not_admitted: "No puede pasar",
    welcome: "Bienvenido",
    welcome_enter: "Bienvenido: adelante",
    staff_label: "Personal:",
    party_label: "Grupo:",
    confirm: "Confirmar",
    member: "Socio",
    one_guest: "Socio + 1 invitado",
    guests: "invitados",
    one_admitted: "Pasa 1 persona",
    party_of: "Pasa un grupo de",
    party_admitted: "",
    offline: "Sin conexión: se decide aquí, envíos en cola:",
};

/// The gate screen's words in `lang`.
pub fn words(lang: Lang) -> &'static GateWords {
    match lang {
        Lang::En => &EN,
        Lang::Es => &ES,
    }
}

/// The prompt shown while waiting for a scan.
pub const SCAN_PROMPT: &str = EN.prompt;
/// Shown to staff on a refusal when the decision carries no hint of its own.
pub const DEFAULT_STAFF_HINT: &str = EN.staff_hint;

/// What a party-size confirmation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartyConfirmed {
    /// Visitors entering on this membership, the member included.
    pub party_size: u32,
    /// The scan log row of the admission shown, when the shell said which it was.
    pub scan: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    result: ResultView,
    scan: Option<i64>,
    /// Restarted by every staff touch.
    since: Instant,
    party_size: u32,
    /// The party size has been chosen (or needs no choice).
    settled: bool,
}

/// The gate screen's state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateView {
    gate_name: String,
    lang: Lang,
    timeouts: GateTimeouts,
    clock: String,
    offline: bool,
    queued: u64,
    shown: Option<Shown>,
}

impl GateView {
    pub fn new(gate_name: impl Into<String>, timeouts: GateTimeouts) -> Self {
        Self {
            gate_name: gate_name.into(),
            lang: Lang::En,
            timeouts,
            clock: String::new(),
            offline: false,
            queued: 0,
            shown: None,
        }
    }

    /// The screen in `lang` (English by default): its own words, and the shell passes the
    /// decision's in the same language.
    pub fn in_language(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// The language the screen speaks.
    pub fn language(&self) -> Lang {
        self.lang
    }

    pub fn mode(&self) -> GateMode {
        match &self.shown {
            None => GateMode::Ready,
            Some(s) if s.result.admit => GateMode::Admit,
            Some(_) => GateMode::Deny,
        }
    }

    /// Shows a decision, replacing whatever was on screen.
    pub fn show_result(&mut self, result: ResultView, now: Instant) {
        self.show_scan_result(result, None, now);
    }

    /// Shows the decision on scan log row `scan`: a party size staff confirm for it names the
    /// row, so the shell records the guests against the right admission.
    pub fn show_scan_result(&mut self, result: ResultView, scan: Option<i64>, now: Instant) {
        let settled = !result.admit || result.guests_allowed == 0;
        self.shown = Some(Shown {
            result,
            scan,
            since: now,
            party_size: 1,
            settled,
        });
    }

    /// Records connectivity and the number of uploads waiting in the outbox.
    pub fn set_offline(&mut self, offline: bool, queued: u64) {
        self.offline = offline;
        self.queued = queued;
    }

    /// The clock and date line, formatted by the caller (the venue's locale).
    pub fn set_clock(&mut self, text: impl Into<String>) {
        self.clock = text.into();
    }

    /// One more visitor in the party, up to the member plus the guest allowance. Returns
    /// whether the size changed.
    pub fn party_plus(&mut self, now: Instant) -> bool {
        self.adjust_party(now, |size, max| (size < max).then_some(size + 1))
    }

    /// One fewer visitor in the party, down to the member alone. Returns whether the size
    /// changed.
    pub fn party_minus(&mut self, now: Instant) -> bool {
        self.adjust_party(now, |size, _| (size > 1).then(|| size - 1))
    }

    fn adjust_party(&mut self, now: Instant, step: impl Fn(u32, u32) -> Option<u32>) -> bool {
        let Some(shown) = self.shown.as_mut() else {
            return false;
        };
        if shown.settled {
            return false;
        }
        shown.since = now;
        match step(shown.party_size, party_max(&shown.result)) {
            Some(size) => {
                shown.party_size = size;
                true
            }
            None => false,
        }
    }

    /// Staff confirm the party size. Returns the confirmed size, or `None` when there was
    /// nothing to confirm.
    pub fn confirm(&mut self, now: Instant) -> Option<PartyConfirmed> {
        let shown = self.shown.as_mut()?;
        if shown.settled {
            return None;
        }
        shown.settled = true;
        shown.since = now;
        Some(PartyConfirmed {
            party_size: shown.party_size,
            scan: shown.scan,
        })
    }

    /// Advances time. Returns `true` when the screen went back to Ready on this call.
    pub fn tick(&mut self, now: Instant) -> bool {
        let Some(shown) = &self.shown else {
            return false;
        };
        let timeout = if shown.settled {
            self.timeouts.result
        } else {
            self.timeouts.party
        };
        if now.saturating_duration_since(shown.since) >= timeout {
            self.shown = None;
            true
        } else {
            false
        }
    }

    /// The screen as plain values.
    pub fn model(&self) -> GateScreenModel {
        let w = words(self.lang);
        let mut m = GateScreenModel {
            mode: self.mode(),
            gate_name: self.gate_name.clone(),
            prompt: w.prompt.to_owned(),
            clock: self.clock.clone(),
            offline: self.offline,
            offline_text: if self.offline {
                offline_text(self.queued, self.lang)
            } else {
                String::new()
            },
            staff_label: w.staff_label.to_owned(),
            party_label: w.party_label.to_owned(),
            confirm_label: w.confirm.to_owned(),
            party_size: 1,
            ..GateScreenModel::default()
        };
        let Some(shown) = &self.shown else {
            m.result_text = w.ready.to_owned();
            m.announcement = format!("{}. {}.", self.gate_name, w.prompt);
            return m;
        };
        let r = &shown.result;
        m.visitor_name = r.name.clone().unwrap_or_default();
        m.level = r.level.clone().unwrap_or_default();
        m.reason = r.reason.clone();
        if r.admit {
            m.result_text = w.admitted.to_owned();
            m.headline = match &r.name {
                Some(_) => w.welcome.to_owned(),
                None => w.welcome_enter.to_owned(),
            };
            if r.level.is_some() || r.guests_allowed > 0 {
                m.guests_text = guests_text(r.guests_allowed, self.lang);
            }
            m.note = r.note.clone().unwrap_or_default();
            m.party_size = shown.party_size;
            m.show_party_controls = !shown.settled;
            m.can_party_minus = !shown.settled && shown.party_size > 1;
            m.can_party_plus = !shown.settled && shown.party_size < party_max(r);
            m.party_text = if shown.settled {
                party_text(shown.party_size, self.lang)
            } else {
                String::new()
            };
        } else {
            m.result_text = w.not_admitted.to_owned();
            m.headline = w.not_admitted.to_owned();
            m.staff_hint = r.note.clone().unwrap_or_else(|| w.staff_hint.to_owned());
        }
        m.announcement = announcement(&m);
        m
    }
}

fn party_max(r: &ResultView) -> u32 {
    r.guests_allowed.saturating_add(1)
}

/// "Member", "Member + 1 guest", "Member + 2 guests".
pub fn guests_text(guests: u32, lang: Lang) -> String {
    let w = words(lang);
    match guests {
        0 => w.member.to_owned(),
        1 => w.one_guest.to_owned(),
        n => format!("{} + {n} {}", w.member, w.guests),
    }
}

/// "1 person admitted", "Party of 3 admitted".
pub fn party_text(size: u32, lang: Lang) -> String {
    let w = words(lang);
    if size == 1 {
        w.one_admitted.to_owned()
    } else {
        format!("{} {size} {}", w.party_of, w.party_admitted)
            .trim_end()
            .to_owned()
    }
}

/// The offline footer line.
pub fn offline_text(queued: u64, lang: Lang) -> String {
    format!("{} {queued}", words(lang).offline)
}

/// The clock line: "Sun 22 Nov 2026 · 10:42", "dom 22 nov 2026 · 10:42" (local venue time).
pub fn clock_text(t: NaiveDateTime, lang: Lang) -> String {
    format!(
        "{} {} · {}",
        weekday_text(t.date(), lang),
        date_text(t.date(), lang),
        t.format("%H:%M")
    )
}

fn announcement(m: &GateScreenModel) -> String {
    let parts = [
        &m.result_text,
        &m.visitor_name,
        &m.level,
        &m.guests_text,
        &m.party_text,
        &m.reason,
        &m.note,
    ];
    let mut s = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(". ");
    s.push('.');
    s
}

/// What the gate screen shows for a decision's screen effect.
pub fn result_view(screen: &crate::gate::Screen) -> ResultView {
    ResultView {
        admit: screen.colour == crate::gate::Colour::Green,
        name: screen.name.clone(),
        level: screen.membership_level.clone(),
        guests_allowed: screen.guest_allowance.unwrap_or(0),
        reason: screen.message.clone(),
        // On a refusal, what staff should do comes first.
        note: screen
            .staff_action
            .clone()
            .or_else(|| screen.notes.first().cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn member(guests: u32) -> ResultView {
        ResultView {
            admit: true,
            name: Some("Alex Morgan".into()),
            level: Some("Family".into()),
            guests_allowed: guests,
            reason: "Membership valid until 3 Oct 2027".into(),
            note: None,
        }
    }

    fn denied(reason: &str) -> ResultView {
        ResultView {
            admit: false,
            reason: reason.into(),
            ..ResultView::default()
        }
    }

    fn view() -> GateView {
        GateView::new("North entrance", GateTimeouts::default())
    }

    #[test]
    fn modes_follow_inputs() {
        // (inputs applied in order, expected mode after each)
        enum Step {
            Show(ResultView),
            Tick(u64),
        }
        let cases: Vec<(&str, Vec<(Step, GateMode)>)> = vec![
            ("starts ready", vec![(Step::Tick(0), GateMode::Ready)]),
            (
                "admit then back",
                vec![
                    (Step::Show(member(0)), GateMode::Admit),
                    (Step::Tick(4), GateMode::Admit),
                    (Step::Tick(5), GateMode::Ready),
                ],
            ),
            (
                "deny then back",
                vec![
                    (
                        Step::Show(denied("Membership expired on 3 Oct 2026")),
                        GateMode::Deny,
                    ),
                    (Step::Tick(5), GateMode::Ready),
                ],
            ),
            (
                "deny replaces admit",
                vec![
                    (Step::Show(member(0)), GateMode::Admit),
                    (Step::Show(denied("Ticket revoked")), GateMode::Deny),
                ],
            ),
            (
                "admit replaces deny",
                vec![
                    (Step::Show(denied("Ticket revoked")), GateMode::Deny),
                    (Step::Show(member(0)), GateMode::Admit),
                ],
            ),
        ];
        for (name, steps) in cases {
            let start = t0();
            let mut v = view();
            for (i, (step, want)) in steps.into_iter().enumerate() {
                match step {
                    Step::Show(r) => v.show_result(r, start),
                    Step::Tick(s) => {
                        v.tick(start + secs(s));
                    }
                }
                assert_eq!(v.mode(), want, "{name}: step {i}");
                assert_eq!(v.model().mode, want, "{name}: model at step {i}");
            }
        }
    }

    #[test]
    fn timeout_returns_to_ready_at_exactly_the_configured_time() {
        let timeouts = GateTimeouts {
            result: Duration::from_millis(3_500),
            party: Duration::from_millis(20_000),
        };
        // (result, elapsed ms, expect back to ready)
        let cases = [
            (member(0), 0, false),
            (member(0), 3_499, false),
            (member(0), 3_500, true),
            (member(0), 9_000, true),
            (denied("No ticket for today"), 3_499, false),
            (denied("No ticket for today"), 3_500, true),
            // Waiting for the party size: the longer timeout applies.
            (member(2), 3_500, false),
            (member(2), 19_999, false),
            (member(2), 20_000, true),
        ];
        for (result, ms, back) in cases {
            let start = t0();
            let mut v = GateView::new("Gate", timeouts);
            v.show_result(result.clone(), start);
            let went_back = v.tick(start + Duration::from_millis(ms));
            assert_eq!(went_back, back, "{result:?} after {ms} ms");
            assert_eq!(v.mode() == GateMode::Ready, back);
            // Going back is reported once.
            assert!(!v.tick(start + Duration::from_millis(ms + 1)) || !back);
        }
    }

    #[test]
    fn tick_before_the_result_time_does_not_go_back() {
        let start = t0();
        let mut v = view();
        v.show_result(member(0), start + secs(10));
        // A tick stamped earlier than the result (clock read before the scan) is harmless.
        assert!(!v.tick(start));
        assert_eq!(v.mode(), GateMode::Admit);
    }

    #[test]
    fn party_size_is_bounded_by_the_allowance() {
        // (guests allowed, presses: +1 / -1, expected size after each, expected can_plus, can_minus)
        let cases: [(u32, &[i32], &[u32]); 5] = [
            (2, &[1, 1, 1], &[2, 3, 3]),
            (2, &[-1], &[1]),
            (1, &[1, 1, -1, -1], &[2, 2, 1, 1]),
            (3, &[1, 1, 1, 1, -1], &[2, 3, 4, 4, 3]),
            (0, &[1, -1], &[1, 1]),
        ];
        for (guests, presses, sizes) in cases {
            let start = t0();
            let mut v = view();
            v.show_result(member(guests), start);
            for (i, (press, want)) in presses.iter().zip(sizes).enumerate() {
                let now = start + secs(i as u64);
                if *press > 0 {
                    v.party_plus(now);
                } else {
                    v.party_minus(now);
                }
                let m = v.model();
                assert_eq!(m.party_size, *want, "guests {guests}, press {i}");
                let open = guests > 0;
                assert_eq!(m.show_party_controls, open);
                assert_eq!(m.can_party_plus, open && *want < guests + 1);
                assert_eq!(m.can_party_minus, open && *want > 1);
            }
        }
    }

    #[test]
    fn confirm_settles_the_party_and_restarts_the_timer() {
        let start = t0();
        let mut v = view();
        v.show_result(member(2), start);
        assert!(v.party_plus(start + secs(1)));
        assert!(v.party_plus(start + secs(2)));
        assert_eq!(
            v.confirm(start + secs(25)),
            Some(PartyConfirmed {
                party_size: 3,
                scan: None
            })
        );
        let m = v.model();
        assert!(!m.show_party_controls);
        assert_eq!(m.party_text, "Party of 3 admitted");
        // Settled: no more changes, no second confirmation.
        assert!(!v.party_plus(start + secs(26)));
        assert_eq!(v.confirm(start + secs(26)), None);
        // The result timeout now counts from the confirmation.
        assert!(!v.tick(start + secs(29)));
        assert!(v.tick(start + secs(30)));
    }

    #[test]
    fn party_presses_restart_the_party_timeout() {
        let start = t0();
        let mut v = view();
        v.show_result(member(1), start);
        v.party_plus(start + secs(25));
        assert!(!v.tick(start + secs(54)));
        assert!(v.tick(start + secs(55)));
    }

    #[test]
    fn nothing_to_confirm_without_guests_or_on_deny_or_ready() {
        let start = t0();
        let mut v = view();
        assert_eq!(v.confirm(start), None);
        assert!(!v.party_plus(start));
        v.show_result(member(0), start);
        assert_eq!(v.confirm(start), None);
        v.show_result(denied("Ticket revoked"), start);
        assert_eq!(v.confirm(start), None);
        assert!(!v.party_plus(start));
    }

    #[test]
    fn offline_indicator_text() {
        // (offline, queued, expected text)
        let cases = [
            (false, 0, ""),
            (false, 12, ""),
            (true, 0, "Offline — decisions are local, uploads queued: 0"),
            (
                true,
                37,
                "Offline — decisions are local, uploads queued: 37",
            ),
        ];
        for (offline, queued, want) in cases {
            let mut v = view();
            v.set_offline(offline, queued);
            let m = v.model();
            assert_eq!(m.offline, offline);
            assert_eq!(m.offline_text, want);
            // The indicator stays on a result too.
            v.show_result(member(0), t0());
            assert_eq!(v.model().offline_text, want);
        }
    }

    #[test]
    fn admit_model_texts() {
        let cases = [
            (member(0), "Member", "1 person admitted", ""),
            (member(1), "Member + 1 guest", "", ""),
            (member(2), "Member + 2 guests", "", ""),
            (
                ResultView {
                    note: Some("Card replaced by merged record".into()),
                    ..member(0)
                },
                "Member",
                "1 person admitted",
                "Card replaced by merged record",
            ),
            (
                ResultView {
                    admit: true,
                    reason: "Day ticket, 22 Nov 2026".into(),
                    ..ResultView::default()
                },
                "",
                "1 person admitted",
                "",
            ),
        ];
        for (result, guests, party, note) in cases {
            let mut v = view();
            v.show_result(result.clone(), t0());
            let m = v.model();
            assert_eq!(m.mode, GateMode::Admit);
            assert_eq!(m.result_text, "Admitted");
            assert_eq!(m.visitor_name, result.name.clone().unwrap_or_default());
            assert_eq!(m.level, result.level.clone().unwrap_or_default());
            assert_eq!(m.guests_text, guests, "{result:?}");
            assert_eq!(m.party_text, party, "{result:?}");
            assert_eq!(m.note, note);
            assert_eq!(m.reason, result.reason);
            assert!(m.staff_hint.is_empty());
            assert!(m.announcement.starts_with("Admitted."));
            if let Some(name) = &result.name {
                assert!(m.announcement.contains(name.as_str()));
            }
        }
    }

    #[test]
    fn deny_model_texts() {
        let cases = [
            (
                denied("Membership expired on 3 Oct 2026"),
                DEFAULT_STAFF_HINT,
            ),
            (
                ResultView {
                    note: Some("Offer renewal at the membership desk.".into()),
                    ..denied("Already used today at 10:42, North entrance")
                },
                "Offer renewal at the membership desk.",
            ),
        ];
        for (result, hint) in cases {
            let mut v = view();
            v.show_result(result.clone(), t0());
            let m = v.model();
            assert_eq!(m.mode, GateMode::Deny);
            assert_eq!(m.result_text, "Not admitted");
            assert_eq!(m.reason, result.reason);
            assert_eq!(m.staff_hint, hint);
            assert!(m.note.is_empty());
            assert!(!m.show_party_controls);
            assert!(m.announcement.contains(&result.reason));
        }
    }

    #[test]
    fn clock_line() {
        let cases = [
            ((2026, 11, 22, 10, 42), Lang::En, "Sun 22 Nov 2026 · 10:42"),
            ((2026, 10, 3, 9, 5), Lang::En, "Sat 3 Oct 2026 · 09:05"),
            ((2026, 11, 22, 10, 42), Lang::Es, "dom 22 nov 2026 · 10:42"),
            ((2026, 1, 7, 18, 0), Lang::Es, "mié 7 ene 2026 · 18:00"),
        ];
        for ((y, mo, d, h, mi), lang, want) in cases {
            let t = chrono::NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_opt(h, mi, 0))
                .expect("valid date");
            assert_eq!(clock_text(t, lang), want);
        }
    }

    #[test]
    fn ready_model_texts() {
        let mut v = view();
        v.set_clock("Sun 22 Nov 2026 10:42");
        let m = v.model();
        assert_eq!(m.mode, GateMode::Ready);
        assert_eq!(m.gate_name, "North entrance");
        assert_eq!(m.prompt, SCAN_PROMPT);
        assert_eq!(m.clock, "Sun 22 Nov 2026 10:42");
        assert_eq!(m.result_text, "Ready");
        assert!(m.visitor_name.is_empty() && m.reason.is_empty());
    }

    #[test]
    fn the_screen_speaks_the_gates_language() {
        // (what happens, the model's words in Spanish)
        let now = t0();
        let es = || view().in_language(Lang::Es);
        let mut ready = es();
        ready.set_offline(true, 14);
        let m = ready.model();
        assert_eq!(m.result_text, "Lista");
        assert_eq!(m.prompt, "Escanee su entrada o su tarjeta de socio");
        assert_eq!(
            m.offline_text,
            "Sin conexión: se decide aquí, envíos en cola: 14"
        );
        assert_eq!(
            (
                m.staff_label.as_str(),
                m.party_label.as_str(),
                m.confirm_label.as_str()
            ),
            ("Personal:", "Grupo:", "Confirmar")
        );

        let mut admit = es();
        admit.show_result(member(2), now);
        admit.party_plus(now);
        admit.party_plus(now);
        admit.confirm(now);
        let m = admit.model();
        assert_eq!(
            (m.result_text.as_str(), m.headline.as_str()),
            ("Puede pasar", "Bienvenido")
        );
        assert_eq!(m.guests_text, "Socio + 2 invitados");
        assert_eq!(m.party_text, "Pasa un grupo de 3");
        assert!(m.announcement.starts_with("Puede pasar. Alex Morgan."));

        let mut deny = es();
        deny.show_result(denied("La membresía venció el 3 oct 2026"), now);
        let m = deny.model();
        assert_eq!(m.headline, "No puede pasar");
        assert_eq!(
            m.staff_hint,
            "Compruebe los datos del visitante en el mostrador de socios."
        );

        let table = [
            (guests_text(0, Lang::Es), "Socio"),
            (guests_text(1, Lang::Es), "Socio + 1 invitado"),
            (party_text(1, Lang::Es), "Pasa 1 persona"),
            (party_text(4, Lang::En), "Party of 4 admitted"),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn every_word_of_the_screen_has_its_spanish() {
        let (en, es) = (words(Lang::En), words(Lang::Es));
        let pairs = [
            (en.prompt, es.prompt),
            (en.staff_hint, es.staff_hint),
            (en.ready, es.ready),
            (en.admitted, es.admitted),
            (en.not_admitted, es.not_admitted),
            (en.welcome, es.welcome),
            (en.welcome_enter, es.welcome_enter),
            (en.staff_label, es.staff_label),
            (en.party_label, es.party_label),
            (en.confirm, es.confirm),
            (en.member, es.member),
            (en.one_guest, es.one_guest),
            (en.guests, es.guests),
            (en.one_admitted, es.one_admitted),
            (en.party_of, es.party_of),
            (en.offline, es.offline),
        ];
        for (en, es) in pairs {
            assert!(!es.is_empty() && es != en, "{en:?} has no Spanish");
        }
    }
}
