//! API key rules and transactions (spec 20 §4.4).

use std::sync::Arc;

use crate::api_keys::errors::{expired, not_found, public_key_cannot_be_revoked, revoked, wrong_type};
use crate::api_keys::{embedded_id, key_string, store, ApiKeyRecord, USER};
use crate::crypto::{hash_secret, hashes_equal, last_four};
use crate::db::now_millis;
use crate::emails::{Content, EmailsService, NewEmail, Recipient, ThemeChoice, TRANSACTIONAL};
use crate::error::{ApiResult, KnownError};
use crate::infra::Infra;
use crate::permissions::{PermissionsService, MANAGE_API_KEYS};
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::teams::service::{require_team, require_user};

/// A key to create.
pub struct NewApiKey {
    pub kind: &'static str,
    pub owner_id: String,
    pub description: String,
    pub expires_at: Option<i64>,
    pub is_public: bool,
}

/// Credential-scanning revocations per client address (the route has no authentication).
pub const SCANNER_REVOCATIONS_PER_IP: Limit = Limit::per_minute("credential-scanning/ip", 60);

pub struct ApiKeysService {
    infra: Arc<Infra>,
    emails: Arc<EmailsService>,
}

impl ApiKeysService {
    pub fn new(infra: Arc<Infra>, emails: Arc<EmailsService>) -> Self {
        ApiKeysService { infra, emails }
    }

    /// Creates a key; the full key string is returned this once.
    pub async fn create(&self, project: &Project, new: NewApiKey) -> ApiResult<(ApiKeyRecord, String)> {
        let id = uuid::Uuid::new_v4();
        let key = key_string(&id, new.kind, new.is_public);
        let (user_id, team_id) = if new.kind == USER { (Some(new.owner_id), None) } else { (None, Some(new.owner_id)) };
        let record = ApiKeyRecord {
            id: id.to_string(),
            project_id: project.id.clone(),
            kind: new.kind.to_string(),
            user_id,
            team_id,
            description: new.description,
            is_public: new.is_public,
            key_hash: hash_secret(&key).to_vec(),
            last_four: last_four(&key),
            created_at: now_millis(),
            expires_at: new.expires_at,
            revoked_at: None,
        };
        self.infra
            .db
            .write(move |tx| {
                match (&record.user_id, &record.team_id) {
                    (Some(user_id), _) => require_user(tx, &record.project_id, user_id)?,
                    (_, Some(team_id)) => {
                        require_team(tx, &record.project_id, team_id)?;
                    }
                    _ => {}
                }
                store::insert(tx, &record)?;
                Ok((record, key))
            })
            .await
    }

    pub async fn get(&self, project_id: &str, kind: &'static str, id: &str) -> ApiResult<ApiKeyRecord> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra
            .db
            .read(move |c| store::load(c, &project_id, &id))
            .await?
            .filter(|k| k.kind == kind)
            .ok_or_else(not_found)
    }

    pub async fn list(&self, project_id: &str, kind: &'static str, owner_id: String) -> ApiResult<Vec<ApiKeyRecord>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list(c, &project_id, kind, &owner_id)).await
    }

    /// Changes the description and/or revokes (one-way; the first revocation time stays).
    pub async fn update(
        &self,
        project_id: &str,
        kind: &'static str,
        id: String,
        description: Option<String>,
        revoke: bool,
    ) -> ApiResult<ApiKeyRecord> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                let mut key = store::load(tx, &project_id, &id)?.filter(|k| k.kind == kind).ok_or_else(not_found)?;
                if let Some(d) = description {
                    key.description = d;
                }
                if revoke && key.revoked_at.is_none() {
                    key.revoked_at = Some(now_millis());
                }
                store::update(tx, &key)?;
                Ok(key)
            })
            .await
    }

    /// `POST /integrations/credential-scanning/revoke`: a scanner found `key` in public. Public keys
    /// are meant to be seen; an expired one is harmless; any other is revoked (once) and its owners
    /// — the user, or the team's members holding `$manage_api_keys` — are e-mailed, in the same
    /// transaction.
    pub async fn revoke_leaked(&self, key: String) -> ApiResult<()> {
        if let Some(ip) = crate::request_info::client_ip() {
            self.infra.limiter.check(SCANNER_REVOCATIONS_PER_IP, &ip.to_string())?;
        }
        let Some(id) = embedded_id(&key) else { return Err(not_found()) };
        let emails = self.emails.clone();
        self.infra
            .db
            .write(move |tx| {
                let presented = hash_secret(&key);
                let found = store::load_any_project(tx, &id.to_string())?
                    .filter(|k| hashes_equal(&k.key_hash, &presented))
                    .ok_or_else(not_found)?;
                if found.is_public {
                    return Err(public_key_cannot_be_revoked());
                }
                if found.expires_at.is_some_and(|e| e <= now_millis()) {
                    return Err(expired());
                }
                if found.revoked_at.is_some() {
                    return Ok(());
                }
                let mut key = found;
                key.revoked_at = Some(now_millis());
                store::update(tx, &key)?;
                let owners = match (&key.user_id, &key.team_id) {
                    (Some(user_id), _) => vec![user_id.clone()],
                    (_, Some(team_id)) => {
                        let project = crate::projects::store::load(tx, &key.project_id)?
                            .ok_or_else(|| KnownError::current_project_not_found(&key.project_id))?;
                        PermissionsService::holders(tx, &project.config, &key.project_id, team_id, MANAGE_API_KEYS)?
                    }
                    _ => vec![],
                };
                // Only the key's id and last four characters (both safe to echo) go into the e-mail.
                let html = format!(
                    "<p>An API key of yours (id {}, ending in <code>{}</code>) was found in a public place, \
                     so it has been revoked. Create a new key to replace it.</p>",
                    key.id, key.last_four
                );
                for user_id in owners {
                    emails.enqueue_in(
                        tx,
                        &key.project_id,
                        NewEmail {
                            recipient: Recipient::UserPrimaryEmail { user_id },
                            content: Content::Html(html.clone()),
                            subject: Some("An API key was revoked because it was leaked".into()),
                            theme: ThemeChoice::Project,
                            category_id: TRANSACTIONAL,
                            is_high_priority: true,
                            scheduled_at: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await
    }

    /// `POST /{user,team}-api-keys/check`: not found → wrong kind → revoked → expired.
    pub async fn check(&self, project_id: &str, kind: &'static str, key: String) -> ApiResult<ApiKeyRecord> {
        let Some(id) = embedded_id(&key) else { return Err(not_found()) };
        let project_id = project_id.to_string();
        let found = self.infra.db.read(move |c| store::load(c, &project_id, &id.to_string())).await?;
        let presented = hash_secret(&key);
        let found = found.filter(|k| hashes_equal(&k.key_hash, &presented)).ok_or_else(not_found)?;
        if found.kind != kind {
            return Err(wrong_type(kind, &found.kind));
        }
        if found.revoked_at.is_some() {
            return Err(revoked());
        }
        if found.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(expired());
        }
        Ok(found)
    }
}
