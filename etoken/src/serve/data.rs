//! The embedded default: `etoken serve` with no flags keeps its key
//! directory, users file and services file in `./etoken-data/`, made on
//! first start with one key, an `admin` user whose random password is
//! printed once, and no technical account.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use encapsulated_token::{Key, KeyRing};

use crate::services::Services;
use crate::users::{Users, random_password};

/// Where the embedded default lives, relative to the working directory.
pub const DATA_DIR: &str = "etoken-data";
/// The user the embedded default creates.
pub const ADMIN: &str = "admin";

/// The key directory and users file of a data directory.
pub fn paths(data: &Path) -> (PathBuf, PathBuf) {
    (data.join("keys"), data.join("users.json"))
}

/// The services file of a data directory, made empty (mode 0600) when
/// missing: data directories made before service credentials existed
/// have none, and an empty one is what they mean.
pub fn ensure_services(data: &Path) -> Result<PathBuf, String> {
    let path = data.join("services.json");
    match fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Services::default().store(&path)?;
            Ok(path)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Makes `data` if it does not exist, and returns the admin password when
/// it did. Everything is built in a hidden sibling directory and renamed
/// into place, so an interrupted first start leaves no half-made data.
pub fn bootstrap(data: &Path) -> Result<Option<String>, String> {
    match fs::metadata(data) {
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", data.display())),
    }
    let nonce: u32 = rand::random();
    let temp = data.with_file_name(format!(
        ".{DATA_DIR}.{}-{nonce:08x}.tmp",
        std::process::id()
    ));
    let password = random_password();
    let result = build(&temp, &password)
        .and_then(|()| fs::rename(&temp, data).map_err(|e| format!("{}: {e}", data.display())));
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result.map(|()| Some(password))
}

fn build(temp: &Path, password: &str) -> Result<(), String> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(temp)
        .map_err(|e| format!("{}: {e}", temp.display()))?;
    let (keys, users_file) = paths(temp);
    let key = Key::generate().map_err(|e| e.to_string())?;
    KeyRing::new(key).store(&keys).map_err(|e| e.to_string())?;
    let mut users = Users::default();
    users.set_password(ADMIN, password)?;
    users.store(&users_file)?;
    ensure_services(temp).map(drop)
}
