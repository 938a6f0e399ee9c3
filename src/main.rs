use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use stackd::config::{Cli, Command, Config, ProjectCommand};
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
        Command::Project(ProjectCommand::Create { name, db }) => create_project(&name, &db),
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

fn create_project(name: &str, db: &stackd::config::DbArgs) -> Result<(), String> {
    let _lock = stackd::db::lock_database(&db.path)?;
    let database = stackd::db::Db::open(&db.path, db.synchronous == "full")?;
    let (project, keys) = database
        .write_now(|tx| create_with_keys(tx, name, ProjectConfig::new_project()))
        .map_err(|e| format!("cannot create project: {e}"))?;
    database.close();
    println!(
        "Created project {:?}. The keys are shown only now; only their hashes are stored.\n",
        project.display_name
    );
    println!("  Project id:              {}", project.id);
    println!("  Publishable client key:  {}", keys.publishable_client_key);
    println!("  Secret server key:       {}", keys.secret_server_key);
    println!("  Super secret admin key:  {}", keys.super_secret_admin_key);
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
