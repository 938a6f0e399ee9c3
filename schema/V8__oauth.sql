-- OAuth sign-in (spec 10 §10): the accounts users hold at identity providers, the provider tokens
-- kept for connected accounts (sealed with a key derived from the server secret, never in the
-- clear), the "outer" flow's pending authorizations (keyed by the inner state, 10 min) and the
-- authorization codes handed to the SDK (SHA-256 only, ~5 min, used once).

CREATE TABLE oauth_accounts (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id                  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The provider's id in the project config (`github`…).
    provider_config_id       TEXT NOT NULL,
    provider_account_id      TEXT NOT NULL,
    email                    TEXT,
    -- Signing in with this account is one of the user's auth methods.
    allow_sign_in            INTEGER NOT NULL DEFAULT 1,
    allow_connected_accounts INTEGER NOT NULL DEFAULT 1,
    created_at               INTEGER NOT NULL
);
CREATE INDEX oauth_accounts_provider_account ON oauth_accounts(project_id, provider_config_id, provider_account_id);
CREATE INDEX oauth_accounts_user ON oauth_accounts(user_id, created_at);

CREATE TABLE oauth_tokens (
    id               TEXT PRIMARY KEY,
    oauth_account_id TEXT NOT NULL REFERENCES oauth_accounts(id) ON DELETE CASCADE,
    -- `access` or `refresh`.
    kind             TEXT NOT NULL,
    -- Nonce ‖ ciphertext ‖ tag (ChaCha20-Poly1305).
    sealed           BLOB NOT NULL,
    -- Space-separated scopes the token was granted with.
    scopes           TEXT NOT NULL,
    expires_at       INTEGER,
    is_valid         INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL
);
CREATE INDEX oauth_tokens_account ON oauth_tokens(oauth_account_id, kind, created_at);

CREATE TABLE oauth_outer_states (
    inner_state_hash BLOB PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- JSON: the outer request (redirect URI, PKCE challenge, state…) and the inner PKCE verifier.
    info             TEXT NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX oauth_outer_states_expiry ON oauth_outer_states(expires_at);

CREATE TABLE oauth_codes (
    code_hash  BLOB PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- JSON: redirect URI, PKCE challenge and method, is_new_user, after-callback URL.
    data       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX oauth_codes_expiry ON oauth_codes(expires_at);
