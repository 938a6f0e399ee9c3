//! `GET /images/{image_id}`: uploaded images, public like upstream's object-storage URLs.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, OpenApi};

use crate::error::{ApiError, ApiResult};
use crate::images::ImagesService;
use crate::projects::access::AnyAuth;
use crate::web::Tag;

pub struct ImagesApi {
    pub images: Arc<ImagesService>,
}

#[derive(ApiResponse)]
pub enum ImageResponse {
    /// The image (PNG, JPEG, GIF, WebP or BMP); it never changes.
    #[oai(status = 200)]
    Ok(Binary<Vec<u8>>, #[oai(header = "content-type")] String, #[oai(header = "cache-control")] String),
}

#[OpenApi(tag = "Tag::Images")]
impl ImagesApi {
    /// An image uploaded as a data URL (e.g. a profile picture). Needs no authentication.
    #[oai(path = "/images/:image_id", method = "get", operation_id = "get_image")]
    async fn get_image(&self, _auth: AnyAuth, image_id: Path<String>) -> ApiResult<ImageResponse> {
        let not_found = || ApiError::plain(StatusCode::NOT_FOUND, "Image not found.");
        if uuid::Uuid::parse_str(&image_id.0).is_err() {
            return Err(not_found());
        }
        let (content_type, bytes) = self.images.get(&image_id.0).await?.ok_or_else(not_found)?;
        Ok(ImageResponse::Ok(Binary(bytes), content_type, "public, max-age=31536000, immutable".into()))
    }
}
