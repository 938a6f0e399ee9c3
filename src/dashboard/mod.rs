//! The admin dashboard at `/dashboard`: static pages embedded in the binary (plain ES modules, no
//! build step) that sign in as a user of the `internal` project and call this server's own public
//! admin API with that user's access token (`x-stack-admin-access-token`), as the admin SDK does.
//! It adds no server-side data path: this module only serves files. Names no domain.
//!
//! Served only when `--dashboard` is on (default: on in development mode, off otherwise). Every
//! response carries a Content-Security-Policy that lets the pages talk to this origin only.

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use sha2::{Digest, Sha256};

/// One embedded file: its path under `/dashboard/`, media type and bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $media:expr),* $(,)?) => {
        &[$(Asset { path: $path, media_type: $media, bytes: include_bytes!(concat!("assets/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "ui.js" => JS,
    "pages/signin.js" => JS,
    "pages/projects.js" => JS,
    "pages/overview.js" => JS,
    "pages/users.js" => JS,
    "pages/teams.js" => JS,
    "pages/permissions.js" => JS,
    "pages/keys.js" => JS,
    "pages/auth_methods.js" => JS,
    "pages/emails.js" => JS,
    "pages/webhooks.js" => JS,
    "pages/rules.js" => JS,
    "pages/config.js" => JS,
};

/// Pages load scripts, styles and images from this origin and call only this origin's API.
/// E-mail previews are `srcdoc` frames (same policy), so their inline styles are allowed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// The dashboard's endpoint, nested at `/dashboard`.
pub struct Dashboard {
    /// Per asset, its strong ETag (a hash of the bytes, computed once).
    etags: Vec<HeaderValue>,
}

impl Dashboard {
    pub fn new() -> Dashboard {
        let etags = ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
            })
            .collect();
        Dashboard { etags }
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard::new()
    }
}

impl Endpoint for Dashboard {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(StatusCode::METHOD_NOT_ALLOWED.into_response());
        }
        // Nested at /dashboard: the rest of the path, without its leading slash. The pages route by
        // the URL fragment, so every other path is the one HTML page.
        let rest = req.uri().path().trim_start_matches('/');
        if rest.is_empty() && !req.original_uri().path().ends_with('/') {
            return Ok(Response::builder()
                .status(StatusCode::PERMANENT_REDIRECT)
                .header(header::LOCATION, "/dashboard/")
                .finish());
        }
        let wanted = if rest.is_empty() { "index.html" } else { rest };
        let Some(i) = ASSETS.iter().position(|a| a.path == wanted) else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let asset = &ASSETS[i];
        let etag = &self.etags[i];
        let mut resp = if req.headers().get(header::IF_NONE_MATCH) == Some(etag) {
            Response::builder().status(StatusCode::NOT_MODIFIED).finish()
        } else {
            Response::builder().content_type(asset.media_type).body(asset.bytes)
        };
        let h = resp.headers_mut();
        h.insert(header::ETAG, etag.clone());
        // Revalidated on every load (a 304 costs a round trip, not the bytes), so an upgraded
        // binary never serves a page half old, half new.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        Ok(resp)
    }
}
