//! Webhooks: an integration client's subscriptions to case events, their deliveries, replays.

use actix_web::{HttpResponse, delete, get, patch, post, web};

use crate::auth::policy::{Permit, op};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::service::webhooks::{
    self as service, CreateWebhook, CreatedWebhook, DeliveryQuery, DeliveryView, UpdateWebhook,
    WebhookView,
};
use crate::startup::AppState;

/// The webhooks the caller keeps: an administrator every client's, a client its own.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "Oldest first; never their secrets", body = Vec<WebhookView>)),
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Permit<op::ListWebhooks>,
) -> Result<HttpResponse, ApiError> {
    let views = state
        .db
        .run(move |conn| service::list(conn, &principal))
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// Subscribe to case events.
///
/// A client subscribes for itself (its webhooks hear of the cases it registered, or of every
/// case when an administrator granted it `all_cases`); an administrator names the client.
/// The answer holds the signing secret, shown this once; the server keeps it encrypted with
/// `HOTLINE_WEBHOOK_KEY` (or a key derived from the JWT signing key). Each delivery is a POST
/// of the event as JSON with `X-Hotline-Event` (its type), `X-Hotline-Delivery` (the delivery's
/// id: the same id twice is the same delivery twice) and `X-Hotline-Signature: t=<unix
/// time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. A 2xx answer within 10 s is success; redirects
/// are not followed; failures are tried again with exponential back-off and jitter for a day,
/// then the delivery is `failed`; a webhook whose every attempt failed for a day is disabled
/// (`disabled_reason` says why). The URL is `https` (plain `http` only to hosts the
/// configuration allows) and may not resolve to loopback, private or link-local addresses.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The webhook, with its secret (shown once)", body = CreatedWebhook),
        (status = 422, description = "A bad URL, an unknown event type, or a client not named or not found"),
    ),
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Permit<op::CreateWebhook>,
    body: ApiJson<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let url = service::vet_url(&input.url, &state.settings.webhooks).await?;
    let app = state.clone();
    let created = state
        .db
        .run(move |conn| service::create(conn, &principal, input, url, &app.webhook_secrets))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Change a webhook: its URL, its event types, or pause and enable it (enabling one the server
/// disabled forgets its failures).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook, or another client's"),
        (status = 422, description = "A bad URL or an unknown event type"),
    ),
)]
#[patch("/webhooks/{id:\\d+}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    principal: Permit<op::UpdateWebhook>,
    id: web::Path<i64>,
    body: ApiJson<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let url = match &input.url {
        Some(url) => Some(service::vet_url(url, &state.settings.webhooks).await?),
        None => None,
    };
    let view = state
        .db
        .run(move |conn| service::update(conn, &principal, id, input, url))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Remove a webhook with its deliveries.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook, or another client's"),
    ),
)]
#[delete("/webhooks/{id:\\d+}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Permit<op::DeleteWebhook>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .db
        .run(move |conn| service::delete(conn, &principal, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's deliveries, newest first, each with every attempt (status, duration, error,
/// the first bytes of the answer).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id"), DeliveryQuery),
    responses(
        (status = 200, description = "The deliveries", body = Vec<DeliveryView>),
        (status = 404, description = "No such webhook, or another client's"),
        (status = 422, description = "`limit` out of range"),
    ),
)]
#[get("/webhooks/{id:\\d+}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    principal: Permit<op::ListWebhookDeliveries>,
    id: web::Path<i64>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, query) = (id.into_inner(), query.into_inner());
    let views = state
        .db
        .run(move |conn| service::deliveries(conn, &principal, id, &query))
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// Send a delivery's event again: a new delivery, due now (its `replay_of` names the first).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("delivery_id" = i64, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "The new delivery, pending", body = DeliveryView),
        (status = 404, description = "No such webhook or delivery, or another client's"),
    ),
)]
#[post("/webhooks/{id:\\d+}/deliveries/{delivery_id:\\d+}/replay")]
pub async fn replay_webhook_delivery(
    state: web::Data<AppState>,
    principal: Permit<op::ReplayWebhookDelivery>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let view = state
        .db
        .run(move |conn| service::replay(conn, &principal, id, delivery_id))
        .await?;
    Ok(HttpResponse::Accepted().json(view))
}
