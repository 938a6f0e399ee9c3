//! A minimal SMTP sink for `make bench`: accepts every message on `127.0.0.1:<port>` and writes the
//! running count to `<count file>` every 20 ms. Usage: `smtp_sink <port> <count file>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn session(stream: TcpStream, count: Arc<AtomicU64>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 bench-sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write.write_all(b"250-bench-sink\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
            }
            count.fetch_add(1, Ordering::Relaxed);
            write.write_all(b"250 queued\r\n").await?;
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 OK\r\n").await?;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).expect("usage: smtp_sink <port> <count file>");
    let file = args.get(2).expect("usage: smtp_sink <port> <count file>").clone();
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let count = Arc::new(AtomicU64::new(0));
    let writer = count.clone();
    tokio::spawn(async move {
        loop {
            // Written whole, then renamed, so a reader never sees a partial number.
            let tmp = format!("{file}.tmp");
            if std::fs::write(&tmp, writer.load(Ordering::Relaxed).to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(session(stream, count.clone()));
    }
}
