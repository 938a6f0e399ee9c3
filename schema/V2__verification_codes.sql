-- One-time codes (spec 10 §3): MFA attempts now; e-mail verification, magic links and password
-- resets later. Only hashes are stored: of the whole 45-character code (lookup) and of its last
-- 39 characters, the "nonce" that failed attempts are counted against.

CREATE TABLE verification_codes (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    code_hash     BLOB NOT NULL UNIQUE,
    nonce_hash    BLOB NOT NULL,
    data          TEXT NOT NULL,
    method        TEXT NOT NULL,
    redirect_url  TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    attempt_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX verification_codes_nonce ON verification_codes(project_id, nonce_hash);
