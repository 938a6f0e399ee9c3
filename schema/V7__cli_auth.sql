-- CLI sign-in (upstream's `auth/cli` routes): a CLI creates an attempt and polls it; a signed-in
-- browser completes it. Both codes are stored as SHA-256 hashes only; the CLI's refresh token is
-- minted when it polls, so no token is stored here.
CREATE TABLE cli_auth_attempts (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    polling_code_hash BLOB NOT NULL UNIQUE,
    login_code_hash   BLOB NOT NULL UNIQUE,
    -- The anonymous user the CLI was using when it started (for `claim-anon-session`).
    anon_user_id      TEXT,
    -- The browser's user, once the attempt is completed.
    user_id           TEXT REFERENCES users(id) ON DELETE CASCADE,
    used_at           INTEGER,
    expires_at        INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX cli_auth_attempts_expiry ON cli_auth_attempts(expires_at);
