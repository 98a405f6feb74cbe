//! The four emails Tessera sends, each as plain text and simple HTML (no images, no
//! remote resources, every value escaped): email verification, password reset, and the
//! passwordless one-time code or magic link. No template engine: four fixed texts are
//! clearer as code.

use crate::http::html::escape;

/// A rendered message: subject, plain-text body, HTML body.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn html_frame(title: &str, inner: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;color:#1d2330\"><div style=\"max-width:32rem;margin:2rem auto\">{inner}</div></body></html>",
        escape(title)
    )
}

/// "Verify your email" with the verification link.
pub fn verification(app: &str, link: &str, lifetime_hours: i64) -> Rendered {
    let subject = "Verify your email".to_string();
    let text = format!(
        "Welcome to {app}!\n\nConfirm your email address by opening this link:\n\n{link}\n\n\
         The link works once and expires in {lifetime_hours} hours. If you did not sign up, ignore this email.\n"
    );
    let html = html_frame(
        &subject,
        &format!(
            "<h1>Verify your email</h1><p>Welcome to <strong>{}</strong>! Confirm your email address:</p>\
             <p><a href=\"{link}\">Verify my email</a></p><p>The link works once and expires in {lifetime_hours} hours. \
             If you did not sign up, ignore this email.</p>",
            escape(app),
            link = escape(link)
        ),
    );
    Rendered { subject, text, html }
}

/// "Reset your password" with the single-use reset link.
pub fn password_reset(link: &str, lifetime_minutes: i64) -> Rendered {
    let subject = "Reset your password".to_string();
    let text = format!(
        "Someone asked to reset the password of this account.\n\nChoose a new password here:\n\n{link}\n\n\
         The link works once and expires in {lifetime_minutes} minutes. If it was not you, ignore this email: \
         your password stays as it is.\n"
    );
    let html = html_frame(
        &subject,
        &format!(
            "<h1>Reset your password</h1><p>Someone asked to reset the password of this account.</p>\
             <p><a href=\"{link}\">Choose a new password</a></p><p>The link works once and expires in \
             {lifetime_minutes} minutes. If it was not you, ignore this email: your password stays as it is.</p>",
            link = escape(link)
        ),
    );
    Rendered { subject, text, html }
}

/// The passwordless one-time code.
pub fn one_time_code(app: &str, code: &str, lifetime_minutes: i64) -> Rendered {
    let subject = format!("Your verification code for {app}");
    let text = format!(
        "Your verification code is: {code}\n\nIt works once and expires in {lifetime_minutes} minutes. \
         If you did not ask for it, ignore this email.\n"
    );
    let html = html_frame(
        &subject,
        &format!(
            "<h1>Your verification code</h1><p>Enter this code to log in to <strong>{}</strong>:</p>\
             <p style=\"font-size:2rem;letter-spacing:.3rem\"><code>{}</code></p><p>It works once and expires in \
             {lifetime_minutes} minutes. If you did not ask for it, ignore this email.</p>",
            escape(app),
            escape(code)
        ),
    );
    Rendered { subject, text, html }
}

/// The passwordless magic link (`send: link`).
pub fn magic_link(app: &str, link: &str, lifetime_minutes: i64) -> Rendered {
    let subject = format!("Log in to {app}");
    let text = format!(
        "Open this link to log in to {app}:\n\n{link}\n\nIt works once and expires in {lifetime_minutes} minutes. \
         If you did not ask for it, ignore this email.\n"
    );
    let html = html_frame(
        &subject,
        &format!(
            "<h1>Log in</h1><p>Open this link to log in to <strong>{}</strong>:</p>\
             <p><a href=\"{link}\">Log in</a></p><p>It works once and expires in {lifetime_minutes} minutes. \
             If you did not ask for it, ignore this email.</p>",
            escape(app),
            link = escape(link)
        ),
    );
    Rendered { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_html_and_plain_in_text() {
        let r = verification("<App>", "https://id.example/u/verify?ticket=a&b", 120);
        assert!(r.text.contains("https://id.example/u/verify?ticket=a&b"));
        assert!(r.html.contains("&lt;App&gt;") && r.html.contains("ticket=a&amp;b"));
        let r = one_time_code("App", "012345", 5);
        assert!(r.text.contains("012345") && r.html.contains("012345"));
        assert!(password_reset("https://x/r", 60).text.contains("60 minutes"));
    }
}
