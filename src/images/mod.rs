//! Uploaded images (profile pictures). Upstream turns a base64 data URL into an object in S3 and
//! stores its public URL; stackd checks the image the same way (size, a real image of a known
//! format), keeps its bytes in the database and serves them at `/api/v1/images/{id}`.

pub mod api;
pub mod service;
pub mod store;

pub use service::ImagesService;

use base64::Engine;

use crate::error::ApiError;

/// Upstream's limit for uploaded images (`uploadBase64Image`).
pub const MAX_IMAGE_BYTES: usize = 1_000_000;

/// A decoded image waiting to be stored.
#[derive(Debug, Clone)]
pub struct ImageUpload {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// What a profile image field holds: a URL kept as given, or an image to store.
#[derive(Debug, Clone)]
pub enum ImageInput {
    Url(String),
    Upload(ImageUpload),
}

fn invalid(reason: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid profile image URL: {reason}"))
}

/// The image format by its first bytes: only formats browsers display as profile pictures.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'B', b'M', ..] if bytes.len() > 26 => Some("image/bmp"),
        _ => None,
    }
}

/// Decodes base64 image data (with or without a `data:image/…;base64,` prefix) and checks it is
/// an image of at most [`MAX_IMAGE_BYTES`].
pub fn decode_image(input: &str) -> Result<ImageUpload, ApiError> {
    let data = match input.strip_prefix("data:image/") {
        Some(rest) => rest.split_once(";base64,").map(|(_, d)| d).ok_or_else(|| invalid("not base64 image data"))?,
        None => input,
    };
    if data.len() > MAX_IMAGE_BYTES * 4 / 3 + 4 {
        return Err(invalid(&format!("the image is larger than {MAX_IMAGE_BYTES} bytes")));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| invalid("not valid base64"))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(invalid(&format!("the image is larger than {MAX_IMAGE_BYTES} bytes")));
    }
    let content_type = sniff(&bytes).ok_or_else(|| invalid("the data is not a PNG, JPEG, GIF, WebP or BMP image"))?;
    Ok(ImageUpload { content_type, bytes })
}

/// A profile image field as upstream reads it (spec 10 §1.3, §1.5): a base64 data URL is an
/// image to store; for server access an `http(s)` URL is kept as given; anything else is a 400.
/// Client access may only upload images (a data URL, or bare base64).
pub fn parse_image_input(input: &str, server_access: bool) -> Result<ImageInput, ApiError> {
    if input.starts_with("data:image/") {
        return decode_image(input).map(ImageInput::Upload);
    }
    if !server_access {
        return decode_image(input)
            .map(ImageInput::Upload)
            .map_err(|_| ApiError::bad_request("Invalid profile image URL"));
    }
    let well_formed = (input.starts_with("http://") || input.starts_with("https://"))
        && input.len() <= 1_000_000
        && !input.chars().any(|c| c.is_whitespace() || c.is_control())
        && input.split_once("://").is_some_and(|(_, rest)| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
            !host.is_empty() && !host.starts_with(':')
        });
    if well_formed {
        Ok(ImageInput::Url(input.to_string()))
    } else {
        Err(ApiError::bad_request("Invalid profile image URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &str =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    #[test]
    fn images_are_recognised_and_urls_checked() {
        let up = decode_image(&format!("data:image/png;base64,{PNG_1X1}")).unwrap();
        assert_eq!(up.content_type, "image/png");
        assert!(decode_image("data:image/png;base64,aGVsbG8gd29ybGQ=").is_err(), "text is not an image");
        assert!(decode_image("data:image/png;base64,!!!").is_err());
        assert!(matches!(parse_image_input("https://example.com/a.png", true), Ok(ImageInput::Url(_))));
        assert!(parse_image_input("https://", true).is_err());
        assert!(parse_image_input("ftp://example.com/a.png", true).is_err());
        assert!(parse_image_input("https://exa mple.com/a.png", true).is_err());
        assert!(parse_image_input("https://example.com/a.png", false).is_err(), "clients upload images only");
        assert!(matches!(parse_image_input(PNG_1X1, false), Ok(ImageInput::Upload(_))));
    }
}
