//! The kiosk's Find My Membership screens as a state machine, sans-IO.
//!
//! ```text
//! EnterId ─id─▶ Locating ─found─▶ ChooseTarget ─pick─▶ Sending ─sent─▶ EnterCode ─code─▶ Verifying
//!                  │ not found                             │ locked        ▲   │            │
//!                  ▼                                       ▼               └───┘ wrong      ├▶ Verified
//!               NotFound                                 Locked          (invalid: stays)   ├▶ Locked
//!                                                                                           └▶ Expired ─pick─▶ Sending
//! any hub call that cannot reach the hub ─▶ Offline ─retry─▶ the same call again
//! ```
//!
//! [`Flow::handle`] takes one [`Input`] (what the visitor did, or what the hub answered) and
//! returns the [`Command`] the shell must carry out next, if any. Inputs that make no sense on
//! the current screen are ignored. [`Flow::message`] gives the words for the visitor.

use chrono::{DateTime, Utc};

use super::code::{Code, CodeError};
use super::mask::{Channel, MaskedTarget};
use super::verification::MAX_ATTEMPTS;
use super::{IdError, parse_id};

/// What the shell must ask the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Locate { membership_id: String },
    Send { request_id: String, target: u32 },
    Verify { request_id: String, code: Code },
}

/// The hub's answer to [`Command::Locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    Found {
        request_id: String,
        targets: Vec<MaskedTarget>,
    },
    NotFound,
}

/// The hub's answer to [`Command::Send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Sent {
        target: MaskedTarget,
        expires_at: DateTime<Utc>,
        attempts_left: u32,
    },
    Locked,
    /// The hub no longer knows the request (or it was finished): start again.
    Gone,
}

/// The hub's answer to [`Command::Verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Verified {
        lookup_id: String,
        membership_id: String,
    },
    WrongCode {
        attempts_left: u32,
    },
    Expired,
    Locked,
    /// The request was finished or forgotten by the hub: start again.
    Gone,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    IdEntered(String),
    Located(Located),
    TargetChosen(u32),
    Sent(Sent),
    CodeEntered(String),
    Checked(Checked),
    /// The hub could not be reached (or refused the device): the call can be retried.
    HubUnreachable,
    Retry,
    StartOver,
}

/// Why the visitor is asked again for the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    Invalid(CodeError),
    Wrong { attempts_left: u32 },
}

/// The screen shown, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    EnterId {
        problem: Option<IdError>,
    },
    Locating {
        membership_id: String,
    },
    ChooseTarget {
        request_id: String,
        targets: Vec<MaskedTarget>,
    },
    Sending {
        request_id: String,
        targets: Vec<MaskedTarget>,
        target: u32,
    },
    EnterCode {
        request_id: String,
        targets: Vec<MaskedTarget>,
        sent_to: MaskedTarget,
        expires_at: DateTime<Utc>,
        attempts_left: u32,
        problem: Option<CodeProblem>,
    },
    Verifying {
        request_id: String,
        targets: Vec<MaskedTarget>,
        sent_to: MaskedTarget,
        expires_at: DateTime<Utc>,
        attempts_left: u32,
        /// Kept for a retry when the hub could not be reached (never printed).
        code: Code,
    },
    Verified {
        lookup_id: String,
        membership_id: String,
    },
    /// The code ran out; the visitor may have a new one sent.
    Expired {
        request_id: String,
        targets: Vec<MaskedTarget>,
    },
    Locked,
    NotFound,
    /// The hub could not be reached; [`Input::Retry`] repeats `pending` from `previous`.
    Offline {
        previous: Box<Screen>,
        pending: Command,
    },
}

/// The visitor's progress through Find My Membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    screen: Screen,
}

impl Default for Flow {
    fn default() -> Self {
        Self::new()
    }
}

impl Flow {
    pub fn new() -> Self {
        Self {
            screen: Screen::EnterId { problem: None },
        }
    }

    /// A flow on a given screen (restoring a kiosk session, tests).
    pub fn at(screen: Screen) -> Self {
        Self { screen }
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// Moves on by one input; returns the hub call to make, if any.
    pub fn handle(&mut self, input: Input) -> Option<Command> {
        let screen = std::mem::replace(&mut self.screen, Screen::Locked);
        let (next, command) = step(screen, input);
        self.screen = next;
        command
    }

    /// Plain words for the visitor on the current screen.
    pub fn message(&self) -> String {
        message(&self.screen)
    }
}

fn step(screen: Screen, input: Input) -> (Screen, Option<Command>) {
    use Screen as S;
    match (screen, input) {
        (_, Input::StartOver) => (S::EnterId { problem: None }, None),

        (S::EnterId { .. } | S::NotFound, Input::IdEntered(raw)) => match parse_id(&raw) {
            Ok(id) => {
                let membership_id = id.to_owned();
                let cmd = Command::Locate {
                    membership_id: membership_id.clone(),
                };
                (S::Locating { membership_id }, Some(cmd))
            }
            Err(e) => (S::EnterId { problem: Some(e) }, None),
        },

        (
            S::Locating { .. },
            Input::Located(Located::Found {
                request_id,
                targets,
            }),
        ) if !targets.is_empty() => (
            S::ChooseTarget {
                request_id,
                targets,
            },
            None,
        ),
        (S::Locating { .. }, Input::Located(_)) => (S::NotFound, None),

        (
            S::ChooseTarget {
                request_id,
                targets,
            }
            | S::Expired {
                request_id,
                targets,
            }
            | S::EnterCode {
                request_id,
                targets,
                ..
            },
            Input::TargetChosen(target),
        ) if targets.iter().any(|t| t.index == target) => {
            let cmd = Command::Send {
                request_id: request_id.clone(),
                target,
            };
            (
                S::Sending {
                    request_id,
                    targets,
                    target,
                },
                Some(cmd),
            )
        }

        (
            S::Sending {
                request_id,
                targets,
                ..
            },
            Input::Sent(sent),
        ) => match sent {
            Sent::Sent {
                target,
                expires_at,
                attempts_left,
            } => (
                S::EnterCode {
                    request_id,
                    targets,
                    sent_to: target,
                    expires_at,
                    attempts_left,
                    problem: None,
                },
                None,
            ),
            Sent::Locked => (S::Locked, None),
            Sent::Gone => (S::EnterId { problem: None }, None),
        },

        (
            S::EnterCode {
                request_id,
                targets,
                sent_to,
                expires_at,
                attempts_left,
                problem,
            },
            Input::CodeEntered(raw),
        ) => match Code::parse(&raw) {
            Ok(code) => {
                let cmd = Command::Verify {
                    request_id: request_id.clone(),
                    code: code.clone(),
                };
                (
                    S::Verifying {
                        request_id,
                        targets,
                        sent_to,
                        expires_at,
                        attempts_left,
                        code,
                    },
                    Some(cmd),
                )
            }
            Err(e) => {
                let _ = problem;
                (
                    S::EnterCode {
                        request_id,
                        targets,
                        sent_to,
                        expires_at,
                        attempts_left,
                        problem: Some(CodeProblem::Invalid(e)),
                    },
                    None,
                )
            }
        },

        (
            S::Verifying {
                request_id,
                targets,
                sent_to,
                expires_at,
                ..
            },
            Input::Checked(checked),
        ) => match checked {
            Checked::Verified {
                lookup_id,
                membership_id,
            } => (
                S::Verified {
                    lookup_id,
                    membership_id,
                },
                None,
            ),
            Checked::WrongCode { attempts_left } => (
                S::EnterCode {
                    request_id,
                    targets,
                    sent_to,
                    expires_at,
                    attempts_left,
                    problem: Some(CodeProblem::Wrong { attempts_left }),
                },
                None,
            ),
            Checked::Expired => (
                S::Expired {
                    request_id,
                    targets,
                },
                None,
            ),
            Checked::Locked => (S::Locked, None),
            Checked::Gone => (S::EnterId { problem: None }, None),
        },

        (
            previous @ (S::Locating { .. } | S::Sending { .. } | S::Verifying { .. }),
            Input::HubUnreachable,
        ) => match pending(&previous) {
            Some(pending) => (
                S::Offline {
                    previous: Box::new(previous),
                    pending,
                },
                None,
            ),
            None => (previous, None),
        },

        (S::Offline { previous, pending }, Input::Retry) => (*previous, Some(pending)),

        (screen, _) => (screen, None),
    }
}

/// The hub call an in-flight screen is waiting for.
fn pending(screen: &Screen) -> Option<Command> {
    match screen {
        Screen::Locating { membership_id } => Some(Command::Locate {
            membership_id: membership_id.clone(),
        }),
        Screen::Sending {
            request_id, target, ..
        } => Some(Command::Send {
            request_id: request_id.clone(),
            target: *target,
        }),
        Screen::Verifying {
            request_id, code, ..
        } => Some(Command::Verify {
            request_id: request_id.clone(),
            code: code.clone(),
        }),
        _ => None,
    }
}

fn channel_words(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "text message",
    }
}

fn message(screen: &Screen) -> String {
    match screen {
        Screen::EnterId { problem: None } => {
            "Enter your Membership ID and press Locate Membership.".into()
        }
        Screen::EnterId {
            problem: Some(IdError::Empty),
        } => "Please enter the Membership ID from your card or welcome letter.".into(),
        Screen::EnterId {
            problem: Some(IdError::TooLong | IdError::BadCharacter),
        } => "That doesn't look like a Membership ID. It has only letters and numbers. Please check your card and try again.".into(),
        Screen::Locating { .. } => "Looking up your membership…".into(),
        Screen::ChooseTarget { .. } => {
            "Choose where we should send your verification code. We only use the primary phone or email on your membership record.".into()
        }
        Screen::Sending { .. } => "Sending your code…".into(),
        Screen::EnterCode {
            sent_to, problem, ..
        } => {
            let sent = format!(
                "We sent a 6-digit code by {} to {}. Enter it and press Submit Code.",
                channel_words(sent_to.channel),
                sent_to.masked
            );
            match problem {
                None => sent,
                Some(CodeProblem::Invalid(CodeError::Empty)) => {
                    format!("Please enter the code. {sent}")
                }
                Some(CodeProblem::Invalid(_)) => {
                    format!("The code is 6 digits, numbers only. {sent}")
                }
                Some(CodeProblem::Wrong { attempts_left: 1 }) => {
                    "That code isn't right. You have 1 try left.".into()
                }
                Some(CodeProblem::Wrong { attempts_left }) => {
                    format!("That code isn't right. You have {attempts_left} tries left.")
                }
            }
        }
        Screen::Verifying { .. } => "Checking your code…".into(),
        Screen::Verified { membership_id, .. } => format!(
            "Thank you! Membership {membership_id} is now linked to your account."
        ),
        Screen::Expired { .. } => {
            "Your code has expired (codes last 10 minutes). Choose where to send a new one.".into()
        }
        Screen::Locked => format!(
            "The code was entered wrongly {MAX_ATTEMPTS} times, so this request is locked. Please ask a member of staff for help."
        ),
        Screen::NotFound => {
            "We couldn't find a membership we can verify with that ID. Please check the number on your card, or ask a member of staff.".into()
        }
        Screen::Offline { .. } => {
            "We can't reach the membership office right now. Please try again in a moment, or ask a member of staff.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(index: u32, channel: Channel, masked: &str) -> MaskedTarget {
        MaskedTarget {
            index,
            channel,
            masked: masked.into(),
        }
    }

    fn targets() -> Vec<MaskedTarget> {
        vec![
            t(0, Channel::Email, "j***@e***.org"),
            t(1, Channel::Sms, "***-***-1234"),
        ]
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 10, 0).unwrap()
    }

    fn choose() -> Screen {
        Screen::ChooseTarget {
            request_id: "r1".into(),
            targets: targets(),
        }
    }

    fn sending() -> Screen {
        Screen::Sending {
            request_id: "r1".into(),
            targets: targets(),
            target: 1,
        }
    }

    fn enter_code(problem: Option<CodeProblem>) -> Screen {
        Screen::EnterCode {
            request_id: "r1".into(),
            targets: targets(),
            sent_to: targets()[1].clone(),
            expires_at: at(),
            attempts_left: 5,
            problem,
        }
    }

    fn verifying() -> Screen {
        Screen::Verifying {
            request_id: "r1".into(),
            targets: targets(),
            sent_to: targets()[1].clone(),
            expires_at: at(),
            attempts_left: 5,
            code: code("123456"),
        }
    }

    fn expired() -> Screen {
        Screen::Expired {
            request_id: "r1".into(),
            targets: targets(),
        }
    }

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    /// The kiosk's steps from seed 001: "Enter your Membership ID and click Locate Membership.
    /// Verify your membership (using the primary phone or email …). … enter the code and click
    /// Submit Code". Each row: screen, input, next screen, command.
    #[test]
    fn rule_the_kiosk_walks_locate_choose_code_submit() {
        let locate = |id: &str| Command::Locate {
            membership_id: id.into(),
        };
        let wrong = |n| match enter_code(Some(CodeProblem::Wrong { attempts_left: n })) {
            Screen::EnterCode {
                request_id,
                targets,
                sent_to,
                expires_at,
                problem,
                ..
            } => Screen::EnterCode {
                request_id,
                targets,
                sent_to,
                expires_at,
                attempts_left: n,
                problem,
            },
            other => other,
        };
        let cases: Vec<(&str, Screen, Input, Screen, Option<Command>)> = vec![
            (
                "an id is sent to the hub",
                Screen::EnterId { problem: None },
                Input::IdEntered(" M1000001 ".into()),
                Screen::Locating {
                    membership_id: "M1000001".into(),
                },
                Some(locate("M1000001")),
            ),
            (
                "an overlong id never leaves the kiosk",
                Screen::EnterId { problem: None },
                Input::IdEntered("M".repeat(500)),
                Screen::EnterId {
                    problem: Some(IdError::TooLong),
                },
                None,
            ),
            (
                "an empty id is asked for again",
                Screen::EnterId { problem: None },
                Input::IdEntered("  ".into()),
                Screen::EnterId {
                    problem: Some(IdError::Empty),
                },
                None,
            ),
            (
                "found: choose a target",
                Screen::Locating {
                    membership_id: "M1".into(),
                },
                Input::Located(Located::Found {
                    request_id: "r1".into(),
                    targets: targets(),
                }),
                choose(),
                None,
            ),
            (
                "not found",
                Screen::Locating {
                    membership_id: "M1".into(),
                },
                Input::Located(Located::NotFound),
                Screen::NotFound,
                None,
            ),
            (
                "found without targets is not found",
                Screen::Locating {
                    membership_id: "M1".into(),
                },
                Input::Located(Located::Found {
                    request_id: "r1".into(),
                    targets: vec![],
                }),
                Screen::NotFound,
                None,
            ),
            (
                "another id after not found",
                Screen::NotFound,
                Input::IdEntered("M2".into()),
                Screen::Locating {
                    membership_id: "M2".into(),
                },
                Some(locate("M2")),
            ),
            (
                "a target is chosen",
                choose(),
                Input::TargetChosen(1),
                sending(),
                Some(Command::Send {
                    request_id: "r1".into(),
                    target: 1,
                }),
            ),
            (
                "a target the hub did not offer is ignored",
                choose(),
                Input::TargetChosen(7),
                choose(),
                None,
            ),
            (
                "code sent",
                sending(),
                Input::Sent(Sent::Sent {
                    target: targets()[1].clone(),
                    expires_at: at(),
                    attempts_left: 5,
                }),
                enter_code(None),
                None,
            ),
            (
                "send refused: locked",
                sending(),
                Input::Sent(Sent::Locked),
                Screen::Locked,
                None,
            ),
            (
                "a code is submitted",
                enter_code(None),
                Input::CodeEntered("123 456".into()),
                verifying(),
                Some(Command::Verify {
                    request_id: "r1".into(),
                    code: code("123456"),
                }),
            ),
            (
                "letters in the code: clear error, no attempt used",
                enter_code(None),
                Input::CodeEntered("12a456".into()),
                enter_code(Some(CodeProblem::Invalid(CodeError::NotDigits))),
                None,
            ),
            (
                "short code: clear error, no attempt used",
                enter_code(None),
                Input::CodeEntered("1234".into()),
                enter_code(Some(CodeProblem::Invalid(CodeError::WrongLength(4)))),
                None,
            ),
            (
                "verified",
                verifying(),
                Input::Checked(Checked::Verified {
                    lookup_id: "8-1001".into(),
                    membership_id: "M1".into(),
                }),
                Screen::Verified {
                    lookup_id: "8-1001".into(),
                    membership_id: "M1".into(),
                },
                None,
            ),
            (
                "wrong code with attempts left",
                verifying(),
                Input::Checked(Checked::WrongCode { attempts_left: 3 }),
                wrong(3),
                None,
            ),
            (
                "locked",
                verifying(),
                Input::Checked(Checked::Locked),
                Screen::Locked,
                None,
            ),
            (
                "expired",
                verifying(),
                Input::Checked(Checked::Expired),
                expired(),
                None,
            ),
            (
                "a new code after expiry",
                expired(),
                Input::TargetChosen(0),
                Screen::Sending {
                    request_id: "r1".into(),
                    targets: targets(),
                    target: 0,
                },
                Some(Command::Send {
                    request_id: "r1".into(),
                    target: 0,
                }),
            ),
            (
                "the hub forgot the request",
                verifying(),
                Input::Checked(Checked::Gone),
                Screen::EnterId { problem: None },
                None,
            ),
            (
                "offline while sending, then retry",
                Screen::Offline {
                    previous: Box::new(sending()),
                    pending: Command::Send {
                        request_id: "r1".into(),
                        target: 1,
                    },
                },
                Input::Retry,
                sending(),
                Some(Command::Send {
                    request_id: "r1".into(),
                    target: 1,
                }),
            ),
            (
                "offline while locating",
                Screen::Locating {
                    membership_id: "M1".into(),
                },
                Input::HubUnreachable,
                Screen::Offline {
                    previous: Box::new(Screen::Locating {
                        membership_id: "M1".into(),
                    }),
                    pending: locate("M1"),
                },
                None,
            ),
            (
                "a code is not entered while locked",
                Screen::Locked,
                Input::CodeEntered("123456".into()),
                Screen::Locked,
                None,
            ),
            (
                "start over from anywhere",
                Screen::Locked,
                Input::StartOver,
                Screen::EnterId { problem: None },
                None,
            ),
        ];
        for (name, from, input, want_screen, want_cmd) in cases {
            let mut flow = Flow::at(from);
            let cmd = flow.handle(input);
            assert_eq!(flow.screen(), &want_screen, "{name}: screen");
            assert_eq!(cmd, want_cmd, "{name}: command");
            assert!(!flow.message().is_empty(), "{name}: message");
        }
    }

    #[test]
    fn offline_while_verifying_retries_the_same_code() {
        let mut flow = Flow::at(verifying());
        assert_eq!(flow.handle(Input::HubUnreachable), None);
        assert!(matches!(flow.screen(), Screen::Offline { .. }));
        assert!(flow.message().contains("can't reach"));
        let cmd = flow.handle(Input::Retry);
        assert_eq!(
            cmd,
            Some(Command::Verify {
                request_id: "r1".into(),
                code: code("123456"),
            })
        );
        assert_eq!(flow.screen(), &verifying());
    }

    #[test]
    fn messages_use_plain_words_and_show_only_the_masked_target() {
        let m = Flow::at(enter_code(None)).message();
        assert!(
            m.contains("***-***-1234") && m.contains("text message"),
            "{m}"
        );
        let m = Flow::at(enter_code(Some(CodeProblem::Wrong { attempts_left: 1 }))).message();
        assert!(m.contains("1 try left"), "{m}");
        let m = Flow::at(enter_code(Some(CodeProblem::Wrong { attempts_left: 3 }))).message();
        assert!(m.contains("3 tries left"), "{m}");
        let m = Flow::at(Screen::Locked).message();
        assert!(m.contains("5 times") && m.contains("staff"), "{m}");
        let m = Flow::at(expired()).message();
        assert!(m.contains("10 minutes"), "{m}");
        let m = Flow::at(Screen::EnterId {
            problem: Some(IdError::BadCharacter),
        })
        .message();
        assert!(m.contains("doesn't look like"), "{m}");
    }
}
