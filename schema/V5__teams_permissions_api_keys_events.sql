-- Teams and memberships (spec 20 §1–§2), direct permission grants (§3), user and team API keys
-- (§4), and the event log (§6.2). Permission *definitions* live in the project's config document.
-- Team invitations are verification codes of type TEAM_INVITATION (V2).

CREATE TABLE teams (
    id                        TEXT PRIMARY KEY,
    project_id                TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    display_name              TEXT NOT NULL,
    profile_image_url         TEXT,
    client_metadata           TEXT,
    client_read_only_metadata TEXT,
    server_metadata           TEXT,
    created_at                INTEGER NOT NULL
);
CREATE INDEX teams_project ON teams(project_id, created_at, id);

-- A membership, with the member's own profile in the team (NULL = the user's own name / image).
CREATE TABLE team_members (
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    team_id           TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name      TEXT,
    profile_image_url TEXT,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id, team_id);

-- Direct grants. A team grant goes with its membership.
CREATE TABLE team_permissions (
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    team_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    permission_id TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id, permission_id),
    FOREIGN KEY (team_id, user_id) REFERENCES team_members(team_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_permissions_user ON team_permissions(user_id);

CREATE TABLE project_permissions (
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission_id TEXT NOT NULL,
    PRIMARY KEY (user_id, permission_id)
);
CREATE INDEX project_permissions_project ON project_permissions(project_id, user_id);

-- User and team API keys; only the SHA-256 of the key string is kept.
CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    type                TEXT NOT NULL,
    user_id             TEXT REFERENCES users(id) ON DELETE CASCADE,
    team_id             TEXT REFERENCES teams(id) ON DELETE CASCADE,
    description         TEXT NOT NULL,
    is_public           INTEGER NOT NULL,
    key_hash            BLOB NOT NULL UNIQUE,
    last_four           TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER,
    manually_revoked_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id, created_at);
CREATE INDEX api_keys_team ON api_keys(team_id, created_at);

-- Domain events in commit order (one writer, so `seq` order is commit order). Written in the
-- transaction of the change; webhook delivery reads them by position.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_project ON events(project_id, seq);
