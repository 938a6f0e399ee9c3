-- Operations: the row `/health/ready` rewrites to prove that a write commits.
CREATE TABLE readiness_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
