//! Key directories and users files are trusted for who owns them as well as
//! for their mode, both read from the file that was opened: a file owned by
//! another user (who could have planted a key or a user) is refused, by the
//! commands and by the server; symlinks, as Kubernetes mounts Secrets, still
//! work. Run as root (the tests chown files), and once as an unprivileged
//! user through `setpriv`, so "the process's user" is not only root.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::path::Path;
use std::process::{Command, Output};

use support::{etoken, etoken_ok, setup};

const NOBODY: u32 = 65534;

fn assert_root() {
    let uid = fs::metadata("/proc/self").map(|m| m.uid());
    assert_eq!(uid.ok(), Some(0), "this test chowns files: run it as root");
}

/// Asserts that `etoken ARGS` fails with exit code 1 and a message holding
/// every one of `needles`.
fn refused(cwd: &Path, args: &[&str], needles: &[&str]) {
    let out = etoken(cwd, args, "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "etoken {args:?}: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "etoken {args:?}: {err:?} lacks {needle:?}"
        );
    }
}

#[test]
fn a_key_directory_or_key_file_owned_by_another_user_is_refused() {
    assert_root();
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let keys = tmp.path().join("keys");
    let key_file = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "key"))
        .unwrap();
    for path in [&keys, &key_file] {
        chown(path, Some(NOBODY), None).unwrap();
        let relative = path.strip_prefix(tmp.path()).unwrap();
        let chown_hint = format!("chown 0 {}", relative.display());
        let needles = ["owned by uid 65534", chown_hint.as_str()];
        refused(tmp.path(), &["key", "list", "--dir", "keys"], &needles);
        refused(
            tmp.path(),
            &["mint", "--keys", "keys", "--user", "alice"],
            &needles,
        );
        refused(
            tmp.path(),
            &[
                "serve",
                "--keys",
                "keys",
                "--users",
                "users.json",
                "--listen",
                "127.0.0.1:0",
            ],
            &["cannot start", "owned by uid 65534"],
        );
        chown(path, Some(0), None).unwrap();
        etoken_ok(tmp.path(), &["key", "list", "--dir", "keys"], "");
    }
}

#[test]
fn a_users_file_owned_by_another_user_is_refused() {
    assert_root();
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let users = tmp.path().join("users.json");
    chown(&users, Some(NOBODY), None).unwrap();
    let needles = ["owned by uid 65534", "chown 0 users.json"];
    refused(
        tmp.path(),
        &["user", "list", "--users", "users.json"],
        &needles,
    );
    refused(
        tmp.path(),
        &["user", "add", "--users", "users.json", "bob"],
        &needles,
    );
    refused(
        tmp.path(),
        &[
            "serve",
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--listen",
            "127.0.0.1:0",
        ],
        &["cannot start", "owned by uid 65534"],
    );
    chown(&users, Some(0), None).unwrap();
    let listed = etoken_ok(tmp.path(), &["user", "list", "--users", "users.json"], "");
    assert_eq!(listed.trim(), "alice");
}

#[test]
fn a_symlinked_key_directory_and_users_file_still_load() {
    // As Kubernetes mounts a Secret: the files in a hidden timestamped
    // directory, `..data` pointing at it, each name pointing into `..data`.
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source");
    fs::create_dir(&source).unwrap();
    setup(&source, &["alice"]);
    let volume = tmp.path().join("volume");
    let data = volume.join("..2026_01_31_12_00_00.000000001");
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&volume, fs::Permissions::from_mode(0o700)).unwrap();
    symlink(data.file_name().unwrap(), volume.join("..data")).unwrap();
    for entry in fs::read_dir(source.join("keys")).unwrap() {
        let name = entry.unwrap().file_name();
        fs::copy(source.join("keys").join(&name), data.join(&name)).unwrap();
        symlink(Path::new("..data").join(&name), volume.join(&name)).unwrap();
    }
    fs::copy(source.join("users.json"), tmp.path().join("users.real")).unwrap();
    symlink("users.real", tmp.path().join("users.json")).unwrap();
    symlink("volume", tmp.path().join("keys")).unwrap();

    let listed = etoken_ok(tmp.path(), &["key", "list", "--dir", "keys"], "");
    let original = etoken_ok(&source, &["key", "list", "--dir", "keys"], "");
    assert_eq!(listed, original);
    let users = etoken_ok(tmp.path(), &["user", "list", "--users", "users.json"], "");
    assert_eq!(users.trim(), "alice");
}

/// `etoken ARGS` in `cwd` as uid and gid 65534, with no other groups.
fn etoken_as_nobody(cwd: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_etoken"))
        .args(args)
        .current_dir(cwd)
        .env_remove("ETOKEN_KEYS")
        .env_remove("ETOKEN_USERS")
        .output()
        .expect("setpriv runs (util-linux)")
}

#[test]
fn an_unprivileged_process_trusts_its_own_files_and_roots_not_others() {
    assert_root();
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    setup(tmp.path(), &["alice"]);
    let keys = tmp.path().join("keys");
    let users = tmp.path().join("users.json");
    for entry in fs::read_dir(&keys).unwrap() {
        chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    chown(&keys, Some(NOBODY), Some(NOBODY)).unwrap();
    chown(&users, Some(NOBODY), Some(NOBODY)).unwrap();
    let list = ["key", "list", "--dir", "keys"];
    let users_list = ["user", "list", "--users", "users.json"];

    let out = etoken_as_nobody(tmp.path(), &list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = etoken_as_nobody(tmp.path(), &users_list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice");

    // ring.json may be readable by others (it holds no secret): owned by
    // root, it is trusted; owned by a third user, it is not.
    let ring = keys.join("ring.json");
    fs::set_permissions(&ring, fs::Permissions::from_mode(0o644)).unwrap();
    chown(&ring, Some(0), Some(0)).unwrap();
    let out = etoken_as_nobody(tmp.path(), &list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    chown(&ring, Some(1000), Some(1000)).unwrap();
    let out = etoken_as_nobody(tmp.path(), &list);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("owned by uid 1000"), "{err}");
    assert!(err.contains("uid 65534"), "names the process's user: {err}");
    assert!(err.contains("chown 65534"), "{err}");
}
