//! SMTP delivery (lettre): server settings, message building and sending. STARTTLS when the server
//! offers it, or implicit TLS on ports 465 / 2465 and `smtps://`. Infrastructure: imports no domain
//! (the e-mail domain decides what to send and where).

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

/// How long connecting and each SMTP command may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 465 / 2465, `smtps://`).
    Implicit,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS or fail (`?tls=required`).
    Required,
    /// Plain text (`?tls=none`), for a local relay.
    None,
}

/// An SMTP server and the sender to use on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub tls: TlsMode,
}

/// Percent-decoding for the user and password of an SMTP URL.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
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

impl SmtpSettings {
    /// Parses `smtp://[user[:password]@]host[:port][?tls=required|none]` or `smtps://…`.
    /// `smtp://` defaults to port 587 with STARTTLS when offered; `smtps://` to 465.
    pub fn from_url(url: &str) -> Result<SmtpSettings, String> {
        let bad = |why: &str| format!("STACKD_SMTP_URL (--smtp-url): {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected smtp://… or smtps://…"))?;
        let implicit = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad("the scheme must be smtp or smtps")),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("the port is not a number"))?),
            None => (hostport, if implicit { 465 } else { 587 }),
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(percent_decode(user)), Some(percent_decode(pass))),
                None => (Some(percent_decode(u)), None),
            },
        };
        let mut tls = if implicit { TlsMode::Implicit } else { TlsMode::Opportunistic };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair {
                "tls=required" if !implicit => tls = TlsMode::Required,
                "tls=none" if !implicit => tls = TlsMode::None,
                "tls=opportunistic" if !implicit => tls = TlsMode::Opportunistic,
                other => return Err(bad(&format!("unknown option {other:?} (use tls=required or tls=none)"))),
            }
        }
        Ok(SmtpSettings { host: host.to_string(), port, username, password, tls })
    }

    /// A project's `standard` server (spec 20 §5.1): implicit TLS on 465 and 2465, else STARTTLS
    /// when offered.
    pub fn standard(host: &str, port: u16, username: &str, password: &str) -> SmtpSettings {
        SmtpSettings {
            host: host.to_string(),
            port,
            username: Some(username.to_string()).filter(|u| !u.is_empty()),
            password: Some(password.to_string()).filter(|p| !p.is_empty()),
            tls: if port == 465 || port == 2465 { TlsMode::Implicit } else { TlsMode::Opportunistic },
        }
    }

    /// A pooled transport with connect/command timeouts.
    pub fn transport(&self, pool: bool) -> Result<SmtpTransport, String> {
        let params = || TlsParameters::new(self.host.clone()).map_err(|e| format!("TLS setup failed: {e}"));
        let tls = match self.tls {
            TlsMode::Implicit => Tls::Wrapper(params()?),
            TlsMode::Opportunistic => Tls::Opportunistic(params()?),
            TlsMode::Required => Tls::Required(params()?),
            TlsMode::None => Tls::None,
        };
        let mut builder =
            SmtpTransport::builder_dangerous(&self.host).port(self.port).tls(tls).timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(pass)) = (&self.username, &self.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        builder = if pool {
            builder.pool_config(PoolConfig::new().max_size(8).idle_timeout(Duration::from_secs(30)))
        } else {
            builder.pool_config(PoolConfig::new().max_size(1).min_idle(0).idle_timeout(Duration::from_millis(1)))
        };
        Ok(builder.build())
    }
}

/// One message ready for the wire.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub message_id: String,
    pub from_name: String,
    pub from_address: String,
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// `List-Unsubscribe` target (RFC 8058 one-click), if the category can be disabled.
    pub unsubscribe_link: Option<String>,
}

impl OutgoingEmail {
    pub fn build(&self) -> Result<Message, String> {
        let from = Mailbox::new(
            Some(self.from_name.clone()).filter(|n| !n.is_empty()),
            self.from_address.parse().map_err(|e| format!("bad sender address {:?}: {e}", self.from_address))?,
        );
        let mut builder = Message::builder().message_id(Some(self.message_id.clone())).from(from);
        for to in &self.to {
            let to: Mailbox = to.parse().map_err(|e| format!("bad recipient address {to:?}: {e}"))?;
            builder = builder.to(to);
        }
        builder = builder.subject(self.subject.clone());
        if let Some(link) = &self.unsubscribe_link {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{link}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(self.text.clone(), self.html.clone()))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// The headers the development mailbox keeps (as Inbucket shows them).
    pub fn headers(&self) -> serde_json::Value {
        let mut h = serde_json::json!({
            "Message-ID": [self.message_id.clone()],
            "From": [format!("{} <{}>", self.from_name, self.from_address)],
            "To": self.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>(),
            "Subject": [self.subject.clone()],
        });
        if let Some(link) = &self.unsubscribe_link {
            h["List-Unsubscribe"] = serde_json::json!([format!("<{link}>")]);
            h["List-Unsubscribe-Post"] = serde_json::json!(["List-Unsubscribe=One-Click"]);
        }
        h
    }
}

/// Sends one message; the error text says what went wrong, without credentials.
pub fn send(transport: &SmtpTransport, email: &OutgoingEmail) -> Result<(), String> {
    let message = email.build()?;
    transport.send(&message).map(|_| ()).map_err(|e| describe(&e))
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    if e.is_timeout() {
        return "Timed out while talking to the e-mail server. Make sure it is running and accepting connections."
            .into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether lettre accepts `address` as a mailbox address.
pub fn is_valid_address(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

/// Links in a rendered body (logged for the development mailbox).
pub fn links_in(text: &str) -> Vec<String> {
    let mut links = vec![];
    for word in text.split_whitespace() {
        let w = word.trim_matches(|c: char| matches!(c, '(' | ')' | '<' | '>' | '"' | '\''));
        if (w.starts_with("http://") || w.starts_with("https://")) && !links.iter().any(|l| l == w) {
            links.push(w.to_string());
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = SmtpSettings::from_url("smtp://me%40x.com:p%3Ass@mail.example.com:2525?tls=required").unwrap();
        assert_eq!(s.host, "mail.example.com");
        assert_eq!(s.port, 2525);
        assert_eq!(s.username.as_deref(), Some("me@x.com"));
        assert_eq!(s.password.as_deref(), Some("p:ss"));
        assert_eq!(s.tls, TlsMode::Required);
        let s = SmtpSettings::from_url("smtps://mail.example.com").unwrap();
        assert_eq!((s.port, s.tls), (465, TlsMode::Implicit));
        let s = SmtpSettings::from_url("smtp://127.0.0.1:1025?tls=none").unwrap();
        assert_eq!((s.port, s.tls, s.username), (1025, TlsMode::None, None));
        assert!(SmtpSettings::from_url("http://x").is_err());
        assert!(SmtpSettings::from_url("smtp://x:port").is_err());
        assert!(SmtpSettings::from_url("smtp://x?tls=maybe").is_err());
        assert_eq!(SmtpSettings::standard("h", 465, "u", "p").tls, TlsMode::Implicit);
        assert_eq!(SmtpSettings::standard("h", 587, "u", "p").tls, TlsMode::Opportunistic);
    }

    #[test]
    fn links() {
        assert_eq!(links_in("Go (https://a/b?c=1) or <http://x/>"), vec!["https://a/b?c=1", "http://x/"]);
    }
}
