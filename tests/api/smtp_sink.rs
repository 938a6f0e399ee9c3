//! A real SMTP server for tests: speaks the protocol on loopback, keeps every message it accepts,
//! and can go down (connections refused, open ones cut) and come back on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// One message as received: envelope and raw DATA.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut unfolded: Vec<String> = vec![];
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = unfolded.last_mut() {
                    last.push_str(line.trim_start_matches(['\t']));
                }
            } else {
                unfolded.push(line.to_string());
            }
        }
        unfolded.into_iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// Every MIME part's body, transfer-decoded and joined.
    pub fn body(&self) -> String {
        let mut out = String::new();
        for part in self.data.split("\r\n--") {
            let (head, body) = part.split_once("\r\n\r\n").unwrap_or(("", part));
            let head_lower = head.to_ascii_lowercase();
            let decoded = if head_lower.contains("content-transfer-encoding: quoted-printable") {
                decode_quoted_printable(body)
            } else if head_lower.contains("content-transfer-encoding: base64") {
                let compact: String = body.split("\r\n").take_while(|l| !l.starts_with("--")).collect();
                String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default())
                    .into_owned()
            } else {
                body.to_string()
            };
            out.push_str(&decoded);
            out.push('\n');
        }
        out
    }

    /// The 45-character code of the first `code=` link in the message.
    pub fn code(&self) -> String {
        let body = self.body();
        let start = body.find("code=").expect("the e-mail has a link with a code") + 5;
        let code: String = body[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert_eq!(code.len(), 45, "codes are 45 characters: {code}");
        code
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let bytes = s.replace("=\r\n", "").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct Running {
    accept: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    running: Arc<Mutex<Running>>,
    /// User name and password of the last `AUTH PLAIN`.
    last_login: Arc<Mutex<Vec<String>>>,
    /// While set, connections are accepted and then never answered (not even the greeting).
    hanging: Arc<std::sync::atomic::AtomicBool>,
}

fn bind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let sink = SmtpSink {
            addr,
            messages: Arc::default(),
            running: Arc::default(),
            last_login: Arc::default(),
            hanging: Arc::default(),
        };
        sink.serve(listener);
        sink
    }

    /// `STACKD_SMTP_URL` of this sink (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let (messages, running, logins) = (self.messages.clone(), self.running.clone(), self.last_login.clone());
        let hanging = self.hanging.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = if hanging.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::spawn(async move {
                        let _held = stream;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    })
                } else {
                    tokio::spawn(session(stream, messages.clone(), logins.clone()))
                };
                running.lock().unwrap().connections.push(conn);
            }
        });
        self.running.lock().unwrap().accept = Some(accept);
    }

    /// Goes down: new connections are refused and open ones are cut.
    pub fn stop(&self) {
        let mut r = self.running.lock().unwrap();
        if let Some(a) = r.accept.take() {
            a.abort();
        }
        for c in r.connections.drain(..) {
            c.abort();
        }
    }

    /// Comes back on the same port.
    pub async fn resume(&self) {
        // The aborted accept task drops its listener at its next poll.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.serve(bind(self.addr));
    }

    /// Hangs: new connections are accepted and never answered, until `hang(false)`.
    pub fn hang(&self, on: bool) {
        self.hanging.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn last_login(&self) -> Vec<String> {
        self.last_login.lock().unwrap().clone()
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived (up to 30 s) and returns all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} e-mails, the sink received {}", self.messages().len());
    }

    /// The last message to `address`, waiting for it.
    pub async fn last_to(&self, address: &str) -> Received {
        for _ in 0..600 {
            if let Some(m) = self.messages().into_iter().rev().find(|m| m.rcpt_to.iter().any(|r| r == address)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no e-mail to {address} arrived; the sink has {:?}",
            self.messages().iter().map(|m| &m.rcpt_to).collect::<Vec<_>>()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn angle(arg: &str) -> String {
    let s = arg.split_once(':').map(|(_, v)| v).unwrap_or(arg).trim();
    s.trim_start_matches('<').split('>').next().unwrap_or("").to_string()
}

async fn session(stream: TcpStream, messages: Arc<Mutex<Vec<Received>>>, logins: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 sink.test ESMTP ready\r\n").await.is_err() {
        return;
    }
    let (mut from, mut to) = (String::new(), vec![]);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM") {
            from = angle(&cmd);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            to.push(angle(&cmd));
            b"250 OK\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = cmd.split_whitespace().nth(2).unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
            let parts: Vec<String> = raw.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            *logins.lock().unwrap() = parts.into_iter().skip(1).collect();
            b"235 authenticated\r\n"
        } else if upper.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            messages.lock().unwrap().push(Received { mail_from: from.clone(), rcpt_to: to.clone(), data });
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
