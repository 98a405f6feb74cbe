//! `tessera users create|list|show|update|set-password|block|unblock|delete`.

use clap::{Args, Subcommand};
use serde_json::Value;
use tessera_core::model::UserPatch;

use super::backend::Backend;
use super::output::{read_stdin_line, Output};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (an email or a username is required).
    #[command(group(clap::ArgGroup::new("login").args(["email", "username"]).required(true).multiple(true)))]
    Create {
        #[command(flatten)]
        fields: UserFields,
        #[command(flatten)]
        password: PasswordArgs,
    },
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show a user by user_id, email or username.
    Show {
        user: String,
    },
    /// Change profile fields; only the flags given change.
    Update {
        user: String,
        #[command(flatten)]
        fields: UserFields,
    },
    /// Set a user's password (Argon2id).
    SetPassword {
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Block a user: logins and token refreshes are refused.
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    Delete {
        user: String,
    },
}

#[derive(Debug, Args)]
pub struct UserFields {
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub email_verified: Option<bool>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub given_name: Option<String>,
    #[arg(long)]
    pub family_name: Option<String>,
    #[arg(long)]
    pub picture: Option<String>,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The password (visible in the process list; prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

impl PasswordArgs {
    fn get(self) -> Result<Option<String>, String> {
        if self.password_stdin {
            return read_stdin_line().map(Some);
        }
        Ok(self.password)
    }
}

impl UserFields {
    fn into_patch(self) -> UserPatch {
        UserPatch {
            email: self.email,
            email_verified: self.email_verified,
            username: self.username,
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            picture: self.picture,
        }
    }
}

fn field<'a>(u: &'a Value, name: &str) -> &'a str {
    u[name].as_str().unwrap_or("-")
}

/// The user document (Auth0's shape, `User::auth0_json`) as text.
fn human(u: &Value) -> String {
    format!(
        "user_id:        {}\nemail:          {}\nemail_verified: {}\nusername:       {}\nname:           {}\nblocked:        {}",
        field(u, "user_id"),
        field(u, "email"),
        u["email_verified"],
        field(u, "username"),
        field(u, "name"),
        u["blocked"]
    )
}

pub async fn run(b: &Backend, out: &Output, cmd: UsersCommand) -> Result<(), String> {
    let user = match cmd {
        UsersCommand::Create { fields, password } => {
            let pw = password.get()?;
            b.create_user(fields.into_patch(), pw.as_deref()).await?
        }
        UsersCommand::List { limit, offset } => {
            let users = b.list_users(limit, offset).await?;
            out.show(&users, || {
                users
                    .iter()
                    .map(|u| {
                        let login = u["email"].as_str().or(u["username"].as_str()).unwrap_or("-");
                        let blocked = if u["blocked"].as_bool().unwrap_or(false) { "  (blocked)" } else { "" };
                        format!("{}  {login}{blocked}", field(u, "user_id"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            return Ok(());
        }
        UsersCommand::Show { user } => b.get_user(&user).await?,
        UsersCommand::Update { user, fields } => b.update_user(&user, fields.into_patch()).await?,
        UsersCommand::SetPassword { user, password } => {
            let pw = password.get()?.ok_or("--password or --password-stdin is required")?;
            b.set_password(&user, &pw).await?
        }
        UsersCommand::Block { user } => b.set_blocked(&user, true).await?,
        UsersCommand::Unblock { user } => b.set_blocked(&user, false).await?,
        UsersCommand::Delete { user } => {
            b.delete_user(&user).await?;
            out.message(&format!("deleted user {user}"));
            return Ok(());
        }
    };
    out.show(&user, || human(&user));
    Ok(())
}
