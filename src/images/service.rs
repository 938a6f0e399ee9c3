//! Storing uploaded images inside the caller's transaction, and reading them back.

use crate::db::{now_millis, Db, Tx};
use crate::error::ApiResult;
use crate::images::{store, ImageInput};

pub struct ImagesService {
    db: Db,
    /// `<base URL>/api/v1/images/`: the stable prefix of every stored image's URL.
    url_prefix: String,
}

impl ImagesService {
    pub fn new(db: Db, base_url: &str) -> Self {
        ImagesService { db, url_prefix: format!("{base_url}/api/v1/images/") }
    }

    /// The URL to keep for `input`: as given, or that of the image stored now.
    pub fn resolve_in(&self, tx: &Tx, project_id: &str, input: ImageInput) -> ApiResult<String> {
        match input {
            ImageInput::Url(url) => Ok(url),
            ImageInput::Upload(upload) => {
                let id = uuid::Uuid::new_v4().to_string();
                store::insert(tx, &id, project_id, upload.content_type, &upload.bytes, now_millis())?;
                Ok(format!("{}{id}", self.url_prefix))
            }
        }
    }

    /// Deletes the stored image behind `url`, if it is one of ours (a replaced or deleted user's
    /// picture); other URLs are left alone.
    pub fn forget_in(&self, tx: &Tx, url: &str) -> ApiResult<()> {
        match url.strip_prefix(&self.url_prefix) {
            Some(id) => store::delete(tx, id),
            None => Ok(()),
        }
    }

    pub async fn get(&self, id: &str) -> ApiResult<Option<(String, Vec<u8>)>> {
        let id = id.to_string();
        self.db.read(move |c| store::load(c, &id)).await
    }
}
