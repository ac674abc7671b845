//! Sends the outbox. One worker per process: it claims a due mail (with a lease, so several
//! processes never send the same row), sends it over SMTP, marks it sent; a refusal is retried
//! with a doubling delay. Without `SMTP_URL` mail is written to the log instead.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::Config;
use super::db::outbox::{self, MailRow};
use super::db::Db;

/// After this many failed sends a mail stays in the outbox, unsent, for an operator to see.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed mail is ours before another sender may take it.
const LEASE: Duration = Duration::from_secs(120);
/// How often the outbox is looked at when nobody wakes the worker.
const POLL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.transport.is_some())
            .finish()
    }
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let from = config
            .mail_from
            .parse::<Mailbox>()
            .map_err(|e| format!("MAIL_FROM: {e}"))?;
        let transport = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    // lettre's message could quote the URL, password included: not repeated.
                    .map_err(|_| "SMTP_URL: not a usable SMTP URL".to_string())?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
        };
        Ok(Mailer { transport, from })
    }

    async fn send(&self, mail: &MailRow) -> Result<(), String> {
        let to: Mailbox = mail
            .to_email
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            // The outbox row's key: a receiving system can drop a resend after a lost ack.
            .message_id(Some(format!(
                "<{}@landing>",
                mail.dedupe_key
                    .replace(|c: char| !c.is_ascii_alphanumeric(), ".")
            )))
            .body(mail.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match &self.transport {
            Some(t) => t.send(message).await.map(drop).map_err(|e| e.to_string()),
            None => {
                tracing::info!(to = %mail.to_email, subject = %mail.subject, body = %mail.body, "mail (no SMTP_URL; logged, not sent)");
                Ok(())
            }
        }
    }
}

/// Sends every mail that is due now; returns how many went out.
pub async fn send_due(db: &Db, mailer: &Mailer) -> usize {
    let mut sent = 0;
    loop {
        let now = Utc::now();
        let lease = now + chrono::Duration::from_std(LEASE).expect("small");
        let mail = match outbox::claim_due(db, now, lease, MAX_ATTEMPTS).await {
            Ok(Some(mail)) => mail,
            Ok(None) => return sent,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot claim mail");
                return sent;
            }
        };
        match mailer.send(&mail).await {
            Ok(()) => {
                sent += 1;
                if let Err(e) = outbox::mark_sent(db, mail.id).await {
                    // Sent but not marked: after the lease it is sent again (at least once).
                    tracing::error!(error = %e, key = %mail.dedupe_key, "outbox: sent, cannot mark");
                }
            }
            Err(e) => {
                let delay = chrono::Duration::minutes(1 << mail.attempts.clamp(0, 10));
                tracing::warn!(error = %e, key = %mail.dedupe_key, attempt = mail.attempts, "outbox: send failed; will retry");
                if let Err(e) = outbox::mark_failed(db, mail.id, &e, now + delay).await {
                    tracing::error!(error = %e, "outbox: cannot record a failed send");
                }
            }
        }
    }
}

/// Runs the sender until `stop` is notified; `wake` makes it look at the outbox now.
pub fn spawn_worker(
    db: Db,
    mailer: Mailer,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            send_due(&db, &mailer).await;
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = stop.notified() => return,
            }
        }
    })
}
