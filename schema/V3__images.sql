-- Images uploaded as data URLs (profile pictures): upstream keeps them in object storage; stackd
-- keeps them here and serves them at /api/v1/images/{id}.
CREATE TABLE images (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX images_project ON images(project_id);
