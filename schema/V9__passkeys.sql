-- Passkeys (spec 10 §9): at most one per user. `credential` is the verified WebAuthn credential
-- (public key, counter, flags) as webauthn-rs serializes it; the credential id is kept apart for
-- lookups by the id an assertion names.
CREATE TABLE passkeys (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- base64url of the credential id.
    credential_id TEXT NOT NULL,
    credential    TEXT NOT NULL,
    counter       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX passkeys_credential ON passkeys(project_id, credential_id);
