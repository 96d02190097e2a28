//! Configuration from environment variables (and an optional `.env` file, loaded by `main`).
//!
//! Every variable is documented with its default in `.env.example`. A bad value stops the process at
//! start with one line naming the variable: operators should never have to guess which setting is wrong.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

/// A configuration value that could not be used; `Display` is the one-line message printed at start.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

/// Where the data lives. The scheme of `DATABASE_URL` picks the backend at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (created with its directory on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    pub const DEFAULT: &'static str = "sqlite://data/hotline.db";

    /// `sqlite://PATH`, `sqlite:PATH` or a bare path → SQLite; `postgres://…` → PostgreSQL.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() {
            return Err("the SQLite URL names no file".into());
        }
        if path.contains("://") {
            return Err("unsupported scheme: use sqlite://PATH or postgres://…".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Which origins browsers may call the API from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default: same-origin front ends and server-side callers only).
    None,
    /// Any origin (`*`); credentials are never allowed with it.
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::None);
        }
        if raw == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && !origin.contains(char::is_whitespace);
            if !valid {
                return Err(format!(
                    "'{origin}' is not an origin like https://app.example.gov.cn"
                ));
            }
            origins.push(origin.to_owned());
        }
        Ok(Self::List(origins))
    }
}

/// Signing algorithm of access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Es256,
    EdDsa,
}

impl JwtAlgorithm {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "HS256" => Ok(Self::Hs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(format!("'{other}' is not one of HS256, ES256, EdDSA")),
        }
    }
}

/// Settings for the tokens the API issues. The keys themselves are secrets: `Debug` leaves them out.
#[derive(Clone)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    /// Key id written into the header of every token this server signs.
    pub key_id: String,
    /// HS256: the shared secret. ES256/EdDSA: the PEM of the private key.
    pub signing_key: Option<Vec<u8>>,
    /// ES256/EdDSA: the PEM of the public key matching `signing_key` (what integrators verify with).
    pub public_key: Option<Vec<u8>>,
    /// Further keys accepted when verifying (`kid=secret-or-pem-file`), for rotation.
    pub extra_verification_keys: Vec<(String, Vec<u8>)>,
    pub issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "extra_verification_keys",
                &self
                    .extra_verification_keys
                    .iter()
                    .map(|(kid, _)| kid)
                    .collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    /// Failed sign-ins for one username before it is locked, and for how long.
    pub login_max_failures: i32,
    pub login_lock: Duration,
    /// Requests per minute one client address may make to the public endpoints, in total over
    /// the deployment; 0: no limit.
    pub public_rate_limit: u32,
    /// How many servers share `public_rate_limit` (each keeps its share in memory; see
    /// [`crate::rate_limit::share_of`]).
    pub public_rate_limit_servers: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// How often the server runs the deadline sweep; `None`: never (cron runs `hotline sweep`).
    pub sweep_interval: Option<Duration>,
    pub bind: SocketAddr,
    pub workers: usize,
    pub db_pool_size: u32,
    pub cors_origins: CorsOrigins,
    pub body_limit: usize,
    pub timezone: Tz,
    pub shutdown_timeout: Duration,
    /// `Strict-Transport-Security` max-age for an HTTPS deployment; `None`: the header is not sent
    /// (a plain-HTTP server behind no TLS must not promise HTTPS).
    pub hsts_max_age: Option<u64>,
    /// How long a stored `Idempotency-Key` answers a retry before it is forgotten.
    pub idempotency_ttl: Duration,
    /// The citizens' front end, without a trailing slash: survey links are
    /// `{public_base_url}/surveys/{token}`.
    pub public_base_url: String,
    /// How many days a survey invitation may be answered.
    pub survey_validity_days: i64,
    /// Where clients reach this API (`HOTLINE_API_BASE_URL`, e.g. `https://12345.example.gov.cn`):
    /// the base of the links it hands out (signed attachment links, Open311 discovery and
    /// `media_url`). `None`: taken from each request's `Host` (and a trusted proxy's headers).
    pub api_base_url: Option<String>,
    /// Rows per sheet of an XLSX export, its header included: Excel's 1,048,576 unless lowered
    /// (which tests do, to see a workbook continue on its next sheet without a million rows).
    pub xlsx_sheet_rows: u32,
    /// Where attachments' files are kept.
    pub storage_url: crate::storage::StorageUrl,
    /// The largest attachment, in bytes.
    pub attachment_max_bytes: u64,
    /// The most bytes of attachments one case holds.
    pub case_attachments_max_bytes: u64,
    /// The most attachments one case holds.
    pub case_attachments_max_count: i64,
    /// How old an unused stored file (or an upload never given a case) must be before the
    /// sweep removes it.
    pub orphan_file_age: Duration,
    pub webhooks: WebhookSettings,
    pub metrics: MetricsSettings,
    pub jwt: JwtSettings,
}

/// Where Prometheus metrics are served: a listener of their own, never the API's, so that they
/// are not public by default and stay out of the API's routes and document.
#[derive(Clone)]
pub struct MetricsSettings {
    /// `HOTLINE_METRICS_BIND`; `None` (the default): no metrics listener at all.
    pub bind: Option<SocketAddr>,
    /// `HOTLINE_METRICS_TOKEN`: when set, a scrape needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// How webhooks are kept and delivered.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Hosts a webhook may reach over plain `http` (`HOTLINE_WEBHOOK_HTTP_HOSTS`); every other
    /// URL is `https`.
    pub http_hosts: Vec<String>,
    /// Whether webhooks may reach loopback, private and link-local addresses
    /// (`HOTLINE_WEBHOOK_ALLOW_PRIVATE`; off: no server-side request forgery).
    pub allow_private: bool,
    /// The wait after a first failed attempt; it doubles with each further one, up to an hour.
    pub retry_base: Duration,
    /// How long a delivery is tried before it is marked failed.
    pub retry_for: Duration,
    /// How long every attempt of a webhook may fail before it is disabled.
    pub disable_after: Duration,
    /// How often the delivery worker looks for work when it found none.
    pub poll: Duration,
    /// How long an event every webhook has had (each delivery succeeded or failed for good)
    /// stays in the outbox, to be listed and replayed, before it is pruned with its deliveries
    /// (`HOTLINE_WEBHOOK_RETENTION_DAYS`, default 7).
    pub retention: Duration,
    /// Whether this process runs the delivery worker (`HOTLINE_WEBHOOK_WORKER`, default on;
    /// several servers on PostgreSQL may all run it, or only some).
    pub worker: bool,
    /// The key that encrypts the webhooks' signing secrets (`HOTLINE_WEBHOOK_KEY`, 64 hex
    /// digits); `None`: derived from the JWT signing key.
    pub key: Option<[u8; 32]>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("http_hosts", &self.http_hosts)
            .field("allow_private", &self.allow_private)
            .field("retry_base", &self.retry_base)
            .field("retry_for", &self.retry_for)
            .field("disable_after", &self.disable_after)
            .field("poll", &self.poll)
            .field("retention", &self.retention)
            .field("worker", &self.worker)
            .field("key", &self.key.map(|_| "(set)"))
            .finish()
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());

        let database_url = DatabaseUrl::parse(
            &get("DATABASE_URL").unwrap_or_else(|| DatabaseUrl::DEFAULT.to_owned()),
        )
        .map_err(|m| ConfigError::new("DATABASE_URL", m))?;

        let bind = parse_var(&get, "HOTLINE_BIND", "127.0.0.1:8080", |raw| {
            raw.parse::<SocketAddr>()
                .map_err(|_| format!("'{raw}' is not an address like 127.0.0.1:8080"))
        })?;
        let default_workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = parse_var(
            &get,
            "HOTLINE_WORKERS",
            &default_workers.to_string(),
            |raw| bounded_int(raw, 1, 256),
        )?;
        // Twice the cores: enough to keep every core busy while others wait on I/O; more only adds
        // contention (measured: /auth/me on 2 cores, 4 connections beat 10 by a fifth).
        let default_pool = (2 * default_workers).max(4);
        let db_pool_size = parse_var(
            &get,
            "HOTLINE_DB_POOL_SIZE",
            &default_pool.to_string(),
            |raw| bounded_int(raw, 1, 1000),
        )?;
        let login_max_failures = parse_var(&get, "HOTLINE_LOGIN_MAX_FAILURES", "5", |raw| {
            bounded_int(raw, 1, 1000)
        })?;
        let login_lock = parse_var(&get, "HOTLINE_LOGIN_LOCK_SECS", "900", |raw| {
            bounded_int(raw, 1, 86400)
        })
        .map(Duration::from_secs)?;
        let public_rate_limit = parse_var(&get, "HOTLINE_PUBLIC_RATE_LIMIT", "60", |raw| {
            bounded_int(raw, 0, 1_000_000)
        })?;
        let public_rate_limit_servers =
            parse_var(&get, "HOTLINE_PUBLIC_RATE_LIMIT_SERVERS", "1", |raw| {
                bounded_int(raw, 1, 1000)
            })?;
        let trusted_proxies = parse_var(&get, "HOTLINE_TRUSTED_PROXIES", "", |raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    entry
                        .parse::<IpAddr>()
                        .map(|a| a.to_canonical())
                        .map_err(|_| format!("'{entry}' is not an IP address"))
                })
                .collect()
        })?;
        let sweep_interval = parse_var(&get, "HOTLINE_SWEEP_INTERVAL_SECS", "60", |raw| {
            bounded_int(raw, 0, 86400)
        })
        .map(|secs: u64| (secs > 0).then(|| Duration::from_secs(secs)))?;
        let cors_origins = parse_var(&get, "HOTLINE_CORS_ORIGINS", "", CorsOrigins::parse)?;
        let body_limit = parse_var(&get, "HOTLINE_BODY_LIMIT", "262144", |raw| {
            bounded_int(raw, 1024, 64 * 1024 * 1024)
        })?;
        let timezone = parse_var(&get, "HOTLINE_TIMEZONE", "Asia/Shanghai", |raw| {
            raw.parse::<Tz>()
                .map_err(|_| format!("'{raw}' is not an IANA time zone"))
        })?;
        let shutdown_timeout = parse_var(&get, "HOTLINE_SHUTDOWN_TIMEOUT_SECS", "30", |raw| {
            bounded_int(raw, 0, 3600)
        })
        .map(Duration::from_secs)?;
        let hsts_max_age = parse_var(&get, "HOTLINE_HSTS_MAX_AGE", "0", |raw| {
            bounded_int(raw, 0, 2 * 31_536_000)
        })
        .map(|secs: u64| (secs > 0).then_some(secs))?;
        let idempotency_ttl = parse_var(&get, "HOTLINE_IDEMPOTENCY_TTL_SECS", "86400", |raw| {
            bounded_int(raw, 60, 30 * 86400)
        })
        .map(Duration::from_secs)?;
        let public_base_url = parse_var(
            &get,
            "HOTLINE_PUBLIC_BASE_URL",
            "http://127.0.0.1:8080",
            base_url,
        )?;
        let api_base_url = parse_var(&get, "HOTLINE_API_BASE_URL", "", |raw| {
            if raw.is_empty() {
                Ok(None)
            } else {
                base_url(raw).map(Some)
            }
        })?;
        let survey_validity_days = parse_var(&get, "HOTLINE_SURVEY_VALIDITY_DAYS", "14", |raw| {
            bounded_int(raw, 1, 365)
        })?;
        let xlsx_sheet_rows = parse_var(&get, "HOTLINE_XLSX_SHEET_ROWS", "1048576", |raw| {
            bounded_int(raw, 2, 1_048_576)
        })?;
        // Beside the SQLite file by default (one directory to back up); `data/attachments` with
        // PostgreSQL.
        let default_storage = match &database_url {
            DatabaseUrl::Sqlite(path) => path.parent().map_or_else(
                || PathBuf::from("attachments"),
                |dir| dir.join("attachments"),
            ),
            DatabaseUrl::Postgres(_) => PathBuf::from("data/attachments"),
        };
        let storage_url = parse_var(
            &get,
            "HOTLINE_STORAGE_URL",
            &default_storage.to_string_lossy(),
            crate::storage::StorageUrl::parse,
        )?;
        let attachment_max_bytes =
            parse_var(&get, "HOTLINE_ATTACHMENT_MAX_BYTES", "20971520", |raw| {
                bounded_int(raw, 1024, 4 * 1024 * 1024 * 1024)
            })?;
        let case_attachments_max_bytes = parse_var(
            &get,
            "HOTLINE_CASE_ATTACHMENTS_MAX_BYTES",
            "209715200",
            |raw| bounded_int(raw, 1024, 1024 * 1024 * 1024 * 1024),
        )?;
        let case_attachments_max_count =
            parse_var(&get, "HOTLINE_CASE_ATTACHMENTS_MAX_COUNT", "50", |raw| {
                bounded_int(raw, 1, 10_000)
            })?;
        let orphan_file_age = parse_var(&get, "HOTLINE_ORPHAN_FILE_AGE_SECS", "86400", |raw| {
            bounded_int(raw, 0, 365 * 86400)
        })
        .map(Duration::from_secs)?;
        let webhooks = WebhookSettings {
            http_hosts: parse_var(&get, "HOTLINE_WEBHOOK_HTTP_HOSTS", "", |raw| {
                Ok(raw
                    .split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect())
            })?,
            allow_private: parse_var(&get, "HOTLINE_WEBHOOK_ALLOW_PRIVATE", "false", parse_bool)?,
            worker: parse_var(&get, "HOTLINE_WEBHOOK_WORKER", "true", parse_bool)?,
            retry_base: parse_var(&get, "HOTLINE_WEBHOOK_RETRY_BASE_MS", "10000", |raw| {
                bounded_int(raw, 1, 3_600_000)
            })
            .map(Duration::from_millis)?,
            retry_for: parse_var(&get, "HOTLINE_WEBHOOK_RETRY_FOR_SECS", "86400", |raw| {
                bounded_int(raw, 1, 30 * 86400)
            })
            .map(Duration::from_secs)?,
            disable_after: parse_var(&get, "HOTLINE_WEBHOOK_DISABLE_AFTER_SECS", "86400", |raw| {
                bounded_int(raw, 1, 30 * 86400)
            })
            .map(Duration::from_secs)?,
            poll: parse_var(&get, "HOTLINE_WEBHOOK_POLL_MS", "500", |raw| {
                bounded_int(raw, 10, 60_000)
            })
            .map(Duration::from_millis)?,
            retention: parse_var(&get, "HOTLINE_WEBHOOK_RETENTION_DAYS", "7", |raw| {
                bounded_int(raw, 1, 3650)
            })
            .map(|days: u64| Duration::from_secs(days * 86400))?,
            key: parse_var(&get, "HOTLINE_WEBHOOK_KEY", "", |raw| {
                if raw.is_empty() {
                    return Ok(None);
                }
                let bytes: Option<Vec<u8>> = (raw.len() == 64
                    && raw.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| {
                    (0..32)
                        .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok())
                        .collect()
                })
                .flatten();
                bytes
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(Some)
                    .ok_or_else(|| "not 64 hexadecimal digits (32 bytes)".to_owned())
            })?,
        };
        let metrics = MetricsSettings {
            bind: parse_var(&get, "HOTLINE_METRICS_BIND", "", |raw| {
                if raw.is_empty() {
                    return Ok(None);
                }
                raw.parse::<SocketAddr>()
                    .map(Some)
                    .map_err(|_| format!("'{raw}' is not an address like 127.0.0.1:9464"))
            })?,
            token: get("HOTLINE_METRICS_TOKEN")
                .map(|raw| {
                    let token = raw.trim();
                    // Sent in a header: visible ASCII only; long enough not to be guessed.
                    if token.len() >= 16 && token.bytes().all(|b| b.is_ascii_graphic()) {
                        Ok(token.to_owned())
                    } else {
                        Err(ConfigError::new(
                            "HOTLINE_METRICS_TOKEN",
                            "use at least 16 visible ASCII characters (no spaces)",
                        ))
                    }
                })
                .transpose()?,
        };

        let jwt = JwtSettings {
            algorithm: parse_var(&get, "HOTLINE_JWT_ALGORITHM", "HS256", JwtAlgorithm::parse)?,
            key_id: parse_var(&get, "HOTLINE_JWT_KEY_ID", "k1", |raw| {
                if raw.len() <= 64
                    && raw
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    Ok(raw.to_owned())
                } else {
                    Err("use at most 64 letters, digits, '-', '_' or '.'".into())
                }
            })?,
            signing_key: get("HOTLINE_JWT_SIGNING_KEY")
                .map(|raw| {
                    key_material(&raw).map_err(|m| ConfigError::new("HOTLINE_JWT_SIGNING_KEY", m))
                })
                .transpose()?,
            public_key: get("HOTLINE_JWT_PUBLIC_KEY")
                .map(|raw| {
                    key_material(&raw).map_err(|m| ConfigError::new("HOTLINE_JWT_PUBLIC_KEY", m))
                })
                .transpose()?,
            extra_verification_keys: parse_var(&get, "HOTLINE_JWT_VERIFICATION_KEYS", "", |raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(|entry| {
                        let (kid, key) = entry
                            .split_once('=')
                            .ok_or_else(|| "entries are kid=key, separated by commas".to_owned())?;
                        Ok((kid.trim().to_owned(), key_material(key.trim())?))
                    })
                    .collect()
            })?,
            issuer: get("HOTLINE_JWT_ISSUER").unwrap_or_else(|| "hotline".to_owned()),
            access_ttl: parse_var(&get, "HOTLINE_ACCESS_TOKEN_TTL_SECS", "900", |raw| {
                bounded_int(raw, 30, 24 * 3600)
            })
            .map(Duration::from_secs)?,
            refresh_ttl: parse_var(&get, "HOTLINE_REFRESH_TOKEN_TTL_SECS", "2592000", |raw| {
                bounded_int(raw, 60, 365 * 24 * 3600)
            })
            .map(Duration::from_secs)?,
        };
        if jwt.algorithm == JwtAlgorithm::Hs256
            && jwt.signing_key.as_ref().is_some_and(|key| key.len() < 32)
        {
            return Err(ConfigError::new(
                "HOTLINE_JWT_SIGNING_KEY",
                "an HS256 secret must be at least 32 bytes",
            ));
        }
        if jwt.algorithm != JwtAlgorithm::Hs256 && jwt.signing_key.is_none() {
            return Err(ConfigError::new(
                "HOTLINE_JWT_SIGNING_KEY",
                "ES256 and EdDSA need a private key in PEM (give it as @/path/to/key.pem)",
            ));
        }
        if jwt.algorithm != JwtAlgorithm::Hs256 && jwt.public_key.is_none() {
            return Err(ConfigError::new(
                "HOTLINE_JWT_PUBLIC_KEY",
                "ES256 and EdDSA need the public key in PEM (give it as @/path/to/key.pub.pem)",
            ));
        }

        Ok(Self {
            database_url,
            login_max_failures,
            login_lock,
            public_rate_limit,
            public_rate_limit_servers,
            trusted_proxies,
            sweep_interval,
            bind,
            workers,
            db_pool_size,
            cors_origins,
            body_limit,
            timezone,
            shutdown_timeout,
            hsts_max_age,
            idempotency_ttl,
            public_base_url,
            api_base_url,
            survey_validity_days,
            xlsx_sheet_rows,
            storage_url,
            attachment_max_bytes,
            case_attachments_max_bytes,
            case_attachments_max_count,
            orphan_file_age,
            webhooks,
            metrics,
            jwt,
        })
    }
}

fn parse_var<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let raw = get(name).unwrap_or_else(|| default.to_owned());
    parse(raw.trim()).map_err(|message| ConfigError::new(name, message))
}

/// An `http://` or `https://` address without query or fragment, without its trailing slash.
fn base_url(raw: &str) -> Result<String, String> {
    let base = raw.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.contains(['?', '#'])
                && !rest.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(base.to_owned())
        }
        _ => Err(format!(
            "'{raw}' is not an http:// or https:// address without query or fragment"
        )),
    }
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("'{raw}' is not true or false")),
    }
}

fn bounded_int<T>(raw: &str, min: u64, max: u64) -> Result<T, String>
where
    T: TryFrom<u64>,
{
    raw.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("'{raw}' is not a whole number from {min} to {max}"))
}

/// A key is given inline, or as `@/path/to/file` (PEM files, secrets mounted by the orchestrator).
fn key_material(raw: &str) -> Result<Vec<u8>, String> {
    match raw.strip_prefix('@') {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read key file {path}: {e}")),
        None => Ok(raw.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite("data/hotline.db".into())
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.cors_origins, CorsOrigins::None);
        assert_eq!(s.jwt.algorithm, JwtAlgorithm::Hs256);
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(900));
    }

    #[test]
    fn the_webhook_outbox_keeps_a_week_unless_told_between_a_day_and_ten_years() {
        let days = |n: u64| Duration::from_secs(n * 86400);
        assert_eq!(settings(&[]).unwrap().webhooks.retention, days(7));
        let set = |value| settings(&[("HOTLINE_WEBHOOK_RETENTION_DAYS", value)]);
        assert_eq!(set("30").unwrap().webhooks.retention, days(30));
        for bad in ["0", "3651", "-1", "1.5", "a week"] {
            let e = set(bad).unwrap_err();
            assert_eq!(e.variable, "HOTLINE_WEBHOOK_RETENTION_DAYS", "{bad}");
        }
    }

    #[test]
    fn survey_links_need_a_plain_web_address() {
        let s =
            settings(&[("HOTLINE_PUBLIC_BASE_URL", "https://12345.example.gov.cn/m/")]).unwrap();
        assert_eq!(s.public_base_url, "https://12345.example.gov.cn/m");
        assert_eq!(settings(&[]).unwrap().survey_validity_days, 14);
        for bad in [
            "ftp://x",
            "https://",
            "12345.example.gov.cn",
            "https://x/?a=1",
            "https://a b",
        ] {
            let e = settings(&[("HOTLINE_PUBLIC_BASE_URL", bad)]).unwrap_err();
            assert_eq!(e.variable, "HOTLINE_PUBLIC_BASE_URL", "{bad}");
        }
        let e = settings(&[("HOTLINE_SURVEY_VALIDITY_DAYS", "0")]).unwrap_err();
        assert_eq!(e.variable, "HOTLINE_SURVEY_VALIDITY_DAYS");
    }

    #[test]
    fn database_url_picks_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db").unwrap(),
            DatabaseUrl::Sqlite("x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/h.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/h.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("/tmp/h.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/h.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("HOTLINE_BIND", "not-an-address"),
            ("HOTLINE_TIMEZONE", "Mars/Olympus"),
            ("HOTLINE_BODY_LIMIT", "-5"),
            ("HOTLINE_WORKERS", "0"),
            ("HOTLINE_CORS_ORIGINS", "example.com"),
            ("HOTLINE_JWT_ALGORITHM", "none"),
            ("HOTLINE_JWT_SIGNING_KEY", "short"),
            ("DATABASE_URL", "mysql://db"),
        ];
        for (var, value) in cases {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(
                err.to_string()
                    .starts_with(&format!("configuration error: {var}: "))
            );
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn cors_list_is_parsed() {
        let s = settings(&[(
            "HOTLINE_CORS_ORIGINS",
            "https://a.gov.cn, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            s.cors_origins,
            CorsOrigins::List(vec![
                "https://a.gov.cn".into(),
                "http://localhost:3000".into()
            ])
        );
        assert_eq!(
            settings(&[("HOTLINE_CORS_ORIGINS", "*")])
                .unwrap()
                .cors_origins,
            CorsOrigins::Any
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = settings(&[
            (
                "HOTLINE_JWT_SIGNING_KEY",
                "0123456789abcdef0123456789abcdef-secret",
            ),
            ("HOTLINE_METRICS_TOKEN", "scrape-secret-0123456789"),
        ])
        .unwrap();
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn metrics_are_off_unless_a_listener_is_given() {
        let s = settings(&[]).unwrap();
        assert!(s.metrics.bind.is_none() && s.metrics.token.is_none());
        let s = settings(&[("HOTLINE_METRICS_BIND", "127.0.0.1:9464")]).unwrap();
        assert_eq!(s.metrics.bind, Some("127.0.0.1:9464".parse().unwrap()));
        for (var, bad) in [
            ("HOTLINE_METRICS_BIND", "9464"),
            ("HOTLINE_METRICS_TOKEN", "short"),
            ("HOTLINE_METRICS_TOKEN", "has a space in it, sadly"),
        ] {
            assert_eq!(settings(&[(var, bad)]).unwrap_err().variable, var, "{bad}");
        }
    }

    #[test]
    fn asymmetric_algorithms_need_a_key() {
        assert_eq!(
            settings(&[("HOTLINE_JWT_ALGORITHM", "ES256")])
                .unwrap_err()
                .variable,
            "HOTLINE_JWT_SIGNING_KEY"
        );
    }
}
