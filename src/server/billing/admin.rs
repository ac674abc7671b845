//! What operators see and do with the webhook event log (`/admin/events`, `landing events`).

use super::webhook::{self, Envelope, Outcome};
use crate::model::admin::EventView;
use crate::model::error::AppError;
use crate::server::db::events;
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

/// Events the page lists.
const SHOWN: i64 = 100;

pub async fn events(state: &AppState, failed_only: bool) -> Result<Vec<EventView>, ServerError> {
    let rows = events::recent(&state.db, failed_only, SHOWN)
        .await
        .context("admin: events")?;
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    Ok(rows
        .into_iter()
        .map(|r| EventView {
            id: r.id,
            kind: r.type_,
            received: stamp(r.received_at),
            processed: r.processed_at.map(stamp),
            attempts: r.attempts,
            last_error: r.last_error,
        })
        .collect())
}

/// Applies a stored event again, as a redelivery would; says what happened.
pub async fn retry(state: &AppState, id: &str) -> Result<String, AppError> {
    let payload = events::payload(&state.db, id)
        .await
        .map_err(|e| {
            ServerError::db("admin: retry", e).log();
            AppError::Internal
        })?
        .ok_or_else(|| AppError::NotFound(format!("No event {id} has been received.")))?;
    let event = Envelope::parse(payload.as_bytes())
        .ok_or_else(|| AppError::BadRequest(format!("The stored event {id} cannot be read.")))?;
    match webhook::process(state, &event, &payload).await {
        Ok(Outcome::Duplicate) => Ok(format!("{id} was already applied.")),
        Ok(_) => Ok(format!("{id} applied.")),
        Err(e) => {
            e.log();
            Err(AppError::Unavailable(format!(
                "{id} failed again: {e}. It stays in the list of failures."
            )))
        }
    }
}
