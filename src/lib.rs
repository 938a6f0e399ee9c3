//! stackd: the Stack Auth REST API (v1) as one binary with an embedded SQLite database.
//!
//! Three layers, imported only downwards (a test checks there are no cycles):
//! - infrastructure, which imports no domain: `config`, `db`, `cache`, `crypto`, `tokens`,
//!   `hashing`, `rate_limit`, `jobs`, `metrics`, `backup`, `error`, `request_info`, `request_schema`, `payload`, `web`, `openapi_doc`, `infra`, `dashboard` (the embedded
//!   admin pages: static files only);
//! - domains, each a folder with its model, `store` (SQL), `service` (rules, transactions) and
//!   `api` (handlers): `projects` (incl. who is calling), `events` (the event log), `sessions`, `images`,
//!   `users`, `verification`, `auth` (sign-up, sign-in, tokens), `oauth` (OAuth sign-in, provider links,
//!   connected accounts, the development provider), `contact_channels`, `emails`,
//!   `permissions`, `teams` (incl. memberships, profiles, invitations), `api_keys`, `owned_projects`
//!   (dashboard users' projects), `overview` (the dashboard's figures), `system`;
//! - assembly: `pipeline` (what every request goes through), `api` (route assembly, the only module
//!   naming every domain), `server`.

pub mod api;
pub mod api_keys;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod config;
pub mod contact_channels;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod emails;
pub mod error;
pub mod events;
pub mod hashing;
pub mod images;
pub mod infra;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod openapi_doc;
pub mod overview;
pub mod owned_projects;
pub mod payload;
pub mod permissions;
pub mod pipeline;
pub mod projects;
pub mod rate_limit;
pub mod request_info;
pub mod request_schema;
pub mod server;
pub mod sessions;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod transfer;
pub mod users;
pub mod verification;
pub mod web;
pub mod webhooks;
