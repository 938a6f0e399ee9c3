//! Route assembly: builds every domain's service, their handlers, the OpenAPI service and the HTTP
//! app around it. The only module that names every domain.
//!
//! Adding a domain: a folder under `src/` with `mod.rs` (model, views), `store.rs` (its SQL, and
//! the only SQL), `service.rs` (rules and transactions), `api.rs` (thin handlers) — then build
//! its service in [`Services::new`], add its handler struct to [`Api`] and a tag to [`crate::web::Tag`].

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::api_keys::api::ApiKeysApi;
use crate::api_keys::ApiKeysService;
use crate::auth::api::AuthApi;
use crate::auth::cli_api::CliAuthApi;
use crate::auth::passkeys_api::PasskeysApi;
use crate::auth::sign_up_rules_api::SignUpRulesApi;
use crate::auth::tokens_api::{JwksApi, SessionTokensApi};
use crate::auth::AuthService;
use crate::contact_channels::api::ContactChannelsApi;
use crate::contact_channels::ContactChannelsService;
use crate::emails::api::EmailsApi;
use crate::emails::mailbox::DevMailboxApi;
use crate::emails::templates_api::EmailTemplatesApi;
use crate::emails::EmailsService;
use crate::events::api::EventsApi;
use crate::images::api::ImagesApi;
use crate::images::ImagesService;
use crate::infra::Infra;
use crate::oauth::accounts_api::OAuthAccountsApi;
use crate::oauth::api::OAuthFlowApi;
use crate::oauth::OAuthService;
use crate::overview::api::OverviewApi;
use crate::owned_projects::api::OwnedProjectsApi;
use crate::owned_projects::OwnedProjectsService;
use crate::permissions::api::PermissionsApi;
use crate::permissions::PermissionsService;
use crate::pipeline::{Pipeline, RouteTable};
use crate::projects::api::ProjectsApi;
use crate::projects::config_api::ConfigApi;
use crate::projects::key_sets_api::KeySetsApi;
use crate::projects::ProjectsService;
use crate::sessions::api::SessionsApi;
use crate::sessions::SessionsService;
use crate::system::SystemApi;
use crate::teams::api::TeamsApi;
use crate::teams::hooks::UserLifecycle;
use crate::teams::invitations_api::TeamInvitationsApi;
use crate::teams::permissions_api::TeamPermissionsApi;
use crate::teams::profiles_api::TeamMemberProfilesApi;
use crate::teams::TeamsService;
use crate::users::api::UsersApi;
use crate::users::UsersService;
use crate::webhooks::api::WebhooksApi;
use crate::webhooks::WebhooksService;

/// Logo storage and e-mail theme lookup for project settings (projects import neither domain).
struct ProjectAssetsAdapter {
    images: Arc<ImagesService>,
}

impl crate::projects::service::ProjectAssets for ProjectAssetsAdapter {
    fn logo_in(&self, tx: &crate::db::Tx, project_id: &str, value: &str) -> crate::error::ApiResult<String> {
        let input = crate::images::parse_image_input(value, true)?;
        self.images.resolve_in(tx, project_id, input)
    }

    fn theme_exists(
        &self,
        conn: &rusqlite::Connection,
        project_id: &str,
        theme_id: &str,
    ) -> crate::error::ApiResult<bool> {
        crate::emails::theme_exists(conn, project_id, theme_id)
    }
}

/// Every domain service, built once per server.
pub struct Services {
    pub infra: Arc<Infra>,
    pub projects: Arc<ProjectsService>,
    pub sessions: Arc<SessionsService>,
    pub images: Arc<ImagesService>,
    pub users: Arc<UsersService>,
    pub auth: Arc<AuthService>,
    pub emails: Arc<EmailsService>,
    pub contact_channels: Arc<ContactChannelsService>,
    pub permissions: Arc<PermissionsService>,
    pub teams: Arc<TeamsService>,
    pub api_keys: Arc<ApiKeysService>,
    pub owned_projects: Arc<OwnedProjectsService>,
    pub webhooks: Arc<WebhooksService>,
    pub oauth: Arc<OAuthService>,
}

impl Services {
    /// Builds the services and registers their background jobs (started right away).
    pub fn new(infra: Arc<Infra>) -> Arc<Services> {
        let projects = Arc::new(ProjectsService::new(infra.db.clone()));
        let sessions = Arc::new(SessionsService::new(infra.db.clone()));
        let images = Arc::new(ImagesService::new(infra.db.clone(), &infra.tokens.base_url));
        let users = Arc::new(UsersService::new(infra.clone(), sessions.clone(), images.clone()));
        let emails = Arc::new(EmailsService::new(infra.clone()));
        let contact_channels = Arc::new(ContactChannelsService::new(infra.clone(), emails.clone()));
        let auth = Arc::new(AuthService::new(
            infra.clone(),
            users.clone(),
            sessions.clone(),
            emails.clone(),
            contact_channels.clone(),
        ));
        let permissions = Arc::new(PermissionsService::new(infra.clone()));
        let teams = Arc::new(TeamsService::new(
            infra.clone(),
            users.clone(),
            permissions.clone(),
            images.clone(),
            emails.clone(),
        ));
        users.connect_teams(UserLifecycle::new(&teams));
        projects.connect_assets(Arc::new(ProjectAssetsAdapter { images: images.clone() }));
        let api_keys = Arc::new(ApiKeysService::new(infra.clone(), emails.clone()));
        let owned_projects = Arc::new(OwnedProjectsService::new(infra.clone(), teams.clone()));
        let webhooks = Arc::new(WebhooksService::new(infra.clone()));
        let oauth = Arc::new(OAuthService::new(infra.clone(), projects.clone(), auth.clone(), users.clone()));
        Arc::new(Services {
            infra,
            projects,
            sessions,
            images,
            users,
            auth,
            emails,
            contact_channels,
            permissions,
            teams,
            api_keys,
            owned_projects,
            webhooks,
            oauth,
        })
    }

    /// Starts the background jobs of every domain (stopped by `infra.jobs.stop()`).
    pub fn start_jobs(&self) {
        self.sessions.register_jobs(&self.infra.jobs);
        self.emails.register_jobs(&self.infra.jobs);
        crate::events::register_jobs(&self.infra.jobs, self.infra.db.clone());
        crate::auth::cli::register_jobs(&self.infra.jobs, self.infra.db.clone());
        crate::webhooks::delivery::register_jobs(&self.infra.jobs, self.webhooks.dispatcher.clone());
        crate::oauth::register_jobs(&self.infra.jobs, self.infra.db.clone());
    }
}

/// Every route of `/api/v1`, in spec order (nested: poem-openapi takes tuples of up to 16).
pub type Api = (CoreApi, TeamsArea, SignInArea);

/// System, projects and their key sets, users, sessions, sign-in, images, contact channels, e-mail.
pub type CoreApi = (
    SystemApi,
    ProjectsApi,
    KeySetsApi,
    ConfigApi,
    OwnedProjectsApi,
    UsersApi,
    SessionsApi,
    SessionTokensApi,
    AuthApi,
    JwksApi,
    ImagesApi,
    ContactChannelsApi,
    EmailsApi,
    EmailTemplatesApi,
    DevMailboxApi,
);

/// Teams, permissions, API keys, the event log, webhooks, the project overview.
pub type TeamsArea = (
    TeamsApi,
    TeamMemberProfilesApi,
    TeamInvitationsApi,
    PermissionsApi,
    TeamPermissionsApi,
    ApiKeysApi,
    EventsApi,
    WebhooksApi,
    OverviewApi,
);

/// OAuth sign-in and provider links, CLI sign-in, the sign-up rules tester, passkeys.
pub type SignInArea = (OAuthFlowApi, OAuthAccountsApi, CliAuthApi, SignUpRulesApi, PasskeysApi);

pub const API_PREFIX: &str = "/api/v1";

pub fn service(s: &Services) -> OpenApiService<Api, ()> {
    let core: CoreApi = (
        SystemApi { users: s.users.clone() },
        ProjectsApi { projects: s.projects.clone() },
        KeySetsApi { projects: s.projects.clone() },
        ConfigApi { projects: s.projects.clone() },
        OwnedProjectsApi { owned: s.owned_projects.clone() },
        UsersApi { users: s.users.clone() },
        SessionsApi { sessions: s.sessions.clone() },
        SessionTokensApi { auth: s.auth.clone() },
        AuthApi { auth: s.auth.clone() },
        JwksApi::new(s.infra.clone(), s.projects.clone()),
        ImagesApi { images: s.images.clone() },
        ContactChannelsApi { channels: s.contact_channels.clone() },
        EmailsApi { emails: s.emails.clone(), users: s.users.clone() },
        EmailTemplatesApi { emails: s.emails.clone() },
        DevMailboxApi { emails: s.emails.clone() },
    );
    let teams: TeamsArea = (
        TeamsApi { teams: s.teams.clone() },
        TeamMemberProfilesApi { teams: s.teams.clone() },
        TeamInvitationsApi { teams: s.teams.clone() },
        PermissionsApi { permissions: s.permissions.clone() },
        TeamPermissionsApi { teams: s.teams.clone() },
        ApiKeysApi { keys: s.api_keys.clone(), teams: s.teams.clone() },
        EventsApi { db: s.infra.db.clone() },
        WebhooksApi { webhooks: s.webhooks.clone(), base_url: s.infra.tokens.base_url.clone() },
        OverviewApi { db: s.infra.db.clone() },
    );
    let sign_in: SignInArea = (
        OAuthFlowApi { infra: s.infra.clone(), oauth: s.oauth.clone(), auth: s.auth.clone() },
        OAuthAccountsApi { oauth: s.oauth.clone() },
        CliAuthApi { auth: s.auth.clone() },
        SignUpRulesApi { auth: s.auth.clone() },
        PasskeysApi { auth: s.auth.clone() },
    );
    let api: Api = (core, teams, sign_in);
    crate::openapi_doc::describe(OpenApiService::new(api, "stackd — Stack Auth REST API v1", env!("CARGO_PKG_VERSION")))
}

/// The OpenAPI document as committed under `openapi/` (pretty JSON, trailing newline).
pub fn spec_json(s: &Services) -> String {
    crate::openapi_doc::finish(&service(s).spec(), crate::openapi_doc::DEFAULT_BASE_URL)
}

/// The whole HTTP application: `/api/v1/*`, docs, `/health`, wrapped in the request pipeline.
pub fn app(s: &Services) -> impl Endpoint {
    let service = service(s);
    let raw = service.spec();
    let spec_text = crate::openapi_doc::finish(&raw, &s.infra.tokens.base_url);
    let spec: serde_json::Value = serde_json::from_str(&spec_text).expect("the spec is JSON");
    let routes = Arc::new(RouteTable::from_spec(&spec, API_PREFIX));
    // poem-openapi's Swagger UI page with our finished document in place of its raw one, so the
    // "Authorize" dialog offers the access type, project id and token headers.
    let docs_html = service.swagger_ui_html().replace(&raw, &spec_text);
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(docs_html.clone()));
    let docs = Arc::new(docs);
    let mut route = Route::new();
    if s.infra.config.dev {
        // The development OAuth provider exists only in development mode.
        route = route.nest("/dev-oauth", crate::oauth::dev_provider::routes(s.infra.clone()));
    }
    if s.infra.config.dashboard {
        route = route.nest("/dashboard", crate::dashboard::Dashboard::new());
    }
    route
        .at("/health", poem::get(crate::system::health).data(s.infra.db.clone()))
        .at("/health/live", poem::get(crate::system::live))
        .at("/health/ready", poem::get(crate::system::ready).data(s.infra.db.clone()))
        .at("/metrics", poem::get(crate::system::metrics).data(s.infra.clone()))
        .at("/api/v1/docs", docs.clone())
        .at("/api/v1/docs/", docs)
        .at(
            "/api/v1/openapi.json",
            poem::endpoint::make_sync(move |_| {
                poem::Response::builder().content_type("application/json; charset=utf-8").body(spec_text.clone())
            }),
        )
        .nest(API_PREFIX, service)
        .nest("/svix", crate::webhooks::svix_api::routes(s.webhooks.clone()))
        .with(Pipeline { infra: s.infra.clone(), projects: s.projects.clone(), routes })
}
