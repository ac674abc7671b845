//! Sends the outbox. One worker per process: it claims a due mail (with a lease, so several
//! processes never send the same row), sends it over SMTP, marks it sent. Two kinds of failure:
//! the mail server refuses a mail for good (a 5xx answer, a bad address) and that mail is
//! retried with a doubling delay, then left for an operator; or the mail server cannot be
//! reached (down, timing out, a 4xx "try later") and nothing is wrong with the mail: it stays
//! due, and the worker waits, 2 s doubling to 5 minutes, before it tries again. Mail is never
//! given up because the mail server was away. Without `SMTP_URL` mail is written to the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::Config;
use super::db::outbox::{self, MailRow};
use super::db::{Db, DbUuid};

/// After this many refusals by the mail server a mail stays in the outbox, unsent, for an
/// operator to see.
pub const MAX_REFUSALS: i32 = 8;
/// How long a claimed mail is ours before another sender may take it.
const LEASE: Duration = Duration::from_secs(120);
/// How often the outbox is looked at when nobody wakes the worker.
const POLL: Duration = Duration::from_secs(5);
/// How often the sender looks for unsent mails whose one-time links have expired.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The longest a mailed link works (a confirmation's day; a reset's is an hour): an unsent mail
/// older than this holds nothing anyone can use.
const LINK_MAX_AGE_MS: i64 = crate::server::auth::links::VERIFY_LIFETIME_MS;
/// The wait after the mail server could not be reached, doubled each time up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a mail did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The mail server (or the mail itself) says no: this mail will not go as it is.
    Refused(String),
    /// The mail server is away or busy: try again later, the mail is fine.
    Unreachable(String),
}

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

    /// One outbox row as a message. The recipient comes from a profile or from Stripe, so it is
    /// taken only as a bare address (`Address`, not `Mailbox`: no display name, no list); the
    /// typed headers encode what they carry, so no value can start a header of its own.
    fn compose(
        &self,
        to: &str,
        subject: &str,
        key: &str,
        body: &str,
    ) -> Result<Message, SendError> {
        let to: Address = to
            .parse()
            .map_err(|e| SendError::Refused(format!("bad recipient: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            // The outbox row's key: a receiving system can drop a resend after a lost ack.
            .message_id(Some(format!(
                "<{}@landing>",
                key.replace(|c: char| !c.is_ascii_alphanumeric(), ".")
            )))
            .body(body.to_string())
            .map_err(|e| SendError::Refused(format!("cannot build the message: {e}")))
    }

    async fn send(&self, mail: &MailRow) -> Result<(), SendError> {
        let message = self.compose(&mail.to_email, &mail.subject, &mail.dedupe_key, &mail.body)?;
        match &self.transport {
            Some(t) => t.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Refused(e.to_string())
                } else {
                    SendError::Unreachable(e.to_string())
                }
            }),
            None => {
                // A one-time link in the log would let whoever reads the log follow it.
                let body = if mail.sensitive {
                    "(holds a one-time link: not logged; set SMTP_URL to receive it)"
                } else {
                    mail.body.as_str()
                };
                tracing::info!(to = %mail.to_email, subject = %mail.subject, body = %body, "mail (no SMTP_URL; logged, not sent)");
                Ok(())
            }
        }
    }
}

/// What a pass over the outbox came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    /// The mail server could not be reached: the pass stopped there.
    pub unreachable: bool,
}

/// How the rest of the process steers the sender and sees what it holds.
#[derive(Debug, Default)]
pub struct Control {
    /// Wakes the sender to stop.
    stop: Notify,
    /// Set when stopping: the sender claims nothing more.
    stopping: AtomicBool,
    /// The mail claimed and not yet marked, if any.
    in_hand: std::sync::Mutex<Option<DbUuid>>,
}

impl Control {
    /// Claim nothing more, and stop once the mail in hand is done.
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.notify_one();
    }

    fn hold(&self, mail: Option<DbUuid>) {
        *self.in_hand.lock().unwrap_or_else(|e| e.into_inner()) = mail;
    }

    /// The mail claimed and not yet marked (one the stop cut short).
    pub fn in_hand(&self) -> Option<DbUuid> {
        *self.in_hand.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends every mail that is due now, until the mail server cannot be reached.
async fn send_due(db: &Db, mailer: &Mailer, control: &Control) -> Round {
    let mut round = Round::default();
    loop {
        // A stopping instance claims nothing more: another instance sends the rest.
        if control.stopping.load(Ordering::Relaxed) {
            return round;
        }
        let now = Utc::now();
        let lease = now + chrono::Duration::from_std(LEASE).expect("small");
        let mail = match outbox::claim_due(db, now, lease, MAX_REFUSALS).await {
            Ok(Some(mail)) => {
                control.hold(Some(mail.id));
                mail
            }
            Ok(None) => return round,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot claim mail");
                return round;
            }
        };
        let (error, retry_at, refused) = match mailer.send(&mail).await {
            Ok(()) => {
                round.sent += 1;
                if let Err(e) = outbox::mark_sent(db, mail.id).await {
                    // Sent but not marked: after the lease it is sent again (at least once).
                    tracing::error!(error = %e, key = %mail.dedupe_key, "outbox: sent, cannot mark");
                }
                control.hold(None);
                continue;
            }
            Err(SendError::Refused(e)) => {
                let delay = chrono::Duration::minutes(1 << (mail.refusals + 1).clamp(0, 10));
                tracing::warn!(error = %e, key = %mail.dedupe_key, refusals = mail.refusals + 1, "outbox: the mail server refused a mail; will retry");
                (e, now + delay, true)
            }
            Err(SendError::Unreachable(e)) => {
                tracing::warn!(error = %e, key = %mail.dedupe_key, "outbox: the mail server cannot be reached; mail waits");
                round.unreachable = true;
                // Due again at once: the worker's own wait decides when.
                (e, now, false)
            }
        };
        if let Err(e) =
            outbox::mark_failed(db, mail.id, &error, retry_at, refused, MAX_REFUSALS).await
        {
            tracing::error!(error = %e, "outbox: cannot record a failed send");
        }
        control.hold(None);
        if round.unreachable {
            return round;
        }
    }
}

/// Runs the sender until `control` asks it to stop; `wake` makes it look at the outbox now,
/// unless the mail server was out of reach, when it waits out its backoff first.
pub fn spawn_worker(
    db: Db,
    mailer: Mailer,
    wake: Arc<Notify>,
    control: Arc<Control>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = None::<Duration>;
        let mut swept = None::<tokio::time::Instant>;
        loop {
            // Now and then, the unsent mails whose links have expired are given up and blanked.
            if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                swept = Some(tokio::time::Instant::now());
                let cutoff = Utc::now() - chrono::Duration::milliseconds(LINK_MAX_AGE_MS);
                match outbox::abandon_expired_links(&db, cutoff, MAX_REFUSALS).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        mails = n,
                        "outbox: mails not sent before their links expired were given up"
                    ),
                    Err(e) => tracing::error!(error = %e, "outbox: cannot give up expired links"),
                }
            }
            let round = send_due(&db, &mailer, &control).await;
            backoff = round.unreachable.then(|| match backoff {
                None => FIRST_BACKOFF,
                Some(b) => (b * 2).min(MAX_BACKOFF),
            });
            match backoff {
                Some(wait) => tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = control.stop.notified() => return,
                },
                None => tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                    () = control.stop.notified() => return,
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> Mailer {
        Mailer {
            transport: None,
            from: "Billing <billing@localhost>".parse().unwrap(),
        }
    }

    /// The message's header lines, unfolded.
    fn headers(message: &Message) -> Vec<String> {
        let text = String::from_utf8(message.formatted()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
        head.split("\r\n").map(str::to_string).collect()
    }

    #[test]
    fn a_recipient_that_is_not_one_bare_address_is_refused() {
        for to in [
            "ada@example.com\r\nBcc: eve@example.com",
            "ada@example.com\nBcc: eve@example.com",
            "Eve <eve@example.com>",
            "ada@example.com, eve@example.com",
            "ada@example.com>",
            "",
        ] {
            assert!(
                matches!(
                    mailer().compose(to, "s", "k", "b"),
                    Err(SendError::Refused(_))
                ),
                "{to:?}"
            );
        }
    }

    #[test]
    fn a_line_break_in_a_subject_or_key_starts_no_header() {
        let message = mailer()
            .compose(
                "ada@example.com",
                "Hi\r\nBcc: eve@example.com",
                "k\r\nBcc: eve@example.com",
                "body",
            )
            .unwrap();
        let headers = headers(&message);
        assert!(
            !headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("bcc:")),
            "{headers:?}"
        );
        let to: Vec<_> = headers.iter().filter(|h| h.starts_with("To:")).collect();
        assert_eq!(to, ["To: ada@example.com"], "{headers:?}");
    }
}
