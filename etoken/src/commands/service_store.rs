//! Where `etoken service ...` finds the accounts: a services file, or the
//! farm-wide directory in Redis. A command loads them all (accounts are
//! thousands at most, and ids must stay unique across them), changes one,
//! and stores that one: the whole file, or the one record in Redis, written
//! and announced to every instance in one `MULTI`.

use std::path::PathBuf;

use encapsulated_token::directory::SERVICES;

use super::directory::{block_on, writer};
use crate::services::Services;

/// A services file, or the directory in Redis.
pub enum ServiceStore {
    /// A services file (JSON, mode 0600).
    File(PathBuf),
    /// The directory at this redis:// URL.
    Redis(String),
}

/// How an account is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new account: refused if someone made one of that name meanwhile.
    New,
    /// A change to an existing account.
    Change,
}

impl ServiceStore {
    /// Every account; `missing_ok`: a services file that does not exist
    /// yet holds none. A record in Redis that does not check out is
    /// reported on stderr and left out, as `etoken serve` leaves it out.
    pub fn load(&self, missing_ok: bool) -> Result<Services, String> {
        match self {
            Self::File(path) if missing_ok && !path.exists() => Ok(Services::default()),
            Self::File(path) => Services::load(path),
            Self::Redis(url) => block_on(async {
                let records = writer(url)
                    .await?
                    .all(SERVICES)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut services = Services::default();
                for (name, record) in records {
                    if let Err(reason) = services.insert_json(&name, &record) {
                        let shown: String = name.chars().take(64).collect();
                        eprintln!("etoken: the record of service {shown:?} is refused: {reason}");
                    }
                }
                Ok(services)
            }),
        }
    }

    /// Stores account `name` of `services`.
    pub fn store(&self, services: &Services, name: &str, write: Write) -> Result<(), String> {
        match self {
            Self::File(path) => services.store(path),
            Self::Redis(url) => {
                let account = services
                    .get(name)
                    .ok_or_else(|| format!("no service {name:?}"))?;
                let record = serde_json::to_vec(&account.service).map_err(|e| e.to_string())?;
                block_on(async {
                    let writer = writer(url).await?;
                    let failed = |e: encapsulated_token::handler::DirectoryError| e.to_string();
                    match write {
                        Write::Change => writer.put(SERVICES, name, &record).await.map_err(failed),
                        Write::New => match writer.put_new(SERVICES, name, &record).await {
                            Ok(true) => Ok(()),
                            Ok(false) => Err(format!(
                                "service {name:?} was just created in {url} by someone else; \
                                 nothing changed"
                            )),
                            Err(e) => Err(failed(e)),
                        },
                    }
                })
            }
        }
    }

    /// Where the accounts are, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Redis(url) => url.clone(),
        }
    }

    /// When every instance sees a change: at once with Redis, after the
    /// file is copied to them otherwise.
    pub fn reach(&self) -> &'static str {
        match self {
            Self::File(_) => "once each instance reloads the file",
            Self::Redis(_) => "on every instance following the directory, within a second",
        }
    }
}
