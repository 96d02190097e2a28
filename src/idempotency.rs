//! `Idempotency-Key` on every POST (SPEC 7): a client that retries a request with the same key
//! gets the first answer again and nothing is done twice. Case registration keeps its own, older
//! mechanism (it records the case id and answers from the case as it is now); every other POST of
//! a signed-in caller goes through the middleware here.
//!
//! - The key is the caller's: the same key from another account is another request.
//! - The first answer of a successful request (2xx) is kept for `HOTLINE_IDEMPOTENCY_TTL_SECS`
//!   (24 h by default), sealed: encrypted with a key derived from the server's secret and the
//!   client's Idempotency-Key, which the server does not store (only its digest). A stolen table
//!   reveals no answer (some carry a new client's secret, others personal data).
//! - An error answer is not kept: the request changed nothing, and a retry runs it anew.
//! - The same key with another request (method, path or body) is refused: 409
//!   `idempotency_key_reused`. A retry while the first request is still being answered: 409
//!   `idempotency_key_in_use`, retry shortly. A first request whose answer was never recorded (the
//!   server died in between) may or may not have taken effect: after [`ABANDONED_AFTER`] it is
//!   409 `idempotency_outcome_unknown` until the key expires, never run a second time.
//! - The caller's account is checked before a run or a replay, as for any request: a revoked
//!   token gets no kept answer back.
//! - The sign-in endpoints (`/auth/…`, whose answers are tokens) and public endpoints are left
//!   alone: there is no caller to key on, or nothing worth keeping.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::Key;
use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::secrets;
use crate::db::idempotency::{self as store, IN_PROGRESS, IdempotentRequest};
use crate::domain::ids::CaseId;
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// A first request still unanswered after this long is taken for abandoned.
pub const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// Registration records its own idempotency (see `service::intake::register`).
const OWN_MECHANISM: &[&str] = &["/api/v1/cases"];

/// Answers that are tokens are never kept.
const TOKEN_ENDPOINTS: &str = "/api/v1/auth/";

const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, when present: 1 to 100 visible ASCII characters.
pub fn key_from_header(headers: &header::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value.is_empty() || value.len() > 100 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1 to 100 visible ASCII characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// What to do with a request, given what is recorded under its key.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing usable is recorded: run it (and record a new row, or restart the old one).
    Run {
        restart: bool,
    },
    /// Answer with the recorded first answer.
    Replay {
        status: u16,
        sealed: String,
    },
    Reused,
    InProgress,
    /// The first request was abandoned unanswered: it may have taken effect.
    Unknown,
}

/// The rules, apart from the storage: `kept_since` is the oldest record still honoured.
pub fn decide(
    recorded: Option<&IdempotentRequest>,
    request_hash: &str,
    now: NaiveDateTime,
    kept_since: NaiveDateTime,
) -> Decision {
    let Some(row) = recorded else {
        return Decision::Run { restart: false };
    };
    if row.created_at < kept_since {
        return Decision::Run { restart: true };
    }
    if row.request_hash != request_hash {
        return Decision::Reused;
    }
    match (row.status, &row.sealed_response) {
        (IN_PROGRESS, _) if row.created_at < now - ABANDONED_AFTER => Decision::Unknown,
        (IN_PROGRESS, _) | (_, None) => Decision::InProgress,
        (status, Some(sealed)) => Decision::Replay {
            status: u16::try_from(status).unwrap_or(500),
            sealed: sealed.clone(),
        },
    }
}

/// The parts of an answer that are replayed.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Envelope {
    content_type: Option<String>,
    location: Option<String>,
    etag: Option<String>,
    body: String,
    /// Cases whose personal data the answer shows in full: a replay is a read too.
    #[serde(default)]
    reads: Vec<CaseId>,
}

/// The sealing key of one request: the server's secret with the caller and its raw key.
fn sealing_key(server_secret: &[u8], principal: &str, key: &str) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(b"hotline idempotent answer\0");
    hasher.update(server_secret);
    hasher.update(b"\0");
    hasher.update(principal.as_bytes());
    hasher.update(b"\0");
    hasher.update(key.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    Key::from(digest)
}

fn seal(key: &Key, envelope: &Envelope) -> Option<String> {
    Some(secrets::seal(key, &serde_json::to_vec(envelope).ok()?))
}

fn unseal(key: &Key, sealed: &str) -> Option<Envelope> {
    serde_json::from_slice(&secrets::open_sealed(key, sealed)?).ok()
}

/// The middleware (see the module's description). Its refusals are answers, not errors, so that
/// the outer middleware (request id, security headers) still sees them.
pub async fn idempotent_posts(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Uploads are not replayed: their body may be far larger than any recorded answer's
    // request, and a repeated upload of the same file stores it once anyway.
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    let applies = req.method() == Method::POST
        && !OWN_MECHANISM.contains(&req.path())
        && !req.path().starts_with(TOKEN_ENDPOINTS);
    // A malformed key is refused on uploads too, though their answers are not recorded.
    let key = match applies.then(|| key_from_header(req.headers())) {
        Some(Err(error)) => return Ok(req.error_response(error)),
        Some(Ok(_)) if multipart => None,
        Some(Ok(key)) => key,
        None => None,
    };
    // Only now, for the few requests that carry a key: the token's signature.
    let caller = key.as_ref().and_then(|_| {
        let state = req.app_data::<web::Data<AppState>>().cloned()?;
        Some((state, crate::auth::principal::credentials(req.request())?))
    });
    let (Some(key), Some((state, credentials))) = (key, caller) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let principal = credentials.subject();
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error)),
    };
    let request_hash = {
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str().as_bytes());
        hasher.update(b" ");
        hasher.update(req.uri().to_string().as_bytes());
        hasher.update(b"\n");
        hasher.update(&body);
        let digest: [u8; 32] = hasher.finalize().into();
        STANDARD.encode(digest)
    };
    let record = Record {
        sealing: sealing_key(&state.sealing_secret, &principal, &key),
        key_digest: secrets::digest(&key),
        state,
        principal,
    };
    let (decision, caller) = match record.claim(credentials, request_hash).await {
        Ok(claimed) => claimed,
        Err(error) => return Ok(req.error_response(error)),
    };
    match decision {
        Decision::Reused => Ok(req.error_response(ApiError::conflict(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        ))),
        Decision::InProgress => Ok(req.error_response(in_use())),
        Decision::Unknown => Ok(req.error_response(outcome_unknown())),
        Decision::Replay { status, sealed } => {
            // Sealed under another server secret (the signing key changed): unknown.
            let Some(envelope) = unseal(&record.sealing, &sealed) else {
                return Ok(req.error_response(outcome_unknown()));
            };
            if let Err(error) = record.reads_again(&caller, &envelope.reads).await {
                return Ok(req.error_response(error));
            }
            match replay(status, envelope) {
                Ok(response) => Ok(req.into_response(response)),
                Err(error) => Ok(req.error_response(error)),
            }
        }
        Decision::Run { .. } => {
            req.set_payload(actix_web::dev::Payload::from(body));
            // On a task of its own, so that the answer is recorded even when the client goes away
            // and this future is dropped: the request takes effect either way.
            actix_web::rt::spawn(crate::telemetry::with_request_id(async move {
                let (request, response) = next.call(req).await?.into_parts();
                let status = response.status();
                let headers = response.headers().clone();
                let reads = response
                    .extensions()
                    .get::<crate::db::read_log::RecordedReads>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                let Ok(bytes) = actix_web::body::to_bytes(response.into_body()).await else {
                    let error = ApiError::internal("reading an answer to record it failed");
                    return Ok(ServiceResponse::new(request, error.error_response()));
                };
                if let Err(error) = record.keep(status, &headers, &bytes, reads).await {
                    log::warn!("recording an idempotent answer failed: {error}");
                }
                let mut rebuilt = HttpResponse::build(status);
                for (name, value) in &headers {
                    rebuilt.append_header((name.clone(), value.clone()));
                }
                Ok(ServiceResponse::new(request, rebuilt.body(bytes)))
            }))
            .await
            .map_err(|_| ApiError::internal("an idempotent request's task was lost"))?
        }
    }
}

fn outcome_unknown() -> ApiError {
    ApiError::conflict(
        ErrorCode::IdempotencyOutcomeUnknown,
        "the first request with this Idempotency-Key was never answered and may have taken \
         effect; check the resource, then retry with a new key",
    )
}

fn in_use() -> ApiError {
    ApiError::conflict(
        ErrorCode::IdempotencyKeyInUse,
        "a request with this Idempotency-Key is still being answered; retry shortly",
    )
}

/// Reads the whole body within the configured limit, to hash it and hand it on.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    let limit = req
        .app_data::<crate::extract::BodyLimit>()
        .map_or(256 * 1024, |l| l.0);
    crate::extract::collect_body(&mut req.take_payload(), limit).await
}

/// One caller's record of one key.
struct Record {
    state: web::Data<AppState>,
    principal: String,
    key_digest: String,
    sealing: Key,
}

impl Record {
    /// Checks the caller's account (a revoked token gets nothing) and claims the key.
    async fn claim(
        &self,
        credentials: crate::auth::Credentials,
        request_hash: String,
    ) -> Result<(Decision, crate::auth::principal::Caller), ApiError> {
        let ttl = Duration::from_std(self.state.settings.idempotency_ttl)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let (principal, key_digest) = (self.principal.clone(), self.key_digest.clone());
        self.state
            .db
            .write(move |conn| {
                let caller = credentials.caller(conn)?;
                Ok((
                    claim(conn, &principal, &key_digest, &request_hash, ttl)?,
                    caller,
                ))
            })
            .await
    }

    /// A replayed answer shows the same personal data again: its reads are recorded again, for
    /// the caller as they are now.
    async fn reads_again(
        &self,
        caller: &crate::auth::principal::Caller,
        cases: &[CaseId],
    ) -> Result<(), ApiError> {
        let Some(user_id) = caller.user_id else {
            return Ok(());
        };
        let reads = cases.iter().map(|&case_id| {
            self.state.read_log.record(crate::db::read_log::FullRead {
                case_id,
                user_id,
                role: caller.role.as_str(),
                at: crate::db::now(),
            })
        });
        futures_util::future::try_join_all(reads).await.map(drop)
    }

    /// Keeps a successful first answer, sealed; forgets the key after an error answer.
    async fn keep(
        &self,
        status: StatusCode,
        headers: &header::HeaderMap,
        body: &[u8],
        reads: Vec<CaseId>,
    ) -> Result<(), ApiError> {
        let (principal, key_digest) = (self.principal.clone(), self.key_digest.clone());
        if !status.is_success() {
            return self
                .state
                .db
                .write(move |conn| Ok(store::forget(conn, &principal, &key_digest)?))
                .await;
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let envelope = Envelope {
            content_type: text(header::CONTENT_TYPE),
            location: text(header::LOCATION),
            etag: text(header::ETAG),
            body: STANDARD.encode(body),
            reads,
        };
        let sealed = seal(&self.sealing, &envelope)
            .ok_or_else(|| ApiError::internal("sealing an idempotent answer failed"))?;
        let code = i32::from(status.as_u16());
        self.state
            .db
            .write(move |conn| {
                Ok(store::complete(
                    conn,
                    &principal,
                    &key_digest,
                    code,
                    &sealed,
                )?)
            })
            .await
    }
}

/// Reads the record and claims the key for this request when it may run, in one transaction.
fn claim(
    conn: &mut crate::db::DbConnection,
    principal: &str,
    key_digest: &str,
    request_hash: &str,
    ttl: Duration,
) -> Result<Decision, ApiError> {
    let now = crate::db::now();
    let recorded = store::find(conn, principal, key_digest)?;
    let decision = decide(recorded.as_ref(), request_hash, now, now - ttl);
    match (&decision, &recorded) {
        // Only the request that read this very record restarts it.
        (Decision::Run { restart: true }, Some(old))
            if !store::restart(conn, old, request_hash, now)? =>
        {
            return Err(in_use());
        }
        (Decision::Run { restart: true }, Some(_)) => {}
        (Decision::Run { .. }, _) => store::insert(
            conn,
            &IdempotentRequest {
                principal: principal.to_owned(),
                key_digest: key_digest.to_owned(),
                request_hash: request_hash.to_owned(),
                status: IN_PROGRESS,
                sealed_response: None,
                created_at: now,
            },
        )
        .map_err(|error| match error {
            // Another request with the same key claimed it a moment ago.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => in_use(),
            other => other.into(),
        })?,
        _ => {}
    }
    Ok(decision)
}

fn replay(status: u16, envelope: Envelope) -> Result<HttpResponse, ApiError> {
    let status = StatusCode::from_u16(status)
        .map_err(|_| ApiError::internal("a recorded status is not one"))?;
    let body = STANDARD
        .decode(&envelope.body)
        .map_err(|_| ApiError::internal("a recorded answer is not readable"))?;
    let mut response = HttpResponse::build(status);
    response.insert_header((REPLAYED, "true"));
    for (name, value) in [
        (header::CONTENT_TYPE, envelope.content_type),
        (header::LOCATION, envelope.location),
        (header::ETAG, envelope.etag),
    ] {
        if let Some(value) = value {
            response.insert_header((name, value));
        }
    }
    Ok(response.body(body))
}

/// Forgets the keys kept longer than `ttl` — registration's and every other POST's — every
/// `every` (a server task).
pub async fn prune_idempotency_keys(
    db: crate::db::Db,
    ttl: std::time::Duration,
    every: std::time::Duration,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Ok(ttl) = chrono::Duration::from_std(ttl) else {
            return;
        };
        let pruned = db
            .write(move |conn| {
                let kept_since = crate::db::now() - ttl;
                Ok(crate::db::cases::prune_idempotent(conn, kept_since)?
                    + store::prune(conn, kept_since)?)
            })
            .await;
        match pruned {
            Ok(0) => {}
            Ok(count) => log::info!("forgot {count} idempotency keys older than {ttl}"),
            Err(error) => log::warn!("pruning idempotency keys failed: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: &str, status: i32, at: NaiveDateTime) -> IdempotentRequest {
        IdempotentRequest {
            principal: "user:1".into(),
            key_digest: "k".into(),
            request_hash: hash.into(),
            status,
            sealed_response: (status != IN_PROGRESS).then(|| "sealed".to_owned()),
            created_at: at,
        }
    }

    #[test]
    fn decisions_follow_the_record() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let kept_since = now - Duration::hours(24);
        assert_eq!(
            decide(None, "h", now, kept_since),
            Decision::Run { restart: false }
        );
        let done = row("h", 201, now - Duration::minutes(1));
        assert_eq!(
            decide(Some(&done), "h", now, kept_since),
            Decision::Replay {
                status: 201,
                sealed: "sealed".into()
            }
        );
        assert_eq!(
            decide(Some(&done), "other", now, kept_since),
            Decision::Reused
        );
        let expired = row("other", 201, now - Duration::hours(25));
        assert_eq!(
            decide(Some(&expired), "h", now, kept_since),
            Decision::Run { restart: true }
        );
        let running = row("h", IN_PROGRESS, now - Duration::seconds(3));
        assert_eq!(
            decide(Some(&running), "h", now, kept_since),
            Decision::InProgress
        );
        let abandoned = row("h", IN_PROGRESS, now - Duration::minutes(6));
        assert_eq!(
            decide(Some(&abandoned), "h", now, kept_since),
            Decision::Unknown
        );
    }

    #[test]
    fn sealed_answers_open_only_with_the_same_key() {
        let envelope = Envelope {
            content_type: Some("application/json".into()),
            location: Some("/api/v1/users/5".into()),
            etag: None,
            body: STANDARD.encode(br#"{"phone":"13812345678"}"#),
            reads: vec![CaseId(7)],
        };
        let key = sealing_key(b"server secret", "user:1", "retry-1");
        let sealed = seal(&key, &envelope).unwrap();
        assert!(!sealed.contains("13812345678"));
        assert_eq!(unseal(&key, &sealed).unwrap(), envelope);
        for other in [
            sealing_key(b"server secret", "user:1", "retry-2"),
            sealing_key(b"server secret", "user:2", "retry-1"),
            sealing_key(b"other secret", "user:1", "retry-1"),
        ] {
            assert!(unseal(&other, &sealed).is_none());
        }
    }
}
