//! `etoken directory ...`: the farm-wide directory in Redis. `import`
//! moves a file-based farm over: the users file's users and revocations and
//! the services file's accounts, written in batches, then one reload asked
//! of every instance.

use std::path::PathBuf;

use clap::Subcommand;
use encapsulated_token::directory::{
    Keyspace, REVOCATIONS, SERVICES, SsoAccount, USERS, UserSnapshot, Writer,
};

use crate::serve::sso::provision::{SUBJECTS, subject_key};
use crate::services::Services;
use crate::users::Users;

/// `etoken directory ...`.
#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Copy a users file and a services file into the directory in Redis
    /// (records of the same name are replaced; others are kept).
    Import {
        /// The directory: redis://HOST:PORT/DB.
        #[arg(long, value_name = "URL", env = "ETOKEN_DIRECTORY")]
        directory: String,
        /// The users file to import.
        #[arg(long, value_name = "FILE")]
        users: Option<PathBuf>,
        /// The services file to import.
        #[arg(long, value_name = "FILE")]
        services: Option<PathBuf>,
    },
}

/// Runs one `etoken directory` command.
pub fn run(command: DirectoryCommand) -> Result<(), String> {
    match command {
        DirectoryCommand::Import {
            directory,
            users,
            services,
        } => {
            if users.is_none() && services.is_none() {
                return Err("nothing to import: pass --users FILE and/or --services FILE".into());
            }
            // Both files load whole before anything is written.
            let users = users.as_deref().map(Users::load).transpose()?;
            let services = services.as_deref().map(Services::load).transpose()?;
            block_on(import(&directory, users, services))
        }
    }
}

async fn import(url: &str, users: Option<Users>, services: Option<Services>) -> Result<(), String> {
    let writer = writer(url).await?;
    let failed = |e: encapsulated_token::handler::DirectoryError| e.to_string();
    if let Some(users) = users {
        let mut records = Vec::new();
        let mut revocations = Vec::new();
        // A single sign-on user already bound to its provider account is
        // found by back-channel logout through this table.
        let mut subjects = Vec::new();
        for (name, record) in users.records() {
            if let Some(SsoAccount {
                issuer: Some(issuer),
                subject: Some(subject),
                ..
            }) = &record.sso
            {
                subjects.push((subject_key(issuer, subject), name.clone().into_bytes()));
            }
            // The revocation goes to its own table; the rest as it is.
            let stored = record.clone().revoked_before(None);
            records.push((
                name.clone(),
                serde_json::to_vec(&stored).map_err(|e| e.to_string())?,
            ));
            if let Some(before) = record.sessions_revoked_before {
                let value = UserSnapshot::revocation_value(before);
                revocations.push((name.clone(), value.into_bytes()));
            }
        }
        writer.put_many(USERS, &records).await.map_err(failed)?;
        writer
            .put_many(REVOCATIONS, &revocations)
            .await
            .map_err(failed)?;
        writer.put_many(SUBJECTS, &subjects).await.map_err(failed)?;
        println!(
            "imported {} users ({} with revoked sessions) into {url}",
            records.len(),
            revocations.len()
        );
    }
    if let Some(services) = services {
        let records = services
            .accounts()
            .map(|a| Ok((a.name.clone(), serde_json::to_vec(&a.service)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| e.to_string())?;
        writer.put_many(SERVICES, &records).await.map_err(failed)?;
        println!("imported {} services into {url}", records.len());
    }
    Ok(())
}

/// A writer on the directory at `url`, under etoken's keyspace.
pub async fn writer(url: &str) -> Result<Writer, String> {
    Writer::connect(url, Keyspace::default())
        .await
        .map_err(|e| format!("--directory: {e}"))
}

/// Runs a command's Redis work on a small runtime of its own.
pub fn block_on<T>(work: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(work)
}
