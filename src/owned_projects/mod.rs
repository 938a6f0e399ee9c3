//! Dashboard users' projects (upstream's `/internal/projects`): a signed-in user of `internal`
//! lists the projects its teams own, creates one owned by one of its teams, and transfers one to
//! another of its teams. Ownership is what admin access tokens are checked against
//! (`projects::access`). Sits above projects and teams; it has no tables of its own.

pub mod api;
pub mod service;

pub use service::OwnedProjectsService;
