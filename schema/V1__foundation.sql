-- Foundation schema: projects and their key sets, users, contact channels, password credentials,
-- sessions (refresh tokens). Times are integer milliseconds since the epoch. Secrets are stored as
-- SHA-256 hashes only. Every user-owned row carries project_id so each query is scoped by project.

CREATE TABLE projects (
    id                      TEXT PRIMARY KEY,
    display_name            TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    created_at              INTEGER NOT NULL,
    is_production_mode      INTEGER NOT NULL DEFAULT 0,
    owner_team_id           TEXT,
    logo_url                TEXT,
    logo_full_url           TEXT,
    logo_dark_mode_url      TEXT,
    logo_full_dark_mode_url TEXT,
    onboarding_status       TEXT NOT NULL DEFAULT 'completed',
    -- JSON document of the project's configuration (see src/projects/config.rs); new settings get
    -- serde defaults, so adding one needs no migration.
    config                  TEXT NOT NULL
);

CREATE TABLE api_key_sets (
    id                             TEXT PRIMARY KEY,
    project_id                     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    description                    TEXT NOT NULL,
    created_at                     INTEGER NOT NULL,
    expires_at                     INTEGER NOT NULL,
    manually_revoked_at            INTEGER,
    publishable_client_key_hash    BLOB UNIQUE,
    publishable_client_key_last4   TEXT,
    secret_server_key_hash         BLOB UNIQUE,
    secret_server_key_last4        TEXT,
    super_secret_admin_key_hash    BLOB UNIQUE,
    super_secret_admin_key_last4   TEXT
);
CREATE INDEX api_key_sets_project ON api_key_sets(project_id);

CREATE TABLE users (
    id                                  TEXT PRIMARY KEY,
    project_id                          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    display_name                        TEXT,
    profile_image_url                   TEXT,
    signed_up_at                        INTEGER NOT NULL,
    last_active_at                      INTEGER NOT NULL,
    client_metadata                     TEXT,
    client_read_only_metadata           TEXT,
    server_metadata                     TEXT,
    is_anonymous                        INTEGER NOT NULL DEFAULT 0,
    restricted_by_admin                 INTEGER NOT NULL DEFAULT 0,
    restricted_by_admin_reason          TEXT,
    restricted_by_admin_private_details TEXT,
    country_code                        TEXT,
    risk_score_bot                      INTEGER NOT NULL DEFAULT 0,
    risk_score_free_trial_abuse         INTEGER NOT NULL DEFAULT 0,
    otp_auth_enabled                    INTEGER NOT NULL DEFAULT 0,
    totp_secret                         BLOB,
    requires_totp_mfa                   INTEGER NOT NULL DEFAULT 0,
    selected_team_id                    TEXT
);
CREATE INDEX users_project_signed_up ON users(project_id, signed_up_at, id);

CREATE TABLE contact_channels (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    value         TEXT NOT NULL,
    is_primary    INTEGER NOT NULL DEFAULT 0,
    is_verified   INTEGER NOT NULL DEFAULT 0,
    used_for_auth INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    UNIQUE (user_id, type, value)
);
CREATE INDEX contact_channels_user ON contact_channels(user_id);
-- At most one channel per (project, type, value) may be used to sign in.
CREATE UNIQUE INDEX contact_channels_auth ON contact_channels(project_id, type, value) WHERE used_for_auth = 1;
CREATE UNIQUE INDEX contact_channels_primary ON contact_channels(user_id, type) WHERE is_primary = 1;

CREATE TABLE password_credentials (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL
);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_token_hash BLOB NOT NULL UNIQUE,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER,
    last_used_at       INTEGER NOT NULL,
    is_impersonation   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id, created_at);
