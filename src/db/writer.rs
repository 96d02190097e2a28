//! Group commit for SQLite. A database file has one writer at a time, so every write transaction
//! of this process runs on one shared connection, one after another, each inside its own
//! savepoint of a transaction that stays open while more writers are queued behind it. The last
//! writer of such a run commits it for all of them: one `COMMIT` (one append to the WAL) serves
//! many requests. Every writer waits for the `COMMIT` of its batch before it returns, so a write
//! that was answered is durable as before (WAL with `synchronous = NORMAL` survives a crash of the
//! process); a write that fails rolls back only its own savepoint.
//!
//! The writes run on the caller's own thread (a blocking-pool thread), holding the shared
//! connection's lock: no hand-off to another thread, and closures may borrow from the caller.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, RunQueryDsl};

use super::{DbConnection, DbConnectionManager, DbSetupError, WriteScope};

/// A batch never grows beyond this many writes, so that the first writer of a busy stream still
/// gets its commit soon.
const MAX_BATCH: usize = 64;

/// How long the checkpointer lets commits gather before copying them into the database file.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(100);

/// With no commit for this long, the checkpointer finishes what is left and empties the log.
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// A write-ahead log longer than this is restarted from its beginning (see [`checkpointer`]).
/// Registrations append about 60 KB each (case, complainant, timeline, keyword index), so under a
/// full load of them this is a restart every few tenths of a second.
const WAL_RESTART_BYTES: i64 = 16 * 1024 * 1024;

/// How long a restarting checkpoint waits for readers of older snapshots before giving up until
/// the next round; writers are paused meanwhile, so this bounds their wait.
const RESTART_READER_WAIT_MS: u32 = 250;

/// The shared writing connection of one SQLite database.
pub struct SqliteWriter {
    shared: Arc<Shared>,
    /// Tells the checkpointer that there are new commits; dropping it stops the thread.
    checkpoint: Option<SyncSender<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

/// What the writers and the checkpointer share.
struct Shared {
    /// Writers that asked for the connection and have not got it yet: while there are any, the
    /// transaction stays open for them.
    queued: AtomicUsize,
    state: Mutex<WriterState>,
}

struct WriterState {
    conn: DbConnection,
    /// Opens a fresh connection when the shared one is left in an unknown state.
    manager: DbConnectionManager,
    /// The transaction open on `conn`, if any.
    open: Option<OpenBatch>,
}

struct OpenBatch {
    batch: Arc<Batch>,
    writes: usize,
    /// A write panicked and its savepoint could not be undone: the batch must roll back.
    doomed: bool,
}

/// How one batch ended, for the writers waiting on it.
struct Batch {
    outcome: Mutex<Option<Result<(), String>>>,
    settled: Condvar,
}

impl Batch {
    fn settle(&self, outcome: Result<(), String>) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        self.settled.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(outcome) = outcome.as_ref() {
                return outcome.clone();
            }
            outcome = self
                .settled
                .wait(outcome)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl SqliteWriter {
    /// Opens the shared connection. The file must already be in WAL mode.
    pub fn open(manager: DbConnectionManager) -> Result<Self, DbSetupError> {
        let conn = writing_connection(&manager)?;
        let mut checkpointing = manager.connect()?;
        checkpointing.batch_execute(&format!("PRAGMA busy_timeout = {RESTART_READER_WAIT_MS};"))?;
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            state: Mutex::new(WriterState {
                conn,
                manager,
                open: None,
            }),
        });
        let (checkpoint, checkpointer) = checkpointer(checkpointing, shared.clone())?;
        Ok(Self {
            shared,
            checkpoint: Some(checkpoint),
            checkpointer: Some(checkpointer),
        })
    }

    /// Writers waiting for the shared connection (the checkpointer counts too while it waits to
    /// restart the log).
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` as one write transaction: a savepoint in the shared transaction, committed with
    /// its batch before this returns. An error from `f` rolls back only what `f` wrote; an error
    /// of the commit is every member's error.
    pub fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DieselError>,
    {
        let shared = &self.shared;
        shared.queued.fetch_add(1, Ordering::SeqCst);
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        let batch = state.join()?;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _scope = WriteScope::enter();
            state.conn.transaction(f)
        }));
        if result.is_err() {
            state.undo_panicked_write();
        }
        // Nobody queued behind this write: commit the batch now. Otherwise the next writer runs
        // in the same transaction and the last one commits.
        let full = state.open.as_ref().is_some_and(|o| o.writes >= MAX_BATCH);
        if full || shared.queued.load(Ordering::SeqCst) == 0 {
            let outcome = state.commit();
            drop(state);
            if let (Ok(()), Some(checkpoint)) = (&outcome, &self.checkpoint) {
                // A full channel means a wake-up is pending already: it covers this commit too.
                let _ = checkpoint.try_send(());
            }
            batch.settle(outcome);
        } else {
            drop(state);
        }
        let committed = batch.wait();
        match result {
            Err(panic) => resume_unwind(panic),
            Ok(Err(error)) => Err(error),
            Ok(Ok(value)) => committed.map(|()| value).map_err(|message| {
                E::from(DieselError::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new(format!("the write transaction failed to commit: {message}")),
                ))
            }),
        }
    }
}

/// A connection for the shared writer. Checkpoints are the checkpointer's, not the committing
/// writer's (see [`checkpointer`]).
fn writing_connection(manager: &DbConnectionManager) -> Result<DbConnection, DbSetupError> {
    let mut conn = manager.connect()?;
    conn.batch_execute("PRAGMA wal_autocheckpoint = 0;")?;
    Ok(conn)
}

/// Starts the thread that copies committed WAL pages back into the database file. SQLite's
/// automatic checkpoint would run inside the `COMMIT` of whichever writer crossed the threshold,
/// while every other writer waits for the connection: a tenth of the time of a registration went
/// there, fsync included. A `PASSIVE` checkpoint on a connection of its own works alongside the
/// writer and the readers instead.
///
/// A passive checkpoint alone never lets the log restart under steady load: the log can only be
/// reused from its beginning once every frame is copied back *and* no reader still reads an older
/// snapshot from it, and with requests arriving all the time there always is one (measured: 1.6 GB
/// of log after 10 s of registrations). So when the log has grown past [`WAL_RESTART_BYTES`] the
/// checkpointer pauses this process's writers (it takes the writer connection, committing any
/// open batch first) and runs a `RESTART` checkpoint, after which the log is reused from its
/// beginning (the size limit cuts the file back); when the database falls idle with anything left
/// in the log it runs a `TRUNCATE` checkpoint, which leaves an empty log behind. Either waits up
/// to [`RESTART_READER_WAIT_MS`] for older readers. New readers never block it: once every frame
/// is copied back they read the database file itself.
///
/// The thread ends, after a last checkpoint, when the writer is dropped, and the drop waits for
/// it: nothing keeps the database open after its `Db` is gone.
fn checkpointer(
    mut conn: DbConnection,
    shared: Arc<Shared>,
) -> Result<(SyncSender<()>, JoinHandle<()>), DbSetupError> {
    let (wake, woken) = sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let page_size = page_size(&mut conn);
            let mut log_left = false;
            // After a restart that a reader outlasted, the next few rounds leave the writers alone
            // (1, 2, 4 … 64 rounds), so that a long reader — a backup, a shell — cannot keep them
            // paused most of the time.
            let (mut backoff, mut rounds_to_skip) = (0_u32, 0_u32);
            loop {
                let idle = match woken.recv_timeout(IDLE_AFTER) {
                    // Let commits gather: wake-ups meanwhile are covered by this checkpoint. (A
                    // plain sleep: waiting on the channel instead would wake this thread for
                    // every commit.)
                    Ok(()) => {
                        std::thread::sleep(CHECKPOINT_PAUSE);
                        false
                    }
                    Err(RecvTimeoutError::Timeout) if log_left => true,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let frames = match checkpoint(&mut conn, "PASSIVE") {
                    Ok(progress) => progress.log,
                    Err(error) => {
                        log::warn!("SQLite checkpoint failed (the next one retries): {error}");
                        continue;
                    }
                };
                log_left = frames > 0;
                if log_left && (idle || frames * page_size > WAL_RESTART_BYTES) {
                    if rounds_to_skip > 0 {
                        rounds_to_skip -= 1;
                        continue;
                    }
                    // Under load the log restarts in place (no file to grow again; the size
                    // limit cuts it back); idle, it is emptied.
                    let mode = if idle { "TRUNCATE" } else { "RESTART" };
                    if restart_log(&mut conn, &shared, mode) {
                        backoff = 0;
                        log_left = !idle;
                    } else {
                        backoff = (backoff * 2).clamp(1, 64);
                        rounds_to_skip = backoff;
                    }
                }
            }
            // The last one: the writer is gone, so nothing is paused.
            let _ = checkpoint(&mut conn, "TRUNCATE");
        })?;
    Ok((wake, thread))
}

/// What `PRAGMA wal_checkpoint` reports: whether it was blocked, the frames in the log, and how
/// many of them are copied back.
#[derive(diesel::QueryableByName)]
pub(super) struct CheckpointProgress {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub busy: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    checkpointed: i64,
}

pub(super) fn checkpoint(
    conn: &mut DbConnection,
    mode: &str,
) -> Result<CheckpointProgress, DieselError> {
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(conn)
}

fn page_size(conn: &mut DbConnection) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct PageSize {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        page_size: i64,
    }
    diesel::sql_query("PRAGMA page_size")
        .get_result::<PageSize>(conn)
        .map_or(4096, |p| p.page_size)
}

/// Pauses this process's writers and restarts (or empties) the log. True when done; false when a
/// reader of an older snapshot outlasted the wait (a later round tries again).
fn restart_log(conn: &mut DbConnection, shared: &Shared, mode: &str) -> bool {
    // Queue like a writer, so that a writer finishing meanwhile leaves its batch open for us
    // rather than committing it: we commit it on the batch's behalf.
    shared.queued.fetch_add(1, Ordering::SeqCst);
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    shared.queued.fetch_sub(1, Ordering::SeqCst);
    if let Some(batch) = state.open.as_ref().map(|open| open.batch.clone()) {
        let outcome = state.commit();
        batch.settle(outcome);
    }
    let outcome = checkpoint(conn, mode);
    drop(state);
    match outcome {
        Ok(progress) => {
            let emptied = progress.busy == 0;
            if !emptied {
                log::debug!(
                    "SQLite log restart waited out ({} of {} frames copied back)",
                    progress.checkpointed,
                    progress.log
                );
            }
            emptied
        }
        Err(error) => {
            log::warn!("SQLite log restart failed (the next round retries): {error}");
            false
        }
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.checkpoint = None;
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

impl WriterState {
    /// Joins the open transaction, or begins one (`IMMEDIATE`: the write lock is taken up front;
    /// writers of other processes are held off by the busy timeout).
    fn join(&mut self) -> Result<Arc<Batch>, DieselError> {
        if self.open.is_none() {
            let DbConnection::Sqlite(inner) = &mut self.conn else {
                unreachable!("the SQLite writer holds an SQLite connection")
            };
            if let Err(error) =
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
            {
                self.recover();
                return Err(error);
            }
            self.open = Some(OpenBatch {
                batch: Arc::new(Batch {
                    outcome: Mutex::new(None),
                    settled: Condvar::new(),
                }),
                writes: 0,
                doomed: false,
            });
        }
        let open = self.open.as_mut().expect("a transaction is open");
        open.writes += 1;
        Ok(open.batch.clone())
    }

    /// After a panic inside a write: rolls back its savepoints, leaving the batch's transaction.
    fn undo_panicked_write(&mut self) {
        loop {
            let depth = match &mut self.conn {
                DbConnection::Sqlite(inner) => {
                    AnsiTransactionManager::transaction_manager_status_mut(inner)
                        .transaction_depth()
                }
                DbConnection::Postgres(_) => {
                    unreachable!("the SQLite writer holds an SQLite connection")
                }
            };
            match depth {
                Ok(Some(depth)) if depth.get() > 1 => {
                    if <DbConnection as Connection>::TransactionManager::rollback_transaction(
                        &mut self.conn,
                    )
                    .is_err()
                    {
                        break;
                    }
                }
                Ok(Some(_)) => return,
                _ => break,
            }
        }
        if let Some(open) = self.open.as_mut() {
            open.doomed = true;
        }
    }

    /// Ends the open transaction: `COMMIT`, or `ROLLBACK` when a write in it broke it.
    fn commit(&mut self) -> Result<(), String> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let outcome = if open.doomed {
            Err("another write of the same transaction failed".to_owned())
        } else {
            <DbConnection as Connection>::TransactionManager::commit_transaction(&mut self.conn)
                .map_err(|e| e.to_string())
        };
        if outcome.is_err() {
            self.recover();
        }
        outcome
    }

    /// Leaves no transaction open; reopens the connection when that cannot be ensured.
    fn recover(&mut self) {
        let depth = match &mut self.conn {
            DbConnection::Sqlite(inner) => {
                AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth()
            }
            DbConnection::Postgres(_) => {
                unreachable!("the SQLite writer holds an SQLite connection")
            }
        };
        let clean = match depth {
            Ok(None) => true,
            Ok(Some(_)) => {
                <DbConnection as Connection>::TransactionManager::rollback_transaction(
                    &mut self.conn,
                )
                .is_ok()
                    && !self.conn.is_broken()
            }
            Err(_) => false,
        };
        if !clean {
            match writing_connection(&self.manager) {
                Ok(conn) => self.conn = conn,
                Err(error) => log::error!("cannot reopen the SQLite writer connection: {error}"),
            }
        }
    }
}

thread_local! {
    /// The writer of the database whose pooled connection this thread is using (see
    /// [`super::Db::with_connection`]).
    static CURRENT: RefCell<Option<Arc<SqliteWriter>>> = const { RefCell::new(None) };
}

/// The writer in effect on this thread, if its database is SQLite.
pub fn current() -> Option<Arc<SqliteWriter>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Makes `writer` the one in effect on this thread until the guard is dropped.
pub struct WriterContext {
    previous: Option<Arc<SqliteWriter>>,
}

impl WriterContext {
    pub fn enter(writer: Option<Arc<SqliteWriter>>) -> Self {
        Self {
            previous: CURRENT.with(|current| current.replace(writer)),
        }
    }
}

impl Drop for WriterContext {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| current.replace(previous));
    }
}
