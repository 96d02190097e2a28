//! The record of full reads of personal data (SPEC 5.3), written in batches. Every read of a case
//! by centre staff must be on record before the case is shown, which made each read a write
//! transaction of its own. Instead each request hands its record to one flusher thread and waits
//! (asynchronously, holding no thread) until the batch it joined is committed: one transaction
//! carries the records of every read that arrived meanwhile, and no answer goes out before its
//! record is durable.

use std::sync::mpsc;

use chrono::NaiveDateTime;

use super::{Db, DbConnection, cases, write_transaction};
use crate::domain::ids::{CaseId, UserId};
use crate::error::{ApiError, ErrorCode};

/// One full read: who, when, which case.
#[derive(Debug, Clone)]
pub struct FullRead {
    pub case_id: CaseId,
    pub user_id: UserId,
    pub role: &'static str,
    pub at: NaiveDateTime,
}

enum Message {
    Read {
        read: FullRead,
        committed: tokio::sync::oneshot::Sender<Result<(), Unrecorded>>,
    },
    /// Commit what came before and stop (at shutdown).
    Stop,
}

/// Why a batch of reads was not recorded, for each request that waited on it.
#[derive(Debug, Clone)]
struct Unrecorded {
    /// The database could not be reached: the request answers 503, like any other that needs it.
    unavailable: bool,
    cause: String,
}

tokio::task_local! {
    /// The full reads a request's answer discloses, noted as the answer is written.
    static OWED: std::cell::RefCell<Vec<FullRead>>;
}

/// Notes that the answer being written discloses `read`. Called while a case is serialised into
/// an answer (see `service::case_views::CaseView`), so that every answer that carries a complainant's
/// personal data in full owes its record, whichever handler wrote it; outside a request it does
/// nothing.
pub fn owe(read: &FullRead) {
    let _ = OWED.try_with(|owed| owed.borrow_mut().push(read.clone()));
}

/// The cases whose personal data an answer showed in full, recorded; kept in the answer's
/// extensions, so that a replay of the answer (see `crate::idempotency`) records its reads anew.
#[derive(Debug, Clone, Default)]
pub struct RecordedReads(pub Vec<CaseId>);

/// Runs `request` (a request's handling, answer included) and returns what it owes.
pub async fn collecting<F: std::future::Future>(request: F) -> (F::Output, Vec<FullRead>) {
    OWED.scope(std::cell::RefCell::new(Vec::new()), async move {
        let output = request.await;
        let owed = OWED.with(|owed| owed.take());
        (output, owed)
    })
    .await
}

/// Largest batch; a larger backlog is committed in several transactions.
const MAX_BATCH: usize = 1024;

/// The handle requests record their reads through. The flusher thread stops when the last handle
/// is dropped, or at [`ReadLog::stop`].
#[derive(Clone)]
pub struct ReadLog {
    sender: mpsc::Sender<Message>,
}

impl ReadLog {
    /// Starts the flusher thread; its handle is for [`ReadLog::stop`]'s caller to join.
    pub fn start(db: Db) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("personal-data-reads".into())
            .spawn(move || flush(&db, &receiver))?;
        Ok((Self { sender }, thread))
    }

    /// Asks the flusher to commit the reads already handed over and end, releasing its database
    /// handle (at shutdown, after the last request).
    pub fn stop(&self) {
        let _ = self.sender.send(Message::Stop);
    }

    /// Returns once `read` is committed.
    pub async fn record(&self, read: FullRead) -> Result<(), ApiError> {
        let (committed, outcome) = tokio::sync::oneshot::channel();
        self.sender
            .send(Message::Read { read, committed })
            .map_err(|_| ApiError::internal("the personal-data read log has stopped"))?;
        outcome
            .await
            .map_err(|_| ApiError::internal("the personal-data read log has stopped"))?
            .map_err(|e| {
                if e.unavailable {
                    ApiError::database_unavailable(e.cause)
                } else {
                    ApiError::internal(format!("recording a personal-data read: {}", e.cause))
                }
            })
    }
}

fn flush(db: &Db, receiver: &mpsc::Receiver<Message>) {
    let mut stopping = false;
    while !stopping && let Ok(first) = receiver.recv() {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Read { read, committed } => batch.push((read, committed)),
                Message::Stop => {
                    stopping = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let reads: Vec<FullRead> = batch.iter().map(|(read, _)| read.clone()).collect();
        let outcome = db
            .with_connection(|conn| match conn {
                // One statement is its own transaction: no BEGIN and COMMIT round trips.
                DbConnection::Postgres(_) => Ok(cases::record_reads(conn, &reads)?),
                // SQLite's writes go through its one writer.
                DbConnection::Sqlite(_) => {
                    write_transaction(conn, |conn| Ok(cases::record_reads(conn, &reads)?))
                }
            })
            .map_err(|e| Unrecorded {
                unavailable: e.code() == ErrorCode::DatabaseUnavailable,
                cause: e.to_string(),
            });
        if let Err(error) = &outcome {
            log::error!(
                "recording {} personal-data reads failed: {}",
                reads.len(),
                error.cause
            );
        }
        for (_, committed) in batch {
            // The request may have gone away meanwhile; its record is committed regardless.
            let _ = committed.send(outcome.clone());
        }
    }
}
