-- E-mail (spec 20 §5): the durable outbox, the development mailbox, notification preferences,
-- custom templates and themes.

-- One row per recipient of every e-mail the API accepted, written in the same transaction as its
-- cause. The worker renders it at delivery time; `status` follows spec 20 §5.5.
CREATE TABLE email_outbox (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at               INTEGER NOT NULL,
    -- JSON: {"type":"user-primary-email","user_id"} | {"type":"user-custom-emails","user_id","emails"}
    --     | {"type":"custom-emails","emails"}
    recipient                TEXT NOT NULL,
    -- A built-in or custom template id; NULL when `html` holds the body.
    template_id              TEXT,
    html                     TEXT,
    variables                TEXT NOT NULL,
    subject                  TEXT,
    -- A theme id, 'none' for no theme, NULL for the project's selected theme.
    theme_id                 TEXT,
    notification_category_id TEXT NOT NULL,
    is_high_priority         INTEGER NOT NULL DEFAULT 0,
    scheduled_at             INTEGER NOT NULL,
    is_paused                INTEGER NOT NULL DEFAULT 0,
    status                   TEXT NOT NULL,
    attempts                 INTEGER NOT NULL DEFAULT 0,
    -- When the worker should next try; NULL once no further attempt will be made.
    next_attempt_at          INTEGER,
    last_error               TEXT,
    skipped_reason           TEXT,
    -- What was (last) rendered and to whom it went.
    rendered_subject         TEXT,
    rendered_html            TEXT,
    rendered_text            TEXT,
    to_addresses             TEXT,
    -- One-click unsubscribe link (categories that can be disabled, user recipients only).
    unsubscribe_link         TEXT,
    started_sending_at       INTEGER,
    sent_at                  INTEGER
);
-- The worker's queue: only rows with a next attempt are in it, high priority first.
CREATE INDEX email_outbox_due ON email_outbox(is_high_priority DESC, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX email_outbox_project ON email_outbox(project_id, created_at, id);

-- Development mailbox: where mail goes when the server has no SMTP server configured.
CREATE TABLE dev_mailbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    outbox_id    TEXT,
    -- The recipient's local part, lower-cased (the Inbucket mailbox name).
    mailbox      TEXT NOT NULL,
    from_name    TEXT NOT NULL,
    from_address TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    text_body    TEXT NOT NULL,
    html_body    TEXT NOT NULL,
    headers      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX dev_mailbox_name ON dev_mailbox(mailbox, id);
CREATE INDEX dev_mailbox_project ON dev_mailbox(project_id, id);

CREATE TABLE notification_preferences (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category_id TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    PRIMARY KEY (user_id, category_id)
);

-- Custom templates and themes: minijinja HTML sources (upstream stores TSX).
CREATE TABLE email_templates (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    source       TEXT NOT NULL,
    -- A theme id, 'none', or NULL for the project's selected theme.
    theme_id     TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX email_templates_project ON email_templates(project_id);

CREATE TABLE email_themes (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX email_themes_project ON email_themes(project_id);
