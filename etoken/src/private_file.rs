//! Reading the files only their owner may read (the users and services
//! files): refused when missing (with how to create it), when group or
//! others can read or write it, or when larger than a bound.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The bytes of `path`, a `kind` ("users file") file that `create`
/// (a command line) makes; at most `max_len` bytes.
pub fn read(path: &Path, kind: &str, create: &str, max_len: u64) -> Result<Vec<u8>, String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!(
                "{kind} {} does not exist: create it with `{create}`",
                path.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{kind} {} is readable or writable by group or others (mode {:04o}): \
             run `chmod 600 {0}`",
            path.display(),
            mode & 0o7777
        ));
    }
    let mut text = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max_len + 1).read_to_end(&mut text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > max_len {
        return Err(corrupt(kind, path, &format!("larger than {max_len} bytes")));
    }
    Ok(text)
}

/// The message for a file that read but does not check out.
pub fn corrupt(kind: &str, path: &Path, reason: &str) -> String {
    format!(
        "{kind} {} is corrupt ({reason}): restore it from a copy",
        path.display()
    )
}
