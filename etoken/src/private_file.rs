//! Reading the files only their owner may read (the users and services
//! files): refused when missing (with how to create it), when group or
//! others can read or write it, when another user owns it, or when larger
//! than a bound.

use std::io::ErrorKind;
use std::path::Path;

use encapsulated_token::{Access, KeyError, read_trusted_file};
use zeroize::Zeroizing;

/// The bytes of `path`, a `kind` ("users file") file that `create`
/// (a command line) makes; at most `max_len` bytes. Mode and owner are
/// checked on the file as opened (symlinks followed), by the core's
/// [`read_trusted_file`].
pub fn read(
    path: &Path,
    kind: &str,
    create: &str,
    max_len: u64,
) -> Result<Zeroizing<Vec<u8>>, String> {
    read_trusted_file(path, Access::OwnerOnly, max_len).map_err(|e| match e {
        KeyError::Io { source, .. } if source.kind() == ErrorKind::NotFound => format!(
            "{kind} {} does not exist: create it with `{create}`",
            path.display()
        ),
        KeyError::Permissions { mode, .. } => format!(
            "{kind} {} is readable or writable by group or others (mode {:04o}): \
             run `chmod 600 {0}`",
            path.display(),
            mode & 0o7777
        ),
        KeyError::Corrupt { reason, .. } => corrupt(kind, path, &reason),
        other => format!("{kind} {other}"),
    })
}

/// The message for a file that read but does not check out.
pub fn corrupt(kind: &str, path: &Path, reason: &str) -> String {
    format!(
        "{kind} {} is corrupt ({reason}): restore it from a copy",
        path.display()
    )
}
