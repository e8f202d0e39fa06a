//! `etoken user ...`: a users file's entries, passwords read from stdin or
//! a prompt.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::users::{MAX_PASSWORD_LEN, Users, check_name};

/// The users file a command works on.
#[derive(Args)]
pub struct UsersArg {
    /// The users file (JSON, mode 0600).
    #[arg(long, value_name = "FILE", env = "ETOKEN_USERS")]
    users: PathBuf,
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
        #[arg(long)]
        replace: bool,
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
    match command {
        UserCommand::Add {
            file,
            name,
            replace,
        } => add(&file.users, &name, replace),
        UserCommand::Passwd { file, name } => passwd(&file.users, &name),
        UserCommand::RevokeSessions { file, name } => revoke_sessions(&file.users, &name),
        UserCommand::Remove { file, name } => remove(&file.users, &name),
        UserCommand::List { file } => list(&file.users),
    }
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
