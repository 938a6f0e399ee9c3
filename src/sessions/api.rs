//! `GET /auth/sessions`, `DELETE /auth/sessions/current`, `DELETE /auth/sessions/{id}` (spec 10 §7.2–§7.4).
//! Creating sessions and refreshing their tokens are sign-in operations: see `auth::tokens_api`.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::db::now_millis;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::{AccessType, ClientAuth};
use crate::sessions::SessionsService;
use crate::web::{Success, Tag};

pub struct SessionsApi {
    pub sessions: Arc<SessionsService>,
}

#[derive(Object)]
pub struct SessionView {
    /// The session id (the `refresh_token_id` claim of its access tokens).
    pub id: String,
    pub user_id: String,
    /// Creation time, milliseconds since the epoch.
    pub created_at: i64,
    /// Last time the session issued an access token, milliseconds since the epoch.
    pub last_used_at: i64,
    pub is_impersonation: bool,
    /// Whether this session issued the request's access token.
    pub is_current_session: bool,
}

#[derive(Object)]
pub struct SessionList {
    pub items: Vec<SessionView>,
    /// Always false: all sessions are returned.
    pub is_paginated: bool,
}

fn required(user_id: Option<String>) -> ApiResult<String> {
    user_id.ok_or_else(|| KnownError::schema("query.user_id must be defined").into())
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Lists a user's active sessions, newest first. Clients may only list their own.
    #[oai(path = "/auth/sessions", method = "get", operation_id = "list_sessions")]
    async fn list_sessions(
        &self,
        auth: ClientAuth,
        /// The user (UUID or `me`).
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<SessionList>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&required(user_id.0)?)?;
        if !auth.access_type.is_server_or_higher() && Some(user_id.as_str()) != auth.user_id() {
            return Err(ApiError::plain(StatusCode::FORBIDDEN, "Client can only list sessions for their own user."));
        }
        let current = auth.token.as_ref().map(|t| t.refresh_token_id.as_str());
        let include_impersonation = auth.access_type == AccessType::Admin;
        let rows = self.sessions.list(auth.project_id(), &user_id, include_impersonation).await?;
        let items = rows
            .into_iter()
            .map(|s| SessionView {
                is_current_session: current == Some(s.id.as_str()),
                user_id: s.user_id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                id: s.id,
                is_impersonation: s.is_impersonation,
            })
            .collect();
        Ok(Json(SessionList { items, is_paginated: false }))
    }

    /// Signs out: revokes the session that issued the request's access token.
    #[oai(path = "/auth/sessions/current", method = "delete", operation_id = "sign_out")]
    async fn delete_current(&self, auth: ClientAuth) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let Some(token) = auth.token.as_ref() else {
            return Err(KnownError::access_token_expired(Some(now_millis()), None, None, None).into());
        };
        if !self.sessions.delete(auth.project_id(), &token.refresh_token_id, None).await? {
            return Err(KnownError::refresh_token_not_found_or_expired().into());
        }
        Ok(Success::ok())
    }

    /// Revokes one of a user's other sessions.
    #[oai(path = "/auth/sessions/:session_id", method = "delete", operation_id = "delete_session")]
    async fn delete_session(
        &self,
        auth: ClientAuth,
        /// The session id.
        session_id: Path<String>,
        /// The session's user (UUID or `me`); required, as upstream.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        auth.user_id_param(&required(user_id.0)?)?;
        let session_id = session_id.0;
        if uuid::Uuid::parse_str(&session_id).is_err() {
            return Err(KnownError::schema("params.session_id must be a valid UUID").into());
        }
        if auth.token.as_ref().is_some_and(|t| t.refresh_token_id == session_id) {
            return Err(KnownError::cannot_delete_current_session().into());
        }
        let owner = match auth.access_type {
            AccessType::Client => Some(auth.user_id().unwrap_or_default().to_string()),
            _ => None,
        };
        if !self.sessions.delete(auth.project_id(), &session_id, owner).await? {
            return Err(ApiError::plain(StatusCode::NOT_FOUND, "Session not found."));
        }
        Ok(Success::ok())
    }
}
