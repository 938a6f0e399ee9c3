//! Export and import runs: streaming, batched, with progress reports.

use std::io::{BufRead, Write};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{store, UserLine};
use crate::db::Db;
use crate::error::ApiError;

/// Users read per query when exporting.
const EXPORT_PAGE: usize = 500;
/// The longest line an import reads; a longer one is reported and skipped, never buffered whole.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Invalid lines remembered for the report (all are printed as they are met).
const MAX_REPORTED: usize = 1000;

/// Writes every user of `project_id` as JSON Lines to `out`, from one consistent snapshot of the
/// database (a read transaction; a running server may keep writing). `progress` gets the count
/// written so far after each page. Returns how many users were written.
pub fn export(db: &Path, project_id: &str, out: &mut dyn Write, mut progress: impl FnMut(u64)) -> Result<u64, String> {
    if !db.exists() {
        return Err(format!("there is no database at {} (give its path with --db)", db.display()));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
    if !store::project_exists(&conn, project_id).map_err(|e| e.to_string())? {
        return Err(format!("there is no project {project_id} in {}", db.display()));
    }
    let mut after = None;
    let mut written = 0u64;
    loop {
        let page = store::page(&conn, project_id, after.take(), EXPORT_PAGE).map_err(|e| e.to_string())?;
        for user in &page {
            serde_json::to_writer(&mut *out, user).map_err(|e| format!("cannot write: {e}"))?;
            out.write_all(b"\n").map_err(|e| format!("cannot write: {e}"))?;
        }
        written += page.len() as u64;
        progress(written);
        match page.last() {
            Some(last) if page.len() == EXPORT_PAGE => after = Some((last.signed_up_at_millis, last.id.clone())),
            _ => break,
        }
    }
    out.flush().map_err(|e| format!("cannot write: {e}"))?;
    Ok(written)
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub lines: u64,
    pub imported: u64,
    /// Users whose id was already in the database (a re-run): left as they are.
    pub already_present: u64,
    pub invalid: u64,
    /// The first invalid lines: (line number, reason).
    pub problems: Vec<(u64, String)>,
}

/// One line of input: its text, or why it was unreadable.
enum Line {
    Text(String),
    Unreadable(String),
}

/// Reads one line of at most [`MAX_LINE_BYTES`]; `None` at the end of input.
fn next_line(input: &mut dyn BufRead) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
        // Skip the rest of the overlong line without keeping it.
        loop {
            let chunk = input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    input.consume(i + 1);
                    break;
                }
                None => {
                    let len = chunk.len();
                    input.consume(len);
                }
            }
        }
        return Ok(Some(Line::Unreadable(format!("longer than {MAX_LINE_BYTES} bytes"))));
    }
    match String::from_utf8(buf) {
        Ok(text) => Ok(Some(Line::Text(text))),
        Err(_) => Ok(Some(Line::Unreadable("not UTF-8".into()))),
    }
}

/// Imports JSON Lines users into `project_id`, committing every `batch` lines. Each user is
/// written whole or not at all; users already present are skipped, so a re-run is harmless.
/// `on_problem` hears each invalid line as it is met; `progress` the report after each batch.
pub fn import(
    db: &Db,
    project_id: &str,
    input: &mut dyn BufRead,
    batch: usize,
    mut on_problem: impl FnMut(u64, &str),
    mut progress: impl FnMut(&ImportReport),
) -> Result<ImportReport, String> {
    let exists = db.read_now(|c| store::project_exists(c, project_id)).map_err(|e| e.to_string())?;
    if !exists {
        return Err(format!("there is no project {project_id} (create it first with `stackd project create`)"));
    }
    let mut report = ImportReport::default();
    let mut parsed: Vec<(u64, UserLine)> = Vec::with_capacity(batch);
    let mut done = false;
    while !done {
        parsed.clear();
        while parsed.len() < batch {
            let Some(line) = next_line(input).map_err(|e| format!("cannot read the input: {e}"))? else {
                done = true;
                break;
            };
            report.lines += 1;
            let number = report.lines;
            let result = match line {
                Line::Unreadable(reason) => Err(reason),
                Line::Text(text) if text.trim().is_empty() => continue,
                Line::Text(text) => serde_json::from_str::<UserLine>(&text)
                    .map_err(|e| format!("not a user: {e}"))
                    .and_then(|u| u.validate().map(|()| u)),
            };
            match result {
                Ok(user) => parsed.push((number, user)),
                Err(reason) => problem(&mut report, number, reason, &mut on_problem),
            }
        }
        if parsed.is_empty() {
            continue;
        }
        let outcomes = db
            .write_now(|tx| {
                let mut outcomes = Vec::with_capacity(parsed.len());
                for (number, user) in &parsed {
                    if let Some(project) = store::user_exists(tx, &user.id)? {
                        outcomes.push((*number, Outcome::Present(project)));
                        continue;
                    }
                    tx.execute_batch("SAVEPOINT import_user")?;
                    match store::insert_user(tx, project_id, user) {
                        Ok(()) => {
                            tx.execute_batch("RELEASE import_user")?;
                            outcomes.push((*number, Outcome::Imported));
                        }
                        Err(e) => {
                            tx.execute_batch("ROLLBACK TO import_user; RELEASE import_user")?;
                            outcomes.push((*number, Outcome::Refused(refusal(e))));
                        }
                    }
                }
                Ok(outcomes)
            })
            .map_err(|e| format!("cannot write a batch: {e}"))?;
        for (number, outcome) in outcomes {
            match outcome {
                Outcome::Imported => report.imported += 1,
                Outcome::Present(project) if project == project_id => report.already_present += 1,
                Outcome::Present(_) => problem(
                    &mut report,
                    number,
                    "a user with this id exists in another project".into(),
                    &mut on_problem,
                ),
                Outcome::Refused(reason) => problem(&mut report, number, reason, &mut on_problem),
            }
        }
        progress(&report);
    }
    Ok(report)
}

enum Outcome {
    Imported,
    Present(String),
    Refused(String),
}

fn problem(report: &mut ImportReport, line: u64, reason: String, on_problem: &mut impl FnMut(u64, &str)) {
    on_problem(line, &reason);
    report.invalid += 1;
    if report.problems.len() < MAX_REPORTED {
        report.problems.push((line, reason));
    }
}

/// A database refusal of one user, in words.
fn refusal(e: ApiError) -> String {
    let text = e.to_string();
    if text.contains("contact_channels.project_id") || text.contains("contact_channels_auth") {
        "an e-mail used for sign-in belongs to another user".into()
    } else if text.contains("UNIQUE") {
        format!("an id is already taken: {text}")
    } else {
        text
    }
}
