//! The languages Portico's screens and printouts speak, and the dates they write.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The languages a visitor can pick on the kiosk, and a gate's screen speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    /// Both languages, English first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The language's tag in configuration files (`en`, `es`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// The language of a configuration tag.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.tag() == tag)
    }
}

const DAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAYS_ES: [&str; 7] = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"];
const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_ES: [&str; 12] = [
    "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic",
];

/// The day of the week, short: `Sat`, `sáb`.
pub fn weekday_text(day: NaiveDate, lang: Lang) -> &'static str {
    let days = match lang {
        Lang::En => DAYS_EN,
        Lang::Es => DAYS_ES,
    };
    days[day.weekday().num_days_from_monday() as usize]
}

/// A day as a visitor reads it: `Sat 22 Nov`, `sáb 22 nov`.
pub fn day_text(day: NaiveDate, lang: Lang) -> String {
    let months = match lang {
        Lang::En => MONTHS_EN,
        Lang::Es => MONTHS_ES,
    };
    format!(
        "{} {} {}",
        weekday_text(day, lang),
        day.day(),
        months[day.month0() as usize]
    )
}

/// A date with its year: `31 Mar 2027`.
pub fn date_text(day: NaiveDate, lang: Lang) -> String {
    let months = match lang {
        Lang::En => MONTHS_EN,
        Lang::Es => MONTHS_ES,
    };
    format!(
        "{} {} {}",
        day.day(),
        months[day.month0() as usize],
        day.year()
    )
}
