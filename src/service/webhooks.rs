//! Webhooks (SPEC 8): integration clients' subscriptions, and the worker that delivers the
//! outbox. Every change a timeline records and integrators hear of is written to the outbox in
//! the change's own transaction (`db::webhooks::enqueue_timeline`); the worker fans each event
//! out to the webhooks that want it, then sends the deliveries that are due, signed, and keeps
//! every attempt.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chacha20poly1305::Key;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::secrets;
use crate::config::WebhookSettings;
use crate::db::webhooks::{self as store, FAILED, PENDING, SUCCEEDED};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::ids::{CaseId, ClientId, DepartmentId};
use crate::domain::role::Role;
use crate::domain::webhook::{
    EventType, check_url, is_forbidden_address, parse_event_types, retry_delay, signature,
    store_event_types, wants,
};
use crate::error::{ApiError, FieldErrorCode};

/// Encrypts and decrypts the webhooks' signing secrets.
#[derive(Clone)]
pub struct SecretBox(Key);

impl SecretBox {
    /// The configured key, or one derived from the JWT signing key (every server of a deployment
    /// derives the same), or — with neither — a random one, whose secrets the next start cannot
    /// read (the log says so).
    pub fn new(settings: &WebhookSettings, jwt_signing_key: Option<&[u8]>) -> Self {
        use sha2::Digest;
        let key: [u8; 32] = match (settings.key, jwt_signing_key) {
            (Some(key), _) => key,
            (None, Some(jwt)) => sha2::Sha256::new_with_prefix(b"hotline webhook secrets\0")
                .chain_update(jwt)
                .finalize()
                .into(),
            (None, None) => {
                log::warn!(
                    "neither HOTLINE_WEBHOOK_KEY nor a JWT signing key is set: webhook secrets \
                     made now cannot be read after a restart"
                );
                secrets::random_bytes::<32>()
            }
        };
        SecretBox(Key::from(key))
    }

    fn seal(&self, secret: &str) -> String {
        secrets::seal(&self.0, secret.as_bytes())
    }

    fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        secrets::open_sealed(&self.0, sealed)
    }
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// A webhook as its owner sees it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    /// The integration client it belongs to.
    pub client_id: ClientId,
    pub url: String,
    /// The event types it takes; empty: every type.
    pub event_types: Vec<EventType>,
    pub active: bool,
    /// Why the server disabled it (every delivery failed for a day); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<store::WebhookRow> for WebhookView {
    fn from(row: store::WebhookRow) -> Self {
        WebhookView {
            id: row.id,
            client_id: row.client_id,
            url: row.url,
            event_types: parse_event_types(&row.event_types),
            active: row.active,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since.map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// The answer to creating a webhook: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Verify each delivery with it: `X-Hotline-Signature` is `t=<unix time>,v1=<hex
    /// HMAC-SHA256 of "<t>.<body>" with this secret>`. Shown once.
    #[schema(example = "whsec_Jf1yq1m0pQ5cVbFQ3xkqzEwS9tq2yL4uXr2K1m6bW7o")]
    pub secret: String,
}

#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are posted: `https` (plain `http` only to hosts the configuration
    /// allows); never a loopback, private or link-local address.
    #[schema(
        example = "https://partner.example.cn/hotline/events",
        max_length = 2000
    )]
    #[validate(length(min = 1, max = 2000))]
    pub url: String,
    /// The event types wanted; omitted or empty: every type.
    #[serde(default)]
    #[validate(length(max = 50))]
    pub event_types: Vec<EventType>,
    /// The client it is for: required of administrators; a client makes webhooks for itself
    /// only (leave it out, or give its own id).
    #[serde(default)]
    pub client_id: Option<ClientId>,
}

#[derive(Debug, Default, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(max_length = 2000)]
    #[validate(length(min = 1, max = 2000))]
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    #[validate(length(max = 50))]
    pub event_types: Option<Vec<EventType>>,
    /// `false` pauses it; `true` enables it again (also one the server disabled), forgetting
    /// its failures.
    #[serde(default)]
    pub active: Option<bool>,
}

/// The client whose webhooks the caller keeps: a client itself; an administrator any (`None`).
fn keeper_scope(principal: &Principal) -> Result<Option<ClientId>, ApiError> {
    match principal.role {
        Role::Admin => Ok(None),
        Role::Integration => principal
            .client_id()
            .map(Some)
            .ok_or_else(|| ApiError::internal("an integration token without its client")),
        _ => Err(ApiError::internal(
            "webhooks are kept by admins and clients",
        )),
    }
}

/// A webhook the caller keeps, or 404.
fn kept(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> Result<store::WebhookRow, ApiError> {
    let scope = keeper_scope(principal)?;
    store::find_webhook(conn, id)?
        .filter(|row| scope.is_none_or(|client| client == row.client_id))
        .ok_or_else(|| ApiError::not_found("no such webhook"))
}

/// A webhook URL as given, checked ([`check_url`]) and its host resolved to at least one
/// address a webhook may reach; called before the database is (a name server may be slow, and
/// no pooled connection waits for it).
pub async fn vet_url(raw: &str, settings: &WebhookSettings) -> Result<VettedUrl, ApiError> {
    let url = check_url(raw.trim(), &settings.http_hosts, settings.allow_private)
        .map_err(|e| ApiError::field("url", FieldErrorCode::Invalid, e.0))?;
    if !settings.allow_private
        && let Some(url::Host::Domain(host)) = url.host()
    {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host, port));
        let addresses: Vec<SocketAddr> =
            match tokio::time::timeout(Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.collect(),
                _ => Vec::new(),
            };
        if addresses.is_empty() {
            return Err(ApiError::field(
                "url",
                FieldErrorCode::Invalid,
                "the host does not resolve",
            ));
        }
        if addresses.iter().all(|a| is_forbidden_address(a.ip())) {
            return Err(ApiError::field(
                "url",
                FieldErrorCode::Invalid,
                "the host resolves to loopback, private or link-local addresses only",
            ));
        }
    }
    Ok(VettedUrl(url.to_string()))
}

/// A webhook URL that passed [`vet_url`].
#[derive(Debug, Clone)]
pub struct VettedUrl(String);

pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    input: CreateWebhook,
    url: VettedUrl,
    secrets_box: &SecretBox,
) -> Result<CreatedWebhook, ApiError> {
    let client = match keeper_scope(principal)? {
        Some(own) => match input.client_id {
            Some(other) if other != own => {
                return Err(ApiError::field(
                    "client_id",
                    FieldErrorCode::NotAllowed,
                    "a client makes webhooks for itself only",
                ));
            }
            _ => own,
        },
        None => input.client_id.ok_or_else(|| {
            ApiError::field(
                "client_id",
                FieldErrorCode::Required,
                "name the integration client the webhook is for",
            )
        })?,
    };
    let url = url.0;
    let secret = format!("whsec_{}", secrets::random_token());
    let at = now();
    let row = write_transaction(conn, |conn| -> Result<_, ApiError> {
        crate::db::accounts::find_client(conn, client)?.ok_or_else(|| {
            ApiError::field("client_id", FieldErrorCode::NotFound, "no such client")
        })?;
        Ok(store::insert_webhook(
            conn,
            store::NewWebhook {
                client_id: client,
                url,
                event_types: store_event_types(&input.event_types),
                secret_sealed: secrets_box.seal(&secret),
                active: true,
                created_at: at,
                updated_at: at,
            },
        )?)
    })?;
    Ok(CreatedWebhook {
        webhook: row.into(),
        secret,
    })
}

pub fn list(conn: &mut DbConnection, principal: &Principal) -> Result<Vec<WebhookView>, ApiError> {
    let scope = keeper_scope(principal)?;
    Ok(store::list_webhooks(conn, scope)?
        .into_iter()
        .map(WebhookView::from)
        .collect())
}

pub fn update(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: UpdateWebhook,
    url: Option<VettedUrl>,
) -> Result<WebhookView, ApiError> {
    let url = url.map(|u| u.0);
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        let row = kept(conn, principal, id)?;
        let reenabled = input.active == Some(true) && !row.active;
        let changes = store::WebhookChanges {
            url,
            event_types: input.event_types.as_deref().map(store_event_types),
            active: input.active,
            disabled_reason: reenabled.then_some(None),
            failing_since: reenabled.then_some(None),
            updated_at: Some(now()),
        };
        Ok(store::update_webhook(conn, id, changes)?.into())
    })
}

pub fn delete(conn: &mut DbConnection, principal: &Principal, id: i64) -> Result<(), ApiError> {
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        kept(conn, principal, id)?;
        Ok(store::delete_webhook(conn, id)?)
    })
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's HTTP status; `null` when it did not answer.
    pub status_code: Option<i32>,
    /// Why it failed, when it did not answer or was refused before sending.
    pub error: Option<String>,
    /// The first bytes of the answer (at most 200 characters).
    pub response_excerpt: Option<String>,
}

/// One event sent (or to be sent) to one webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as `X-Hotline-Delivery`: a receiver that sees an id twice has seen the delivery
    /// twice (deliveries are at least once).
    pub id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub case_id: CaseId,
    /// The event's number among its case's events.
    pub sequence: i64,
    /// `pending`, `succeeded` or `failed` (tried for the configured time, a day by default).
    #[schema(example = "succeeded")]
    pub state: String,
    pub attempts: i32,
    /// When a pending delivery is next tried.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// At most this many, newest first (default 50, at most 200).
    pub limit: Option<i64>,
    /// Only deliveries with a smaller id (the page after one that ended with this id).
    pub before: Option<i64>,
}

pub fn deliveries(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    query: &DeliveryQuery,
) -> Result<Vec<DeliveryView>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            FieldErrorCode::Range,
            "from 1 to 200",
        ));
    }
    kept(conn, principal, id)?;
    let rows = store::deliveries_of(conn, id, limit, query.before)?;
    let ids: Vec<i64> = rows.iter().map(|(d, ..)| d.id).collect();
    let mut attempts: HashMap<i64, Vec<AttemptView>> = HashMap::new();
    for (_, a) in store::attempts_of(conn, &ids)? {
        attempts
            .entry(a.delivery_id)
            .or_default()
            .push(AttemptView {
                attempted_at: a.attempted_at.and_utc(),
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                error: a.error,
                response_excerpt: a.response_excerpt,
            });
    }
    Ok(rows
        .into_iter()
        .map(|(d, event_type, case_id, sequence)| {
            delivery_view(d, event_type, case_id, sequence, &mut attempts)
        })
        .collect())
}

fn delivery_view(
    d: store::DeliveryRow,
    event_type: String,
    case_id: CaseId,
    sequence: i64,
    attempts: &mut HashMap<i64, Vec<AttemptView>>,
) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event_id,
        event_type,
        case_id,
        sequence,
        next_attempt_at: (d.state == PENDING).then(|| d.next_attempt_at.and_utc()),
        state: d.state,
        attempts: d.attempts,
        created_at: d.created_at.and_utc(),
        replay_of: d.replay_of,
        attempt_log: attempts.remove(&d.id).unwrap_or_default(),
    }
}

/// Sends a delivery's event again, as a new delivery (due now).
pub fn replay(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    delivery_id: i64,
) -> Result<DeliveryView, ApiError> {
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        kept(conn, principal, id)?;
        let original = store::find_delivery(conn, delivery_id)?
            .filter(|d| d.webhook_id == id)
            .ok_or_else(|| ApiError::not_found("no such delivery of this webhook"))?;
        let at = now();
        let row = store::insert_delivery(
            conn,
            store::NewDelivery {
                webhook_id: id,
                event_id: original.event_id,
                state: PENDING,
                attempts: 0,
                next_attempt_at: at,
                created_at: at,
                replay_of: Some(original.id),
            },
        )?;
        let (event_type, case_id, sequence) = store::event_summary(conn, row.event_id)?;
        Ok(delivery_view(
            row,
            event_type,
            case_id,
            sequence,
            &mut HashMap::new(),
        ))
    })
}

// The delivery worker.

/// The body of every delivery of an event: public fields only.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    /// The event's id (one per change; its deliveries to several webhooks share it).
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// 1, 2, 3… among the case's events: order by it.
    pub sequence: i64,
    pub case: CaseSummary,
}

/// What an event tells of its case: never its text, address or anything about who raised it;
/// read more with your own token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: CaseId,
    pub case_no: String,
    /// The status right after the change.
    pub status: String,
    pub kind: String,
    pub channel: String,
    pub urgency: String,
    pub category_id: Option<i64>,
    pub district_id: Option<DepartmentId>,
    pub lead_department_id: Option<DepartmentId>,
    pub closure: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub reply_due_at: Option<DateTime<Utc>>,
}

/// Outbox events handed out at once.
const FAN_OUT_BATCH: i64 = 1000;

/// Hands up to `limit` outbox events to the webhooks that want them; how many.
pub fn fan_out(conn: &mut DbConnection, limit: i64) -> Result<usize, ApiError> {
    write_transaction(conn, |conn| -> Result<usize, ApiError> {
        let events = store::events_to_fan_out(conn, limit)?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut case_ids: Vec<CaseId> = events.iter().map(|e| e.case_id).collect();
        case_ids.sort_unstable();
        case_ids.dedup();
        let cases: HashMap<CaseId, store::CasePublic> = store::cases_public(conn, &case_ids)?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let hooks: Vec<(store::WebhookRow, bool)> = store::active_webhooks(conn)?;
        let at = now();
        let mut deliveries = Vec::new();
        let mut unwanted = Vec::new();
        for event in &events {
            let Some(case) = cases.get(&event.case_id) else {
                unwanted.push(event.id);
                continue;
            };
            let event_type = event.event_type.parse::<EventType>().ok();
            let wanted_by: Vec<i64> = hooks
                .iter()
                .filter(|(hook, all_cases)| {
                    (*all_cases || case.source_client == Some(hook.client_id))
                        && event_type.is_some_and(|t| wants(&hook.event_types, t))
                })
                .map(|(hook, _)| hook.id)
                .collect();
            if wanted_by.is_empty() {
                unwanted.push(event.id);
                continue;
            }
            let body = EventBody {
                id: event.id,
                event_type: event.event_type.clone(),
                occurred_at: event.occurred_at.and_utc(),
                sequence: event.case_seq,
                case: CaseSummary {
                    id: case.id,
                    case_no: case.case_no.clone(),
                    status: event.case_status.clone(),
                    kind: case.kind.clone(),
                    channel: case.channel.clone(),
                    urgency: case.urgency.clone(),
                    category_id: case.category_id,
                    district_id: case.district_id,
                    lead_department_id: case.lead_department_id,
                    closure: case.closure.clone(),
                    registered_at: case.created_at.and_utc(),
                    reply_due_at: case.reply_due_at.map(|t| t.and_utc()),
                },
            };
            let payload = serde_json::to_string(&body)
                .map_err(|e| ApiError::internal(format!("event body: {e}")))?;
            deliveries.extend(wanted_by.into_iter().map(|webhook_id| store::NewDelivery {
                webhook_id,
                event_id: event.id,
                state: PENDING,
                attempts: 0,
                next_attempt_at: at,
                created_at: at,
                replay_of: None,
            }));
            store::mark_fanned_out(conn, event.id, &payload, at)?;
        }
        store::mark_unwanted(conn, &unwanted, at)?;
        store::insert_deliveries(conn, &deliveries)?;
        Ok(events.len())
    })
}

/// How one attempt went.
#[derive(Debug)]
struct Outcome {
    sendable: store::Sendable,
    attempted_at: NaiveDateTime,
    duration_ms: i32,
    status: Option<u16>,
    error: Option<String>,
    excerpt: Option<String>,
    /// Failed before sending, for a reason of this server's (a secret its key cannot open):
    /// tried again, but not held against the receiver.
    ours: bool,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How long a worker holds the deliveries it took: a round sends them all at once, each within
/// the 10 s timeout, so this leaves room to record. (A worker that dies holding them leaves
/// them due again this long after; one that outlives it records nothing: see `settle`.)
const LEASE: Duration = Duration::from_secs(30);
/// Deliveries taken in a round, all sent at once.
const BATCH: i64 = 64;
const IN_FLIGHT: usize = BATCH as usize;

/// The client that sends deliveries: 10 s per attempt, redirects not followed, names resolved
/// only to addresses a webhook may reach.
pub fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, past the resolver below.
        .no_proxy()
        .user_agent(concat!("hotline-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PublicOnlyResolver {
            allow_private: settings.allow_private,
        }))
        .build()
        .expect("the webhook HTTP client's settings are valid")
}

/// Resolves names like the system does, then keeps only addresses a webhook may reach (a name
/// that pointed somewhere public when the webhook was made may not point inside later).
struct PublicOnlyResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_forbidden_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host resolves to no address a webhook may reach".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

async fn send(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    secrets_box: &SecretBox,
    sendable: store::Sendable,
) -> Outcome {
    let attempted_at = now();
    let started = Instant::now();
    let mut outcome = Outcome {
        attempted_at,
        duration_ms: 0,
        status: None,
        error: None,
        excerpt: None,
        ours: false,
        sendable,
    };
    let s = &outcome.sendable;
    // Checked again: the rules (and the configuration) may have changed since it was made.
    let refused = check_url(&s.url, &settings.http_hosts, settings.allow_private)
        .err()
        .map(|e| format!("refused: {}", e.0));
    let secret = secrets_box.open(&s.secret_sealed);
    outcome.ours = refused.is_none() && (secret.is_none() || s.payload.is_none());
    let s = &outcome.sendable;
    let result = match (refused, secret, s.payload.clone()) {
        (Some(refused), ..) => Err(refused),
        (None, None, _) => Err("the webhook's secret cannot be read with this server's key".into()),
        (None, _, None) => Err("the event has no body".into()),
        (None, Some(secret), Some(body)) => {
            let t = Utc::now().timestamp();
            let signed = signature(&secret, t, body.as_bytes());
            client
                .post(&s.url)
                .header("content-type", "application/json")
                .header("x-hotline-event", &s.event_type)
                .header("x-hotline-delivery", s.delivery_id.to_string())
                .header("x-hotline-signature", signed)
                .body(body)
                .send()
                .await
                .map_err(|e| describe(&e))
        }
    };
    match result {
        Ok(mut response) => {
            outcome.status = Some(response.status().as_u16());
            // The first bytes only: a receiver may answer with anything.
            if let Ok(Some(chunk)) = response.chunk().await {
                let text = String::from_utf8_lossy(&chunk[..chunk.len().min(800)]);
                let excerpt: String = text
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n')
                    .take(200)
                    .collect();
                outcome.excerpt = (!excerpt.is_empty()).then_some(excerpt);
            }
        }
        Err(error) => outcome.error = Some(error),
    }
    outcome.duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    outcome
}

/// Why a request failed, without the URL (it may carry a token in its query).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", cause.chars().take(200).collect::<String>())
    }
}

/// Records the attempts: a success settles its delivery; a failure schedules the next attempt
/// (or, past the retry time, fails the delivery) and counts against the webhook, which is
/// disabled once every attempt has failed for `disable_after`.
fn settle(
    conn: &mut DbConnection,
    outcomes: &[Outcome],
    lease_until: NaiveDateTime,
    settings: &WebhookSettings,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| -> Result<(), ApiError> {
        let at = now();
        // A webhook removed while its deliveries were out takes their outcomes with it.
        let mut hook_ids: Vec<i64> = outcomes.iter().map(|o| o.sendable.webhook_id).collect();
        hook_ids.sort_unstable();
        hook_ids.dedup();
        let live = store::lock_webhooks(conn, &hook_ids)?;
        let outcomes: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| live.contains(&o.sendable.webhook_id))
            .collect();
        // Webhooks in id order: two servers settling the same ones lock them alike.
        let mut hooks: std::collections::BTreeMap<i64, (bool, Option<&Outcome>)> =
            std::collections::BTreeMap::new();
        let mut recorded = Vec::with_capacity(outcomes.len());
        for &o in &outcomes {
            let s = &o.sendable;
            let attempts = s.attempts + 1;
            if o.succeeded() {
                if !store::settle_delivery(
                    conn,
                    s.delivery_id,
                    lease_until,
                    (SUCCEEDED, attempts, at),
                )? {
                    continue;
                }
                hooks.insert(s.webhook_id, (true, None));
            } else {
                let given_up = at - s.created_at
                    >= chrono::Duration::from_std(settings.retry_for)
                        .unwrap_or(chrono::Duration::MAX);
                let next = at
                    + chrono::Duration::from_std(retry_delay(
                        attempts as u32,
                        settings.retry_base,
                        fastrand::f64(),
                    ))
                    .unwrap_or(chrono::Duration::hours(1));
                let state = if given_up { FAILED } else { PENDING };
                if !store::settle_delivery(
                    conn,
                    s.delivery_id,
                    lease_until,
                    (state, attempts, next),
                )? {
                    continue;
                }
                if o.ours {
                    log::warn!(
                        "webhook {}: delivery {} not sent: {}",
                        s.webhook_id,
                        s.delivery_id,
                        o.error.as_deref().unwrap_or_default()
                    );
                } else {
                    hooks.entry(s.webhook_id).or_insert((false, Some(o)));
                }
            }
            recorded.push(store::NewAttempt {
                delivery_id: s.delivery_id,
                attempted_at: o.attempted_at,
                duration_ms: o.duration_ms,
                status_code: o.status.map(i32::from),
                error: o.error.clone(),
                response_excerpt: o.excerpt.clone(),
            });
        }
        store::insert_attempts(conn, &recorded)?;
        for (id, (any_success, failure)) in hooks {
            let Some(hook) = store::find_webhook(conn, id)? else {
                continue;
            };
            let mut changes = store::WebhookChanges::default();
            if any_success {
                if hook.failing_since.is_some() {
                    changes.failing_since = Some(None);
                }
            } else if let Some(since) = hook.failing_since {
                let limit = chrono::Duration::from_std(settings.disable_after)
                    .unwrap_or(chrono::Duration::MAX);
                if hook.active && at - since >= limit {
                    let last = failure
                        .map(|o| match (o.status, &o.error) {
                            (Some(status), _) => format!("HTTP {status}"),
                            (None, Some(error)) => error.clone(),
                            (None, None) => "no answer".to_owned(),
                        })
                        .unwrap_or_default();
                    changes.active = Some(false);
                    changes.disabled_reason = Some(Some(format!(
                        "every delivery failed since {} (last: {last}); fix the receiver and \
                         enable the webhook again",
                        since
                            .and_utc()
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )));
                }
            } else {
                changes.failing_since = Some(Some(at));
            }
            if changes.failing_since.is_some() || changes.active.is_some() {
                changes.updated_at = Some(at);
                store::update_webhook(conn, id, changes)?;
            }
        }
        Ok(())
    })
}

/// One round of the worker: fan out, take what is due, send it, record it (failed attempts are
/// counted in `failed_attempts` too).
pub async fn deliver_once(
    db: &Db,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    secrets_box: &SecretBox,
    failed_attempts: &prometheus::IntCounter,
) -> Result<Round, ApiError> {
    if !db.run(|conn| Ok(store::work_waiting(conn, now())?)).await? {
        return Ok(Round::Idle);
    }
    let fanned = db.run(|conn| fan_out(conn, FAN_OUT_BATCH)).await?;
    let (due, lease_until) = db
        .run(|conn| {
            write_transaction(conn, |conn| -> Result<_, ApiError> {
                let at = now();
                let lease = at + chrono::Duration::from_std(LEASE).expect("seconds");
                let ids = store::claim_due(conn, at, lease, BATCH)?;
                Ok((store::sendable(conn, &ids)?, lease))
            })
        })
        .await?;
    let sent = due.len();
    if sent > 0 {
        let outcomes: Vec<Outcome> = futures_util::stream::iter(due)
            .map(|s| send(client, settings, secrets_box, s))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        failed_attempts.inc_by(outcomes.iter().filter(|o| !o.succeeded()).count() as u64);
        let settings = settings.clone();
        db.run(move |conn| settle(conn, &outcomes, lease_until, &settings))
            .await?;
    }
    // A full batch either way: more is waiting.
    Ok(if fanned as i64 == FAN_OUT_BATCH || sent as i64 == BATCH {
        Round::Full
    } else if fanned + sent > 0 {
        Round::Some
    } else {
        Round::Idle
    })
}

/// What a round of the worker found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Nothing to do.
    Idle,
    /// Some work, all of it done.
    Some,
    /// As much as a round takes: more is likely waiting.
    Full,
}

/// The delivery worker: rounds back to back while they come back full, otherwise a pause of
/// `poll` (so that under a steady stream of changes the outbox is handed out in batches, not in
/// a write transaction per change); outbox events every webhook has had for longer than the
/// retention period are forgotten at start and once an hour.
pub async fn deliver_periodically(
    db: Db,
    settings: WebhookSettings,
    secrets_box: SecretBox,
    failed_attempts: prometheus::IntCounter,
) {
    let client = http_client(&settings);
    // Pruned at start and hourly after.
    let mut last_prune: Option<Instant> = None;
    loop {
        match deliver_once(&db, &client, &settings, &secrets_box, &failed_attempts).await {
            Ok(Round::Full) => {}
            Ok(Round::Some | Round::Idle) => tokio::time::sleep(settings.poll).await,
            Err(error) => {
                log::warn!("webhook delivery round failed (the next one retries): {error}");
                tokio::time::sleep(settings.poll).await;
            }
        }
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(Instant::now());
            let retention = chrono::TimeDelta::seconds(settings.retention.as_secs() as i64);
            let before = now() - retention;
            // Batch after batch, each its own short transaction, until one is not full.
            loop {
                let pruned = db
                    .run(move |conn| {
                        write_transaction(conn, |conn| store::prune(conn, before))
                            .map_err(ApiError::from)
                    })
                    .await;
                match pruned {
                    Ok(n) if n as i64 == store::PRUNE_BATCH => {}
                    Ok(_) => break,
                    Err(error) => {
                        log::warn!("webhook outbox pruning failed: {error}");
                        break;
                    }
                }
            }
        }
    }
}
