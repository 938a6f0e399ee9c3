//! Server configuration: command-line flags with matching environment variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

/// The fixed secret of development mode. It is public, so tokens signed with it protect nothing.
pub const DEV_SERVER_SECRET: &str = "stackd-development-secret-NOT-FOR-PRODUCTION-use-only-on-localhost";

/// OAuth provider types that may use the server's shared credentials (spec 10 §10.1).
pub const SHARED_OAUTH_TYPES: &[&str] = &["google", "github", "microsoft", "spotify"];

#[derive(Parser, Debug)]
#[command(
    name = "stackd",
    version,
    about = "The Stack Auth REST API (v1) as one binary with an embedded SQLite database"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once at start
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Print the OpenAPI specification (JSON) to standard output.
    Openapi,
    /// Copy the database to a new file, consistently, while a server may keep serving from it
    /// (SQLite's online backup API).
    Backup {
        /// The new file (must not exist yet).
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace the database with a backup. Refused while a server runs on the database; the
    /// replaced file is kept as `<db>.before-restore`.
    Restore {
        /// The backup file (checked with `PRAGMA integrity_check` first).
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Move users in and out as JSON Lines.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Write every user of a project, one JSON object per line (works while a server runs).
    Export {
        /// The project whose users are written.
        #[arg(long, default_value = "internal")]
        project: String,
        /// Output file; standard output when absent.
        #[arg(long)]
        to: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Read users written by `export` (or made to its format) into a project. Users already
    /// present are skipped, so it can be re-run; invalid lines are reported with their number
    /// and skipped. Run it while no server is using the database.
    Import {
        /// The JSON Lines file; `-` for standard input.
        file: PathBuf,
        /// The project that receives the users.
        #[arg(long, default_value = "internal")]
        project: String,
        /// Lines committed per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project with a fresh key set and print its id and keys (shown once; only hashes are stored).
    Create {
        /// Display name of the new project.
        #[arg(long)]
        name: String,
        /// A team of the `internal` project whose members administer the project with their own
        /// access tokens (the dashboard's way); without it, only the printed keys do.
        #[arg(long)]
        owner_team: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Apply a project configuration file (JSON: `project_id` plus the admin settings of
    /// `PATCH /internal/projects/current`) and print what changed; applying it again changes nothing.
    Apply {
        /// The configuration file.
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the projects with their ids and how many key sets each has live.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage a project's key sets (for an operator who lost the keys printed at creation).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key set (publishable client, secret server and super secret admin key) and print
    /// the keys (shown once; only hashes are stored).
    Create {
        /// The project's id.
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "Created by stackd project keys create")]
        description: String,
        /// Days until the keys stop working (default: no practical expiry, 2099-12-31).
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List a project's key sets, newest first (each key as its last four characters).
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key set: its keys stop working.
    Revoke {
        #[arg(long)]
        project: String,
        /// The key set's id (from `stackd project keys list`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Path of the SQLite database file.
    #[arg(long = "db", env = "STACKD_DB", default_value = "./stackd.db")]
    pub path: PathBuf,
    /// SQLite `synchronous` level: `full` (an acknowledged write survives power loss) or `normal`.
    #[arg(long, env = "STACKD_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    pub synchronous: String,
    /// Largest size the database may grow to, in MiB (SQLite's `max_page_count`). Past it, writes
    /// fail with `507` and reads keep working; deleting data or raising the limit lets writes resume.
    #[arg(long, env = "STACKD_MAX_DB_SIZE_MB")]
    pub max_db_size_mb: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "STACKD_LISTEN", default_value = "127.0.0.1:8102")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Secret all signing keys are derived from (at least 32 bytes). Required unless --dev.
    #[arg(long, env = "STACK_SERVER_SECRET", hide_env_values = true)]
    pub server_secret: Option<String>,
    /// Public base URL of this server, used in token issuers and links. Default: http://<listen>.
    #[arg(long, env = "STACKD_BASE_URL")]
    pub base_url: Option<String>,
    /// A project configuration file (see `stackd project apply`) applied at start, before the
    /// server accepts requests.
    #[arg(long, env = "STACKD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Access-token lifetime, e.g. `10min`, `60s`, `1h`.
    #[arg(long, env = "STACK_ACCESS_TOKEN_EXPIRATION_TIME", default_value = "10min", value_parser = parse_duration)]
    pub access_token_ttl: Duration,
    /// Development mode: a fixed development secret and a ready `internal` project with well-known keys.
    /// The variable takes true/false, 1/0, yes/no or on/off.
    #[arg(long, env = "STACKD_DEV", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub dev: bool,
    /// Rate limits (per client IP and per account on credential endpoints, and a per-IP ceiling on
    /// all API requests): `on` or `off`. Default: on, except in development mode.
    #[arg(long, env = "STACKD_RATE_LIMITS", value_parser = BoolishValueParser::new())]
    pub rate_limits: Option<bool>,
    /// The admin dashboard at `/dashboard` (static pages that call this server's own admin API):
    /// `on` or `off`. Default: on in development mode, off otherwise; when on, the start-up log
    /// says where it is.
    #[arg(long, env = "STACKD_DASHBOARD", value_parser = BoolishValueParser::new())]
    pub dashboard: Option<bool>,
    /// The per-IP ceiling on API requests, per minute.
    #[arg(long, env = "STACKD_RATE_LIMIT_PER_IP", default_value_t = 6000)]
    pub rate_limit_per_ip: u32,
    /// Behind a reverse proxy: the header it sets to the client's address (e.g. `x-forwarded-for`;
    /// the last address in it is used). Without it the socket peer is the client.
    #[arg(long, env = "STACKD_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection stays open, e.g. `10s`.
    #[arg(long, env = "STACKD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Open connections served at once; past it a new connection gets `503` + `Retry-After` and is
    /// closed (each open connection holds buffers).
    #[arg(long, env = "STACKD_MAX_CONNECTIONS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// SMTP server for projects on the `shared` e-mail config, e.g. `smtp://user:pass@host:587`,
    /// `smtps://host:465`, `smtp://127.0.0.1:1025?tls=none`. Without it, mail goes to the
    /// development mailbox (kept in the database, readable through the API).
    #[arg(long, env = "STACKD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of mail sent through the server's SMTP server.
    #[arg(long, env = "STACKD_EMAIL_SENDER_ADDRESS", default_value = "noreply@stackd.localhost")]
    pub email_sender_address: String,
    /// Sender name of mail sent through the server's SMTP server. Default: the project's display name.
    #[arg(long, env = "STACKD_EMAIL_SENDER_NAME")]
    pub email_sender_name: Option<String>,
    /// How many times the outbox tries to deliver an e-mail before it gives up (with exponential
    /// backoff from 10 s, capped at 30 min: 12 attempts span about three hours).
    #[arg(long, env = "STACKD_EMAIL_MAX_ATTEMPTS", default_value_t = 12)]
    pub email_max_attempts: u32,
    /// Delay before the second delivery attempt of an e-mail; doubled after each failure, up to 30 min.
    #[arg(long, env = "STACKD_EMAIL_RETRY_BASE", default_value = "10s", value_parser = parse_duration)]
    pub email_retry_base: Duration,
    /// Delays between a webhook's failed attempts, comma-separated (Svix's schedule by default:
    /// after the immediate attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then it fails).
    #[arg(long, env = "STACKD_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5min,30min,2h,5h,10h,10h")]
    pub webhook_retry_schedule: String,
    /// Development only: serve the development mailbox's Inbucket-style read API
    /// (`GET /api/v1/mailbox/{name}` and `/{name}/{id}`) on this address, e.g. `127.0.0.1:8105`.
    #[arg(long, env = "STACKD_DEV_MAILBOX_LISTEN")]
    pub dev_mailbox_listen: Option<SocketAddr>,
    /// Point an OAuth provider type at an OpenID Connect issuer whose discovery document replaces
    /// the built-in endpoints, e.g. `gitlab=https://gitlab.example.com` (self-hosted) or a test
    /// provider. Comma-separated `TYPE=ISSUER` pairs; the flag may be repeated.
    #[arg(long = "oauth-issuer", env = "STACKD_OAUTH_ISSUERS", value_delimiter = ',')]
    pub oauth_issuers: Vec<String>,
    /// Where Apple publishes the keys of its identity tokens (native Sign in with Apple).
    #[arg(long, env = "STACKD_APPLE_JWKS_URL", default_value = "https://appleid.apple.com/auth/keys")]
    pub apple_jwks_url: String,
    /// Log line format on standard error: `text` (for people) or `json` (one object per line, for
    /// log collectors). Every line logged while serving a request carries its `request_id`.
    #[arg(long, env = "STACKD_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Scheduled backups: a directory that receives a consistent copy of the database every
    /// `--backup-every`, keeping the newest `--backup-keep`.
    #[arg(long, env = "STACKD_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// How often a scheduled backup is taken, e.g. `1h`, `30min`.
    #[arg(long, env = "STACKD_BACKUP_EVERY", default_value = "1h", value_parser = parse_duration)]
    pub backup_every: Duration,
    /// How many scheduled backups are kept (older ones are deleted).
    #[arg(long, env = "STACKD_BACKUP_KEEP", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,
}

/// Request bodies held in memory at once: 32 MiB (eight of the largest allowed, thousands of the
/// usual few hundred bytes).
pub const DEFAULT_BODY_BUDGET: usize = 32 * 1024 * 1024;

/// Scheduled backups (`--backup-dir`).
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

/// Retry schedule of the e-mail outbox.
#[derive(Debug, Clone)]
pub struct EmailRetry {
    /// How often the worker looks for due rows.
    pub poll_interval: Duration,
    /// Delay after the first failed attempt; doubled after each further one.
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

/// Webhook delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How often the dispatcher looks for new events and due deliveries.
    pub poll_interval: Duration,
    /// Delay before each retry; its length + 1 is the number of attempts.
    pub retry_delays: Vec<Duration>,
    /// Longest wait for a receiver's answer.
    pub request_timeout: Duration,
}

impl WebhookConfig {
    /// Svix's schedule (spec 20 §6.3).
    pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
        text.split(',')
            .map(|d| {
                parse_duration(d).map_err(|e| format!("STACKD_WEBHOOK_RETRY_SCHEDULE (--webhook-retry-schedule): {e}"))
            })
            .collect()
    }
}

/// Outbound OAuth settings (spec 10 §10.1).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Provider type → OpenID Connect issuer used instead of the built-in endpoints.
    pub issuers: BTreeMap<String, String>,
    /// The server's shared client credentials by provider type, from `STACK_<TYPE>_CLIENT_ID` and
    /// `STACK_<TYPE>_CLIENT_SECRET`. In development mode, shared providers without them use the
    /// development OAuth provider.
    pub shared_credentials: BTreeMap<String, (String, String)>,
    /// Longest wait for one request to a provider.
    pub request_timeout: Duration,
    /// Apple's identity-token keys (JWKS).
    pub apple_jwks_url: String,
}

impl OAuthConfig {
    pub fn parse_issuers(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
        let mut issuers = BTreeMap::new();
        for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let Some((kind, issuer)) = pair.split_once('=') else {
                return Err(format!("STACKD_OAUTH_ISSUERS (--oauth-issuer): {pair:?} is not TYPE=ISSUER"));
            };
            if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
                return Err(format!("STACKD_OAUTH_ISSUERS (--oauth-issuer): {issuer:?} is not an http(s) URL"));
            }
            issuers.insert(kind.trim().to_ascii_lowercase(), issuer.trim_end_matches('/').to_string());
        }
        Ok(issuers)
    }

    /// `STACK_<TYPE>_CLIENT_ID` / `_SECRET` pairs present in the environment.
    pub fn shared_credentials_from_env(types: &[&str]) -> BTreeMap<String, (String, String)> {
        types
            .iter()
            .filter_map(|t| {
                let upper = t.to_ascii_uppercase();
                let id = std::env::var(format!("STACK_{upper}_CLIENT_ID")).ok().filter(|v| !v.is_empty())?;
                let secret = std::env::var(format!("STACK_{upper}_CLIENT_SECRET")).ok().filter(|v| !v.is_empty())?;
                Some((t.to_string(), (id, secret)))
            })
            .collect()
    }
}

/// Server-level mail settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: deliver to the development mailbox.
    pub smtp: Option<crate::mail::SmtpSettings>,
    pub sender_address: String,
    pub sender_name: Option<String>,
    pub retry: EmailRetry,
    pub dev_mailbox_listen: Option<SocketAddr>,
}

/// Validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub db_path: PathBuf,
    pub synchronous_full: bool,
    /// `--max-db-size-mb`, in bytes.
    pub max_db_bytes: Option<u64>,
    pub backups: Option<BackupSchedule>,
    pub server_secret: String,
    /// Origin used in issuers and links, without a trailing slash; `None` = `http://<bound address>`.
    pub base_url: Option<String>,
    pub access_token_ttl: Duration,
    pub dev: bool,
    pub rate_limits: bool,
    /// Serve the admin dashboard at `/dashboard` (`--dashboard`).
    pub dashboard: bool,
    /// Per-IP ceiling on API requests per minute (when `rate_limits`).
    pub rate_limit_per_ip: u32,
    /// Lower-case header name of a trusted reverse proxy's client-address header.
    pub trusted_proxy_header: Option<String>,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Request bodies held in memory at once, in bytes (at least one largest body, 4 MiB).
    pub body_budget_bytes: usize,
    /// Start the background jobs (always, except in tests that drive them by hand).
    pub background_jobs: bool,
    pub mail: MailConfig,
    pub webhooks: WebhookConfig,
    pub oauth: OAuthConfig,
    /// A project configuration file applied at start (config as code, `--config`).
    pub project_config_file: Option<PathBuf>,
}

impl Config {
    /// A configuration for tests and tools: development mode, no rate limits, in-memory database.
    pub fn for_tests(db_path: PathBuf) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            db_path,
            synchronous_full: false,
            max_db_bytes: None,
            backups: None,
            server_secret: DEV_SERVER_SECRET.into(),
            base_url: None,
            access_token_ttl: Duration::from_secs(600),
            dev: true,
            rate_limits: false,
            dashboard: true,
            rate_limit_per_ip: 6000,
            trusted_proxy_header: None,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
            body_budget_bytes: DEFAULT_BODY_BUDGET,
            background_jobs: true,
            project_config_file: None,
            oauth: OAuthConfig {
                issuers: BTreeMap::new(),
                shared_credentials: BTreeMap::new(),
                request_timeout: Duration::from_secs(2),
                apple_jwks_url: "https://appleid.apple.com/auth/keys".into(),
            },
            // Fast polling and retries, so outage tests take seconds.
            webhooks: WebhookConfig {
                poll_interval: Duration::from_millis(20),
                retry_delays: vec![Duration::from_millis(200), Duration::from_millis(400), Duration::from_millis(800)],
                request_timeout: Duration::from_secs(5),
            },
            mail: MailConfig {
                smtp: None,
                sender_address: "noreply@stackd.localhost".into(),
                sender_name: None,
                // Fast retries, so outage tests take seconds.
                retry: EmailRetry {
                    poll_interval: Duration::from_millis(50),
                    base: Duration::from_millis(100),
                    max_delay: Duration::from_millis(500),
                    max_attempts: 100,
                },
                dev_mailbox_listen: None,
            },
        }
    }

    /// Checks the flags; the error is one line naming the bad setting.
    pub fn from_args(args: ServeArgs) -> Result<Config, String> {
        let server_secret = match (args.server_secret, args.dev) {
            (Some(s), _) if s.len() >= 32 => s,
            (Some(_), _) => return Err("STACK_SERVER_SECRET (--server-secret) must be at least 32 bytes long".into()),
            (None, true) => DEV_SERVER_SECRET.to_string(),
            (None, false) => {
                return Err("STACK_SERVER_SECRET (--server-secret) is required outside development mode (--dev)".into())
            }
        };
        if args.access_token_ttl < Duration::from_secs(21) {
            return Err("STACK_ACCESS_TOKEN_EXPIRATION_TIME (--access-token-ttl) must be more than 20s: the SDK refuses shorter-lived tokens".into());
        }
        let base_url = match args.base_url {
            Some(url) => {
                let url = url.trim_end_matches('/').to_string();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err("STACKD_BASE_URL (--base-url) must start with http:// or https://".into());
                }
                Some(url)
            }
            None => None,
        };
        if args.header_read_timeout < Duration::from_secs(1) {
            return Err("STACKD_HEADER_READ_TIMEOUT (--header-read-timeout) must be at least 1s".into());
        }
        let trusted_proxy_header = match args.trusted_proxy_header {
            Some(h) if poem::http::HeaderName::from_bytes(h.trim().as_bytes()).is_err() || h.trim().is_empty() => {
                return Err(format!("STACKD_TRUSTED_PROXY_HEADER (--trusted-proxy-header): {h:?} is not a header name"))
            }
            other => other.map(|h| h.trim().to_ascii_lowercase()),
        };
        let smtp = args.smtp_url.as_deref().map(crate::mail::SmtpSettings::from_url).transpose()?;
        if !crate::mail::is_valid_address(&args.email_sender_address) {
            return Err(format!(
                "STACKD_EMAIL_SENDER_ADDRESS (--email-sender-address): {:?} is not an e-mail address",
                args.email_sender_address
            ));
        }
        if args.dev_mailbox_listen.is_some() && !(args.dev && smtp.is_none()) {
            return Err("STACKD_DEV_MAILBOX_LISTEN (--dev-mailbox-listen) needs development mode (--dev) and no STACKD_SMTP_URL".into());
        }
        let mail = MailConfig {
            smtp,
            sender_address: args.email_sender_address,
            sender_name: args.email_sender_name.filter(|n| !n.trim().is_empty()),
            retry: EmailRetry {
                poll_interval: Duration::from_millis(200),
                base: args.email_retry_base.max(Duration::from_secs(1)),
                max_delay: Duration::from_secs(30 * 60).max(args.email_retry_base),
                max_attempts: args.email_max_attempts.max(1),
            },
            dev_mailbox_listen: args.dev_mailbox_listen,
        };
        let webhooks = WebhookConfig {
            poll_interval: Duration::from_millis(100),
            retry_delays: WebhookConfig::parse_schedule(&args.webhook_retry_schedule)?,
            request_timeout: Duration::from_secs(15),
        };
        let oauth = OAuthConfig {
            issuers: OAuthConfig::parse_issuers(&args.oauth_issuers)?,
            shared_credentials: OAuthConfig::shared_credentials_from_env(SHARED_OAUTH_TYPES),
            request_timeout: Duration::from_secs(10),
            apple_jwks_url: args.apple_jwks_url,
        };
        Ok(Config {
            mail,
            webhooks,
            oauth,
            listen: args.listen,
            db_path: args.db.path,
            synchronous_full: args.db.synchronous == "full",
            max_db_bytes: args.db.max_db_size_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
            backups: args.backup_dir.map(|dir| BackupSchedule {
                dir,
                every: args.backup_every,
                keep: args.backup_keep as usize,
            }),
            server_secret,
            base_url,
            access_token_ttl: args.access_token_ttl,
            rate_limits: args.rate_limits.unwrap_or(!args.dev),
            dashboard: args.dashboard.unwrap_or(args.dev),
            rate_limit_per_ip: args.rate_limit_per_ip.max(1),
            trusted_proxy_header,
            header_read_timeout: args.header_read_timeout,
            max_connections: args.max_connections as usize,
            body_budget_bytes: DEFAULT_BODY_BUDGET,
            background_jobs: true,
            dev: args.dev,
            project_config_file: args.config,
        })
    }
}

/// Parses jose-style durations: `600`, `60s`, `10min`, `1h`, `2d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 60s, 10min, 1h"))?;
    let secs = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => n * 3600,
        "d" | "day" | "days" => n * 86400,
        other => return Err(format!("invalid duration unit {other:?}: use ms, s, min, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10min").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }

    /// The dashboard is off outside development mode unless `--dashboard on` turns it on.
    #[test]
    fn dashboard_default_follows_dev_mode() {
        use clap::Parser;
        let dashboard = |args: &[&str]| {
            let mut argv = vec!["stackd", "serve", "--server-secret", "0123456789abcdef0123456789abcdef"];
            argv.extend_from_slice(args);
            let Command::Serve(serve) = Cli::try_parse_from(argv).expect("valid flags").command else {
                panic!("not serve")
            };
            Config::from_args(serve).expect("valid config").dashboard
        };
        assert!(!dashboard(&[]));
        assert!(dashboard(&["--dashboard", "on"]));
        assert!(dashboard(&["--dev"]));
        assert!(!dashboard(&["--dev", "--dashboard", "off"]));
    }
}
