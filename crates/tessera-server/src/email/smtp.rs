//! The SMTP relay ([`lettre`] over tokio and rustls): STARTTLS (required, never a silent
//! fall back to plain text), implicit TLS, or plain text for a relay on this machine, with
//! the configured AUTH credentials. One connection per delivery round is enough for the
//! volumes of an identity server (verification, reset and code mails).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tessera_core::tickets::OutboundEmail;

use crate::config::EmailConfig;

/// How long one SMTP conversation may take before the delivery counts as failed.
const TIMEOUT: Duration = Duration::from_secs(20);

pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for logs.
    pub name: String,
}

impl Relay {
    /// The relay the configuration names; `Ok(None)` when none is configured.
    pub fn from_config(c: &EmailConfig) -> Result<Option<Self>, String> {
        if c.smtp_host.is_empty() {
            return Ok(None);
        }
        let from: Mailbox = c.from.parse().map_err(|e| format!("email.from: {e}"))?;
        let tls = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(c.smtp_host.clone());
            if !c.ca_file.is_empty() {
                let pem = std::fs::read(&c.ca_file).map_err(|e| format!("email.ca_file {}: {e}", c.ca_file))?;
                b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| format!("email.ca_file: {e}"))?);
            }
            b.build_rustls().map_err(|e| format!("email TLS: {e}"))
        };
        let mode = match c.security.as_str() {
            "tls" => Tls::Wrapper(tls()?),
            "starttls" => Tls::Required(tls()?),
            _ => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host)
            .port(c.smtp_port)
            .tls(mode)
            .timeout(Some(TIMEOUT));
        if !c.username.is_empty() {
            builder = builder.credentials(Credentials::new(c.username.clone(), c.password.clone()));
        }
        Ok(Some(Self { transport: builder.build(), from, name: format!("{}:{}", c.smtp_host, c.smtp_port) }))
    }

    /// Hands one message to the relay; `Err` with the reason when it was not accepted.
    pub async fn send(&self, e: &OutboundEmail) -> Result<(), String> {
        let to: Mailbox = e.recipient.parse().map_err(|err| format!("recipient {:?}: {err}", e.recipient))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(e.subject.clone())
            .message_id(Some(format!("<{}@tessera>", e.id)))
            .multipart(MultiPart::alternative_plain_html(e.text_body.clone(), e.html_body.clone()))
            .map_err(|err| format!("cannot build the message: {err}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|err| err.to_string())
    }
}
