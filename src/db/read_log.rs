//! The record of full reads of personal data (SPEC 5.3), written in batches. Every read of a case
//! by centre staff must be on record before the case is shown, which made each read a write
//! transaction of its own. Instead each request hands its record to one flusher thread and waits
//! (asynchronously, holding no thread) until the batch it joined is committed: one transaction
//! carries the records of every read that arrived meanwhile, and no answer goes out before its
//! record is durable.

use std::sync::mpsc;

use chrono::NaiveDateTime;

use super::{Db, cases, write_transaction};
use crate::error::ApiError;

/// One full read: who, when, which case.
#[derive(Debug, Clone)]
pub struct FullRead {
    pub case_id: i64,
    pub user_id: i64,
    pub role: &'static str,
    pub at: NaiveDateTime,
}

struct Pending {
    read: FullRead,
    committed: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Largest batch; a larger backlog is committed in several transactions.
const MAX_BATCH: usize = 1024;

/// The handle requests record their reads through. The flusher thread stops when the last handle
/// is dropped.
#[derive(Clone)]
pub struct ReadLog {
    sender: mpsc::Sender<Pending>,
}

impl ReadLog {
    pub fn start(db: Db) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("personal-data-reads".into())
            .spawn(move || flush(&db, &receiver))?;
        Ok(Self { sender })
    }

    /// Returns once `read` is committed.
    pub async fn record(&self, read: FullRead) -> Result<(), ApiError> {
        let (committed, outcome) = tokio::sync::oneshot::channel();
        self.sender
            .send(Pending { read, committed })
            .map_err(|_| ApiError::internal("the personal-data read log has stopped"))?;
        outcome
            .await
            .map_err(|_| ApiError::internal("the personal-data read log has stopped"))?
            .map_err(|e| ApiError::internal(format!("recording a personal-data read: {e}")))
    }
}

fn flush(db: &Db, receiver: &mpsc::Receiver<Pending>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let reads: Vec<FullRead> = batch.iter().map(|p| p.read.clone()).collect();
        let outcome = db
            .with_connection(|conn| {
                write_transaction(conn, |conn| cases::record_reads(conn, &reads))
            })
            .map_err(|e| e.to_string());
        if let Err(error) = &outcome {
            log::error!(
                "recording {} personal-data reads failed: {error}",
                reads.len()
            );
        }
        for pending in batch {
            // The request may have gone away meanwhile; its record is committed regardless.
            let _ = pending.committed.send(outcome.clone());
        }
    }
}
