//! Integration tests: the real server on an ephemeral port with a temporary SQLite file, over HTTP.

mod helpers;
mod oauth_stub;
mod smtp_sink;
mod webhook_receiver;

mod api_keys;
mod architecture;
mod auth;
mod cli;
mod cli_auth;
mod config_api;
mod conformance;
mod contact_channels;
mod email_flows;
mod emails;
mod events;
mod faults;
mod invitations;
mod key_sets;
mod logging;
mod oauth;
mod oauth_accounts;
mod openapi;
mod operations;
mod owned_projects;
mod passkeys;
mod permissions;
mod pipeline;
mod projects;
mod security;
mod sessions;
mod sign_up_rules;
mod teams;
mod tokens;
mod users;
mod webhooks;
