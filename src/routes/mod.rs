//! HTTP handlers, thin by rule: parse, authorize, call the domain, map the result.
//! Every handler is registered with `.service(...)` here, which is also how the OpenAPI document
//! learns about it.

use utoipa_actix_web::service_config::ServiceConfig;

pub mod health;

/// Registers every endpoint; shared by the server and by the OpenAPI document generator.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
