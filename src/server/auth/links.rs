//! Mailed single-use links: "confirm your email" (24 h) and "reset your password" (1 h). The
//! token is 32 random bytes; only its SHA-256 is stored, the mail leaves through the outbox in
//! the same transaction, and the outbox blanks the mail's body once it is sent. So neither the
//! database nor the log holds a link anyone could follow.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::email::Email;
use crate::server::db::accounts::{self, NewToken, Purpose};
use crate::server::db::outbox::{self, NewMail};
use crate::server::db::{DbError, DbUuid, Tx};

pub const VERIFY_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
pub const RESET_LIFETIME_MS: i64 = 60 * 60 * 1000;

/// The stored form of a token: what a link's token is looked up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Issues a link of `purpose` for `user` at `email` and queues its mail.
async fn issue(
    tx: &mut Tx,
    purpose: Purpose,
    user: DbUuid,
    email: &Email,
    mail: impl FnOnce(&str) -> (String, String),
    now_ms: i64,
) -> Result<(), DbError> {
    let token = new_token();
    let hash = token_hash(&token);
    let lifetime = match purpose {
        Purpose::VerifyEmail => VERIFY_LIFETIME_MS,
        Purpose::ResetPassword => RESET_LIFETIME_MS,
    };
    accounts::insert_token(
        tx,
        &NewToken {
            token_hash: &hash,
            purpose,
            user_id: user,
            email: email.as_str(),
            expires_at_ms: now_ms + lifetime,
        },
    )
    .await?;
    let (subject, body) = mail(&token);
    outbox::enqueue(
        tx,
        &NewMail {
            dedupe_key: &format!("link:{hash}"),
            to_email: email.as_str(),
            subject: &subject,
            body: &body,
            sensitive: true,
        },
    )
    .await?;
    Ok(())
}

/// "Confirm your email": following it proves `email` for `user`, once the person following it
/// shows they hold the account (signed in to it, or its password).
pub async fn send_verification(
    tx: &mut Tx,
    site: &str,
    user: DbUuid,
    email: &Email,
    now_ms: i64,
) -> Result<(), DbError> {
    let mail = |token: &str| {
        (
            "Confirm your email".to_string(),
            format!(
                "Confirm that this is your email address to finish setting up your account:\n\n\
                 {site}/verify-email?token={token}\n\n\
                 The link works once, for 24 hours, together with the account's password (or \
                 while you are signed in to it). Until you confirm, purchases made with this \
                 address stay unclaimed.\n\n\
                 If you did not sign up, ignore this mail: nothing happens without the account's \
                 password, and nobody gets anything of yours. To take the address back, reset the \
                 password at {site}/forgot-password.\n"
            ),
        )
    };
    issue(tx, Purpose::VerifyEmail, user, email, mail, now_ms).await
}

/// "Reset your password": following it sets a new password, proves the email and ends every
/// other session.
pub async fn send_reset(
    tx: &mut Tx,
    site: &str,
    user: DbUuid,
    email: &Email,
    now_ms: i64,
) -> Result<(), DbError> {
    let mail = |token: &str| {
        (
            "Reset your password".to_string(),
            format!(
                "Someone asked to reset the password of your account. To choose a new one, open:\n\n\
                 {site}/reset-password?token={token}\n\n\
                 The link works once, for one hour. If it was not you, ignore this mail: your \
                 password stays as it is.\n"
            ),
        )
    };
    issue(tx, Purpose::ResetPassword, user, email, mail, now_ms).await
}

/// Tells the owner of a taken email that someone tried to sign up with it, with a reset link:
/// if it was them, they choose their own password there. Whatever the sign-up chose is never
/// set. (At most five such mails an hour per address: the sign-up limit per email.)
pub async fn send_sign_up_attempt(
    tx: &mut Tx,
    site: &str,
    user: DbUuid,
    email: &Email,
    now_ms: i64,
) -> Result<(), DbError> {
    let mail = |token: &str| {
        (
            "Someone tried to sign up with your email".to_string(),
            format!(
                "Someone tried to create an account with this email address, which already has \
                 one.\n\n\
                 If it was you: sign in at {site}/sign-in, or choose a password here:\n\n\
                 {site}/reset-password?token={token}\n\n\
                 The link works once, for one hour. The password typed at sign-up is not used.\n\n\
                 If it was not you, you need do nothing: no account was created and nothing \
                 changed.\n"
            ),
        )
    };
    issue(tx, Purpose::ResetPassword, user, email, mail, now_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_a_hash() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64url");
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&a));
        assert_eq!(hash, token_hash(&a));
    }
}
