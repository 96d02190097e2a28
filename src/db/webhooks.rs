//! Webhooks, their outbox and deliveries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    cases, integration_clients, webhook_attempts, webhook_case_seqs, webhook_deliveries,
    webhook_events, webhooks,
};
use crate::domain::ids::{CaseId, ClientId, DepartmentId};
use crate::domain::webhook::EventType;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: i64,
    pub client_id: ClientId,
    pub url: String,
    pub event_types: String,
    pub secret_sealed: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook {
    pub client_id: ClientId,
    pub url: String,
    pub event_types: String,
    pub secret_sealed: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub event_types: Option<String>,
    pub active: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert_webhook(conn: &mut DbConnection, row: NewWebhook) -> QueryResult<WebhookRow> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .returning(webhooks::all_columns)
        .get_result(conn)
}

pub fn find_webhook(conn: &mut DbConnection, id: i64) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// Every webhook, or one client's; oldest first.
pub fn list_webhooks(
    conn: &mut DbConnection,
    client: Option<ClientId>,
) -> QueryResult<Vec<WebhookRow>> {
    let mut query = webhooks::table
        .select(WebhookRow::as_select())
        .order(webhooks::id.asc())
        .into_boxed();
    if let Some(client) = client {
        query = query.filter(webhooks::client_id.eq(client));
    }
    query.load(conn)
}

pub fn update_webhook(
    conn: &mut DbConnection,
    id: i64,
    changes: WebhookChanges,
) -> QueryResult<WebhookRow> {
    diesel::update(webhooks::table.find(id))
        .set(changes)
        .returning(webhooks::all_columns)
        .get_result(conn)
}

/// The ids among `ids` of webhooks that still exist, locked against removal until the
/// transaction ends (PostgreSQL: `FOR KEY SHARE`, which removal's `FOR UPDATE` waits for, while
/// updates of other columns go on), so that a delivery is not recorded for a webhook being
/// removed.
pub fn lock_webhooks(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<i64>> {
    macro_rules! query {
        () => {
            webhooks::table
                .filter(webhooks::id.eq_any(ids))
                .select(webhooks::id)
        };
    }
    match conn {
        DbConnection::Postgres(pg) => query!().for_key_share().load(pg),
        DbConnection::Sqlite(sqlite) => query!().load(sqlite),
    }
}

/// Removes a webhook with its deliveries and their attempts (the events stay: other webhooks
/// may have them). The row is locked first: a worker recording attempts holds it shared.
pub fn delete_webhook(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        webhooks::table
            .find(id)
            .select(webhooks::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    let deliveries = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(id))
        .select(webhook_deliveries::id);
    diesel::delete(
        webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)),
    )
    .execute(conn)?;
    // Replays point at the deliveries they replay, all of this webhook.
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .set(webhook_deliveries::replay_of.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    diesel::delete(webhooks::table.find(id)).execute(conn)?;
    Ok(())
}

/// One change of a case that integrators hear of.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub case_id: CaseId,
    pub event_type: EventType,
    pub case_status: &'a str,
    pub occurred_at: NaiveDateTime,
}

/// Writes events to the outbox, in the caller's transaction, each with the next number of its
/// case (the counter row stays locked until the transaction ends). A case's registration is
/// always its first event, number 1, and writes no counter (registrations are most of the
/// writes): the counter row is made by the case's second event, at 2.
pub fn enqueue(conn: &mut DbConnection, events: &[Outgoing<'_>]) -> QueryResult<()> {
    for event in events {
        macro_rules! bump {
            ($conn:expr) => {
                diesel::insert_into(webhook_case_seqs::table)
                    .values((
                        webhook_case_seqs::case_id.eq(event.case_id),
                        webhook_case_seqs::seq.eq(2i64),
                    ))
                    .on_conflict(webhook_case_seqs::case_id)
                    .do_update()
                    .set(webhook_case_seqs::seq.eq(webhook_case_seqs::seq + 1i64))
                    .returning(webhook_case_seqs::seq)
                    .get_result::<i64>($conn)
            };
        }
        let seq = match conn {
            _ if event.event_type == EventType::CaseRegistered => 1,
            DbConnection::Postgres(pg) => bump!(pg)?,
            DbConnection::Sqlite(sqlite) => bump!(sqlite)?,
        };
        diesel::insert_into(webhook_events::table)
            .values((
                webhook_events::case_id.eq(event.case_id),
                webhook_events::event_type.eq(event.event_type.as_str()),
                webhook_events::case_seq.eq(seq),
                webhook_events::case_status.eq(event.case_status),
                webhook_events::occurred_at.eq(event.occurred_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The outbox rows of timeline events integrators hear of (called wherever the timeline is
/// written, so that no change can forget its event). Nothing is written while no webhook is
/// active: a webhook hears of the changes committed after it was made (or enabled again).
pub fn enqueue_timeline(
    conn: &mut DbConnection,
    rows: &[super::cases::NewCaseEvent],
) -> QueryResult<()> {
    if !rows
        .iter()
        .any(|row| EventType::of_action(&row.action).is_some())
    {
        return Ok(());
    }
    let listening: bool = diesel::select(diesel::dsl::exists(
        webhooks::table.filter(webhooks::active.eq(true)),
    ))
    .get_result(conn)?;
    if !listening {
        return Ok(());
    }
    let outgoing: Vec<Outgoing<'_>> = rows
        .iter()
        .filter_map(|row| {
            Some(Outgoing {
                case_id: row.case_id,
                event_type: EventType::of_action(&row.action)?,
                case_status: row
                    .status_after
                    .as_deref()
                    .or(row.status_before.as_deref())
                    .unwrap_or_default(),
                occurred_at: row.occurred_at,
            })
        })
        .collect();
    enqueue(conn, &outgoing)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_events)]
pub struct EventRow {
    pub id: i64,
    pub case_id: CaseId,
    pub event_type: String,
    pub case_seq: i64,
    pub case_status: String,
    pub occurred_at: NaiveDateTime,
    pub payload: Option<String>,
    pub fanned_out_at: Option<NaiveDateTime>,
}

/// Events not yet handed to the webhooks, oldest first. On PostgreSQL the rows are locked and
/// rows another server holds are skipped, so servers fan out different events.
pub fn events_to_fan_out(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<EventRow>> {
    macro_rules! query {
        () => {
            webhook_events::table
                .filter(webhook_events::fanned_out_at.is_null())
                .order(webhook_events::id.asc())
                .limit(limit)
                .select(webhook_events::all_columns)
        };
    }
    match conn {
        DbConnection::Postgres(pg) => query!().for_update().skip_locked().load(pg),
        DbConnection::Sqlite(sqlite) => query!().load(sqlite),
    }
}

/// What an event's body tells of its case: public fields only (no text, no address, nothing
/// about who raised it).
#[derive(Debug, Clone, Queryable)]
pub struct CasePublic {
    pub id: CaseId,
    pub case_no: String,
    pub channel: String,
    pub kind: String,
    pub urgency: String,
    pub category_id: Option<i64>,
    pub district_id: Option<DepartmentId>,
    pub lead_department_id: Option<DepartmentId>,
    pub closure: Option<String>,
    pub created_at: NaiveDateTime,
    pub reply_due_at: Option<NaiveDateTime>,
    pub source_client: Option<ClientId>,
}

pub fn cases_public(conn: &mut DbConnection, ids: &[CaseId]) -> QueryResult<Vec<CasePublic>> {
    cases::table
        .filter(cases::id.eq_any(ids))
        .select((
            cases::id,
            cases::case_no,
            cases::channel,
            cases::kind,
            cases::urgency,
            cases::category_id,
            cases::district_id,
            cases::lead_department_id,
            cases::closure,
            cases::created_at,
            cases::reply_due_at,
            cases::source_client,
        ))
        .load(conn)
}

/// The webhooks taking events now, each with whether its client hears of every case; on
/// PostgreSQL locked against removal (see [`lock_webhooks`]) while deliveries are written.
pub fn active_webhooks(conn: &mut DbConnection) -> QueryResult<Vec<(WebhookRow, bool)>> {
    macro_rules! query {
        () => {
            webhooks::table
                .inner_join(integration_clients::table)
                .filter(webhooks::active.eq(true))
                .filter(integration_clients::active.eq(true))
                .select((webhooks::all_columns, integration_clients::all_cases))
        };
    }
    match conn {
        DbConnection::Postgres(pg) => query!().for_key_share().load(pg),
        DbConnection::Sqlite(sqlite) => query!().load(sqlite),
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub webhook_id: i64,
    pub event_id: i64,
    pub state: &'static str,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub replay_of: Option<i64>,
}

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

pub fn insert_deliveries(conn: &mut DbConnection, rows: &[NewDelivery]) -> QueryResult<()> {
    super::insert_many!(conn, webhook_deliveries::table, rows);
    Ok(())
}

pub fn insert_delivery(conn: &mut DbConnection, row: NewDelivery) -> QueryResult<DeliveryRow> {
    diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .returning(webhook_deliveries::all_columns)
        .get_result(conn)
}

/// Events no webhook wanted: handed out, with no body kept (nothing will send them).
pub fn mark_unwanted(conn: &mut DbConnection, ids: &[i64], at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(webhook_events::table.filter(webhook_events::id.eq_any(ids)))
        .set(webhook_events::fanned_out_at.eq(at))
        .execute(conn)?;
    Ok(())
}

pub fn mark_fanned_out(
    conn: &mut DbConnection,
    id: i64,
    payload: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(webhook_events::table.find(id))
        .set((
            webhook_events::payload.eq(payload),
            webhook_events::fanned_out_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub replay_of: Option<i64>,
}

/// Whether anything waits: events not yet handed out, or deliveries due at `now`. A read, so
/// that an idle worker takes no write transaction (SQLite has one writer).
pub fn work_waiting(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    let events: bool = diesel::select(diesel::dsl::exists(
        webhook_events::table.filter(webhook_events::fanned_out_at.is_null()),
    ))
    .get_result(conn)?;
    if events {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        webhook_deliveries::table
            .filter(webhook_deliveries::state.eq(PENDING))
            .filter(webhook_deliveries::next_attempt_at.le(now)),
    ))
    .get_result(conn)
}

/// The outbox's events not yet handed to the webhooks: how many, and when the oldest happened.
#[derive(Debug, Clone, QueryableByName)]
pub struct OutboxBacklog {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub events: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    pub oldest_at: Option<NaiveDateTime>,
}

/// One query the partial index `webhook_events_pending` answers: the count from the index alone,
/// and the oldest as the event with the lowest id (ids follow the order events were written), so
/// that only that one row of the table is read however long the backlog.
pub fn outbox_backlog(conn: &mut DbConnection) -> QueryResult<OutboxBacklog> {
    diesel::sql_query(
        "SELECT COUNT(*) AS events, \
         (SELECT occurred_at FROM webhook_events WHERE fanned_out_at IS NULL \
          ORDER BY id LIMIT 1) AS oldest_at \
         FROM webhook_events WHERE fanned_out_at IS NULL",
    )
    .get_result(conn)
}

/// Takes up to `limit` deliveries due at `now`: their next attempt moves to `lease_until`, so that
/// no other worker takes them while this one sends (if this one dies, they are due again then).
/// On PostgreSQL rows another server is taking are skipped.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    macro_rules! query {
        () => {
            webhook_deliveries::table
                .filter(webhook_deliveries::state.eq(PENDING))
                .filter(webhook_deliveries::next_attempt_at.le(now))
                // A paused or disabled webhook's, or a disabled client's, wait until enabled.
                .filter(
                    webhook_deliveries::webhook_id.eq_any(
                        webhooks::table
                            .inner_join(integration_clients::table)
                            .filter(webhooks::active.eq(true))
                            .filter(integration_clients::active.eq(true))
                            .select(webhooks::id),
                    ),
                )
                .order(webhook_deliveries::next_attempt_at.asc())
                .limit(limit)
                .select(webhook_deliveries::id)
        };
    }
    let ids: Vec<i64> = match conn {
        DbConnection::Postgres(pg) => query!().for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(sqlite) => query!().load(sqlite)?,
    };
    if !ids.is_empty() {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set(webhook_deliveries::next_attempt_at.eq(lease_until))
            .execute(conn)?;
    }
    Ok(ids)
}

/// A delivery to send: where, with what secret, which event.
#[derive(Debug, Clone, Queryable)]
pub struct Sendable {
    pub delivery_id: i64,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub webhook_id: i64,
    pub url: String,
    pub secret_sealed: String,
    pub event_type: String,
    pub payload: Option<String>,
}

pub fn sendable(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<Sendable>> {
    webhook_deliveries::table
        .inner_join(webhooks::table)
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::id.eq_any(ids))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::attempts,
            webhook_deliveries::created_at,
            webhooks::id,
            webhooks::url,
            webhooks::secret_sealed,
            webhook_events::event_type,
            webhook_events::payload,
        ))
        .load(conn)
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct NewAttempt {
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

pub fn insert_attempts(conn: &mut DbConnection, rows: &[NewAttempt]) -> QueryResult<()> {
    super::insert_many!(conn, webhook_attempts::table, rows);
    Ok(())
}

/// Records how an attempt ended, if the delivery is still held by the claim that made it
/// (pending, its next attempt still the claim's `lease_until`); false otherwise — a worker whose
/// lease ran out does not overwrite what another one recorded since.
pub fn settle_delivery(
    conn: &mut DbConnection,
    id: i64,
    lease_until: NaiveDateTime,
    (state, attempts, next_attempt_at): (&str, i32, NaiveDateTime),
) -> QueryResult<bool> {
    let updated = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::state.eq(PENDING))
            .filter(webhook_deliveries::next_attempt_at.eq(lease_until)),
    )
    .set((
        webhook_deliveries::state.eq(state),
        webhook_deliveries::attempts.eq(attempts),
        webhook_deliveries::next_attempt_at.eq(next_attempt_at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// A webhook's latest deliveries, newest first, with their event's type and number.
pub fn deliveries_of(
    conn: &mut DbConnection,
    webhook_id: i64,
    limit: i64,
    before: Option<i64>,
) -> QueryResult<Vec<(DeliveryRow, String, CaseId, i64)>> {
    let mut query = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select((
            DeliveryRow::as_select(),
            webhook_events::event_type,
            webhook_events::case_id,
            webhook_events::case_seq,
        ))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    query.load(conn)
}

pub fn attempts_of(
    conn: &mut DbConnection,
    deliveries: &[i64],
) -> QueryResult<Vec<(i64, NewAttempt)>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(deliveries))
        .order(webhook_attempts::id.asc())
        .select((webhook_attempts::id, NewAttempt::as_select()))
        .load(conn)
}

/// An event's type, case and number among the case's events.
pub fn event_summary(conn: &mut DbConnection, id: i64) -> QueryResult<(String, CaseId, i64)> {
    webhook_events::table
        .find(id)
        .select((
            webhook_events::event_type,
            webhook_events::case_id,
            webhook_events::case_seq,
        ))
        .first(conn)
}

pub fn find_delivery(conn: &mut DbConnection, id: i64) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// Events forgotten in one transaction (the prune goes on in further ones while it finds a full
/// batch).
pub const PRUNE_BATCH: i64 = 10_000;

/// Forgets events every webhook has had for longer than `before` (and whose deliveries are
/// settled), with those deliveries and attempts: the outbox does not grow without end.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let pending = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(webhook_events::id))
        .filter(webhook_deliveries::state.eq(PENDING));
    // The oldest first, by id: they lead the table, so the scan stops soon. An event with a
    // delivery still pending stays, however many there are.
    let old: Vec<i64> = webhook_events::table
        .filter(webhook_events::fanned_out_at.lt(before))
        .filter(diesel::dsl::not(diesel::dsl::exists(pending)))
        .order(webhook_events::id.asc())
        .select(webhook_events::id)
        .limit(PRUNE_BATCH)
        .load(conn)?;
    if old.is_empty() {
        return Ok(0);
    }
    let deliveries = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq_any(&old))
        .select(webhook_deliveries::id);
    diesel::delete(
        webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)),
    )
    .execute(conn)?;
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::event_id.eq_any(&old)))
        .set(webhook_deliveries::replay_of.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::event_id.eq_any(&old)))
        .execute(conn)?;
    diesel::delete(webhook_events::table.filter(webhook_events::id.eq_any(&old))).execute(conn)
}
