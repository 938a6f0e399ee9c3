//! `/team-member-profiles` (spec 20 §2.3).

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi, Union};

use crate::error::{ApiError, ApiResult};
use crate::images::parse_image_input;
use crate::permissions::READ_MEMBERS;
use crate::projects::access::{ClientAuth, RequestAuth};
use crate::teams::api::signed_in;
use crate::teams::profiles::Profile;
use crate::teams::TeamsService;
use crate::users::ServerUser;
use crate::web::uuid_param as team_id_param;
use crate::web::Tag;

pub struct TeamMemberProfilesApi {
    pub teams: Arc<TeamsService>,
}

/// A member's profile in a team, as members see it.
#[derive(Object)]
pub struct ClientMemberProfile {
    pub team_id: String,
    pub user_id: String,
    /// The member's name in this team, else the user's display name.
    pub display_name: Option<String>,
    /// The member's picture in this team, else the user's.
    pub profile_image_url: Option<String>,
}

/// A member's profile with the whole user, as servers see it.
#[derive(Object)]
pub struct ServerMemberProfile {
    pub team_id: String,
    pub user_id: String,
    pub display_name: Option<String>,
    pub profile_image_url: Option<String>,
    pub user: ServerUser,
}

#[derive(Union)]
#[allow(clippy::large_enum_variant)] // built per response, never stored
pub enum MemberProfileView {
    Server(ServerMemberProfile),
    Client(ClientMemberProfile),
}

#[derive(Object)]
pub struct MemberProfileList {
    pub items: Vec<MemberProfileView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateMemberProfileBody {
    pub display_name: Option<String>,
    /// Clients: a base64 image; servers may also give an http(s) URL. `null` clears.
    pub profile_image_url: MaybeUndefined<String>,
}

impl TeamMemberProfilesApi {
    fn view(&self, auth: &RequestAuth, p: Profile) -> MemberProfileView {
        let (display_name, profile_image_url) = (p.display_name(), p.profile_image_url());
        if auth.access_type.is_server_or_higher() {
            let user = p.user.to_server(&auth.project().config, self.teams.last_active_at(&p.user));
            MemberProfileView::Server(ServerMemberProfile {
                team_id: p.membership.team_id,
                user_id: p.membership.user_id,
                display_name,
                profile_image_url,
                user,
            })
        } else {
            MemberProfileView::Client(ClientMemberProfile {
                team_id: p.membership.team_id,
                user_id: p.membership.user_id,
                display_name,
                profile_image_url,
            })
        }
    }
}

#[OpenApi(tag = "Tag::Teams")]
impl TeamMemberProfilesApi {
    /// Member profiles in joining order. Clients must name a team they are in, and need
    /// `$read_members` unless they ask for their own profile only.
    #[oai(path = "/team-member-profiles", method = "get", operation_id = "list_team_member_profiles")]
    async fn list(
        &self,
        auth: ClientAuth,
        team_id: Query<Option<String>>,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<MemberProfileList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        let team_id = team_id.0.map(|t| team_id_param("query.team_id", &t)).transpose()?;
        if !auth.access_type.is_server_or_higher() {
            let Some(team) = &team_id else {
                return Err(ApiError::bad_request("team_id is required for access type client"));
            };
            let me = signed_in(&auth)?;
            self.teams.require_member(auth.project_id(), team, &me).await?;
            if user_id.as_deref() != Some(me.as_str()) {
                self.teams.require_permission(auth.project(), team, &me, READ_MEMBERS).await?;
            }
        }
        let profiles = self.teams.list_profiles(auth.project(), team_id, user_id).await?;
        Ok(Json(MemberProfileList {
            items: profiles.into_iter().map(|p| self.view(&auth, p)).collect(),
            is_paginated: false,
        }))
    }

    /// One member's profile. Clients reading someone else's need `$read_members`.
    #[oai(path = "/team-member-profiles/:team_id/:user_id", method = "get", operation_id = "get_team_member_profile")]
    async fn get(
        &self,
        auth: ClientAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
    ) -> ApiResult<Json<MemberProfileView>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            if me != user_id {
                self.teams.require_permission(auth.project(), &team_id, &me, READ_MEMBERS).await?;
            }
        }
        let profile = self.teams.get_profile(auth.project(), team_id, user_id).await?;
        Ok(Json(self.view(&auth, profile)))
    }

    /// Changes a member's name or picture in the team. Clients may change only their own.
    #[oai(
        path = "/team-member-profiles/:team_id/:user_id",
        method = "patch",
        operation_id = "update_team_member_profile"
    )]
    async fn update(
        &self,
        auth: ClientAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
        body: Json<UpdateMemberProfileBody>,
    ) -> ApiResult<Json<MemberProfileView>> {
        let (auth, b) = (auth.0, body.0);
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        let server = auth.access_type.is_server_or_higher();
        if !server && signed_in(&auth)? != user_id {
            return Err(ApiError::plain(StatusCode::FORBIDDEN, "Clients can only update their own profile."));
        }
        let image = match b.profile_image_url {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(u) if u.is_empty() => Some(None),
            MaybeUndefined::Value(u) => Some(Some(parse_image_input(&u, server)?)),
        };
        let profile = self.teams.update_profile(auth.project(), team_id, user_id, b.display_name, image).await?;
        Ok(Json(self.view(&auth, profile)))
    }
}
