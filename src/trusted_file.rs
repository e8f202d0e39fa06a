//! Files trusted for who can change them: a key directory and its files, a
//! users file. Each is opened first and then checked on the open file
//! (`fstat`), never by its path before a separate open, so what is checked
//! is exactly what is read, whatever symlinks led there (Kubernetes mounts
//! Secrets through `..data` symlinks) and however the path changes
//! meanwhile.
//!
//! The rules: the owner is the user this process runs as, or root (anyone
//! else could have rewritten it); group and others may not write it; and
//! when it holds secrets, they may not read it either.

use std::fs::{File, Metadata};
use std::io::{self, ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::keys::KeyError;

/// What group and others may do with a trusted file or directory.
///
/// ```
/// use encapsulated_token::Access;
/// assert_ne!(Access::OwnerOnly, Access::OthersMayRead);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Nothing (mode `0600` for a file, `0700` for a directory, or less):
    /// for what holds secrets, such as a key file or a users file.
    OwnerOnly,
    /// Read, but not write: for what chooses which secrets are trusted
    /// without holding one (a key directory, its `ring.json`).
    OthersMayRead,
}

/// Opens the file at `path` (following symlinks), checks the opened file,
/// and reads it whole into memory that is zeroized when dropped. Refuses
/// ([`KeyError`], each naming the file and the fix) a file owned by anyone
/// but this process's user and root ([`KeyError::WrongOwner`]), one that
/// group or others may access beyond `access` ([`KeyError::Permissions`],
/// [`KeyError::WritableByOthers`]), a directory, and one longer than
/// `max_len` bytes ([`KeyError::Corrupt`]).
///
/// ```
/// use encapsulated_token::{Access, KeyError, read_trusted_file};
/// use std::os::unix::fs::PermissionsExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("users.json");
/// encapsulated_token::write_file_atomically(&path, b"{}").unwrap(); // mode 0600
/// assert_eq!(&*read_trusted_file(&path, Access::OwnerOnly, 4096).unwrap(), b"{}");
///
/// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
/// let err = read_trusted_file(&path, Access::OwnerOnly, 4096).unwrap_err();
/// assert!(matches!(err, KeyError::Permissions { .. }));
/// assert!(err.to_string().contains("chmod 600"));
/// assert!(read_trusted_file(&path, Access::OthersMayRead, 4096).is_ok());
/// assert!(read_trusted_file(&path, Access::OthersMayRead, 1).is_err()); // too long
/// ```
pub fn read_trusted_file(
    path: &Path,
    access: Access,
    max_len: u64,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (file, metadata) = open_checked(path, access)?;
    if metadata.is_dir() {
        return Err(io_error(path, ErrorKind::IsADirectory.into()));
    }
    read_bounded(path, file, metadata.len(), max_len)
}

/// Opens the directory at `path` (following symlinks) and checks it as
/// [`read_trusted_file`] checks a file. Refuses a missing directory
/// ([`KeyError::MissingDirectory`]) and a path that is not a directory.
/// The files in it are for the caller to check, one by one.
///
/// ```
/// use encapsulated_token::{Access, KeyError, open_trusted_dir};
/// use std::os::unix::fs::PermissionsExt;
/// let dir = tempfile::tempdir().unwrap();
/// let mode = |m| std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(m)).unwrap();
/// mode(0o700);
/// assert!(open_trusted_dir(dir.path(), Access::OwnerOnly).is_ok());
///
/// mode(0o755);
/// let err = open_trusted_dir(dir.path(), Access::OwnerOnly).unwrap_err();
/// assert!(err.to_string().contains("chmod 700"));
/// assert!(open_trusted_dir(dir.path(), Access::OthersMayRead).is_ok());
/// ```
pub fn open_trusted_dir(path: &Path, access: Access) -> Result<File, KeyError> {
    let (dir, metadata) = match open_checked(path, access) {
        Err(KeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Err(KeyError::MissingDirectory { path: path.into() });
        }
        other => other?,
    };
    if !metadata.is_dir() {
        return Err(io_error(path, ErrorKind::NotADirectory.into()));
    }
    Ok(dir)
}

/// Opens `path`, then checks the owner and the mode of what was opened.
fn open_checked(path: &Path, access: Access) -> Result<(File, Metadata), KeyError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let metadata = file.metadata().map_err(|e| io_error(path, e))?;
    let owner = metadata.uid();
    let expected = process_uid().map_err(|e| io_error(path, e))?;
    if owner != expected && owner != 0 {
        return Err(KeyError::WrongOwner {
            path: path.into(),
            owner,
            expected,
        });
    }
    let mode = metadata.mode();
    match access {
        Access::OwnerOnly if mode & 0o077 != 0 => Err(KeyError::Permissions {
            path: path.into(),
            mode,
        }),
        Access::OthersMayRead if mode & 0o022 != 0 => Err(KeyError::WritableByOthers {
            path: path.into(),
            mode,
        }),
        _ => Ok((file, metadata)),
    }
}

/// The user this process accesses files as, which is the owner the kernel
/// gives a new pipe: Linux gives a pipe the file-system uid (the effective
/// uid unless the process called `setfsuid`), the BSDs and macOS the
/// effective uid. The standard library has no `geteuid` (it would take
/// `unsafe` or a new dependency); `/proc/self/status` is Linux only and
/// absent from some sandboxes; a temporary file needs a writable directory,
/// which a container with a read-only root file system lacks. A pipe needs
/// no file system at all. Asked anew at every check, so a process that
/// drops privileges after start-up is judged as what it is now.
fn process_uid() -> io::Result<u32> {
    let (reader, _writer) = io::pipe()?;
    Ok(File::from(OwnedFd::from(reader)).metadata()?.uid())
}

/// Reads `file` to its end, at most `max_len` bytes, into memory that is
/// zeroized on drop. The buffer grows by hand, not by `Vec`'s reallocation,
/// so no copy of a secret is left behind in freed memory; `size_hint` (the
/// length `fstat` gave) makes one allocation enough unless the file grows.
fn read_bounded(
    path: &Path,
    mut file: File,
    size_hint: u64,
    max_len: u64,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    // One byte more than the bound tells a file that exceeds it.
    let limit = usize::try_from(max_len.saturating_add(1)).unwrap_or(usize::MAX);
    // The hint is believed up to the bound and 1 MiB; beyond, the buffer grows.
    let first = size_hint.min(max_len).min(1 << 20) as usize + 1;
    let mut buf = Zeroizing::new(vec![0u8; first]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len == limit {
                break;
            }
            let mut bigger = Zeroizing::new(vec![0u8; len.saturating_mul(2).max(64).min(limit)]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger; // the smaller one is zeroized as it drops
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
    if len as u64 > max_len {
        return Err(KeyError::Corrupt {
            path: path.into(),
            reason: format!("larger than {max_len} bytes"),
        });
    }
    buf.truncate(len);
    Ok(buf)
}

fn io_error(path: &Path, source: io::Error) -> KeyError {
    KeyError::Io {
        path: path.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Uid:" line of `/proc/self/status`: real, effective, saved and
    /// file-system uid.
    fn proc_uids() -> Vec<u32> {
        let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        let line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid:");
        line.split_whitespace()
            .skip(1)
            .map(|n| n.parse().expect("a number"))
            .collect()
    }

    #[test]
    fn the_process_uid_is_the_effective_and_file_system_uid() {
        let uids = proc_uids();
        assert_eq!(uids.len(), 4);
        let uid = process_uid().unwrap();
        assert_eq!(uid, uids[1], "effective uid");
        assert_eq!(uid, uids[3], "file-system uid");
        // And the owner of a file this process creates.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(uid, std::fs::metadata(&path).unwrap().uid());
    }

    #[test]
    fn reading_is_bounded_whatever_the_size_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let contents: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &contents).unwrap();
        for hint in [0, 1, 63, 64, 4999, 5000, 5001, u64::MAX] {
            let read = |max| read_bounded(&path, File::open(&path).unwrap(), hint, max);
            assert_eq!(&**read(5000).unwrap(), contents.as_slice(), "hint {hint}");
            assert_eq!(
                &**read(u64::MAX).unwrap(),
                contents.as_slice(),
                "hint {hint}"
            );
            let err = read(4999).unwrap_err();
            assert!(err.to_string().contains("larger than 4999 bytes"), "{err}");
        }
        assert!(read_bounded(&path, File::open("/dev/zero").unwrap(), 0, 100).is_err());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(
            read_bounded(&empty, File::open(&empty).unwrap(), 0, 0)
                .unwrap()
                .is_empty()
        );
    }
}
