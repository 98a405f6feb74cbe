//! `tessera grants create|list|show|update|delete`.

use clap::Subcommand;
use tessera_core::model::ClientGrant;

use super::output::{fail, split_list, Output};
use crate::bootstrap::Deployment;

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

fn human(g: &ClientGrant) -> String {
    format!("id:        {}\nclient_id: {}\naudience:  {}\nscope:     {}", g.id, g.client_id, g.audience, g.scope.join(" "))
}

pub async fn run(d: &Deployment, out: &Output, cmd: GrantsCommand) -> Result<(), String> {
    let r = &d.registry;
    match cmd {
        GrantsCommand::Create { client_id, audience, scopes } => {
            let scopes = split_list(&scopes);
            let g = r.create_grant(&client_id, &audience, (!scopes.is_empty()).then_some(scopes)).await.map_err(fail)?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::List { client_id } => {
            let grants = r.list_grants(client_id.as_deref()).await.map_err(fail)?;
            out.show(&grants, || {
                grants
                    .iter()
                    .map(|g| format!("{}  {}  {}  [{}]", g.id, g.client_id, g.audience, g.scope.join(" ")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        GrantsCommand::Show { id } => {
            let g = r.get_grant(&id).await.map_err(fail)?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::Update { id, scopes } => {
            let g = r.update_grant(&id, split_list(&scopes)).await.map_err(fail)?;
            out.show(&g, || human(&g));
        }
        GrantsCommand::Delete { id } => {
            r.delete_grant(&id).await.map_err(fail)?;
            out.message(&format!("deleted client grant {id}"));
        }
    }
    Ok(())
}
