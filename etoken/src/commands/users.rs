//! `etoken user ...`: a users file's entries, passwords read from stdin or
//! a prompt.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use encapsulated_token::directory::{SsoAccount, USERS, UserRecord, Writer};

use crate::users::{MAX_PASSWORD_LEN, Users, check_name, hash_password, revocation_instant};

/// The users file, or the farm-wide directory, a command works on.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct UsersArg {
    /// The users file (JSON, mode 0600).
    #[arg(long, value_name = "FILE", env = "ETOKEN_USERS")]
    users: Option<PathBuf>,
    /// The farm-wide directory instead: redis://HOST:PORT/DB. Every
    /// instance following it sees the change within a second.
    #[arg(long, value_name = "URL", env = "ETOKEN_DIRECTORY")]
    directory: Option<String>,
}

/// `etoken user ...`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin (first line) when it is
    /// not a terminal, else prompted for twice. With --replace, an existing
    /// user's password changes and their older sessions end.
    Add {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
        /// Replace the password of an existing user instead of refusing.
        #[arg(long, conflicts_with = "sso")]
        replace: bool,
        /// A user who signs in at the OpenID provider only (no password,
        /// nothing read from stdin): pre-provisioned so that every instance
        /// of a file-based farm knows the name before the first login,
        /// which binds it to the provider's account.
        #[arg(long)]
        sso: bool,
    },
    /// Change a user's password (read as for `add`); ends the sessions
    /// begun before it on every instance that reloads the file.
    Passwd {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
    },
    /// Logout everywhere: end NAME's sessions begun until now, on every
    /// instance that reloads the file; a new login works at once.
    RevokeSessions {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
    },
    /// Remove a user.
    Remove {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
    },
    /// List the users, one a line.
    List {
        #[command(flatten)]
        file: UsersArg,
    },
}

/// Runs one `etoken user` command.
pub fn run(command: UserCommand) -> Result<(), String> {
    let file = match &command {
        UserCommand::Add { file, .. }
        | UserCommand::Passwd { file, .. }
        | UserCommand::RevokeSessions { file, .. }
        | UserCommand::Remove { file, .. }
        | UserCommand::List { file } => file,
    };
    if let Some(url) = file.directory.clone() {
        return super::directory::block_on(in_redis(&url, command));
    }
    let Some(path) = file.users.clone() else {
        return Err("pass --users FILE or --directory URL".into());
    };
    match command {
        UserCommand::Add {
            file: _,
            name,
            sso: true,
            ..
        } => add_sso(&path, &name),
        UserCommand::Add {
            file: _,
            name,
            replace,
            sso: false,
        } => add(&path, &name, replace),
        UserCommand::Passwd { name, .. } => passwd(&path, &name),
        UserCommand::RevokeSessions { name, .. } => revoke_sessions(&path, &name),
        UserCommand::Remove { name, .. } => remove(&path, &name),
        UserCommand::List { .. } => list(&path),
    }
}

/// The same commands on the directory in Redis: each write is announced,
/// so every instance following it applies it at once.
async fn in_redis(url: &str, command: UserCommand) -> Result<(), String> {
    let writer = super::directory::writer(url).await?;
    let exists = |name: String| {
        let writer = writer.clone();
        async move {
            check_name(&name).map_err(|e| format!("{name:?}: {e}"))?;
            let record = writer.get(USERS, &name).await.map_err(|e| e.to_string())?;
            Ok::<bool, String>(record.is_some())
        }
    };
    let missing = |name: &str| {
        format!("no user {name:?} in {url}: `etoken user list --directory {url}` shows them")
    };
    match command {
        UserCommand::Add {
            name, sso: true, ..
        } => {
            check_name(&name).map_err(|e| format!("{name:?}: {e}"))?;
            let record = serde_json::to_vec(&sso_record()).map_err(|e| e.to_string())?;
            if !writer
                .put_new(USERS, &name, &record)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("user {name:?} already exists in {url}"));
            }
            println!("added single sign-on user {name} to {url}");
        }
        UserCommand::Add { name, replace, .. } => {
            let existed = exists(name.clone()).await?;
            if existed && !replace {
                return Err(format!(
                    "user {name:?} already exists in {url}: pass --replace to set a new password"
                ));
            }
            let record = record(&read_password(&name)?)?;
            if existed {
                set_password(&writer, &name, &record).await?;
                println!(
                    "changed the password of {name} in {url}; sessions begun before now are over"
                );
            } else if writer
                .put_new(USERS, &name, &record)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("added user {name} to {url}");
            } else {
                return Err(format!(
                    "user {name:?} was just added to {url} by someone else"
                ));
            }
        }
        UserCommand::Passwd { name, .. } => {
            if !exists(name.clone()).await? {
                return Err(missing(&name));
            }
            let record = record(&read_password(&name)?)?;
            set_password(&writer, &name, &record).await?;
            println!("changed the password of {name} in {url}; sessions begun before now are over");
        }
        UserCommand::RevokeSessions { name, .. } => {
            if !exists(name.clone()).await? {
                return Err(missing(&name));
            }
            writer
                .revoke_sessions(&name, revocation_instant())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "ended the sessions of {name} begun before now, on every instance following {url}"
            );
        }
        UserCommand::Remove { name, .. } => {
            // The revocation stays: a user made again under this name
            // does not inherit sessions of the old one.
            if !writer
                .delete(USERS, &name)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(missing(&name));
            }
            println!("removed user {name} from {url}");
        }
        UserCommand::List { .. } => {
            let mut names: Vec<String> = writer
                .all(USERS)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            names.sort();
            for name in names {
                println!("{name}");
            }
        }
    }
    Ok(())
}

/// The stored record of a new password.
fn record(password: &str) -> Result<Vec<u8>, String> {
    let record = UserRecord::new(hash_password(password)?);
    serde_json::to_vec(&record).map_err(|e| e.to_string())
}

/// A password change ends the sessions begun before it, as in the file.
async fn set_password(writer: &Writer, name: &str, record: &[u8]) -> Result<(), String> {
    writer
        .put(USERS, name, record)
        .await
        .map_err(|e| e.to_string())?;
    writer
        .revoke_sessions(name, revocation_instant())
        .await
        .map_err(|e| e.to_string())
}

/// The password for `user add` and `user passwd`: stdin's first line when stdin is not a
/// terminal, else prompted for twice.
fn read_password(name: &str) -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(MAX_PASSWORD_LEN as u64 + 2)
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        return Ok(line.to_owned());
    }
    let first = rpassword::prompt_password(format!("password for {name}: "))
        .map_err(|e| format!("reading the password: {e}"))?;
    let second =
        rpassword::prompt_password("again: ").map_err(|e| format!("reading the password: {e}"))?;
    if first != second {
        return Err("the passwords differ; nothing changed".into());
    }
    Ok(first)
}

/// `user add`: creates the file if it does not exist.
fn add(path: &Path, name: &str, replace: bool) -> Result<(), String> {
    check_name(name).map_err(|e| format!("{name:?}: {e}"))?;
    let mut users = if path.exists() {
        Users::load(path)?
    } else {
        Users::default()
    };
    if users.contains(name) && !replace {
        return Err(format!(
            "user {name:?} already exists in {}: pass --replace to set a new password",
            path.display()
        ));
    }
    let password = read_password(name)?;
    let existed = users.contains(name);
    users.set_password(name, &password)?;
    users.store(path)?;
    if existed {
        println!(
            "changed the password of {name} in {}; sessions begun before now are over",
            path.display()
        );
    } else {
        println!("added user {name} to {}", path.display());
    }
    Ok(())
}

/// A user pre-provisioned for single sign-on: no password, no binding yet.
fn sso_record() -> UserRecord {
    UserRecord::single_sign_on(SsoAccount::unbound())
}

/// `user add --sso`: creates the file if it does not exist.
fn add_sso(path: &Path, name: &str) -> Result<(), String> {
    check_name(name).map_err(|e| format!("{name:?}: {e}"))?;
    let mut users = if path.exists() {
        Users::load(path)?
    } else {
        Users::default()
    };
    if users.contains(name) {
        return Err(format!(
            "user {name:?} already exists in {}",
            path.display()
        ));
    }
    users.insert(name, sso_record())?;
    users.store(path)?;
    println!(
        "added single sign-on user {name} to {}; copy the file to every instance",
        path.display()
    );
    Ok(())
}

/// `user passwd`.
fn passwd(path: &Path, name: &str) -> Result<(), String> {
    let mut users = Users::load(path)?;
    if !users.contains(name) {
        return Err(no_such_user(path, name));
    }
    let password = read_password(name)?;
    users.set_password(name, &password)?;
    users.store(path)?;
    println!(
        "changed the password of {name} in {}; sessions begun before now are over",
        path.display()
    );
    Ok(())
}

/// `user revoke-sessions`.
fn revoke_sessions(path: &Path, name: &str) -> Result<(), String> {
    let mut users = Users::load(path)?;
    if !users.revoke_sessions(name) {
        return Err(no_such_user(path, name));
    }
    users.store(path)?;
    println!(
        "ended the sessions of {name} begun before now in {}; copy the file to every \
         instance (each reloads it within its --reload-interval)",
        path.display()
    );
    Ok(())
}

fn no_such_user(path: &Path, name: &str) -> String {
    format!(
        "no user {name:?} in {}: `etoken user list --users {0}` shows them",
        path.display()
    )
}

/// `user remove`.
fn remove(path: &Path, name: &str) -> Result<(), String> {
    let mut users = Users::load(path)?;
    if !users.remove(name) {
        return Err(no_such_user(path, name));
    }
    users.store(path)?;
    println!("removed user {name} from {}", path.display());
    Ok(())
}

/// `user list`.
fn list(path: &Path) -> Result<(), String> {
    for name in Users::load(path)?.names() {
        println!("{name}");
    }
    Ok(())
}
