use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use stackd::config::{Cli, Command, Config, DbArgs, KeysCommand, ProjectCommand};
use stackd::projects::{service::create_with_keys, ProjectConfig};

/// `STACKD_LOG` is a tracing filter (`info`, `warn`, `stackd=debug`…); a wrong one is an error, not
/// silence. Colours only when standard error is a terminal.
fn init_logging() -> Result<(), String> {
    let filter = match std::env::var("STACKD_LOG") {
        Ok(text) if !text.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&text)
            .map_err(|e| format!("STACKD_LOG={text:?} is not a valid log filter (e.g. info, warn, debug): {e}"))?,
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Project(ProjectCommand::Create { name, owner_team, db }) => create_project(&name, owner_team, &db),
        Command::Project(ProjectCommand::List { db }) => list_projects(&db),
        Command::Project(ProjectCommand::Apply { file, db }) => apply_config(&file, &db),
        Command::Project(ProjectCommand::Keys(command)) => manage_keys(command),
        Command::Openapi => print_openapi(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stackd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: stackd::config::ServeArgs) -> Result<(), String> {
    let config = Config::from_args(args)?;
    init_logging()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let server = stackd::server::start(config, true).await?;
        server.wait().await;
        tracing::info!("stopped; database closed");
        Ok(())
    })
}

fn create_project(name: &str, owner_team: Option<String>, db: &stackd::config::DbArgs) -> Result<(), String> {
    let _lock = stackd::db::lock_database(&db.path)?;
    let database = stackd::db::Db::open(&db.path, db.synchronous == "full")?;
    let (project, keys) = database
        .write_now(|tx| {
            let (mut project, keys) = create_with_keys(tx, name, ProjectConfig::new_project())?;
            if let Some(team) = owner_team {
                if !stackd::teams::store::exists(tx, stackd::projects::INTERNAL_PROJECT_ID, &team)? {
                    return Err(stackd::error::ApiError::bad_request(format!(
                        "there is no team {team} in the internal project"
                    )));
                }
                project.owner_team_id = Some(team);
                stackd::projects::store::update(tx, &project)?;
            }
            Ok((project, keys))
        })
        .map_err(|e| format!("cannot create project: {e}"))?;
    database.close();
    println!(
        "Created project {:?}. The keys are shown only now; only their hashes are stored.\n",
        project.display_name
    );
    println!("  Project id:              {}", project.id);
    if let Some(team) = &project.owner_team_id {
        println!("  Owner team:              {team}");
    }
    println!("  Publishable client key:  {}", keys.publishable_client_key);
    println!("  Secret server key:       {}", keys.secret_server_key);
    println!("  Super secret admin key:  {}", keys.super_secret_admin_key);
    Ok(())
}

/// Opens an existing database for a command while no server holds it.
fn open_db(db: &DbArgs) -> Result<(stackd::db::Db, stackd::db::FileLock), String> {
    if !db.path.exists() {
        return Err(format!("there is no database at {} (give its path with --db)", db.path.display()));
    }
    let lock = stackd::db::lock_database(&db.path)?.ok_or("an in-memory database holds no projects")?;
    Ok((stackd::db::Db::open(&db.path, db.synchronous == "full")?, lock))
}

fn apply_config(file: &std::path::Path, db: &DbArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (database, _lock) = open_db(db)?;
    let result = stackd::projects::apply::apply(&database, &text);
    database.close();
    let (project, changes) = result.map_err(|e| format!("cannot apply {}: {e}", file.display()))?;
    if changes.is_empty() {
        println!("Project {project} already matches {}: nothing changed.", file.display());
    } else {
        println!("Applied {} to project {project}: {} change(s).", file.display(), changes.len());
        for c in changes {
            println!("  {}: {} → {}", c.path, c.before, c.after);
        }
    }
    Ok(())
}

fn time(millis: i64) -> String {
    stackd::db::format_millis(millis)
}

fn list_projects(db: &DbArgs) -> Result<(), String> {
    let (database, _lock) = open_db(db)?;
    let projects = database.read_now(stackd::projects::store::list).map_err(|e| e.to_string())?;
    println!("{:<38} {:<24} {:>9}  created", "id", "name", "key sets");
    for p in projects {
        let sets = database.read_now(|c| stackd::projects::store::key_sets(c, &p.id)).map_err(|e| e.to_string())?;
        let now = stackd::db::now_millis();
        let live = sets.iter().filter(|k| k.revoked_at.is_none() && k.expires_at > now).count();
        println!("{:<38} {:<24} {:>9}  {}", p.id, p.display_name, live, time(p.created_at));
    }
    database.close();
    Ok(())
}

/// 2099-12-31T23:59:59Z, as `stackd project create` gives its keys.
const NO_PRACTICAL_EXPIRY: i64 = 4_102_444_799_000;

fn manage_keys(command: KeysCommand) -> Result<(), String> {
    use stackd::projects::key_sets;
    match command {
        KeysCommand::Create { project, description, expires_in_days, db } => {
            let (database, _lock) = open_db(&db)?;
            let expires_at = match expires_in_days {
                Some(days) => stackd::db::now_millis() + i64::from(days) * 86_400_000,
                None => NO_PRACTICAL_EXPIRY,
            };
            let new = key_sets::NewKeySet {
                description,
                expires_at,
                has_publishable_client_key: true,
                has_secret_server_key: true,
                has_super_secret_admin_key: true,
            };
            let (set, keys) =
                key_sets::create(&database, &project, new).map_err(|e| format!("cannot create keys: {e}"))?;
            database.close();
            println!("Created key set {} for project {project}. The keys are shown only now.\n", set.id);
            println!("  Publishable client key:  {}", keys.publishable_client_key.unwrap_or_default());
            println!("  Secret server key:       {}", keys.secret_server_key.unwrap_or_default());
            println!("  Super secret admin key:  {}", keys.super_secret_admin_key.unwrap_or_default());
            println!("  Expires:                 {}", time(set.expires_at));
        }
        KeysCommand::List { project, db } => {
            let (database, _lock) = open_db(&db)?;
            let sets =
                database.read_now(|c| stackd::projects::store::key_sets(c, &project)).map_err(|e| e.to_string())?;
            database.close();
            println!("{:<38} {:<10} {:<24} {:<24} description", "id", "keys", "expires", "revoked");
            for k in sets {
                let four = |v: &Option<String>, kind: &str| v.as_ref().map(|l| format!("{kind}…{l}"));
                let keys: Vec<String> = [
                    four(&k.publishable_client_key_last4, "pck"),
                    four(&k.secret_server_key_last4, "ssk"),
                    four(&k.super_secret_admin_key_last4, "sak"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let revoked = k.revoked_at.map(time).unwrap_or_else(|| "-".into());
                println!(
                    "{:<38} {:<10} {:<24} {:<24} {}",
                    k.id,
                    keys.len(),
                    time(k.expires_at),
                    revoked,
                    k.description
                );
                println!("{:<38} {}", "", keys.join(" "));
            }
        }
        KeysCommand::Revoke { project, id, db } => {
            let (database, _lock) = open_db(&db)?;
            let set = database
                .write_now(|tx| key_sets::update_in(tx, &project, &id, None, true))
                .map_err(|e| format!("cannot revoke key set {id}: {e}"))?;
            database.close();
            println!("Revoked key set {} of project {project}; its keys no longer work.", set.id);
        }
    }
    Ok(())
}

/// Prints the OpenAPI document. A closed pipe (`stackd openapi | head`) ends quietly.
fn print_openapi() -> Result<(), String> {
    let db = stackd::db::Db::open(std::path::Path::new(":memory:"), false)?;
    let infra = stackd::infra::Infra::new(Config::for_tests(":memory:".into()), db, "http://localhost:8102");
    let services = stackd::api::Services::new(infra);
    let spec = stackd::api::spec_json(&services);
    match std::io::stdout().lock().write_all(spec.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write the document: {e}")),
        _ => Ok(()),
    }
}
