//! The device shell of Find My Membership: drives [`Flow`] with the hub client and, when the
//! visitor is verified, records the link of their record to the member constituent as an
//! outbox row of kind `reassociation` (payload version 1).

use std::sync::Arc;

use super::kiosk::{Checked, Command, Flow, Input, Located, Screen, Sent};
use super::mask::{Channel, MaskedTarget};
use crate::clock::Clock;
use crate::domain::Membership;
use crate::outbox;
use crate::protocol::{
    FindMembershipLocateReply, FindMembershipSendReply, FindMembershipVerifyReply, MaskedTargetDto,
    MembershipDto, TargetChannelDto,
};
use crate::sync::{HubClient, SyncError};
use crate::upstream::Payload;

pub use crate::upstream::ReassociationV1;

/// What a successful Find My Membership gives the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Reassociation {
    /// The member constituent the visitor's record is now linked to.
    pub lookup_id: String,
    pub membership: Membership,
    /// Idempotency key of the queued `reassociation` row.
    pub outbox_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FindMembershipError {
    #[error("could not queue the re-association")]
    Database(#[from] crate::replica::ReplicaError),
    #[error("the hub's answer does not fit the request: {0}")]
    Protocol(String),
}

/// The hub's answer to one of Find My Membership's calls, as the flow takes it; with the
/// membership the hub names when it verified the code.
pub struct HubAnswer {
    pub input: Input,
    pub membership: Option<MembershipDto>,
}

/// Makes `command`'s call to the hub. A refusal of a call on an existing request means the
/// request is over for the hub; any other failure is the hub out of reach (the visitor may
/// try again).
pub async fn ask_hub(client: &HubClient, command: &Command) -> HubAnswer {
    let unreachable = |e: &SyncError| {
        tracing::warn!(error = %e, "find-membership: hub call failed");
        Input::HubUnreachable
    };
    let mut membership = None;
    let input = match command {
        Command::Locate { membership_id } => {
            match client.find_membership_locate(membership_id).await {
                Ok(FindMembershipLocateReply::Found {
                    request_id,
                    targets,
                }) => Input::Located(Located::Found {
                    request_id,
                    targets: targets.into_iter().map(target).collect(),
                }),
                Ok(FindMembershipLocateReply::NotFound) => Input::Located(Located::NotFound),
                Err(e) if gone_or_unreachable(&e) => {
                    tracing::info!(error = %e, "find-membership: id refused by the hub");
                    Input::Located(Located::NotFound)
                }
                Err(e) => unreachable(&e),
            }
        }
        Command::Send {
            request_id,
            target: index,
        } => match client.find_membership_send(request_id, *index).await {
            Ok(FindMembershipSendReply::Sent {
                target: t,
                expires_at,
                attempts_left,
            }) => Input::Sent(Sent::Sent {
                target: target(t),
                expires_at,
                attempts_left,
            }),
            Ok(FindMembershipSendReply::Locked) => Input::Sent(Sent::Locked),
            Err(e) if gone_or_unreachable(&e) => {
                tracing::info!(error = %e, "find-membership: request over on the hub");
                Input::Sent(Sent::Gone)
            }
            Err(e) => unreachable(&e),
        },
        Command::Verify { request_id, code } => {
            match client
                .find_membership_verify(request_id, code.digits())
                .await
            {
                Ok(FindMembershipVerifyReply::Verified {
                    lookup_id,
                    membership: m,
                }) => {
                    let membership_id = m.membership_id.clone();
                    membership = Some(m);
                    Input::Checked(Checked::Verified {
                        lookup_id,
                        membership_id,
                    })
                }
                Ok(FindMembershipVerifyReply::WrongCode { attempts_left }) => {
                    Input::Checked(Checked::WrongCode { attempts_left })
                }
                Ok(FindMembershipVerifyReply::Expired) => Input::Checked(Checked::Expired),
                Ok(FindMembershipVerifyReply::Locked) => Input::Checked(Checked::Locked),
                Ok(FindMembershipVerifyReply::AlreadyUsed) => Input::Checked(Checked::Gone),
                Err(e) if gone_or_unreachable(&e) => {
                    tracing::info!(error = %e, "find-membership: request over on the hub");
                    Input::Checked(Checked::Gone)
                }
                Err(e) => unreachable(&e),
            }
        }
    };
    HubAnswer { input, membership }
}

/// The `reassociation` row of a verified request, in the caller's transaction: `visitor`
/// (the visitor's record on this device, or the kiosk session) linked to `lookup_id`, holder of
/// `membership_id`. Returns the row's idempotency key.
pub fn queue_reassociation(
    tx: &rusqlite::Connection,
    payload: ReassociationV1,
) -> crate::replica::Result<String> {
    let now_ms = payload.verified_at.timestamp_millis();
    outbox::enqueue(tx, &payload.into_upstream(), now_ms)
}

/// One visitor's Find My Membership at a kiosk.
pub struct KioskSession {
    client: HubClient,
    store: Arc<crate::replica::Store>,
    clock: Arc<dyn Clock>,
    visitor: String,
    flow: Flow,
    request_id: Option<String>,
    membership: Option<MembershipDto>,
    done: Option<Reassociation>,
}

fn target(dto: MaskedTargetDto) -> MaskedTarget {
    MaskedTarget {
        index: dto.index,
        channel: match dto.channel {
            TargetChannelDto::Email => Channel::Email,
            TargetChannelDto::Sms => Channel::Sms,
        },
        masked: dto.masked,
    }
}

/// A refusal of a call on an existing request means the request is over for the hub.
fn gone_or_unreachable(e: &SyncError) -> bool {
    matches!(e, SyncError::Rejected { .. })
}

impl KioskSession {
    /// `visitor` names the visitor's record on this device (the kiosk session or the record
    /// they were created or matched as).
    pub fn new(
        client: HubClient,
        store: Arc<crate::replica::Store>,
        clock: Arc<dyn Clock>,
        visitor: impl Into<String>,
    ) -> Self {
        Self {
            client,
            store,
            clock,
            visitor: visitor.into(),
            flow: Flow::new(),
            request_id: None,
            membership: None,
            done: None,
        }
    }

    pub fn screen(&self) -> &Screen {
        self.flow.screen()
    }

    /// Plain words for the visitor.
    pub fn message(&self) -> String {
        self.flow.message()
    }

    /// Set once the visitor is verified and the re-association is queued.
    pub fn reassociation(&self) -> Option<&Reassociation> {
        self.done.as_ref()
    }

    /// Applies what the visitor did ([`Input::IdEntered`], [`Input::TargetChosen`],
    /// [`Input::CodeEntered`], [`Input::Retry`], [`Input::StartOver`]), making the hub calls it
    /// leads to. Hub failures show as screens (offline, start again); an error means the
    /// re-association could not be queued (retry with [`Input::Retry`] on the verified screen).
    pub async fn act(&mut self, input: Input) -> Result<&Screen, FindMembershipError> {
        if input == Input::StartOver {
            self.request_id = None;
            self.membership = None;
            self.done = None;
        }
        let mut command = self.flow.handle(input);
        while let Some(c) = command.take() {
            let answer = self.call(&c).await;
            command = self.flow.handle(answer);
        }
        if matches!(self.flow.screen(), Screen::Verified { .. }) && self.done.is_none() {
            self.record().await?;
        }
        Ok(self.flow.screen())
    }

    async fn call(&mut self, command: &Command) -> Input {
        if let Command::Verify { request_id, .. } = command {
            self.request_id = Some(request_id.clone());
        }
        let answer = ask_hub(&self.client, command).await;
        if let Some(m) = answer.membership {
            self.membership = Some(m);
        }
        answer.input
    }

    /// Queues the `reassociation` row (its own transaction: nothing else is written with it).
    async fn record(&mut self) -> Result<(), FindMembershipError> {
        let Screen::Verified {
            lookup_id,
            membership_id,
        } = self.flow.screen()
        else {
            return Ok(());
        };
        let (Some(membership), Some(request_id)) = (&self.membership, &self.request_id) else {
            return Err(FindMembershipError::Protocol(
                "verified without a membership or request".into(),
            ));
        };
        if &membership.membership_id != membership_id {
            return Err(FindMembershipError::Protocol(format!(
                "verified membership {membership_id}, hub sent {}",
                membership.membership_id
            )));
        }
        let now = self.clock.now();
        let payload = ReassociationV1 {
            visitor: self.visitor.clone(),
            lookup_id: lookup_id.clone(),
            membership_id: membership_id.clone(),
            request_id: request_id.clone(),
            verified_at: now,
        };
        let key = self
            .store
            .write_async(move |tx| queue_reassociation(tx, payload))
            .await?;
        tracing::info!(
            visitor = %self.visitor,
            lookup_id = %lookup_id,
            membership_id = %membership_id,
            outbox_key = %key,
            "find-membership: re-association queued"
        );
        self.done = Some(Reassociation {
            lookup_id: lookup_id.clone(),
            membership: membership.clone().into(),
            outbox_key: key,
        });
        Ok(())
    }
}
