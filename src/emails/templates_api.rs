//! Custom e-mail templates and themes (`/internal/email-templates`, `/internal/email-themes`) and the
//! preview (`POST /emails/render-email`), spec 20 §5.9. Sources are minijinja HTML where upstream's
//! are TSX (a deliberate difference, see the README).

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use crate::emails::api::{object_field, theme_choice};
use crate::emails::store::{CustomSource, SourceKind};
use crate::emails::templates::{self, BUILTIN_TEMPLATES, BUILTIN_THEMES};
use crate::emails::{EmailsService, ThemeChoice};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::AdminAuth;
use crate::web::Tag;

pub struct EmailTemplatesApi {
    pub emails: Arc<EmailsService>,
}

#[derive(Object)]
pub struct EmailTemplate {
    pub id: String,
    pub display_name: String,
    /// The template source: minijinja HTML with optional `subject`, `body` and `text` blocks
    /// (upstream: TSX).
    pub tsx_source: String,
    /// A theme id, `false` for none; absent for the project's theme.
    pub theme_id: Option<Value>,
}

#[derive(Object)]
pub struct EmailTemplateList {
    pub templates: Vec<EmailTemplate>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateSourceBody {
    pub display_name: String,
}

#[derive(Object)]
pub struct CreatedSource {
    pub id: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TemplatePatch {
    /// The new source (minijinja HTML); test-rendered before it is saved.
    pub tsx_source: String,
    /// A theme id, `false` for none, `null` for the project's theme.
    pub theme_id: Option<Value>,
}

#[derive(Object)]
pub struct TemplateSaved {
    /// The template rendered with its theme and no variables.
    pub rendered_html: String,
}

#[derive(Object)]
pub struct EmailThemeSummary {
    pub id: String,
    pub display_name: String,
}

#[derive(Object)]
pub struct EmailThemeList {
    pub themes: Vec<EmailThemeSummary>,
}

#[derive(Object)]
pub struct EmailTheme {
    pub id: String,
    pub display_name: String,
    /// The theme source: minijinja HTML printing `{{ content }}` (upstream: TSX).
    pub tsx_source: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ThemePatch {
    pub tsx_source: String,
}

#[derive(Object)]
pub struct ThemeSaved {
    pub display_name: String,
}

#[derive(Object)]
pub struct Empty {}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RenderEmailBody {
    /// A template id, or…
    pub template_id: Option<String>,
    /// …a template source (minijinja HTML).
    pub template_tsx_source: Option<String>,
    /// A theme id (`false` = no theme), or…
    pub theme_id: Option<Value>,
    /// …a theme source.
    pub theme_tsx_source: Option<String>,
    /// Sample variables.
    pub variables: Option<Value>,
}

#[derive(Object)]
pub struct RenderedEmail {
    pub html: String,
    pub subject: Option<String>,
    pub notification_category: Option<String>,
}

fn theme_value(column: Option<&str>) -> Option<Value> {
    match column {
        None => None,
        Some("none") => Some(Value::Bool(false)),
        Some(id) => Some(Value::String(id.to_string())),
    }
}

const NOT_FOUND_TEMPLATE: &str = "No template found with given id";
const NOT_FOUND_THEME: &str = "No theme found with given id";

fn not_found(text: &'static str) -> ApiError {
    ApiError::plain(StatusCode::NOT_FOUND, text)
}

#[OpenApi(tag = "Tag::Emails")]
impl EmailTemplatesApi {
    /// The project's templates: the built-ins, then its own.
    #[oai(path = "/internal/email-templates", method = "get", operation_id = "list_email_templates")]
    async fn list_templates(&self, auth: AdminAuth) -> ApiResult<Json<EmailTemplateList>> {
        let custom = self.emails.sources(SourceKind::Template, auth.0.project_id()).await?;
        let mut list: Vec<EmailTemplate> = BUILTIN_TEMPLATES
            .iter()
            .filter(|b| !custom.iter().any(|c| c.id == b.id))
            .map(|t| EmailTemplate {
                id: t.id.into(),
                display_name: t.display_name.into(),
                tsx_source: t.source.into(),
                theme_id: None,
            })
            .collect();
        list.extend(custom.into_iter().map(|c| EmailTemplate {
            theme_id: theme_value(c.theme_id.as_deref()),
            id: c.id,
            display_name: c.display_name,
            tsx_source: c.source,
        }));
        Ok(Json(EmailTemplateList { templates: list }))
    }

    /// Creates a template from the starter source.
    #[oai(path = "/internal/email-templates", method = "post", operation_id = "create_email_template")]
    async fn create_template(&self, auth: AdminAuth, body: Json<CreateSourceBody>) -> ApiResult<Json<CreatedSource>> {
        let id = uuid::Uuid::new_v4().to_string();
        let source = CustomSource {
            id: id.clone(),
            display_name: body.0.display_name,
            source: templates::STARTER_TEMPLATE.into(),
            theme_id: None,
        };
        self.emails.save_source(SourceKind::Template, auth.0.project_id(), source).await?;
        Ok(Json(CreatedSource { id }))
    }

    /// Saves a template's source after rendering it once (`EMAIL_RENDERING_ERROR` if it does not
    /// render). Saving a built-in id makes a project copy that replaces the built-in.
    #[oai(path = "/internal/email-templates/:template_id", method = "patch", operation_id = "update_email_template")]
    async fn update_template(
        &self,
        auth: AdminAuth,
        template_id: Path<String>,
        body: Json<TemplatePatch>,
    ) -> ApiResult<Json<TemplateSaved>> {
        let auth = auth.0;
        let id = template_id.0.to_lowercase();
        let existing = self.emails.source(SourceKind::Template, auth.project_id(), &id).await?;
        let display_name = match (&existing, templates::builtin_template(&id)) {
            (Some(c), _) => c.display_name.clone(),
            (None, Some(b)) => b.display_name.to_string(),
            (None, None) => return Err(not_found(NOT_FOUND_TEMPLATE)),
        };
        let theme = theme_choice("theme_id", body.0.theme_id.as_ref())?;
        let rendered = self
            .emails
            .preview(auth.project(), body.0.tsx_source.clone(), theme.clone(), None, Value::Object(Default::default()))
            .await?;
        let source = CustomSource { id, display_name, source: body.0.tsx_source, theme_id: theme.to_column() };
        self.emails.save_source(SourceKind::Template, auth.project_id(), source).await?;
        Ok(Json(TemplateSaved { rendered_html: rendered.html }))
    }

    /// Deletes a custom template (a built-in id removes the project's copy of it).
    #[oai(path = "/internal/email-templates/:template_id", method = "delete", operation_id = "delete_email_template")]
    async fn delete_template(&self, auth: AdminAuth, template_id: Path<String>) -> ApiResult<Json<Empty>> {
        if !self.emails.delete_source(SourceKind::Template, auth.0.project_id(), &template_id.0.to_lowercase()).await? {
            return Err(not_found(NOT_FOUND_TEMPLATE));
        }
        Ok(Json(Empty {}))
    }

    /// The project's themes: the built-ins, then its own.
    #[oai(path = "/internal/email-themes", method = "get", operation_id = "list_email_themes")]
    async fn list_themes(&self, auth: AdminAuth) -> ApiResult<Json<EmailThemeList>> {
        let custom = self.emails.sources(SourceKind::Theme, auth.0.project_id()).await?;
        let mut themes: Vec<EmailThemeSummary> = BUILTIN_THEMES
            .iter()
            .filter(|b| !custom.iter().any(|c| c.id == b.id))
            .map(|t| EmailThemeSummary { id: t.id.into(), display_name: t.display_name.into() })
            .collect();
        themes.extend(custom.into_iter().map(|c| EmailThemeSummary { id: c.id, display_name: c.display_name }));
        Ok(Json(EmailThemeList { themes }))
    }

    /// Creates a theme from the default light theme's source.
    #[oai(path = "/internal/email-themes", method = "post", operation_id = "create_email_theme")]
    async fn create_theme(&self, auth: AdminAuth, body: Json<CreateSourceBody>) -> ApiResult<Json<CreatedSource>> {
        let id = uuid::Uuid::new_v4().to_string();
        let source = CustomSource {
            id: id.clone(),
            display_name: body.0.display_name,
            source: templates::STARTER_THEME.into(),
            theme_id: None,
        };
        self.emails.save_source(SourceKind::Theme, auth.0.project_id(), source).await?;
        Ok(Json(CreatedSource { id }))
    }

    /// One theme with its source.
    #[oai(path = "/internal/email-themes/:theme_id", method = "get", operation_id = "get_email_theme")]
    async fn get_theme(&self, auth: AdminAuth, theme_id: Path<String>) -> ApiResult<Json<EmailTheme>> {
        let id = theme_id.0.to_lowercase();
        if let Some(c) = self.emails.source(SourceKind::Theme, auth.0.project_id(), &id).await? {
            return Ok(Json(EmailTheme { id: c.id, display_name: c.display_name, tsx_source: c.source }));
        }
        let b = templates::builtin_theme(&id).ok_or_else(|| not_found(NOT_FOUND_THEME))?;
        Ok(Json(EmailTheme { id: b.id.into(), display_name: b.display_name.into(), tsx_source: b.source.into() }))
    }

    /// Saves a theme's source after rendering a sample through it.
    #[oai(path = "/internal/email-themes/:theme_id", method = "patch", operation_id = "update_email_theme")]
    async fn update_theme(
        &self,
        auth: AdminAuth,
        theme_id: Path<String>,
        body: Json<ThemePatch>,
    ) -> ApiResult<Json<ThemeSaved>> {
        let auth = auth.0;
        let id = theme_id.0.to_lowercase();
        let display_name =
            match (self.emails.source(SourceKind::Theme, auth.project_id(), &id).await?, templates::builtin_theme(&id))
            {
                (Some(c), _) => c.display_name,
                (None, Some(b)) => b.display_name.to_string(),
                (None, None) => return Err(not_found(NOT_FOUND_THEME)),
            };
        self.emails
            .preview(
                auth.project(),
                templates::STARTER_TEMPLATE.into(),
                ThemeChoice::None,
                Some(body.0.tsx_source.clone()),
                Value::Object(Default::default()),
            )
            .await?;
        let source = CustomSource { id, display_name: display_name.clone(), source: body.0.tsx_source, theme_id: None };
        self.emails.save_source(SourceKind::Theme, auth.project_id(), source).await?;
        Ok(Json(ThemeSaved { display_name }))
    }

    /// Renders a template (by id or source) in a theme (by id or source) for a preview.
    #[oai(path = "/emails/render-email", method = "post", operation_id = "render_email")]
    async fn render_email(&self, auth: AdminAuth, body: Json<RenderEmailBody>) -> ApiResult<Json<RenderedEmail>> {
        let auth = auth.0;
        let b = body.0;
        let template = match (b.template_id, b.template_tsx_source) {
            (Some(id), None) => {
                let id = id.to_lowercase();
                match self.emails.source(SourceKind::Template, auth.project_id(), &id).await? {
                    Some(c) => c.source,
                    None => templates::builtin_template(&id)
                        .map(|t| t.source.to_string())
                        .ok_or_else(|| not_found(NOT_FOUND_TEMPLATE))?,
                }
            }
            (None, Some(source)) => source,
            _ => {
                return Err(
                    KnownError::schema("body must have exactly one of template_id and template_tsx_source").into()
                )
            }
        };
        let (theme, theme_source) = match (b.theme_id, b.theme_tsx_source) {
            (t, None) => (theme_choice("theme_id", t.as_ref())?, None),
            (None, Some(source)) => (ThemeChoice::Project, Some(source)),
            _ => return Err(KnownError::schema("body must not have both theme_id and theme_tsx_source").into()),
        };
        let vars = object_field("variables", b.variables)?;
        let rendered = self.emails.preview(auth.project(), template, theme, theme_source, vars).await?;
        Ok(Json(RenderedEmail {
            html: rendered.html,
            subject: Some(rendered.subject),
            notification_category: Some("Transactional".into()),
        }))
    }
}
