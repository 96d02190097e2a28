//! `hotline seed --cases N`: bulk-generates realistic cases for trying the API and for the large-data
//! benchmark: the command, its options and the two threads that run it. [`generate`] makes the
//! cases (text, distributions, and a history of the API's own moves for each: case number
//! continuing the per-day counters, complainant, timeline, for dispatched cases the round-1
//! lead assignment with its clocks, for approved cases their follow-up calls and surveys, and
//! after a redo the second round); [`write`] puts them in the database through the product's
//! own `Insertable` rows.
//!
//! Speed comes from large transactions, ids assigned here rather than read back, and a second
//! thread that generates the next batch (timestamps already in their SQLite text) while one is
//! written. SQLite takes multi-row INSERTs of a fixed size (one prepared statement reused for every
//! full chunk), and each batch's cases enter the FTS5 keyword index in one bulk insert in place
//! of the row-by-row trigger, with room for the whole batch in FTS5's in-memory index (one segment
//! per batch). About 25,000 cases/s on SQLite at 1,000,000 cases on the 2-core development machine
//! (writing is all but the whole time: the rows with their eighteen indexes, the WAL and its
//! checkpoints, the keyword index). PostgreSQL takes each table's rows of a batch in one binary
//! `COPY` (see [`write`]), without the foreign-key checks when the role may skip them (see
//! [`write::skip_foreign_key_checks`]); a seed that adds more cases than there are runs in one
//! transaction that builds the plain indexes after the rows, the trigram indexes of the cases'
//! texts above all (7,341 cases/s at 1,000,000 in `bench/seed.sh`, 4,914/s with multi-row
//! INSERTs; of a run by hand, 62 s writing, 50 s building the indexes, 35 s counting the
//! statistics). It is meant for an empty or test
//! database: run it while no server is registering cases.

mod generate;
pub(crate) mod knowledge;
mod write;

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;

use crate::db::{Db, DbConnection, now};
use crate::domain::ids::CaseId;
use crate::error::ApiError;
use generate::{Clocks, Generator, Organisation, Surveys};

/// Cases per transaction. 50,000 was 5 % faster at 1,000,000 cases but took 1 GB of memory
/// (two batches live at once: one written, the next generated); 20,000 keeps it near 0.4 GB.
const BATCH: usize = 20_000;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub cases: u64,
    /// Knowledge-base articles to add after the cases.
    pub articles: u64,
    /// Seed of the random generator: the same seed on an empty database gives the same data.
    pub seed: u64,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// How long the seeded survey invitations stay open (`HOTLINE_SURVEY_VALIDITY_DAYS`).
    pub survey_validity_days: i64,
}

#[derive(Debug)]
pub struct SeedReport {
    pub cases: u64,
    pub articles: u64,
    pub elapsed: Duration,
    pub demo_loaded: bool,
}

impl SeedReport {
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Generates `options.cases` cases; loads the demo organisation first when it is missing.
pub fn seed(db: Db, tz: chrono_tz::Tz, options: &SeedOptions) -> Result<SeedReport, String> {
    let mut conn = db.into_sole_connection().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let demo_loaded = crate::db::accounts::find_user_by_username(&mut conn, "dispatcher")
        .map_err(|e| crate::commands::describe(e.into()))?
        .is_none();
    if demo_loaded {
        crate::commands::load_demo_on(&mut conn).map_err(crate::commands::describe)?;
    }
    let cases = if options.cases > 0 {
        seed_on(&mut conn, tz, options).map_err(crate::commands::describe)?
    } else {
        0
    };
    let cases_took = started.elapsed();
    let articles = knowledge::seed_articles(&mut conn, options.articles, options.seed)
        .map_err(crate::commands::describe)?;
    if articles > 0 {
        // Each article was written three times (inserted, approved, indexed): clear the dead
        // rows and let the planner see the new ones.
        let tidy = match conn {
            DbConnection::Postgres(_) => "VACUUM ANALYZE knowledge_articles, knowledge_versions",
            DbConnection::Sqlite(_) => "PRAGMA optimize",
        };
        conn.batch_execute(tidy).map_err(|e| e.to_string())?;
    }
    Ok(SeedReport {
        cases,
        articles,
        // The rate is of the cases: the articles' time is not theirs.
        elapsed: if options.cases > 0 {
            cases_took
        } else {
            started.elapsed()
        },
        demo_loaded,
    })
}

fn seed_on(
    conn: &mut DbConnection,
    tz: chrono_tz::Tz,
    options: &SeedOptions,
) -> Result<u64, ApiError> {
    let secret = uuid::Uuid::new_v4().to_string();
    write::add_handlers(conn, &crate::auth::password::hash(&secret))?;
    let org = Organisation::new(write::load_organisation(conn)?).map_err(ApiError::internal)?;
    let reference = crate::service::reference::ReferenceData::load(conn, tz)?;
    let clocks = Clocks {
        calendar: reference.calendar(),
        policy: reference.policy(),
    };
    let counters = write::counters(conn)?;
    let is_sqlite = matches!(conn, DbConnection::Sqlite(_));
    if is_sqlite {
        // Only this connection, only while seeding: a crash midway loses at most the data being
        // generated, a bigger page cache keeps the indexes in memory, and the generated rows
        // refer only to rows that exist (foreign keys unchecked while they go in).
        conn.batch_execute(
            "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; PRAGMA foreign_keys = OFF;",
        )?;
    }
    let left_wal = is_sqlite && write::leave_wal(conn);
    let skipped_foreign_keys = !is_sqlite && write::skip_foreign_key_checks(conn);
    let fts = if is_sqlite {
        write::fts_trigger(conn)?
    } else {
        None
    };
    let hashsize_before = match &fts {
        Some(_) => Some(write::raise_fts_hashsize(conn)?),
        None => None,
    };
    let first_case = write::max_id(conn, "cases")? + 1;
    let now = now();
    let span = TimeDelta::days(365);
    let generator = Generator {
        rng: fastrand::Rng::with_seed(options.seed),
        org,
        clocks,
        tz,
        counters,
        next_case: first_case,
        next_event: write::max_id(conn, "case_events")? + 1,
        next_assignment: write::max_id(conn, "assignments")? + 1,
        next_deadline: write::max_id(conn, "deadlines")? + 1,
        next_call: write::max_id(conn, "follow_up_calls")? + 1,
        next_survey: write::max_id(conn, "surveys")? + 1,
        surveys: Surveys::new(
            crate::db::surveys::default_template(conn)?,
            options.survey_validity_days,
        )?,
        start: now - span,
        span_seconds: span.num_seconds() - 60,
        total: options.cases.max(1),
        now,
    };
    // Into a database with fewer cases than it adds, the seed on PostgreSQL goes in one
    // transaction that drops the seeded tables' plain indexes, writes the rows and builds the
    // indexes again (a sorted build, where row-by-row upkeep of the trigram indexes was half of
    // the seed's time). A crash or an error rolls all of it back, the indexes with it.
    let rebuild_indexes = !is_sqlite && write::max_id(conn, "cases")? < options.cases as i64;
    let reference_calendar = reference.calendar();
    let outcome = if rebuild_indexes {
        crate::db::write_transaction(conn, |conn| {
            let dropped = write::drop_plain_indexes(conn)?;
            let written = write_all(conn, generator, options, fts.as_ref())?;
            let building = Instant::now();
            write::create_indexes(conn, &dropped)?;
            log::info!(
                "seed: {:.1} s building {} indexes again",
                building.elapsed().as_secs_f64(),
                dropped.len(),
            );
            count_new_cases(conn, &reference_calendar, first_case)?;
            Ok::<_, ApiError>(written)
        })
    } else {
        write_all(conn, generator, options, fts.as_ref())
    };
    if is_sqlite {
        conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    }
    if let Some(before) = &hashsize_before {
        write::restore_fts_hashsize(conn, before.as_deref())?;
    }
    if left_wal {
        conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    // Counted here unless counted inside the transaction above.
    let outcome = outcome.and_then(|written| {
        if !rebuild_indexes {
            count_new_cases(conn, &reference_calendar, first_case)?;
        }
        Ok(written)
    });
    // The statistics' rows (one per case) went in unchecked too.
    if skipped_foreign_keys {
        write::restore_foreign_key_checks(conn)?;
    }
    let done = outcome?;
    match conn {
        // The COPYs took the ids from the identity sequences: they stand at the last ids.
        DbConnection::Postgres(_) => conn.batch_execute("ANALYZE")?,
        DbConnection::Sqlite(_) => {
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        }
    }
    Ok(done)
}

/// Generates and writes `options.cases` cases, a batch per transaction (a savepoint inside the
/// seed's own transaction when it rebuilds the indexes); returns how many it wrote.
fn write_all(
    conn: &mut DbConnection,
    mut generator: Generator,
    options: &SeedOptions,
    fts: Option<&write::FtsTrigger>,
) -> Result<u64, ApiError> {
    let bar = if options.progress {
        indicatif::ProgressBar::new(options.cases)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} cases ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // The next batch is generated on a second thread while this one writes the current one;
    // written batches go back to be emptied there (freeing their strings off the writing thread)
    // and refilled.
    let (to_writer, batches) = std::sync::mpsc::sync_channel::<write::Batch>(1);
    let (to_generator, spare) = std::sync::mpsc::channel::<write::Batch>();
    let total = options.cases;
    let mut done = 0u64;
    let (mut waiting, mut writing) = (Duration::ZERO, Duration::ZERO);
    let (generating, outcome) = std::thread::scope(|scope| {
        let generator = scope.spawn(move || {
            let mut generating = Duration::ZERO;
            let mut start = 0u64;
            while start < total {
                let size = (total - start).min(BATCH as u64);
                let mut batch = spare.try_recv().unwrap_or_default();
                batch.clear();
                let clock = Instant::now();
                let first = generator.next_case;
                for index in start..start + size {
                    generator.case(index, &mut batch);
                }
                batch.case_ids = Some((first, generator.next_case - 1));
                generating += clock.elapsed();
                if to_writer.send(batch).is_err() {
                    break; // the writer stopped on an error
                }
                start += size;
            }
            generating
        });
        let outcome = (|| {
            let batches = batches;
            loop {
                let clock = Instant::now();
                let Ok(batch) = batches.recv() else {
                    return Ok::<(), ApiError>(());
                };
                waiting += clock.elapsed();
                let clock = Instant::now();
                write::write_batch(conn, &batch, fts)?;
                writing += clock.elapsed();
                done += batch.cases.len() as u64;
                bar.set_position(done);
                let _ = to_generator.send(batch);
            }
        })();
        let generating = generator.join().expect("the generator does not panic");
        (generating, outcome)
    });
    bar.finish_and_clear();
    log::info!(
        "seed: {:.1} s generating rows (alongside), {:.1} s writing them, {:.1} s waiting for them",
        generating.as_secs_f64(),
        writing.as_secs_f64(),
        waiting.as_secs_f64(),
    );
    outcome.map(|()| done)
}

/// Counts the cases written (without the per-transaction refresh of the statistics) from
/// `first_case` on.
fn count_new_cases(
    conn: &mut DbConnection,
    calendar: &crate::domain::calendar::WorkingCalendar,
    first_case: i64,
) -> Result<(), ApiError> {
    let clock = Instant::now();
    let last_case = CaseId(write::max_id(conn, "cases")?);
    crate::service::stats::add_new_cases(conn, calendar, (CaseId(first_case), last_case))?;
    log::info!(
        "seed: {:.1} s counting the statistics",
        clock.elapsed().as_secs_f64()
    );
    Ok(())
}
