//! A minimal webhook receiver for `make bench`: answers every POST on `127.0.0.1:<port>` with 200
//! (keep-alive), after `[delay ms]` (default 0: a receiver across a network takes longer), and
//! appends `<svix-id> <arrival unix millis>` to `<log file>` for each.
//! Usage: `webhook_sink <port> <log file> [delay ms]`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn connection(stream: TcpStream, log: Arc<Mutex<std::fs::File>>, delay: Duration) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let (mut length, mut id) = (0usize, String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "svix-id" => id = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis();
        writeln!(log.lock().expect("log lock"), "{id} {now}")?;
        tokio::time::sleep(delay).await;
        write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: webhook_sink <port> <log file>");
    let path = args.next().expect("usage: webhook_sink <port> <log file>");
    let delay = Duration::from_millis(args.next().and_then(|d| d.parse().ok()).unwrap_or(0));
    let log = Arc::new(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let log = log.clone();
        tokio::spawn(async move {
            let _ = connection(stream, log, delay).await;
        });
    }
}
