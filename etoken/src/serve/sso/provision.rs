//! Provisioning: the user the provider vouched for goes into the
//! directory, bound to the provider's (issuer, `sub`). With Redis the
//! record exists farm-wide at once; with files, in this instance's users
//! file (a file farm pre-provisions with `etoken user add NAME --sso`). A
//! name bound to another account, or held by a password user, is refused:
//! a reassigned email does not take over the old account.

use encapsulated_token::directory::{SsoAccount, Table, USERS, UserRecord, Writer};
use time::OffsetDateTime;

use super::rules::Admitted;
use crate::serve::farm::Source;
use crate::serve::reload::LiveUsers;
use crate::users::Users;

/// The Redis table from (issuer, subject) to the user name, for back-channel
/// logout (instances do not follow it: only a logout reads it).
pub const SUBJECTS: &str = "sso-subjects";

/// Why a login's user cannot be provisioned.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// A local password user holds the name (403).
    PasswordUser(String),
    /// The name is bound to another provider account (403).
    BoundElsewhere(String),
    /// The directory cannot be read or written now (503).
    Unavailable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PasswordUser(name) => {
                write!(f, "{} is a password user here", etoken::quoted(name))
            }
            Self::BoundElsewhere(name) => write!(
                f,
                "{} is bound to another account at the provider",
                etoken::quoted(name)
            ),
            Self::Unavailable(why) => write!(f, "the directory: {why}"),
        }
    }
}

/// The record `name` gets for this login, given the one it has: new, or
/// the same account (unbound, or bound to this issuer and subject)
/// updated; refused otherwise.
pub fn bind(
    existing: Option<&UserRecord>,
    issuer: &str,
    subject: &str,
    admitted: &Admitted,
    now: OffsetDateTime,
) -> Result<UserRecord, Refused> {
    let name = &admitted.name;
    let mut account = match existing {
        None => SsoAccount::bound(issuer, subject),
        Some(record) if !record.is_sso_only() => return Err(Refused::PasswordUser(name.clone())),
        Some(record) => {
            let account = record.sso.clone().unwrap_or_default();
            match (&account.issuer, &account.subject) {
                (None, None) => SsoAccount::bound(issuer, subject),
                (Some(i), Some(s)) if i == issuer && s == subject => account,
                _ => return Err(Refused::BoundElsewhere(name.clone())),
            }
        }
    };
    account.email = admitted.email.clone();
    account.groups = admitted.groups.clone();
    account.last_login = Some(now);
    Ok(UserRecord::single_sign_on(account))
}

/// The key of (issuer, subject) in [`SUBJECTS`].
pub fn subject_key(issuer: &str, subject: &str) -> String {
    format!("{issuer} {subject}")
}

/// Provisions `admitted` into `source`; this instance's snapshot knows
/// the user at once.
pub async fn provision(
    source: &Source,
    users: &LiveUsers,
    lock: &tokio::sync::Mutex<()>,
    issuer: &str,
    subject: &str,
    admitted: &Admitted,
) -> Result<(), Refused> {
    let name = admitted.name.clone();
    let now = OffsetDateTime::now_utc();
    let record = match source {
        Source::Redis { writer, .. } => in_redis(writer, issuer, subject, admitted, now).await?,
        Source::Files { users_file } => {
            let _one_writer = lock.lock().await;
            let (path, issuer, subject, admitted) = (
                users_file.clone(),
                issuer.to_owned(),
                subject.to_owned(),
                admitted.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let mut file = Users::load(&path).map_err(Refused::Unavailable)?;
                let record = bind(file.get(&admitted.name), &issuer, &subject, &admitted, now)?;
                file.insert(&admitted.name, record.clone())
                    .map_err(Refused::Unavailable)?;
                file.store(&path).map_err(Refused::Unavailable)?;
                Ok(record)
            })
            .await
            .map_err(|e| Refused::Unavailable(format!("provisioning task failed: {e}")))??
        }
    };
    let json = serde_json::to_vec(&record).map_err(|e| Refused::Unavailable(e.to_string()))?;
    if let Err(reason) = users.snapshot().update(USERS, &name, Some(&json)) {
        return Err(Refused::Unavailable(format!(
            "the record does not check out: {reason}"
        )));
    }
    Ok(())
}

async fn in_redis(
    writer: &Writer,
    issuer: &str,
    subject: &str,
    admitted: &Admitted,
    now: OffsetDateTime,
) -> Result<UserRecord, Refused> {
    let unavailable =
        |e: encapsulated_token::handler::DirectoryError| Refused::Unavailable(e.to_string());
    let name = &admitted.name;
    let existing = writer.get(USERS, name).await.map_err(unavailable)?;
    let existing: Option<UserRecord> = existing
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| {
            Refused::Unavailable(format!("the record of {}: {e}", etoken::quoted(name)))
        })?;
    let record = bind(existing.as_ref(), issuer, subject, admitted, now)?;
    let json = serde_json::to_vec(&record).map_err(|e| Refused::Unavailable(e.to_string()))?;
    if existing.is_none() {
        // Two first logins of one name at once: one binds it, the other
        // is refused as bound elsewhere when it tries again.
        if !writer
            .put_new(USERS, name, &json)
            .await
            .map_err(unavailable)?
        {
            return Err(Refused::Unavailable(format!(
                "{} was just created by another login",
                etoken::quoted(name)
            )));
        }
    } else {
        writer.put(USERS, name, &json).await.map_err(unavailable)?;
    }
    writer
        .put(SUBJECTS, &subject_key(issuer, subject), name.as_bytes())
        .await
        .map_err(unavailable)?;
    Ok(record)
}

/// The user bound to (issuer, subject), if any.
pub async fn find(source: &Source, issuer: &str, subject: &str) -> Result<Option<String>, String> {
    match source {
        Source::Redis { writer, .. } => {
            let name = writer
                .get(SUBJECTS, &subject_key(issuer, subject))
                .await
                .map_err(|e| e.to_string())?;
            Ok(name.and_then(|bytes| String::from_utf8(bytes).ok()))
        }
        Source::Files { users_file } => {
            let path = users_file.clone();
            let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
            tokio::task::spawn_blocking(move || {
                let file = Users::load(&path)?;
                Ok(file.records().find_map(|(name, record)| {
                    let account = record.sso.as_ref()?;
                    (account.issuer.as_deref() == Some(issuer.as_str())
                        && account.subject.as_deref() == Some(subject.as_str()))
                    .then(|| name.clone())
                }))
            })
            .await
            .map_err(|e| format!("lookup task failed: {e}"))?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(name: &str) -> Admitted {
        Admitted {
            name: name.into(),
            email: Some(name.into()),
            groups: vec!["staff".into()],
        }
    }

    #[test]
    fn a_name_binds_once_and_refuses_other_accounts_and_password_users() {
        let now = OffsetDateTime::now_utc();
        let ann = admitted("ann@company.com");
        let first = bind(None, "https://idp", "sub-1", &ann, now).unwrap();
        let account = first.sso.clone().unwrap();
        assert_eq!(
            (account.issuer.as_deref(), account.subject.as_deref()),
            (Some("https://idp"), Some("sub-1"))
        );
        assert_eq!(account.groups, ["staff"]);
        assert!(first.is_sso_only());

        let again = bind(Some(&first), "https://idp", "sub-1", &ann, now).unwrap();
        assert_eq!(again.sso.unwrap().subject.as_deref(), Some("sub-1"));
        assert_eq!(
            bind(Some(&first), "https://idp", "sub-2", &ann, now),
            Err(Refused::BoundElsewhere(ann.name.clone()))
        );
        assert_eq!(
            bind(Some(&first), "https://other-idp", "sub-1", &ann, now),
            Err(Refused::BoundElsewhere(ann.name.clone()))
        );
        let password_user = UserRecord::new("$argon2id$v=19$m=19456,t=2,p=1$x$y");
        assert_eq!(
            bind(Some(&password_user), "https://idp", "sub-1", &ann, now),
            Err(Refused::PasswordUser(ann.name.clone()))
        );
        let pre = UserRecord::single_sign_on(SsoAccount::unbound());
        let bound = bind(Some(&pre), "https://idp", "sub-9", &ann, now).unwrap();
        assert_eq!(bound.sso.unwrap().subject.as_deref(), Some("sub-9"));
    }
}
