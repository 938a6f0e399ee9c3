//! stackd: the Stack Auth REST API (v1) as one binary with an embedded SQLite database.
//!
//! Layout: `pipeline` (what every request goes through), `context` (who is calling), `error` (the
//! KnownError envelope), `api` (route assembly), and one module per domain (`projects`, `users`,
//! `sessions`, `auth`, …), each owning its routes, SQL and types.

pub mod api;
pub mod auth;
pub mod config;
pub mod context;
pub mod crypto;
pub mod db;
pub mod error;
pub mod hashing;
pub mod payload;
pub mod pipeline;
pub mod projects;
pub mod read_cache;
pub mod server;
pub mod sessions;
pub mod state;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod verification;
