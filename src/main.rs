use std::process::ExitCode;

use clap::Parser;
use stackd::config::{Cli, Command, Config, ProjectCommand, DEV_SERVER_SECRET};
use stackd::projects::{self, ProjectConfig};

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKD_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
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
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let server = stackd::server::start(config, true).await?;
        server.wait().await.map_err(|e| format!("server error: {e}"))?;
        tracing::info!("stopped; database closed");
        Ok(())
    })
}

fn create_project(name: &str, db: &stackd::config::DbArgs) -> Result<(), String> {
    let database = stackd::db::Db::open(&db.path, db.synchronous == "full")?;
    let (project, keys) = database
        .write_now(|tx| projects::create_with_keys(tx, name, ProjectConfig::new_project()))
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

fn print_openapi() -> Result<(), String> {
    let state = stackd::state::AppState::new(
        spec_config(),
        stackd::db::Db::open(std::path::Path::new(":memory:"), false)?,
        "http://localhost:8102",
    );
    print!("{}", stackd::api::spec_json(&state));
    Ok(())
}

/// A throw-away configuration: the spec does not depend on any setting.
fn spec_config() -> Config {
    Config {
        listen: "127.0.0.1:8102".parse().expect("valid address"),
        db_path: ":memory:".into(),
        synchronous_full: false,
        server_secret: DEV_SERVER_SECRET.into(),
        base_url: None,
        access_token_ttl: std::time::Duration::from_secs(600),
        dev: false,
    }
}
