//! A JSON response body serialized once and served many times (e.g. the JWKS), documented in the
//! OpenAPI spec as the schema of `T`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

const JSON: &str = "application/json; charset=utf-8";

pub struct PreSerializedJson<T> {
    bytes: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T: serde::Serialize> PreSerializedJson<T> {
    pub fn new(value: &T) -> Self {
        let bytes = serde_json::to_vec(value).expect("plain data serializes");
        PreSerializedJson { bytes: bytes.into(), _schema: PhantomData }
    }
}

impl<T> PreSerializedJson<T> {
    /// A body that differs from `T`'s documented schema only in extra, undocumented fields (e.g. a
    /// legacy alias a generator could not represent next to the documented name).
    pub fn from_value_documented_as(value: &serde_json::Value) -> Self {
        PreSerializedJson { bytes: serde_json::to_vec(value).expect("JSON serializes").into(), _schema: PhantomData }
    }
}

impl<T> Clone for PreSerializedJson<T> {
    fn clone(&self) -> Self {
        PreSerializedJson { bytes: self.bytes.clone(), _schema: PhantomData }
    }
}

impl<T: Type> Payload for PreSerializedJson<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for PreSerializedJson<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(JSON).body(self.bytes)
    }
}
