//! The storage layer: one connection type over both backends, the pool, migrations, and the one way
//! the rest of the program reaches the database ([`Db::run`] / [`Db::write`]), which keeps blocking
//! Diesel calls off the async executor.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::error::ApiError;

pub mod accounts;
pub mod assignments;
pub mod attachments;
pub mod cases;
pub mod exports;
pub mod extensions;
pub mod follow_up;
pub mod hotspots;
pub mod idempotency;
pub mod knowledge;
pub mod models;
pub mod open311;
pub mod organisation;
pub mod read_log;
pub mod reference;
pub mod schema;
pub mod stats;
mod stored;
pub mod supervision;
pub mod surveys;
pub mod webhooks;
mod writer;

use writer::{SqliteWriter, WriterContext};

/// A connection to whichever backend `DATABASE_URL` chose.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<DbConnectionManager>;
pub type PooledDb = PooledConnection<DbConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// SQLite is configured per connection: WAL so readers never wait for the writer, `NORMAL` sync
/// (durable against a crash of the process, which is what WAL promises), foreign keys enforced,
/// and a busy timeout so that concurrent writers queue instead of failing.
/// The busy timeout comes first so that the other statements wait rather than fail while another
/// connection holds a lock. WAL mode is a property of the file, set once in [`Db::connect`].
/// Reads are not memory-mapped (remapping as the file grew cost 10 % of `POST /cases`). A log
/// restarted from its beginning is cut back to 32 MiB (`journal_size_limit`); the checkpointer
/// (see `writer`) keeps it from growing far past its restart threshold in the first place.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA journal_size_limit = 33554432; \
     PRAGMA foreign_keys = ON;";

// Single-row lookups use `get_result`, never `first`: `first` binds `LIMIT ?`, and SQLite (3.47 and
// later) re-plans any statement whose LIMIT is a bound value each time it is rebound, which turned
// every cached lookup into a fresh parse (40 % of the CPU of `GET /cases/{id}` in a profile).
// Likewise every `Insertable` says `treat_none_as_default_value = false`: a `None` is then bound as
// NULL (what the nullable columns default to anyway) instead of leaving the column out, so an
// insert has one SQL text whatever is missing and Diesel caches its prepared statement. (Diesel
// never caches UPDATEs, upserts, `IN` lists or `sql_query`; those are kept off the hot paths.)

/// Inserts `rows` (a slice of `Insertable`s) into `table`, up to 1,000 rows per statement (well
/// under SQLite's 32,766 bound parameters for any of our tables). Multi-row inserts are
/// backend-specific in Diesel, not on the multi-connection enum: hence one arm per backend.
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        for chunk in $rows.chunks(1000) {
            match $conn {
                $crate::db::DbConnection::Postgres(pg) => {
                    diesel::insert_into($table).values(chunk).execute(pg)?
                }
                $crate::db::DbConnection::Sqlite(sqlite) => {
                    diesel::insert_into($table).values(chunk).execute(sqlite)?
                }
            };
        }
    }};
}
pub(crate) use insert_many;

/// Makes libpq's OpenSSL safe to leave at process exit. By default OpenSSL registers an at-exit
/// handler that frees its global state; a thread still closing a TLS connection to PostgreSQL
/// while the process exits (a pool dropped after the server stopped) then crashes in freed state
/// (SIGSEGV at exit, caught in the test suite with a core dump). openssl-sys initialises OpenSSL
/// without that handler; it must run before libpq first initialises OpenSSL itself, so this is
/// called before every PostgreSQL connection is opened (it does its work once).
pub fn prepare_postgres_client() {
    openssl_sys::init();
}

/// Process-wide SQLite settings, applied once before the first connection opens (SQLite accepts
/// them only before it initialises itself):
/// - multi-thread mode instead of serialized: every connection is used by one thread at a time
///   (Diesel needs `&mut` for any use, r2d2 hands a connection to one holder), so SQLite's
///   per-connection mutex, taken on every API call and every column read, only costs time (12 %
///   of the CPU of a 50-row case list in a profile; rusqlite opens its connections without it for
///   the same reason);
/// - no memory statistics: they take one global mutex on every allocation SQLite makes.
///
/// (A SIGSEGV at exit of the test process was first blamed on multi-thread mode; its core dump
/// showed OpenSSL's at-exit cleanup instead, see [`prepare_postgres_client`].)
fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libsqlite3_sys::{
            SQLITE_CONFIG_MEMSTATUS, SQLITE_CONFIG_MULTITHREAD, SQLITE_OK, sqlite3_config,
        };
        // SAFETY: sqlite3_config is documented as callable before sqlite3_initialize (implicitly
        // run by the first open), which the `Once` and the call site (before opening) ensure;
        // if SQLite is initialised already it answers SQLITE_MISUSE and changes nothing.
        let (threading, memstatus) = unsafe {
            (
                sqlite3_config(SQLITE_CONFIG_MULTITHREAD),
                sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int),
            )
        };
        if threading != SQLITE_OK || memstatus != SQLITE_OK {
            log::warn!(
                "SQLite was initialised before it could be configured: serialized mode kept"
            );
        }
    });
}

/// Establishes connections for r2d2. Diesel's generic manager tries every backend in turn and
/// reports only "invalid connection url"; this one opens the backend the URL names and passes its
/// real error on.
#[derive(Debug, Clone)]
pub struct DbConnectionManager {
    url: DatabaseUrl,
    /// Whether the latest attempt to open a connection failed: the database is unreachable (see
    /// [`Db::checkout`]). Shared by the clones the pool holds.
    unreachable: Arc<AtomicBool>,
}

impl DbConnectionManager {
    fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            unreachable: Arc::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot open the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot create the directory for the SQLite database {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot reach the database: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("cannot start a database thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// libpq settings that bound how long a lost PostgreSQL server can hold one of our threads, for
/// a URL that does not set them itself: without them a connection attempt to a host that does not
/// answer waits for the system's TCP timeout (minutes), and a query on a connection whose peer
/// vanished without closing it waits until the kernel gives up (up to hours). Keepalive probes
/// after 30 s of silence, 10 s apart, three of them: a dead peer is noticed within a minute.
/// Idle connections in the pool are checked on every checkout anyway (see [`Db::connect`]).
const POSTGRES_DEFAULTS: &[(&str, &str)] = &[
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("keepalives_count", "3"),
];

/// `url` with [`POSTGRES_DEFAULTS`] added for the parameters it does not name; and for a server
/// on this machine's loopback address, no TLS unless TLS is asked for (`sslmode` in the URL,
/// `PGSSLMODE`, or a `host`/`hostaddr` parameter): libpq's
/// default would encrypt traffic that never leaves the kernel, at a cost measured at a quarter of
/// the registrations a 2-core machine serves (`bench/two-servers.sh`).
fn with_postgres_defaults(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // libpq reports what is wrong with it.
        return url.to_owned();
    };
    let given: Vec<String> = parsed
        .query_pairs()
        .map(|(key, _)| key.into_owned())
        .collect();
    // Not where TLS is asked for elsewhere: libpq's environment, or a host given as a parameter.
    let tls_elsewhere = std::env::var_os("PGSSLMODE").is_some()
        || given.iter().any(|key| key == "host" || key == "hostaddr");
    let loopback = !tls_elsewhere
        && match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // `postgres:` is not a special scheme: its IPv4 hosts come back as names.
            Some(url::Host::Domain(name)) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            None => false,
        };
    let plain_loopback = [("sslmode", "disable")];
    let missing: Vec<_> = POSTGRES_DEFAULTS
        .iter()
        .chain(plain_loopback.iter().filter(|_| loopback))
        .filter(|(key, _)| !given.iter().any(|g| g == key))
        .collect();
    if !missing.is_empty() {
        let mut query = parsed.query_pairs_mut();
        for (key, value) in missing {
            query.append_pair(key, value);
        }
    }
    parsed.to_string()
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = DbSetupError;

    fn connect(&self) -> Result<DbConnection, DbSetupError> {
        let connected = self.open();
        self.unreachable
            .store(connected.is_err(), std::sync::atomic::Ordering::Relaxed);
        connected
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbSetupError> {
        Ok(conn.ping()?)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

impl DbConnectionManager {
    fn open(&self) -> Result<DbConnection, DbSetupError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                prepare_postgres_client();
                Ok(DbConnection::Postgres(PgConnection::establish(url)?))
            }
            DatabaseUrl::Sqlite(path) => {
                configure_sqlite_library();
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// The longest a request waits for a connection of a busy pool.
const CHECKOUT_WAIT: Duration = Duration::from_secs(5);
/// The longest a request waits for a connection once the database is known to be unreachable.
const UNREACHABLE_WAIT: Duration = Duration::from_millis(500);

/// The handle the HTTP layer and the commands hold. Cloning is cheap (the pool is shared).
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    /// SQLite only: the one connection all write transactions share (group commit).
    writer: Option<Arc<SqliteWriter>>,
    backend: &'static str,
    manager: DbConnectionManager,
    /// The calendar this database's statistics are counted with (see `stats`).
    calendar: stats::CalendarSlot,
    /// Where checkouts from the pool are recorded, when a server's metrics watch them.
    pool_metrics: Option<crate::metrics::PoolMetrics>,
}

/// The pool's connections at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
}

impl Db {
    /// Opens the pool. SQLite files (and their directory) are created on first use.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Self, DbSetupError> {
        let is_sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let url = match url {
            DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(with_postgres_defaults(raw)),
            DatabaseUrl::Sqlite(_) => url.clone(),
        };
        let manager = DbConnectionManager::new(url.clone());
        let writer = if let DatabaseUrl::Sqlite(path) = &url {
            create_parent_dir(path)?;
            // Switch the file to WAL through one connection before the pool opens many at once.
            manager
                .connect()?
                .batch_execute("PRAGMA journal_mode = WAL;")?;
            Some(Arc::new(SqliteWriter::open(manager.clone())?))
        } else {
            None
        };
        let pool = Pool::builder()
            .max_size(pool_size)
            // A local SQLite file needs no liveness probe on every checkout; a PostgreSQL
            // connection may have been cut by a server restart.
            .test_on_check_out(!is_sqlite)
            .connection_timeout(CHECKOUT_WAIT)
            .build(manager.clone())?;
        Ok(Self {
            pool,
            writer,
            backend: url.backend_name(),
            manager,
            calendar: Default::default(),
            pool_metrics: None,
        })
    }

    /// Records every checkout of [`Db::with_connection`] (and so of [`Db::run`]) in `metrics`;
    /// set before the handle is cloned, so that every clone records.
    pub fn with_pool_metrics(mut self, metrics: crate::metrics::PoolMetrics) -> Self {
        self.pool_metrics = Some(metrics);
        self
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            in_use: state.connections - state.idle_connections,
            idle: state.idle_connections,
        }
    }

    /// Write transactions waiting for the shared SQLite writer; 0 on PostgreSQL.
    pub fn writer_queue_depth(&self) -> usize {
        self.writer.as_ref().map_or(0, |writer| writer.queued())
    }

    /// Closes this handle's connections (if no clone holds them) and opens one of its own: for a
    /// command that wants the database to itself, such as the seed, which can then leave WAL mode.
    pub fn into_sole_connection(self) -> Result<DbConnection, DbSetupError> {
        let manager = self.manager.clone();
        drop(self);
        manager.connect()
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Closes this handle at shutdown. For SQLite the write-ahead log is first copied back and
    /// emptied on a connection of its own (so that even a clone still held elsewhere leaves nothing
    /// to replay at the next start), then this handle's connections close; when it was the last
    /// handle, the last connection to close removes the log file.
    pub fn close(self) -> Result<(), DbSetupError> {
        if self.writer.is_some() {
            let mut conn = self.manager.connect()?;
            if writer::checkpoint(&mut conn, "TRUNCATE")?.busy != 0 {
                log::warn!("the SQLite log could not be emptied at shutdown: a reader held it");
            }
        }
        Ok(())
    }

    /// Applies every pending embedded migration of this backend.
    pub fn migrate(&self) -> Result<usize, DbSetupError> {
        let mut conn = self.pool.get()?;
        run_migrations(&mut conn)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.with_connection(f))
            .await
            .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` with a pooled connection on this thread, which it blocks. [`write_transaction`]s
    /// inside `f` go through this database's shared SQLite writer.
    pub fn with_connection<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    {
        let started = std::time::Instant::now();
        let conn = self.checkout();
        if let Some(metrics) = &self.pool_metrics {
            metrics.observe(started.elapsed(), conn.is_ok());
        }
        let mut conn = conn.map_err(ApiError::database_unavailable)?;
        let _writer = WriterContext::enter(self.writer.clone());
        let _calendar = stats::enter_calendar_slot(self.calendar.clone());
        f(&mut conn)
    }

    /// A connection from the pool, waiting for one at most [`CHECKOUT_WAIT`] — unless the database
    /// cannot be reached, which is answered after [`UNREACHABLE_WAIT`]. Every request that needs
    /// the database holds a blocking thread while it waits, and there are only as many of those
    /// as connections: if each waited the whole time while the database is down, requests would
    /// queue behind each other for a multiple of it. Waiting in slices lets a request give up as
    /// soon as connections are known not to open (the pool keeps trying in the background, at
    /// most `CHECKOUT_WAIT / 2` apart, so the first success after the database is back ends
    /// this), while a pool that is merely busy is still waited for in full.
    fn checkout(&self) -> Result<PooledDb, diesel::r2d2::PoolError> {
        let started = std::time::Instant::now();
        loop {
            let slice = UNREACHABLE_WAIT.min(CHECKOUT_WAIT.saturating_sub(started.elapsed()));
            match self.pool.get_timeout(slice) {
                Ok(conn) => return Ok(conn),
                Err(error)
                    if self
                        .manager
                        .unreachable
                        .load(std::sync::atomic::Ordering::Relaxed)
                        || started.elapsed() >= CHECKOUT_WAIT =>
                {
                    return Err(error);
                }
                Err(_) => {}
            }
        }
    }

    /// Runs `f` inside one write transaction (IMMEDIATE on SQLite) on the blocking thread pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| write_transaction(conn, f)).await
    }

    /// Borrows a connection for blocking callers (commands, not request handlers).
    pub fn get(&self) -> Result<PooledDb, DbSetupError> {
        Ok(self.pool.get()?)
    }

    /// The readiness probe: a round trip to the database within `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<(), DbSetupError> {
        let mut conn = self.pool.get_timeout(timeout)?;
        Ok(conn.ping()?)
    }
}

/// Applies pending migrations on an open connection, choosing the folder of its backend.
///
/// On PostgreSQL under a session-level advisory lock: servers started together (a rollout) would
/// otherwise apply the same migration at once, and all but one fail to start on a duplicate
/// table or type. The others wait, then find nothing pending.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbSetupError> {
    /// This lock's key among advisory locks ("MIGR").
    const MIGRATIONS_LOCK: i64 = 0x4d49_4752;
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATIONS_LOCK})"))?;
        let applied = apply_migrations(conn);
        if let DbConnection::Postgres(pg) = conn {
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATIONS_LOCK})"))?;
        }
        return applied;
    }
    apply_migrations(conn)
}

fn apply_migrations(conn: &mut DbConnection) -> Result<usize, DbSetupError> {
    let source = match conn {
        DbConnection::Postgres(_) => POSTGRES_MIGRATIONS,
        DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
    };
    let applied = conn
        .run_pending_migrations(source)
        .map(|applied| applied.len())
        .map_err(|e| DbSetupError::Migration(e.to_string()))?;
    cases::fill_address_keys(conn).map_err(|e| DbSetupError::Migration(e.to_string()))?;
    Ok(applied)
}

/// Serialises the write transactions of this process that are not made through a [`Db`]'s shared
/// writer (commands that hold a connection of their own).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    static IN_WRITE_TRANSACTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a write transaction (whose work would commit with it).
pub(crate) fn in_write_transaction() -> bool {
    IN_WRITE_TRANSACTION.with(std::cell::Cell::get)
}

/// Marks this thread as inside a write transaction for as long as it lives.
struct WriteScope;

impl WriteScope {
    fn enter() -> Self {
        IN_WRITE_TRANSACTION.with(|flag| flag.set(true));
        WriteScope
    }
}

impl Drop for WriteScope {
    fn drop(&mut self) {
        IN_WRITE_TRANSACTION.with(|flag| flag.set(false));
    }
}

/// One transaction that writes; `f` gets the connection to write with.
///
/// - Inside another write transaction on this thread: a savepoint of it (a second transaction
///   would deadlock on the single writer).
/// - SQLite, called within [`Db::run`] / [`Db::with_connection`]: a savepoint on the database's
///   shared writer connection, committed in a group with the writes queued with it (see
///   [`writer`]); `f` gets that connection, not `conn`. It returns after the commit.
/// - Otherwise on `conn` itself, committed before this returns. SQLite starts it `IMMEDIATE`: the
///   write lock is taken up front, so two writers queue instead of one failing when it upgrades a
///   read lock; writers of this process queue on a mutex rather than on SQLite's busy handler,
///   which sleeps in steps of milliseconds.
///
/// All arms use the inner connection's own transaction manager, which the multi-connection
/// delegates to, so nested `transaction` calls inside `f` become savepoints as usual.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if in_write_transaction() {
        return conn.transaction(f);
    }
    // The statistics follow every case the transaction touched, in the same transaction.
    stats::forget_touched();
    let f = |conn: &mut DbConnection| -> Result<T, E> {
        let value = f(conn)?;
        stats::refresh_touched(conn)?;
        Ok(value)
    };
    let result = write_transaction_outermost(conn, f);
    if result.is_err() {
        stats::forget_touched();
    }
    result
}

fn write_transaction_outermost<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if let DbConnection::Sqlite(_) = conn
        && let Some(writer) = writer::current()
    {
        return writer.transaction(f);
    }
    let _writer = match conn {
        DbConnection::Sqlite(inner) => {
            let guard = SQLITE_WRITER.lock().unwrap_or_else(|e| e.into_inner());
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            Some(guard)
        }
        DbConnection::Postgres(inner) => {
            AnsiTransactionManager::begin_transaction(inner)?;
            None
        }
    };
    let _scope = WriteScope::enter();
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            // When the connection was lost the rollback fails too, and would hide why: the
            // caller gets the first error. Diesel marks the connection broken, and the pool
            // discards it.
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                log::warn!("rolling back a failed transaction failed as well: {rollback}");
            }
            Err(error)
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), DbSetupError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbSetupError::Directory {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Whether `error` is a unique index refusing a duplicate: the service decides what that means.
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Whether `error` means the connection to the database was lost, rather than that the query
/// failed: the database restarted, failed over or could not be reached.
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        // The commit failed on a lost connection, and so did the rollback after it.
        Error::RollbackErrorOnCommit { commit_error, .. } => is_connection_lost(commit_error),
        _ => false,
    }
}

/// A stored value the program cannot read back (a row vanished, a value no code knows): a fault
/// of the data, answered as an internal error.
pub fn unreadable(what: impl Into<String>) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into().into())
}

/// The current time as stored: UTC, truncated to microseconds (PostgreSQL's precision), so that a
/// value read back equals the value written on both backends.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}

/// `t` at the stored precision (microseconds), so that what is returned equals what is stored.
pub fn truncate(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DurationRound::duration_trunc(t, chrono::TimeDelta::microseconds(1)).unwrap_or(t)
}

/// One page of a keyset-paginated list: rows with an id greater than `after`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub limit: i64,
}

impl PageRequest {
    /// One row more than asked for, to learn whether another page follows.
    pub fn fetch_limit(self) -> i64 {
        self.limit + 1
    }
}

/// A LIKE pattern matching `needle` anywhere, with the wildcards in it taken literally.
pub fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;

    #[test]
    fn postgres_urls_get_bounded_timeouts_unless_they_set_their_own() {
        assert_eq!(
            with_postgres_defaults("postgres://u@db:5432/hotline"),
            "postgres://u@db:5432/hotline?connect_timeout=5&keepalives=1&keepalives_idle=30\
             &keepalives_interval=10&keepalives_count=3"
        );
        let own = with_postgres_defaults("postgres://u@db/h?sslmode=require&connect_timeout=2");
        assert!(
            own.starts_with("postgres://u@db/h?sslmode=require&connect_timeout=2&keepalives=1")
        );
        assert_eq!(own.matches("connect_timeout").count(), 1);
        for local in [
            "postgres://u@127.0.0.1/h",
            "postgres://u@localhost:5432/h",
            "postgres://u@[::1]/h",
        ] {
            assert!(
                with_postgres_defaults(local).ends_with("&sslmode=disable"),
                "{local}"
            );
        }
        let asked = with_postgres_defaults("postgres://u@127.0.0.1/h?sslmode=require");
        assert_eq!(asked.matches("sslmode").count(), 1);
        assert!(asked.contains("sslmode=require"));
    }

    fn temp_db() -> (Db, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("hotline-unit-{}", uuid::Uuid::new_v4().simple()));
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.join("t.db")), 4).unwrap();
        (db, dir)
    }

    fn count(conn: &mut DbConnection, sql: &str) -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql))
            .get_result(conn)
            .unwrap()
    }

    /// An outer write whose inner write fails: only the inner one is undone.
    fn nested_writes(conn: &mut DbConnection) -> Result<(), ApiError> {
        write_transaction(conn, |conn| {
            conn.batch_execute("INSERT INTO t VALUES (1)")?;
            let inner: Result<(), ApiError> = write_transaction(conn, |conn| {
                conn.batch_execute("INSERT INTO t VALUES (2)")?;
                Err(ApiError::conflict(
                    crate::error::ErrorCode::ConcurrentUpdate,
                    "roll the savepoint back",
                ))
            });
            assert!(inner.is_err());
            conn.batch_execute("INSERT INTO t VALUES (3)")?;
            Ok(())
        })
    }

    #[test]
    fn nested_write_transactions_become_savepoints_instead_of_deadlocking() {
        let (db, dir) = temp_db();
        let mut conn = db.get().unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        // On a connection of its own (as commands write)…
        nested_writes(&mut conn).unwrap();
        // …and through the shared writer (as requests write).
        db.with_connection(nested_writes).unwrap();
        assert_eq!(count(&mut conn, "(SELECT COUNT(*) FROM t WHERE x = 2)"), 0);
        assert_eq!(count(&mut conn, "(SELECT COUNT(*) FROM t)"), 4);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `.cargo/config.toml` reached the bundled SQLite: statements are not re-planned per value.
    #[test]
    fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        let (db, dir) = temp_db();
        let mut conn = db.get().unwrap();
        assert_eq!(
            count(&mut conn, "sqlite_compileoption_used('ENABLE_QPSG')"),
            1
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Commits of the shared writer reach the database file through the checkpointer thread (the
    /// writer's own automatic checkpoint is off), and the thread ends with the writer.
    #[test]
    fn the_checkpointer_copies_commits_into_the_database_file() {
        let (db, dir) = temp_db();
        let file = dir.join("t.db");
        let size = || std::fs::metadata(&file).unwrap().len();
        db.with_connection(|conn| {
            write_transaction(conn, |conn| {
                conn.batch_execute(
                    "CREATE TABLE t (x TEXT); \
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                     INSERT INTO t SELECT printf('%.200c', 'x') FROM n;",
                )?;
                Ok(())
            })
        })
        .unwrap();
        let before = size();
        // 400 KB of rows: in the WAL after the commit, in the file once checkpointed.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() < before + 300_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the file stayed at {} bytes",
                size()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // More commits, and the `Db` dropped while the checkpointer is still busy with them:
        // every connection is closed once the drop returns, the checkpointer's too, so the file
        // can leave WAL mode at once, which needs it to be alone.
        db.with_connection(|conn| {
            write_transaction(conn, |conn| {
                conn.batch_execute("INSERT INTO t SELECT x FROM t;")?;
                Ok(())
            })
        })
        .unwrap();
        drop(db);
        let mut alone = DbConnectionManager::new(DatabaseUrl::Sqlite(file))
            .connect()
            .unwrap();
        alone.batch_execute("PRAGMA busy_timeout = 0;").unwrap();
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode = DELETE")
            .get_result(&mut alone)
            .unwrap();
        assert_eq!(mode.journal_mode, "delete");
        drop(alone);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_writes_share_commits_and_a_failing_one_undoes_only_itself() {
        let (db, dir) = temp_db();
        db.get()
            .unwrap()
            .batch_execute("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let x = n * 1000 + i;
                        let result = db.with_connection(|conn| {
                            write_transaction(conn, |conn| {
                                conn.batch_execute(&format!("INSERT INTO t VALUES ({x})"))?;
                                if x % 7 == 0 {
                                    return Err(ApiError::conflict(
                                        crate::error::ErrorCode::ConcurrentUpdate,
                                        "this one fails",
                                    ));
                                }
                                Ok(())
                            })
                        });
                        assert_eq!(result.is_ok(), x % 7 != 0);
                        // Answered means committed: another connection sees it at once.
                        let seen = db.with_connection(|conn| {
                            Ok(count(
                                conn,
                                &format!("(SELECT COUNT(*) FROM t WHERE x = {x})"),
                            ))
                        });
                        assert_eq!(seen.unwrap(), i64::from(x % 7 != 0));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut conn = db.get().unwrap();
        let expected = (0..8)
            .flat_map(|n| (0..50).map(move |i| n * 1000 + i))
            .filter(|x| x % 7 != 0)
            .count();
        assert_eq!(
            count(&mut conn, "(SELECT COUNT(*) FROM t)"),
            expected as i64
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_panicking_write_leaves_the_shared_writer_usable() {
        let (db, dir) = temp_db();
        db.get()
            .unwrap()
            .batch_execute("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.with_connection(|conn| {
                write_transaction(conn, |conn| -> Result<(), ApiError> {
                    conn.batch_execute("INSERT INTO t VALUES (1)")?;
                    panic!("a bug in a write");
                })
            })
        }));
        assert!(panicked.is_err());
        db.with_connection(|conn| {
            write_transaction(conn, |conn| {
                conn.batch_execute("INSERT INTO t VALUES (2)")
                    .map_err(ApiError::from)
            })
        })
        .unwrap();
        let mut conn = db.get().unwrap();
        assert_eq!(count(&mut conn, "(SELECT COUNT(*) FROM t)"), 1);
        assert_eq!(count(&mut conn, "(SELECT MAX(x) FROM t)"), 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
