//! `tessera issuers create|list|show|update|delete`: trusted issuers, whose JWTs are
//! accepted as jwt-bearer grants (RFC 7523 §2.1) and token-exchange subjects (RFC 8693).

use clap::{Args, Subcommand};
use serde_json::Value;
use tessera_core::model::{SubjectMapping, TrustedIssuer, TrustedIssuerPatch};

use super::output::{fail, split_list, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum IssuersCommand {
    /// Trust an issuer's JWTs for the clients named with --client.
    #[command(group(clap::ArgGroup::new("keys").args(["jwks_file", "jwks_uri"]).required(true)))]
    Create(CreateArgs),
    List,
    /// Show one trusted issuer (by id or issuer).
    Show {
        id: String,
    },
    /// Change a trusted issuer; only the flags given change.
    Update {
        id: String,
        /// The exact `iss` of its tokens.
        #[arg(long)]
        issuer: Option<String>,
        #[command(flatten)]
        fields: IssuerFields,
    },
    Delete {
        id: String,
    },
}

/// `issuers create`: the issuer and its keys (one of --jwks-file, --jwks-uri) are required.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The exact `iss` of its tokens.
    #[arg(long)]
    pub issuer: String,
    #[command(flatten)]
    pub fields: IssuerFields,
}

/// The settings `create` and `update` share; on update only the flags given change.
#[derive(Debug, Args, Default)]
pub struct IssuerFields {
    #[arg(long)]
    pub name: Option<String>,
    /// File holding its public JWK Set.
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// URL of its JWK Set (https; http only on a loopback host), fetched and cached.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// How its `sub` maps to a Tessera subject: user_id | email | client (default user_id).
    #[arg(long, value_parser = parse_mapping)]
    pub subject_mapping: Option<SubjectMapping>,
    /// A client that may present its tokens; repeat or comma-separate (replaces the list).
    #[arg(long = "client")]
    pub clients: Vec<String>,
}

fn parse_mapping(s: &str) -> Result<SubjectMapping, String> {
    SubjectMapping::parse(s).map_err(|e| e.description().to_string())
}

impl IssuerFields {
    fn into_patch(self, issuer: Option<String>) -> Result<TrustedIssuerPatch, String> {
        let jwks = match &self.jwks_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(serde_json::from_str::<Value>(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
            }
            None => None,
        };
        let clients = split_list(&self.clients);
        Ok(TrustedIssuerPatch {
            issuer,
            name: self.name,
            jwks,
            jwks_uri: self.jwks_uri,
            subject_mapping: self.subject_mapping,
            clients: (!clients.is_empty()).then_some(clients),
        })
    }
}

fn human(t: &TrustedIssuer) -> String {
    let keys = match (&t.jwks, &t.jwks_uri) {
        (Some(j), _) => format!("inline ({} keys)", j.get("keys").and_then(Value::as_array).map_or(0, Vec::len)),
        (None, Some(u)) => u.clone(),
        (None, None) => "none".into(),
    };
    format!(
        "id:              {}\nissuer:          {}\nname:            {}\nkeys:            {keys}\nsubject mapping: {}\nclients:         {}",
        t.id,
        t.issuer,
        t.name,
        t.subject_mapping.as_str(),
        t.clients.join(" ")
    )
}

pub async fn run(d: &Deployment, out: &Output, cmd: IssuersCommand) -> Result<(), String> {
    let r = &d.registry;
    match cmd {
        IssuersCommand::Create(CreateArgs { issuer, fields }) => {
            let t = r.create_trusted_issuer(fields.into_patch(Some(issuer))?).await.map_err(fail)?;
            out.show(&t, || human(&t));
        }
        IssuersCommand::List => {
            let all = r.list_trusted_issuers().await.map_err(fail)?;
            out.show(&all, || {
                all.iter()
                    .map(|t| format!("{}  {}  {}", t.id, t.issuer, t.subject_mapping.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        IssuersCommand::Show { id } => {
            let t = r.get_trusted_issuer(&id).await.map_err(fail)?;
            out.show(&t, || human(&t));
        }
        IssuersCommand::Update { id, issuer, fields } => {
            let t = r.update_trusted_issuer(&id, fields.into_patch(issuer)?).await.map_err(fail)?;
            out.show(&t, || human(&t));
        }
        IssuersCommand::Delete { id } => {
            r.delete_trusted_issuer(&id).await.map_err(fail)?;
            out.message(&format!("deleted trusted issuer {id}"));
        }
    }
    Ok(())
}
