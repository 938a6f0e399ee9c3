use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use stackd::config::{Cli, Command, Config, DbArgs, KeysCommand, ProjectCommand, UsersCommand};
use stackd::projects::{service::create_with_keys, ProjectConfig};

/// `STACKD_LOG` is a tracing filter (`info`, `warn`, `stackd=debug`…); a wrong one is an error, not
/// silence. Colours only when standard error is a terminal.
fn init_logging(json: bool) -> Result<(), String> {
    let filter = match std::env::var("STACKD_LOG") {
        Ok(text) if !text.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&text)
            .map_err(|e| format!("STACKD_LOG={text:?} is not a valid log filter (e.g. info, warn, debug): {e}"))?,
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let installed = if json {
        // One JSON object per line; the request span's fields (its `request_id`) are flattened in.
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))
}

fn main() -> ExitCode {
    stackd::hashing::tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Project(ProjectCommand::Create { name, owner_team, db }) => create_project(&name, owner_team, &db),
        Command::Project(ProjectCommand::List { db }) => list_projects(&db),
        Command::Project(ProjectCommand::Apply { file, db }) => apply_config(&file, &db),
        Command::Project(ProjectCommand::Keys(command)) => manage_keys(command),
        Command::Openapi => print_openapi(),
        Command::Backup { to, db } => backup(&to, &db),
        Command::Restore { file, db } => restore(&file, &db),
        Command::Users(UsersCommand::Export { project, to, db }) => export_users(&project, to.as_deref(), &db),
        Command::Users(UsersCommand::Import { file, project, batch, db }) => {
            import_users(&file, &project, batch as usize, &db)
        }
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
    let json_logs = args.log_format == "json";
    let config = Config::from_args(args)?;
    init_logging(json_logs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let server = stackd::server::start(config, true).await?;
        stackd::hashing::release_free_memory();
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

/// A progress line on standard error: redrawn in place on a terminal, else printed at most every
/// few seconds (logs stay readable).
struct ProgressLine {
    terminal: bool,
    last: std::time::Instant,
    started: std::time::Instant,
}

impl ProgressLine {
    fn new() -> Self {
        let now = std::time::Instant::now();
        ProgressLine { terminal: std::io::stderr().is_terminal(), last: now, started: now }
    }

    fn show(&mut self, text: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{text}");
        } else if self.last.elapsed() >= std::time::Duration::from_secs(5) {
            eprintln!("{text}");
            self.last = std::time::Instant::now();
        }
    }

    fn bar(done: u64, total: u64) -> String {
        const WIDTH: u64 = 30;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH) as usize;
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        format!("[{}{}] {percent:>3}%", "#".repeat(filled), " ".repeat(WIDTH as usize - filled))
    }

    fn finish(&self) -> f64 {
        if self.terminal {
            eprintln!();
        }
        self.started.elapsed().as_secs_f64()
    }
}

fn backup(to: &std::path::Path, db: &DbArgs) -> Result<(), String> {
    let mut line = ProgressLine::new();
    let report = stackd::backup::backup(&db.path, to, |p| {
        line.show(&format!(
            "backup {} {}/{} pages",
            ProgressLine::bar(p.copied_pages, p.total_pages),
            p.copied_pages,
            p.total_pages
        ))
    })?;
    let took = line.finish();
    println!(
        "Backed up {} to {} ({} pages, {:.1} MiB) in {took:.1} s.",
        db.path.display(),
        to.display(),
        report.pages,
        report.bytes as f64 / 1_048_576.0
    );
    Ok(())
}

fn restore(file: &std::path::Path, db: &DbArgs) -> Result<(), String> {
    let _lock = stackd::db::lock_database(&db.path).map_err(|e| format!("{e}; stop the server before restoring"))?;
    let kept = stackd::backup::restore(file, &db.path)?;
    println!("Restored {} from {}.", db.path.display(), file.display());
    if let Some(kept) = kept {
        println!("The database it replaced is kept as {}.", kept.display());
    }
    Ok(())
}

fn export_users(project: &str, to: Option<&std::path::Path>, db: &DbArgs) -> Result<(), String> {
    let mut out: Box<dyn Write> = match to {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create_new(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut line = ProgressLine::new();
    let written =
        stackd::transfer::service::export(&db.path, project, &mut out, |n| line.show(&format!("exported {n} users")))?;
    let took = line.finish();
    eprintln!("Exported {written} users of project {project} in {took:.1} s.");
    Ok(())
}

fn import_users(file: &std::path::Path, project: &str, batch: usize, db: &DbArgs) -> Result<(), String> {
    let mut input: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin().lock()))
    } else {
        let f = std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };

    if !db.path.exists() {
        return Err(format!("there is no database at {} (give its path with --db)", db.path.display()));
    }
    let _lock = stackd::db::lock_database(&db.path).map_err(|e| format!("{e}; stop the server before importing"))?;
    let database = stackd::db::Db::open(&db.path, db.synchronous == "full")?;
    let mut line = ProgressLine::new();
    let result = stackd::transfer::service::import(
        &database,
        project,
        &mut input,
        batch,
        |number, reason| eprintln!("{}: line {number}: {reason}; skipped", file.display()),
        |r| {
            let rate = r.lines as f64 / line.started.elapsed().as_secs_f64().max(0.001);
            let text = format!(
                "import: {} lines, {} imported, {} already present, {} invalid ({rate:.0} lines/s)",
                r.lines, r.imported, r.already_present, r.invalid
            );
            line.show(&text)
        },
    );
    database.close();
    let report = result?;
    let took = line.finish();

    println!(
        "Imported {} users into project {project} in {took:.1} s ({:.0} users/s); {} already present, {} invalid lines skipped.",
        report.imported,
        report.imported as f64 / took.max(0.001),
        report.already_present,
        report.invalid
    );
    if report.invalid > 0 {
        return Err(format!("{} line(s) were invalid and skipped (listed above)", report.invalid));
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
