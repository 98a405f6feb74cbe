//! `tessera grants create|list|show|update|delete`.

use clap::Subcommand;
use serde_json::Value;

use super::backend::Backend;
use super::output::{split_list, Output};

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Allow a client to get tokens for an API via client_credentials.
    Create {
        #[arg(long)]
        client_id: String,
        /// The API's identifier (or id).
        #[arg(long)]
        audience: String,
        /// Granted scope; repeat or comma-separate (default: every scope of the API).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List grants, optionally of one client.
    List {
        #[arg(long)]
        client_id: Option<String>,
    },
    Show {
        id: String,
    },
    /// Replace a grant's scopes.
    Update {
        id: String,
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    Delete {
        id: String,
    },
}

fn scope(g: &Value) -> String {
    g["scope"].as_array().map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn field<'a>(g: &'a Value, name: &str) -> &'a str {
    g[name].as_str().unwrap_or_default()
}

fn human(g: &Value) -> String {
    format!(
        "id:        {}\nclient_id: {}\naudience:  {}\nscope:     {}",
        field(g, "id"),
        field(g, "client_id"),
        field(g, "audience"),
        scope(g)
    )
}

pub async fn run(b: &Backend, out: &Output, cmd: GrantsCommand) -> Result<(), String> {
    match cmd {
        GrantsCommand::Create { client_id, audience, scopes } => {
            let scopes = split_list(&scopes);
            let g = b.create_grant(&client_id, &audience, (!scopes.is_empty()).then_some(scopes)).await?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::List { client_id } => {
            let grants = b.list_grants(client_id.as_deref()).await?;
            out.show(&grants, || {
                grants
                    .iter()
                    .map(|g| format!("{}  {}  {}  [{}]", field(g, "id"), field(g, "client_id"), field(g, "audience"), scope(g)))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        GrantsCommand::Show { id } => {
            let g = b.get_grant(&id).await?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::Update { id, scopes } => {
            let g = b.update_grant(&id, split_list(&scopes)).await?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::Delete { id } => {
            b.delete_grant(&id).await?;
            out.message(&format!("deleted client grant {id}"));
        }
    }
    Ok(())
}
