//! `ServerError`: what went wrong inside, with its context, for the log. What the client sees is
//! `AppError`; the seam between them is `log` plus the caller's choice of `AppError`.

use crate::server::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{context}: {source}")]
    Db {
        context: &'static str,
        source: DbError,
    },
    #[error("{context}: {message}")]
    Internal {
        context: &'static str,
        message: String,
    },
}

impl ServerError {
    pub fn db(context: &'static str, source: DbError) -> Self {
        ServerError::Db { context, source }
    }

    pub fn internal(context: &'static str, message: String) -> Self {
        ServerError::Internal { context, message }
    }

    pub fn log(&self) {
        tracing::error!(error = %self, "request failed");
    }
}
