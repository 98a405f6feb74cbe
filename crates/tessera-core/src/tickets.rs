//! Emailed proofs and the mail that carries them: single-use tickets (password reset,
//! email verification), one-time codes (Auth0 passwordless `send: code`) and the durable
//! outbox rows the server's SMTP worker delivers.
//!
//! - A ticket or code is given to the user only inside an email; the store keeps its keyed
//!   hash ([`crate::crypto::Keyring::hash_handle`]), never the value.
//! - Single use and expiry are one conditional statement in the store
//!   (`UPDATE ... WHERE consumed_at IS NULL AND expires_at > $now`).
//! - A one-time code is 6 digits (Auth0's default length): ~20 bits, so each code row counts
//!   its attempts *before* a guess is compared (one atomic increment, as the login throttle
//!   does) and dies at the limit, however many guesses arrive at once.
//! - The outbox keeps a message until the relay accepted it; a failed attempt reschedules it
//!   with exponential backoff ([`backoff`]); the body is wiped once sent, so links and codes
//!   do not outlive their delivery at rest.

use crate::crypto::random_bytes;

/// What a ticket proves when it is redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    PasswordReset,
    EmailVerification,
    /// A passwordless one-time code (its row is keyed by client and address, see
    /// [`otp_key`]; the code's hash is in [`Ticket::code_hash`]).
    Otp,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::Otp => "otp",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::PasswordReset, Self::EmailVerification, Self::Otp].into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored ticket or one-time code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Keyed hash of the ticket value (reset, verification) or of [`otp_key`] (codes).
    pub ticket_hash: String,
    pub kind: TicketKind,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub client_id: Option<String>,
    /// Codes only: keyed hash of the code.
    pub code_hash: Option<String>,
    /// Codes only: the `authParams.scope` / `audience` asked at `/passwordless/start`.
    pub scope: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub attempts: i64,
}

/// The stable handle of the one live code of `email` for `client_id`: a new code replaces
/// the previous one (and its attempt count starts again).
pub fn otp_key(client_id: &str, email: &str) -> String {
    format!("otp|{client_id}|{}", email.to_ascii_lowercase())
}

/// A uniform 6-digit code, as Auth0 sends (rejection sampling, no modulo bias).
pub fn otp_code() -> String {
    loop {
        let b = random_bytes::<4>();
        let n = u32::from_le_bytes(b);
        // 4_294_000_000 is the largest multiple of 10^6 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// The secret of a magic link (`send: link`): nobody types it, so it is 128 random bits
/// instead of six digits, and the attempt limit is not what keeps it unguessable.
pub fn link_code() -> String {
    crate::crypto::random_token::<16>()
}

/// One email waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    /// Not attempted before this time.
    pub due_at: i64,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

impl OutboundEmail {
    pub fn new(recipient: &str, subject: &str, text_body: String, html_body: String, now: i64) -> Self {
        Self {
            id: crate::crypto::ordered_id::<9>("msg_"),
            recipient: recipient.to_string(),
            subject: subject.to_string(),
            text_body,
            html_body,
            created_at: now,
            due_at: now,
            attempts: 0,
            sent_at: None,
            last_error: None,
        }
    }
}

/// Seconds to wait after the `attempts`-th failed delivery: 2, 4, 8, ... capped at 10
/// minutes, so a relay back after an outage gets the mail within minutes, and a relay down
/// for a day costs a few hundred attempts per message, not millions.
pub fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 16) as u32;
    2i64.saturating_pow(exp).min(600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_backoff_grows_to_a_cap() {
        for _ in 0..500 {
            let c = otp_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
        assert_eq!([backoff(1), backoff(2), backoff(3)], [2, 4, 8]);
        assert_eq!(backoff(10), 600);
        assert_eq!(backoff(1000), 600);
        assert_eq!(otp_key("c", "A@B.example"), "otp|c|a@b.example");
        assert_eq!(TicketKind::parse("password_reset"), Some(TicketKind::PasswordReset));
        assert_eq!(TicketKind::parse("x"), None);
    }
}
