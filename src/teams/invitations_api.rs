//! `/team-invitations` (spec 20 §2.4–§2.9).

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::error::{ApiError, ApiResult, KnownError};
use crate::permissions::{INVITE_MEMBERS, READ_MEMBERS, REMOVE_MEMBERS};
use crate::projects::access::{ClientAuth, RequestAuth};
use crate::teams::api::signed_in;
use crate::teams::invitations::{require_unrestricted, Invitation};
use crate::teams::TeamsService;
use crate::users::UserRecord;
use crate::verification;
use crate::web::uuid_param as team_id_param;
use crate::web::Tag;

pub struct TeamInvitationsApi {
    pub teams: Arc<TeamsService>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendInvitationBody {
    pub team_id: String,
    /// Who is invited.
    pub email: String,
    /// Where the link in the e-mail leads (the code is added as `?code=`); must be trusted.
    pub callback_url: String,
}

#[derive(Object)]
pub struct SentInvitation {
    /// Always true.
    pub success: bool,
    /// The invitation's id.
    pub id: String,
}

/// An outstanding (unused, unexpired) invitation.
#[derive(Object)]
pub struct TeamInvitationView {
    pub id: String,
    pub team_id: String,
    pub team_display_name: String,
    pub expires_at_millis: i64,
    pub recipient_email: String,
}

#[derive(Object)]
pub struct TeamInvitationList {
    pub items: Vec<TeamInvitationView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct InvitationCodeBody {
    /// The 45-character code from the invitation link.
    pub code: String,
}

#[derive(Object)]
pub struct InvitationCodeValid {
    /// Always true (an invalid code is an error).
    pub is_code_valid: bool,
}

#[derive(Object)]
pub struct InvitationDetails {
    pub team_id: String,
    pub team_display_name: String,
}

#[derive(Object)]
pub struct Accepted {}

fn view(i: Invitation) -> TeamInvitationView {
    TeamInvitationView {
        id: i.id,
        team_id: i.team_id,
        team_display_name: i.team_display_name,
        expires_at_millis: i.expires_at,
        recipient_email: i.recipient_email,
    }
}

impl TeamInvitationsApi {
    /// The signed-in user, who must not be restricted.
    async fn joining_user(&self, auth: &RequestAuth) -> ApiResult<Arc<UserRecord>> {
        let id = signed_in(auth)?;
        let user = self
            .teams
            .users
            .get(auth.project_id(), &id)
            .await?
            .ok_or_else(|| ApiError::from(KnownError::user_authentication_required()))?;
        require_unrestricted(auth.project(), &user)?;
        Ok(user)
    }
}

#[OpenApi(tag = "Tag::Teams")]
impl TeamInvitationsApi {
    /// Invites an e-mail address to a team; the invitation link is e-mailed. Clients need
    /// `$invite_members`.
    #[oai(path = "/team-invitations/send-code", method = "post", operation_id = "send_team_invitation")]
    async fn send(&self, auth: ClientAuth, body: Json<SendInvitationBody>) -> ApiResult<Json<SentInvitation>> {
        let (auth, b) = (auth.0, body.0);
        let team_id = team_id_param("body.team_id", &b.team_id)?;
        let email = crate::users::changes::parse_email_field("email", &b.email)?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            self.teams.require_permission(auth.project(), &team_id, &me, INVITE_MEMBERS).await?;
            self.teams.limit_invitations(&me)?;
        }
        let id = self.teams.invite(auth.project(), team_id, email, b.callback_url).await?;
        Ok(Json(SentInvitation { success: true, id }))
    }

    /// Outstanding invitations of a team (clients need `$read_members` and `$invite_members`)
    /// or to a user's verified e-mail addresses (clients: their own). Give exactly one of
    /// `team_id` and `user_id`.
    #[oai(path = "/team-invitations", method = "get", operation_id = "list_team_invitations")]
    async fn list(
        &self,
        auth: ClientAuth,
        team_id: Query<Option<String>>,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<TeamInvitationList>> {
        let auth = auth.0;
        let client = !auth.access_type.is_server_or_higher();
        let items = match (team_id.0, user_id.0) {
            (Some(_), Some(_)) => return Err(ApiError::bad_request("Cannot specify both team_id and user_id")),
            (None, None) => return Err(ApiError::bad_request("Must specify either team_id or user_id")),
            (Some(team_id), None) => {
                let team_id = team_id_param("query.team_id", &team_id)?;
                if client {
                    let me = signed_in(&auth)?;
                    self.teams.require_permission(auth.project(), &team_id, &me, READ_MEMBERS).await?;
                    self.teams.require_permission(auth.project(), &team_id, &me, INVITE_MEMBERS).await?;
                }
                self.teams.team_invitations(auth.project(), team_id).await?
            }
            (None, Some(user_id)) => {
                let user_id = auth.user_id_param(&user_id)?;
                if client && auth.user_id() != Some(user_id.as_str()) {
                    return Err(KnownError::cannot_get_own_user_without_user().into());
                }
                self.teams.user_invitations(auth.project(), user_id).await?
            }
        };
        Ok(Json(TeamInvitationList { items: items.into_iter().map(view).collect(), is_paginated: false }))
    }

    /// Revokes an invitation of the team. Clients need `$remove_members`.
    #[oai(path = "/team-invitations/:id", method = "delete", operation_id = "revoke_team_invitation")]
    async fn revoke(
        &self,
        auth: ClientAuth,
        id: Path<String>,
        /// The invitation's team (required).
        team_id: Query<Option<String>>,
    ) -> ApiResult<Json<crate::web::Success>> {
        let auth = auth.0;
        let team_id =
            team_id.0.ok_or_else(|| ApiError::bad_request("team_id is required for deleting a team invitation"))?;
        let team_id = team_id_param("query.team_id", &team_id)?;
        let id = team_id_param("params.id", &id.0)?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            self.teams.require_permission(auth.project(), &team_id, &me, REMOVE_MEMBERS).await?;
        }
        self.teams.revoke_invitation(auth.project(), team_id, id).await?;
        Ok(crate::web::Success::ok())
    }

    /// Checks an invitation code without using it.
    #[oai(path = "/team-invitations/accept/check-code", method = "post", operation_id = "check_team_invitation_code")]
    async fn check_code(
        &self,
        auth: ClientAuth,
        body: Json<InvitationCodeBody>,
    ) -> ApiResult<Json<InvitationCodeValid>> {
        let auth = auth.0;
        let code = verification::parse(&body.0.code)?;
        self.teams.invitation_by_code(auth.project(), code, None, false).await?;
        Ok(Json(InvitationCodeValid { is_code_valid: true }))
    }

    /// The team an invitation code is for (signed-in, unrestricted users).
    #[oai(path = "/team-invitations/accept/details", method = "post", operation_id = "team_invitation_details")]
    async fn details(&self, auth: ClientAuth, body: Json<InvitationCodeBody>) -> ApiResult<Json<InvitationDetails>> {
        let auth = auth.0;
        let code = verification::parse(&body.0.code)?;
        self.joining_user(&auth).await?;
        let team = self.teams.invitation_by_code(auth.project(), code, None, false).await?;
        Ok(Json(InvitationDetails { team_id: team.id, team_display_name: team.display_name }))
    }

    /// Accepts an invitation code: the signed-in user joins the team (with the team-member
    /// default permissions). The invited address is not compared with the user's.
    #[oai(path = "/team-invitations/accept", method = "post", operation_id = "accept_team_invitation_code")]
    async fn accept_code(&self, auth: ClientAuth, body: Json<InvitationCodeBody>) -> ApiResult<Json<Accepted>> {
        let auth = auth.0;
        let code = verification::parse(&body.0.code)?;
        let user = self.joining_user(&auth).await?;
        self.teams.invitation_by_code(auth.project(), code, Some(user), true).await?;
        Ok(Json(Accepted {}))
    }

    /// Accepts an invitation by id for a user with a verified e-mail it was sent to (clients:
    /// themselves).
    #[oai(path = "/team-invitations/:id/accept", method = "post", operation_id = "accept_team_invitation")]
    async fn accept_by_id(
        &self,
        auth: ClientAuth,
        id: Path<String>,
        /// A user id or `me` (required).
        user_id: Query<String>,
    ) -> ApiResult<Json<Accepted>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let id = team_id_param("params.id", &id.0)?;
        if !auth.access_type.is_server_or_higher() {
            if auth.user_id() != Some(user_id.as_str()) {
                return Err(KnownError::cannot_get_own_user_without_user().into());
            }
            self.joining_user(&auth).await?;
        }
        self.teams.accept_invitation(auth.project(), id, user_id).await?;
        Ok(Json(Accepted {}))
    }
}
