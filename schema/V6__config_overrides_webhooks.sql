-- What each level of the config API last wrote (the effective configuration stays in
-- projects.config), and the branch's pushed-config source.
CREATE TABLE config_overrides (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    level      TEXT NOT NULL,
    config     TEXT NOT NULL,
    source     TEXT,
    PRIMARY KEY (project_id, level)
);

-- Webhooks (spec 20 §6): one Svix-style application per project, holding endpoints.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    uid         TEXT,
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    disabled    INTEGER NOT NULL DEFAULT 0,
    -- JSON array of event types; NULL = every event.
    event_types TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    -- The signing secret (`whsec_…`). It signs, so it is kept, not hashed.
    secret      TEXT NOT NULL,
    -- The secret before the last rotation, still signing until previous_secret_until.
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_project ON webhook_endpoints(project_id, created_at);
CREATE UNIQUE INDEX webhook_endpoints_uid ON webhook_endpoints(project_id, uid) WHERE uid IS NOT NULL;

-- One message per event (and per test send); its body is the exact bytes every attempt signs.
CREATE TABLE webhook_messages (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_messages_project ON webhook_messages(project_id, created_at);

-- A message to one endpoint: its state in the retry schedule.
-- status: 0 success, 1 pending, 2 fail, 3 sending (Svix's MessageStatus).
CREATE TABLE webhook_deliveries (
    message_id      TEXT NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status IN (1, 3);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);

-- Every HTTP attempt. trigger_type: 0 scheduled, 1 manual (resend).
CREATE TABLE webhook_attempts (
    id                   TEXT PRIMARY KEY,
    message_id           TEXT NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_message ON webhook_attempts(message_id, created_at);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, created_at);

-- How far the dispatcher has read the event log (events.seq).
CREATE TABLE webhook_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
-- Events already in the log when webhooks arrive predate every endpoint: start after them.
INSERT INTO webhook_cursor (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
