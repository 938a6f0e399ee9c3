//! Team invitations (spec 20 §2.4–§2.9): verification codes of type TEAM_INVITATION, e-mailed
//! through the outbox in the transaction that creates them.

use std::sync::Arc;

use serde_json::json;

use crate::contact_channels::store as channel_store;
use crate::db::now_millis;
use crate::emails::templates::TEAM_INVITATION as INVITATION_TEMPLATE;
use crate::emails::{NewEmail, Recipient};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::teams::service::require_team;
use crate::teams::{errors, store, TeamsService};
use crate::users::UserRecord;
use crate::verification::{self, PendingCode, TEAM_INVITATION};

/// An outstanding invitation.
pub struct Invitation {
    pub id: String,
    pub team_id: String,
    pub team_display_name: String,
    pub expires_at: i64,
    pub recipient_email: String,
}

/// Invitation e-mails a signed-in user may send (outside `--dev`): each one mails an address the
/// sender chooses, so a member with `$invite_members` must not be able to flood the outbox.
pub const INVITATIONS_PER_USER: Limit = Limit::per_minute("team-invitation/user", 20);

/// Invitations are valid for 7 days (spec 20 §2.4).
const LIFETIME_MILLIS: i64 = 7 * 24 * 3600 * 1000;

fn team_of(code: &PendingCode) -> Option<&str> {
    code.data.get("team_id").and_then(|v| v.as_str())
}

fn email_of(code: &PendingCode) -> Option<&str> {
    code.method.get("email").and_then(|v| v.as_str())
}

/// Restricted users may not join teams by invitation.
pub fn require_unrestricted(project: &Project, user: &UserRecord) -> ApiResult<()> {
    match user.restricted_reason(&project.config) {
        Some(reason) => Err(errors::restricted_user_not_allowed(reason)),
        None => Ok(()),
    }
}

/// The verified e-mail addresses of a user (invitations are matched against them).
fn verified_emails(conn: &rusqlite::Connection, project_id: &str, user_id: &str) -> ApiResult<Vec<String>> {
    Ok(channel_store::list(conn, project_id, Some(user_id), None)?
        .into_iter()
        .filter(|c| c.is_verified)
        .map(|c| c.value)
        .collect())
}

impl TeamsService {
    /// Counts an invitation sent by a signed-in user against [`INVITATIONS_PER_USER`].
    pub fn limit_invitations(&self, sender: &str) -> ApiResult<()> {
        self.infra.limiter.check(INVITATIONS_PER_USER, sender)
    }

    /// `POST /team-invitations/send-code`: stores the invitation and queues its e-mail.
    pub async fn invite(
        self: &Arc<Self>,
        project: &Project,
        team_id: String,
        email: String,
        callback_url: String,
    ) -> ApiResult<String> {
        if !project.config.is_trusted_url(&callback_url) {
            return Err(KnownError::redirect_url_not_whitelisted().into());
        }
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let team = require_team(tx, &project.id, &team_id)?;
                let (id, code) = verification::create_with_id(
                    tx,
                    &project.id,
                    TEAM_INVITATION,
                    &json!({ "team_id": team.id }),
                    &json!({ "email": email }),
                    LIFETIME_MILLIS,
                    now_millis(),
                )?;
                let link = verification::link_with_code(&callback_url, &code);
                let variables = json!({ "teamInvitationLink": link, "teamDisplayName": team.display_name });
                let recipient = Recipient::CustomEmails { emails: vec![email] };
                me.emails.enqueue_in(tx, &project.id, NewEmail::builtin(INVITATION_TEMPLATE, recipient, variables))?;
                Ok(id)
            })
            .await
    }

    /// Outstanding invitations of a team (the team must exist).
    pub async fn team_invitations(&self, project: &Project, team_id: String) -> ApiResult<Vec<Invitation>> {
        let project_id = project.id.clone();
        self.infra
            .db
            .read(move |c| {
                let team = require_team(c, &project_id, &team_id)?;
                let codes =
                    verification::pending_by_data(c, &project_id, TEAM_INVITATION, "team_id", &team.id, now_millis())?;
                Ok(codes
                    .iter()
                    .map(|code| Invitation {
                        id: code.id.clone(),
                        team_id: team.id.clone(),
                        team_display_name: team.display_name.clone(),
                        expires_at: code.expires_at,
                        recipient_email: email_of(code).unwrap_or_default().to_string(),
                    })
                    .collect())
            })
            .await
    }

    /// Outstanding invitations sent to a user's verified addresses, for teams that still exist.
    pub async fn user_invitations(&self, project: &Project, user_id: String) -> ApiResult<Vec<Invitation>> {
        let project_id = project.id.clone();
        self.infra
            .db
            .read(move |c| {
                let mut out = vec![];
                for email in verified_emails(c, &project_id, &user_id)? {
                    for code in verification::pending_for_email(c, &project_id, TEAM_INVITATION, &email, now_millis())?
                    {
                        let Some(team) = team_of(&code).map(|t| store::load(c, &project_id, t)).transpose()?.flatten()
                        else {
                            continue;
                        };
                        out.push(Invitation {
                            id: code.id.clone(),
                            team_id: team.id,
                            team_display_name: team.display_name,
                            expires_at: code.expires_at,
                            recipient_email: email.clone(),
                        });
                    }
                }
                Ok(out)
            })
            .await
    }

    /// `DELETE /team-invitations/{id}?team_id=`: the invitation must belong to the team.
    pub async fn revoke_invitation(&self, project: &Project, team_id: String, id: String) -> ApiResult<()> {
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                require_team(tx, &project_id, &team_id)?;
                let belongs = verification::pending_by_id(tx, &project_id, TEAM_INVITATION, &id, i64::MIN)?
                    .is_some_and(|code| team_of(&code) == Some(team_id.as_str()));
                if !belongs || !verification::delete(tx, &project_id, TEAM_INVITATION, &id)? {
                    return Err(KnownError::verification_code_not_found().into());
                }
                Ok(())
            })
            .await
    }

    /// The three code routes of spec 20 §2.8. `user` is the signed-in user (checked by the caller
    /// for `details` and `accept`); with `join`, the code is used up and the user joins the team.
    /// Returns the team.
    pub async fn invitation_by_code(
        self: &Arc<Self>,
        project: &Project,
        code: String,
        user: Option<Arc<UserRecord>>,
        join: bool,
    ) -> ApiResult<crate::teams::TeamRecord> {
        let (me, project) = (self.clone(), project.clone());
        let verdict = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let valid = match verification::check(tx, &project.id, TEAM_INVITATION, &code, now)? {
                    Ok(valid) => valid,
                    Err(e) => return Ok(Err(ApiError::from(e))),
                };
                let team_id = valid.data.get("team_id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
                let team = match store::load(tx, &project.id, &team_id)? {
                    Some(team) => team,
                    None => return Ok(Err(errors::team_not_found(&team_id))),
                };
                if join {
                    let user =
                        user.as_ref().ok_or_else(|| ApiError::from(KnownError::user_authentication_required()))?;
                    verification::mark_used(tx, &valid.id, now)?;
                    if !store::is_member(tx, &team.id, &user.id)? {
                        me.add_member_in(tx, &project, &team.id, &user.id)?;
                    }
                }
                Ok(Ok(team))
            })
            .await?;
        // A failed check still commits: its attempt counts.
        verdict
    }

    /// `POST /team-invitations/{id}/accept`: the user must have a verified address the
    /// invitation was sent to.
    pub async fn accept_invitation(self: &Arc<Self>, project: &Project, id: String, user_id: String) -> ApiResult<()> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let code = verification::pending_by_id(tx, &project.id, TEAM_INVITATION, &id, now)?
                    .ok_or_else(|| ApiError::from(KnownError::verification_code_not_found()))?;
                let invited = email_of(&code).unwrap_or_default();
                if !verified_emails(tx, &project.id, &user_id)?.iter().any(|e| e == invited) {
                    return Err(KnownError::verification_code_not_found().into());
                }
                let team = require_team(tx, &project.id, team_of(&code).unwrap_or_default())?;
                if !verification::take(tx, &code.id, now)? {
                    return Err(KnownError::verification_code_not_found().into());
                }
                if !store::is_member(tx, &team.id, &user_id)? {
                    me.add_member_in(tx, &project, &team.id, &user_id)?;
                }
                Ok(())
            })
            .await
    }
}
