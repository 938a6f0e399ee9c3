//! The config API's view of a project's configuration (upstream's rendered config, camelCase
//! dotted paths such as `auth.password.allowSignIn`; spec 00 §6.3 maps them to the legacy fields).
//!
//! stackd keeps one effective configuration per project ([`ProjectConfig`]), which the admin PATCH
//! and the config API both change, so a field set through one reads back through the other. An
//! override is applied by rendering the current configuration, merging the override into it (dotted
//! keys and nested objects alike; `null` removes a key, which returns it to its default), and reading
//! the result back strictly: an unknown path or a value of the wrong type is a `SCHEMA_ERROR` naming
//! the path, and the semantic checks are the admin PATCH's own ([`apply_patch`]).

use serde_json::{json, Map, Value};

use crate::error::{ApiResult, KnownError};
use crate::projects::api::{
    apply_patch, Domain, EmailConfigInput, OAuthProviderInput, PermissionIdInput, ProjectConfigPatch, ProjectPatch,
};
use crate::projects::config::{PermissionDefinition, SignUpRule, PROJECT_SCOPE, SIGN_UP_RULE_ACTIONS, TEAM_SCOPE};
use crate::projects::service::parse_override_row;
use crate::projects::{store, Project, ProjectConfig, ProjectsService};

/// The levels of upstream's config hierarchy. stackd has one branch and one environment per
/// project, so the three levels are three records of what was written; the effective
/// configuration is shared.
pub const LEVELS: &[&str] = &["project", "branch", "environment"];

fn id_set(ids: &[String]) -> Value {
    Value::Object(ids.iter().map(|id| (id.clone(), Value::Bool(true))).collect())
}

/// The effective configuration in upstream's rendered shape. The SMTP password is not shown.
pub fn render(c: &ProjectConfig) -> Value {
    let providers: Map<String, Value> = c
        .oauth_providers
        .iter()
        .map(|p| {
            let mut v = json!({
                "type": p.id, "isShared": p.kind == "shared", "allowSignIn": true, "allowConnectedAccounts": true,
            });
            let o = v.as_object_mut().expect("object");
            for (key, value) in [
                ("clientId", &p.client_id),
                ("clientSecret", &p.client_secret),
                ("facebookConfigId", &p.facebook_config_id),
                ("microsoftTenantId", &p.microsoft_tenant_id),
            ] {
                if let Some(value) = value {
                    o.insert(key.into(), Value::String(value.clone()));
                }
            }
            (p.id.clone(), v)
        })
        .collect();
    let domains: Map<String, Value> = c
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| (domain_key(i, &d.id), json!({ "baseUrl": d.domain, "handlerPath": d.handler_path })))
        .collect();
    let permissions: Map<String, Value> = c
        .permission_definitions
        .iter()
        .map(|(id, d)| {
            let mut v = json!({ "scope": d.scope, "containedPermissionIds": id_set(&d.contained_permission_ids) });
            if let Some(description) = &d.description {
                v["description"] = Value::String(description.clone());
            }
            (id.clone(), v)
        })
        .collect();
    let rules: Map<String, Value> = c
        .sign_up_rules
        .iter()
        .map(|(id, r)| {
            let mut action = json!({ "type": r.action });
            if let Some(message) = &r.message {
                action["message"] = Value::String(message.clone());
            }
            let mut v = json!({ "enabled": r.enabled, "priority": r.priority, "action": action });
            if let Some(name) = &r.display_name {
                v["displayName"] = Value::String(name.clone());
            }
            if let Some(condition) = &r.condition {
                v["condition"] = Value::String(condition.clone());
            }
            (id.clone(), v)
        })
        .collect();
    let server = match &c.email_server {
        None => json!({ "isShared": true }),
        Some(s) => json!({
            "isShared": false, "host": s.host, "port": s.port, "username": s.username,
            "senderName": s.sender_name, "senderEmail": s.sender_email,
        }),
    };
    json!({
        "project": { "requirePublishableClientKey": c.require_publishable_client_key },
        "auth": {
            "allowSignUp": c.sign_up_enabled,
            "password": { "allowSignIn": c.credential_enabled },
            "otp": { "allowSignIn": c.magic_link_enabled },
            "passkey": { "allowSignIn": c.passkey_enabled },
            "oauth": { "accountMergeStrategy": c.oauth_account_merge_strategy, "providers": providers },
            "signUpRules": rules,
            "signUpRulesDefaultAction": c.sign_up_rules_default_action,
        },
        "onboarding": { "requireEmailVerification": c.require_email_verification },
        "domains": { "allowLocalhost": c.allow_localhost, "trustedDomains": domains },
        "teams": {
            "createPersonalTeamOnSignUp": c.create_team_on_sign_up,
            "allowClientTeamCreation": c.client_team_creation_enabled,
        },
        "users": { "allowClientUserDeletion": c.client_user_deletion_enabled },
        "apiKeys": { "enabled": { "user": c.allow_user_api_keys, "team": c.allow_team_api_keys } },
        "rbac": {
            "permissions": permissions,
            "defaultPermissions": {
                "teamCreator": id_set(&c.team_creator_default_permissions),
                "teamMember": id_set(&c.team_member_default_permissions),
                "signUp": id_set(&c.user_default_permissions),
            },
        },
        "emails": { "selectedThemeId": c.email_theme, "server": server },
    })
}

/// Key of a trusted domain in `domains.trustedDomains`: its own id, or its position for domains
/// set through the legacy list.
fn domain_key(index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("domain-{index}")
    } else {
        id.to_string()
    }
}

fn bad(path: &str, problem: &str) -> crate::error::ApiError {
    KnownError::schema(&format!("config.{path} {problem}")).into()
}

/// Merges an override (dotted keys or nested objects; `null` removes) into a rendered config.
pub fn merge(target: &mut Value, patch: &Map<String, Value>, prefix: &str) -> ApiResult<()> {
    for (key, value) in patch {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad(&path, "is not a valid config path"));
        }
        if value.is_null() {
            remove_path(target, &parts);
            continue;
        }
        let mut node = &mut *target;
        for part in &parts[..parts.len() - 1] {
            let Some(obj) = node.as_object_mut() else {
                return Err(bad(&path, "goes through a value that is not an object"));
            };
            node = obj.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        }
        let last = parts[parts.len() - 1];
        let Some(obj) = node.as_object_mut() else {
            return Err(bad(&path, "goes through a value that is not an object"));
        };
        match value {
            Value::Object(inner) if obj.get(last).is_some_and(Value::is_object) => {
                merge(obj.get_mut(last).expect("present"), inner, &path)?;
            }
            Value::Object(inner) => {
                let mut fresh = Value::Object(Map::new());
                merge(&mut fresh, inner, &path)?;
                obj.insert(last.to_string(), fresh);
            }
            other => {
                obj.insert(last.to_string(), other.clone());
            }
        }
    }
    Ok(())
}

/// Removes a dotted path if it exists (creating nothing on the way).
fn remove_path(target: &mut Value, parts: &[&str]) {
    let Some((last, walk)) = parts.split_last() else { return };
    let mut node = target;
    for part in walk {
        match node.get_mut(*part) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(obj) = node.as_object_mut() {
        obj.remove(*last);
    }
}

/// A strict reader over one object of the rendered tree: every key must be taken.
struct Node {
    path: String,
    map: Map<String, Value>,
}

impl Node {
    fn new(path: &str, value: Option<Value>) -> ApiResult<Node> {
        match value {
            None | Some(Value::Null) => Ok(Node { path: path.into(), map: Map::new() }),
            Some(Value::Object(map)) => Ok(Node { path: path.into(), map }),
            Some(_) => Err(bad(path, "must be an object")),
        }
    }
    fn sub(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
    fn obj(&mut self, key: &str) -> ApiResult<Node> {
        let path = self.sub(key);
        Node::new(&path, self.map.remove(key))
    }
    fn bool(&mut self, key: &str) -> ApiResult<Option<bool>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(bad(&self.sub(key), "must be a boolean")),
        }
    }
    fn string(&mut self, key: &str) -> ApiResult<Option<String>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(&self.sub(key), "must be a string")),
        }
    }
    fn integer(&mut self, key: &str) -> ApiResult<Option<i64>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(_) => Err(bad(&self.sub(key), "must be an integer")),
        }
    }
    /// `{id: true}` → the ids set true, sorted.
    fn id_set(&mut self, key: &str) -> ApiResult<Vec<String>> {
        let path = self.sub(key);
        let node = self.obj(key)?;
        let mut ids = Vec::new();
        for (id, v) in node.map {
            match v {
                Value::Bool(true) => ids.push(id),
                Value::Bool(false) | Value::Null => {}
                _ => return Err(bad(&format!("{path}.{id}"), "must be a boolean")),
            }
        }
        Ok(ids)
    }
    /// Each entry of a record (`{id: {...}}`), in key order.
    fn entries(&mut self, key: &str) -> ApiResult<Vec<(String, Node)>> {
        let node = self.obj(key)?;
        let path = node.path.clone();
        let mut out = Vec::new();
        for (id, v) in node.map {
            if v.is_null() {
                continue;
            }
            out.push((id.clone(), Node::new(&format!("{path}.{id}"), Some(v))?));
        }
        Ok(out)
    }
    /// Fails on the first key nobody read.
    fn done(self) -> ApiResult<()> {
        match self.map.keys().next() {
            Some(key) => Err(bad(&self.sub(key), "is not a setting stackd knows")),
            None => Ok(()),
        }
    }
}

/// Reads a rendered (and merged) config back into `project`'s configuration, validating it.
pub fn apply_rendered(project: &mut Project, rendered: Value) -> ApiResult<()> {
    let mut root = Node::new("", Some(rendered))?;
    let mut patch = ProjectConfigPatch::default();

    let mut proj = root.obj("project")?;
    let require_key = proj.bool("requirePublishableClientKey")?;
    proj.done()?;

    let mut auth = root.obj("auth")?;
    patch.sign_up_enabled = Some(auth.bool("allowSignUp")?.unwrap_or(true));
    for (key, target) in [
        ("password", &mut patch.credential_enabled),
        ("otp", &mut patch.magic_link_enabled),
        ("passkey", &mut patch.passkey_enabled),
    ] {
        let mut method = auth.obj(key)?;
        *target = Some(method.bool("allowSignIn")?.unwrap_or(false));
        method.done()?;
    }
    let mut oauth = auth.obj("oauth")?;
    patch.oauth_account_merge_strategy =
        Some(oauth.string("accountMergeStrategy")?.unwrap_or_else(|| "link_method".into()));
    let mut providers = Vec::new();
    for (id, mut p) in oauth.entries("providers")? {
        let kind = p.string("type")?;
        let is_shared = p.bool("isShared")?.unwrap_or(true);
        let allow_sign_in = p.bool("allowSignIn")?.unwrap_or(true);
        p.bool("allowConnectedAccounts")?;
        let existing = project.config.oauth_providers.iter().find(|o| o.id == id);
        let input = OAuthProviderInput {
            id: id.clone(),
            kind: if is_shared { "shared" } else { "standard" }.into(),
            client_id: p.string("clientId")?,
            client_secret: p.string("clientSecret")?,
            facebook_config_id: p.string("facebookConfigId")?,
            microsoft_tenant_id: p.string("microsoftTenantId")?,
            apple_bundle_ids: existing.and_then(|o| o.apple_bundle_ids.clone()),
        };
        let path = p.path.clone();
        p.done()?;
        if kind.as_deref() != Some(id.as_str()) {
            return Err(bad(&format!("{path}.type"), "must be the provider type, equal to its key"));
        }
        if allow_sign_in {
            providers.push(input);
        }
    }
    patch.oauth_providers = Some(providers);
    oauth.done()?;
    let sign_up_rules = read_sign_up_rules(&mut auth)?;
    let default_action = auth.string("signUpRulesDefaultAction")?.unwrap_or_else(|| "allow".into());
    if default_action != "allow" && default_action != "reject" {
        return Err(bad("auth.signUpRulesDefaultAction", "must be one of the following values: allow, reject"));
    }
    auth.done()?;

    let mut onboarding = root.obj("onboarding")?;
    patch.require_email_verification = Some(onboarding.bool("requireEmailVerification")?.unwrap_or(false));
    onboarding.done()?;

    let mut domains = root.obj("domains")?;
    patch.allow_localhost = Some(domains.bool("allowLocalhost")?.unwrap_or(false));
    let mut trusted = Vec::new();
    let mut ids = Vec::new();
    for (id, mut d) in domains.entries("trustedDomains")? {
        let base_url = d.string("baseUrl")?;
        let handler_path = d.string("handlerPath")?.unwrap_or_else(|| "/handler".into());
        d.done()?;
        // A domain without a base URL is not trusted (spec 00 §6.3).
        if let Some(domain) = base_url {
            trusted.push(Domain { domain, handler_path });
            ids.push(id);
        }
    }
    patch.domains = Some(trusted);
    domains.done()?;

    let mut teams = root.obj("teams")?;
    patch.create_team_on_sign_up = Some(teams.bool("createPersonalTeamOnSignUp")?.unwrap_or(false));
    patch.client_team_creation_enabled = Some(teams.bool("allowClientTeamCreation")?.unwrap_or(false));
    teams.done()?;
    let mut users = root.obj("users")?;
    patch.client_user_deletion_enabled = Some(users.bool("allowClientUserDeletion")?.unwrap_or(false));
    users.done()?;
    let mut api_keys = root.obj("apiKeys")?;
    let mut enabled = api_keys.obj("enabled")?;
    patch.allow_user_api_keys = Some(enabled.bool("user")?.unwrap_or(false));
    patch.allow_team_api_keys = Some(enabled.bool("team")?.unwrap_or(false));
    enabled.done()?;
    api_keys.done()?;

    let mut rbac = root.obj("rbac")?;
    let mut definitions = std::collections::BTreeMap::new();
    for (id, mut d) in rbac.entries("permissions")? {
        let path = d.path.clone();
        let scope = d.string("scope")?.unwrap_or_else(|| TEAM_SCOPE.into());
        if scope != TEAM_SCOPE && scope != PROJECT_SCOPE {
            return Err(bad(&format!("{path}.scope"), "must be one of the following values: team, project"));
        }
        let description = d.string("description")?;
        let contained_permission_ids = d.id_set("containedPermissionIds")?;
        d.done()?;
        if id.starts_with('$') || id.is_empty() {
            return Err(bad(&path, "is not a valid permission id (ids starting with $ are the system's)"));
        }
        definitions.insert(id, PermissionDefinition { scope, description, contained_permission_ids });
    }
    let mut defaults = rbac.obj("defaultPermissions")?;
    let ids_of = |v: Vec<String>| Some(v.into_iter().map(|id| PermissionIdInput { id }).collect());
    patch.team_creator_default_permissions = ids_of(defaults.id_set("teamCreator")?);
    patch.team_member_default_permissions = ids_of(defaults.id_set("teamMember")?);
    patch.user_default_permissions = ids_of(defaults.id_set("signUp")?);
    defaults.done()?;
    rbac.done()?;

    let mut emails = root.obj("emails")?;
    patch.email_theme = emails.string("selectedThemeId")?;
    let mut server = emails.obj("server")?;
    let shared = server.bool("isShared")?.unwrap_or(true);
    let port = server.integer("port")?;
    if let Some(port) = port.filter(|p| !(0..=65535).contains(p)) {
        return Err(bad("emails.server.port", &format!("must be a port number, not {port}")));
    }
    let mut email = EmailConfigInput {
        kind: if shared { "shared" } else { "standard" }.into(),
        host: server.string("host")?,
        port,
        username: server.string("username")?,
        password: server.string("password")?,
        sender_name: server.string("senderName")?,
        sender_email: server.string("senderEmail")?,
    };
    server.done()?;
    emails.done()?;
    root.done()?;
    // The password is never rendered: an override that leaves it out keeps the stored one.
    if email.password.is_none() {
        email.password = project.config.email_server.as_ref().map(|s| s.password.clone());
    }
    if shared {
        email = EmailConfigInput {
            kind: "shared".into(),
            host: None,
            port: None,
            username: None,
            password: None,
            sender_name: None,
            sender_email: None,
        };
    }
    patch.email_config = Some(email);

    apply_patch(project, ProjectPatch { config: Some(patch), ..Default::default() })?;
    for (d, id) in project.config.domains.iter_mut().zip(ids) {
        d.id = id;
    }
    project.config.permission_definitions = definitions;
    project.config.sign_up_rules = sign_up_rules;
    project.config.sign_up_rules_default_action = default_action;
    if let Some(required) = require_key {
        project.config.require_publishable_client_key = required;
    }
    Ok(())
}

/// Longest sign-up rule condition accepted.
const MAX_CONDITION_LEN: usize = 4096;

/// `auth.signUpRules` (spec 10 §11.1): ids `^[a-zA-Z0-9_][a-zA-Z0-9_-]*$` of at most 63
/// characters, a non-negative priority, one of the four actions.
fn read_sign_up_rules(auth: &mut Node) -> ApiResult<std::collections::BTreeMap<String, SignUpRule>> {
    let mut rules = std::collections::BTreeMap::new();
    for (id, mut r) in auth.entries("signUpRules")? {
        let path = r.path.clone();
        let valid_id = id.len() <= 63
            && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_id {
            return Err(bad(&path, "is not a valid rule id (letters, digits, _ and -, at most 63 characters)"));
        }
        let enabled = r.bool("enabled")?.unwrap_or(false);
        let display_name = r.string("displayName")?;
        let priority = r.integer("priority")?.unwrap_or(0);
        if priority < 0 {
            return Err(bad(&format!("{path}.priority"), "must be at least 0"));
        }
        let condition = r.string("condition")?;
        if condition.as_ref().is_some_and(|c| c.len() > MAX_CONDITION_LEN) {
            return Err(bad(&format!("{path}.condition"), "is longer than 4096 characters"));
        }
        let mut action = r.obj("action")?;
        let kind = action.string("type")?.unwrap_or_else(|| "allow".into());
        if !SIGN_UP_RULE_ACTIONS.contains(&kind.as_str()) {
            return Err(bad(
                &format!("{path}.action.type"),
                "must be one of the following values: allow, reject, restrict, log",
            ));
        }
        let message = action.string("message")?;
        action.done()?;
        r.done()?;
        rules.insert(id, SignUpRule { enabled, display_name, priority, condition, action: kind, message });
    }
    Ok(rules)
}

/// Applies an override to the project: render, merge, read back.
pub fn apply_override(project: &mut Project, patch: &Map<String, Value>) -> ApiResult<()> {
    let mut rendered = render(&project.config);
    merge(&mut rendered, patch, "")?;
    apply_rendered(project, rendered)
}

/// Puts `paths` (dotted) back to their defaults: removed from the rendered config, then read back
/// (a missing setting reads as its schema default).
pub fn reset_paths(project: &mut Project, paths: &[String]) -> ApiResult<()> {
    let patch: Map<String, Value> = paths.iter().map(|p| (p.clone(), Value::Null)).collect();
    apply_override(project, &patch)
}

/// Flattens an override into its dotted leaf paths (used to know what a replaced override set).
pub fn leaf_paths(value: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
    for (key, v) in value {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match v {
            Value::Object(inner) if !inner.is_empty() => leaf_paths(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// A write through the config API (`/internal/config/override/{level}`).
pub enum OverrideWrite {
    /// PUT: the level's override becomes `config`; what the old one set and the new one does not
    /// returns to its default.
    Replace { config: Map<String, Value>, source: Option<Value> },
    /// PATCH: merged into the level's override and the effective configuration.
    Merge(Map<String, Value>),
    /// `reset-keys`: the paths leave the override and return to their defaults.
    ResetKeys(Vec<String>),
    /// `DELETE /internal/config/source`: the branch is no longer linked to a pushed source.
    Unlink,
}

/// Applies a config API write to the level's record and the effective configuration, in one
/// transaction.
pub async fn write(
    projects: &ProjectsService,
    project_id: &str,
    level: &'static str,
    write: OverrideWrite,
) -> ApiResult<()> {
    let id = project_id.to_string();
    projects
        .change_settings(project_id, move |tx, project, _| {
            let (mut record, mut source) = parse_override_row(store::config_override(tx, &id, level)?)?;
            match write {
                OverrideWrite::Replace { config, source: new_source } => {
                    let mut nested = Value::Object(Map::new());
                    merge(&mut nested, &config, "")?;
                    let (mut old, mut new) = (Vec::new(), Vec::new());
                    leaf_paths(record.as_object().expect("object"), "", &mut old);
                    leaf_paths(nested.as_object().expect("object"), "", &mut new);
                    old.retain(|p| !new.iter().any(|n| n == p || p.starts_with(&format!("{n}."))));
                    reset_paths(project, &old)?;
                    apply_override(project, &config)?;
                    record = nested;
                    if new_source.is_some() {
                        source = new_source;
                    }
                }
                OverrideWrite::Merge(patch) => {
                    apply_override(project, &patch)?;
                    merge(&mut record, &patch, "")?;
                }
                OverrideWrite::ResetKeys(keys) => {
                    reset_paths(project, &keys)?;
                    let nulls: Map<String, Value> = keys.into_iter().map(|k| (k, Value::Null)).collect();
                    merge(&mut record, &nulls, "")?;
                }
                OverrideWrite::Unlink => source = None,
            }
            store::set_config_override(tx, &id, level, &record.to_string(), source.map(|s| s.to_string()).as_deref())
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(config: ProjectConfig) -> Project {
        crate::projects::service::new_owned_project("t", config, None)
    }

    #[test]
    fn rendering_reads_back_unchanged() {
        for config in [ProjectConfig::default(), ProjectConfig::new_project(), ProjectConfig::development()] {
            let mut p = project(config.clone());
            apply_rendered(&mut p, render(&config)).unwrap();
            assert_eq!(p.config, config);
        }
    }

    #[test]
    fn dotted_and_nested_overrides_agree() {
        let mut a = project(ProjectConfig::new_project());
        let mut b = a.clone();
        let dotted =
            json!({ "auth.otp.allowSignIn": true, "domains.trustedDomains.prod.baseUrl": "https://a.example" });
        let nested = json!({ "auth": { "otp": { "allowSignIn": true } }, "domains": { "trustedDomains": { "prod": { "baseUrl": "https://a.example" } } } });
        apply_override(&mut a, dotted.as_object().unwrap()).unwrap();
        apply_override(&mut b, nested.as_object().unwrap()).unwrap();
        assert_eq!(a.config, b.config);
        assert!(a.config.magic_link_enabled);
        assert_eq!(a.config.domains[0].id, "prod");
        assert_eq!(a.config.domains[0].handler_path, "/handler");
    }

    #[test]
    fn unknown_paths_and_wrong_types_name_the_path() {
        let mut p = project(ProjectConfig::new_project());
        for (patch, needle) in [
            (json!({ "auth.nope": true }), "config.auth.nope"),
            (json!({ "auth.allowSignUp": "yes" }), "config.auth.allowSignUp"),
            (json!({ "emails.server.port": 70000 }), "config.emails.server.port"),
        ] {
            let err = apply_override(&mut p, patch.as_object().unwrap()).unwrap_err();
            assert!(format!("{err:?}").contains(needle), "{err:?}");
        }
    }
}
