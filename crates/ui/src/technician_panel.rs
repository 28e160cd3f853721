//! The technician panel's adapter, shared by the kiosk window and the gate window (both carry
//! the same `tech-*` properties and callbacks around `ui/kiosk-technician.slint`'s
//! `TechnicianPanel`): the panel's model copied in, and its taps routed out.
//!
//! The two windows are different generated types with the same property names, so the copy
//! and the wiring are macros over the window; the tables they use are here once.

use portico_core::screens::technician_view::{TechAction, TechRow};
use portico_core::technician::{Page, TechEvent};

use super::generated::TechRowItem;

/// A tap on the technician panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanelTap {
    Event(TechEvent),
    Action(TechAction),
}

/// The pages in the order of the panel's page numbers.
pub const PAGES: [Page; 7] = [
    Page::Status,
    Page::Inputs,
    Page::Relay,
    Page::Printer,
    Page::Terminal,
    Page::Service,
    Page::Volunteers,
];

/// The actions in the order of the panel's action codes.
pub const ACTIONS: [TechAction; 8] = [
    TechAction::SyncNow,
    TechAction::RequeueDeadLetters,
    TechAction::TestPage,
    TechAction::ReprintLastOrder,
    TechAction::PulseRelay,
    TechAction::ServiceOff,
    TechAction::ServiceOn,
    TechAction::ReprintLastPasses,
];

fn index<T: PartialEq>(all: &[T], x: &T) -> i32 {
    all.iter()
        .position(|a| a == x)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(-1)
}

pub fn page_index(p: Page) -> i32 {
    index(&PAGES, &p)
}

/// The actions' codes, in rows of at most two buttons.
pub fn action_codes(actions: &[TechAction]) -> slint::ModelRc<slint::ModelRc<i32>> {
    let codes: Vec<i32> = actions.iter().map(|a| index(&ACTIONS, a)).collect();
    slint::ModelRc::new(slint::VecModel::from(
        codes
            .chunks(2)
            .map(|row| slint::ModelRc::new(slint::VecModel::from(row.to_vec())))
            .collect::<Vec<_>>(),
    ))
}

pub fn row_items(rows: &[TechRow]) -> Vec<TechRowItem> {
    rows.iter()
        .map(|r| TechRowItem {
            label: r.label.as_str().into(),
            value: r.value.as_str().into(),
            warn: r.warn,
        })
        .collect()
}

/// What a page number or an action code from the panel means.
pub fn page_of(p: i32) -> Option<Page> {
    usize::try_from(p).ok().and_then(|p| PAGES.get(p)).copied()
}

pub fn action_of(a: i32) -> Option<TechAction> {
    usize::try_from(a)
        .ok()
        .and_then(|a| ACTIONS.get(a))
        .copied()
}

/// Copies a technician panel (`Option<&TechPanel>`; `None` hides it) into a window's `tech-*`
/// properties. `$set_rows` takes the rows' items when they changed since `$before`.
macro_rules! apply_technician {
    ($window:expr, $t:expr, $before:expr, $set_rows:expr) => {{
        use portico_core::screens::technician_view::TechPanel;
        let (window, t, before) = ($window, $t, $before);
        window.set_tech_panel(match t {
            None => 0,
            Some(TechPanel::Pin { .. }) => 1,
            Some(TechPanel::Locked { .. }) => 2,
            Some(TechPanel::Page { .. }) => 3,
        });
        match t {
            None => {}
            Some(TechPanel::Pin { typed, wrong }) => {
                window.set_tech_typed(i32::try_from(*typed).unwrap_or(0));
                window.set_tech_wrong(*wrong);
            }
            Some(TechPanel::Locked { secs }) => {
                window.set_tech_locked_secs(i32::try_from(*secs).unwrap_or(i32::MAX));
            }
            Some(TechPanel::Page {
                page,
                rows,
                actions,
                notice,
            }) => {
                window.set_tech_page($crate::technician_panel::page_index(*page));
                let same = matches!(before, Some(TechPanel::Page { rows: r, .. }) if r == rows);
                if !same {
                    ($set_rows)($crate::technician_panel::row_items(rows));
                }
                window.set_tech_actions($crate::technician_panel::action_codes(actions));
                window.set_tech_notice(notice.as_str().into());
            }
        }
    }};
}

/// Routes a window's technician callbacks (corner held, PIN pad, pages, actions) to `$sink`, an
/// `Rc<dyn Fn(PanelTap)>`.
macro_rules! wire_technician {
    ($window:expr, $sink:expr) => {{
        use portico_core::technician::{CORNER_HOLD, TechEvent};
        use $crate::technician_panel::PanelTap;
        let (window, sink) = ($window, $sink);
        window.set_corner_hold(i64::try_from(CORNER_HOLD.as_millis()).unwrap_or(3000));
        let ev = |s: &std::rc::Rc<dyn Fn(PanelTap)>, e: TechEvent| s(PanelTap::Event(e));
        let s = sink.clone();
        window.on_corner_held(move || ev(&s, TechEvent::CornerHeld(CORNER_HOLD)));
        let s = sink.clone();
        window.on_tech_digit(move |d| {
            if let Ok(d) = u8::try_from(d) {
                ev(&s, TechEvent::Digit(d));
            }
        });
        let s = sink.clone();
        window.on_tech_backspace(move || ev(&s, TechEvent::Backspace));
        let s = sink.clone();
        window.on_tech_submit(move || ev(&s, TechEvent::Submit));
        let s = sink.clone();
        window.on_tech_close(move || ev(&s, TechEvent::Close));
        let s = sink.clone();
        window.on_tech_page_chosen(move |p| {
            if let Some(p) = $crate::technician_panel::page_of(p) {
                ev(&s, TechEvent::Page(p));
            }
        });
        let s = sink.clone();
        window.on_tech_action(move |a| {
            if let Some(a) = $crate::technician_panel::action_of(a) {
                s(PanelTap::Action(a));
            }
        });
    }};
}

pub(crate) use {apply_technician, wire_technician};
