//! The key directory on a real file system: round trips, permissions,
//! atomic writes, and every way a directory can be refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use encapsulated_token::{Key, KeyError, KeyRing, RING_FILE};

fn ring_of(n: usize) -> KeyRing {
    let mut ring = KeyRing::new(Key::generate().unwrap());
    for _ in 1..n {
        ring.insert(Key::generate().unwrap()).unwrap();
    }
    ring
}

fn stored(n: usize) -> (tempfile::TempDir, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_of(n);
    ring.store(dir.path()).unwrap();
    (dir, ring)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_path(dir: &Path, key: &Key) -> std::path::PathBuf {
    dir.join(format!("{}.key", key.id()))
}

#[test]
fn store_then_load_gives_the_same_ring_with_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("nested/keys");
    let ring = ring_of(3);
    ring.store(&keys).unwrap();

    assert_eq!(KeyRing::load(&keys).unwrap(), ring);
    assert_eq!(mode(&keys), 0o700);
    for key in ring.keys() {
        assert_eq!(mode(&key_path(&keys, key)), 0o600);
    }
    assert_eq!(mode(&keys.join(RING_FILE)), 0o600);
    // Nothing but the ring's files: no temporary file is left behind.
    let mut names: Vec<_> = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<_> = ring.keys().map(|k| format!("{}.key", k.id())).collect();
    expected.push(RING_FILE.into());
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn copied_directory_verifies_tokens_of_the_original() {
    use encapsulated_token::{Claims, Issuer, Verifier};
    let (a, ring) = stored(1);
    let b = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(a.path()).unwrap() {
        let path = entry.unwrap().path();
        let target = b.path().join(path.file_name().unwrap());
        fs::copy(&path, &target).unwrap();
    }
    let copy = KeyRing::load(b.path()).unwrap();
    assert_eq!(copy.active().fingerprint(), ring.active().fingerprint());
    let token = Issuer::new(ring)
        .mint(&Claims::new("alice", std::time::Duration::from_secs(60)))
        .unwrap();
    assert_eq!(
        Verifier::new(copy).verify(&token).unwrap().subject(),
        "alice"
    );
}

#[test]
fn rotation_is_stored_and_retired_keys_are_removed() {
    let (dir, mut ring) = stored(1);
    let old = ring.active().id();
    let new = Key::generate().unwrap();
    let new_id = new.id();
    ring.insert(new).unwrap();
    ring.store(dir.path()).unwrap();
    assert_eq!(KeyRing::load(dir.path()).unwrap().active().id(), old);

    ring.promote(new_id).unwrap();
    ring.store(dir.path()).unwrap();
    let loaded = KeyRing::load(dir.path()).unwrap();
    assert_eq!(loaded.active().id(), new_id);
    assert!(loaded.get(old).is_some());

    ring.retire(old).unwrap();
    ring.store(dir.path()).unwrap();
    assert!(!dir.path().join(format!("{old}.key")).exists());
    assert_eq!(KeyRing::load(dir.path()).unwrap(), ring);
}

#[test]
fn hidden_temporary_files_are_ignored() {
    let (dir, ring) = stored(1);
    fs::write(dir.path().join(".ring.json.123-abc.tmp"), b"half a fi").unwrap();
    assert_eq!(KeyRing::load(dir.path()).unwrap(), ring);
}

#[test]
fn missing_directory_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = KeyRing::load(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, KeyError::MissingDirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("etoken key init"));
}

#[test]
fn a_file_where_the_directory_should_be_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    fs::write(&file, b"").unwrap();
    let err = KeyRing::load(&file).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("keys"));
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let (dir, ring) = stored(1);
    let path = key_path(dir.path(), ring.active());
    for bad in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad)).unwrap();
        let err = KeyRing::load(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Permissions { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("chmod 600"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}

#[test]
fn directory_or_ring_file_writable_by_others_is_refused() {
    let (dir, ring) = stored(2);
    let ring_file = dir.path().join(RING_FILE);
    for (path, good, bad) in [
        (
            dir.path().to_path_buf(),
            0o700,
            [0o720, 0o702, 0o777, 0o730],
        ),
        (ring_file.clone(), 0o600, [0o620, 0o602, 0o666, 0o622]),
    ] {
        for mode in bad {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = KeyRing::load(dir.path()).unwrap_err();
            assert!(matches!(err, KeyError::WritableByOthers { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains("chmod go-w"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(good)).unwrap();
    }
    // Readable is not writable: a ring.json others can read (it names the
    // active key, no secret) and a directory others can list still load.
    fs::set_permissions(&ring_file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(KeyRing::load(dir.path()).unwrap(), ring);
}

#[test]
fn corrupt_key_files_are_refused_naming_the_file() {
    let (dir, ring) = stored(1);
    let path = key_path(dir.path(), ring.active());
    let good = fs::read_to_string(&path).unwrap();
    let secret_field = good.split("\"secret\":\"").nth(1).unwrap();
    let secret = &secret_field[..43];
    let cases = [
        String::new(),
        "{".into(),
        good[..good.len() / 2].to_string(),
        good.replace(secret, &secret[..42]),
        good.replace(secret, &format!("{}=", &secret[..42])),
        good.replace("encapsulated-token-key/1", "encapsulated-token-key/2"),
        good.replace("}", ",\"extra\":1}"),
        good.replace("Z\"", "+01:00\""),
        "x".repeat(5000),
    ];
    for bad in cases {
        fs::write(&path, &bad).unwrap();
        let err = KeyRing::load(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Corrupt { .. }), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}

#[test]
fn key_file_under_another_name_is_refused() {
    let (dir, ring) = stored(1);
    let path = key_path(dir.path(), ring.active());
    fs::rename(&path, dir.path().join("00000000.key")).unwrap();
    let err = KeyRing::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Corrupt { .. }), "{err:?}");
}

#[test]
fn two_files_with_one_key_are_refused_whichever_sorts_first() {
    let key = |id: [u8; 4]| {
        Key::from_secret(
            encapsulated_token::KeyId::from_bytes(id),
            [id[3]; 32],
            time::OffsetDateTime::UNIX_EPOCH,
        )
    };
    let (low, high) = (key([0, 0, 0, 1]), key([0, 0, 0, 2]));
    // A copy of `low` under `high`'s name, then of `high` under `low`'s.
    for (copied, overwritten) in [(&low, &high), (&high, &low)] {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::new(low.clone());
        ring.insert(high.clone()).unwrap();
        ring.store(dir.path()).unwrap();
        fs::copy(
            key_path(dir.path(), copied),
            key_path(dir.path(), overwritten),
        )
        .unwrap();
        let err = KeyRing::load(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::DuplicateKeyId { .. }), "{err:?}");
        assert!(err.to_string().contains("remove one copy"));
    }

    // In memory, a ring refuses a second key with one id too.
    let mut ring = KeyRing::new(low.clone());
    let err = ring.insert(low).unwrap_err();
    assert!(matches!(err, KeyError::DuplicateKeyId { .. }), "{err:?}");
}

#[test]
fn stray_file_is_refused() {
    let (dir, _) = stored(1);
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let err = KeyRing::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::UnexpectedFile { .. }), "{err:?}");
}

#[test]
fn empty_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = KeyRing::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::EmptyRing { .. }), "{err:?}");
    assert!(err.to_string().contains("holds no key"));
}

#[test]
fn ring_file_missing_or_naming_an_absent_key_is_refused() {
    let (dir, _) = stored(1);
    let ring_path = dir.path().join(RING_FILE);
    fs::write(
        &ring_path,
        r#"{"format":"encapsulated-token-ring/1","active":"00000000"}"#,
    )
    .unwrap();
    let err = KeyRing::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("00000000"));

    fs::remove_file(&ring_path).unwrap();
    let err = KeyRing::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("missing"));
}

#[test]
fn ring_operations_refuse_unknown_and_active_keys() {
    let mut ring = ring_of(1);
    let stranger = Key::generate().unwrap().id();
    assert!(matches!(
        ring.promote(stranger),
        Err(KeyError::UnknownKeyId { .. })
    ));
    assert!(matches!(
        ring.retire(stranger),
        Err(KeyError::UnknownKeyId { .. })
    ));
    let active = ring.active().id();
    let err = ring.retire(active).unwrap_err();
    assert!(matches!(err, KeyError::RetireActive { .. }));
}

#[test]
fn debug_output_never_shows_the_secret() {
    let (dir, ring) = stored(1);
    let file = fs::read_to_string(key_path(dir.path(), ring.active())).unwrap();
    let secret = file.split("\"secret\":\"").nth(1).unwrap()[..43].to_string();
    for shown in [format!("{ring:?}"), format!("{:?}", ring.active())] {
        assert!(!shown.contains(&secret));
        assert!(shown.contains("redacted"));
    }
}

#[test]
fn unchanged_files_are_not_rewritten() {
    let (dir, ring) = stored(2);
    let path = key_path(dir.path(), ring.active());
    let before = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    ring.store(dir.path()).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
}

/// The owner tests chown files to other users, which only root may do.
fn assert_root() {
    let uid = fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    assert_eq!(uid.ok(), Some(0), "this test chowns files: run it as root");
}

const NOBODY: u32 = 65534;

#[test]
fn a_directory_or_file_owned_by_another_user_is_refused() {
    use std::os::unix::fs::chown;
    assert_root();
    let (dir, ring) = stored(2);
    let key_file = key_path(dir.path(), ring.active());
    for path in [
        dir.path().to_path_buf(),
        key_file,
        dir.path().join(RING_FILE),
    ] {
        chown(&path, Some(NOBODY), None).unwrap();
        let err = KeyRing::load(dir.path()).expect_err("owned by uid 65534");
        assert!(
            matches!(
                err,
                KeyError::WrongOwner {
                    owner: NOBODY,
                    expected: 0,
                    ..
                }
            ),
            "{}: {err:?}",
            path.display()
        );
        let text = err.to_string();
        assert!(text.contains("uid 65534"), "{text}");
        assert!(
            text.contains(&format!("chown 0 {}", path.display())),
            "{text}"
        );
        chown(&path, Some(0), None).unwrap();
        assert_eq!(KeyRing::load(dir.path()).unwrap(), ring);
    }
}

#[test]
fn symlinks_are_followed_and_the_file_they_reach_is_checked() {
    use std::os::unix::fs::{chown, lchown, symlink};
    assert_root();
    // A Kubernetes Secret volume: the files live in a hidden timestamped
    // directory, `..data` points at it, and each name points into `..data`.
    let (source, ring) = stored(2);
    let volume = tempfile::tempdir().unwrap();
    let data = volume.path().join("..2026_01_31_12_00_00.000000001");
    fs::create_dir(&data).unwrap();
    symlink(data.file_name().unwrap(), volume.path().join("..data")).unwrap();
    for entry in fs::read_dir(source.path()).unwrap() {
        let name = entry.unwrap().file_name();
        fs::copy(source.path().join(&name), data.join(&name)).unwrap();
        symlink(Path::new("..data").join(&name), volume.path().join(&name)).unwrap();
    }
    assert_eq!(KeyRing::load(volume.path()).unwrap(), ring);
    // The whole directory through a symlink, too.
    let linked = tempfile::tempdir().unwrap();
    symlink(volume.path(), linked.path().join("keys")).unwrap();
    assert_eq!(KeyRing::load(&linked.path().join("keys")).unwrap(), ring);

    // Who owns a symlink does not matter; who owns what it reaches does.
    let key_link = key_path(volume.path(), ring.active());
    lchown(&key_link, Some(NOBODY), None).unwrap();
    assert_eq!(KeyRing::load(volume.path()).unwrap(), ring);
    let target = key_path(&data, ring.active());
    chown(&target, Some(NOBODY), None).unwrap();
    let err = KeyRing::load(volume.path()).unwrap_err();
    assert!(
        matches!(err, KeyError::WrongOwner { owner: NOBODY, .. }),
        "{err:?}"
    );
    chown(&target, Some(0), None).unwrap();
    // A symlinked directory: its target's mode counts, not the link's.
    fs::set_permissions(volume.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = KeyRing::load(&linked.path().join("keys")).unwrap_err();
    assert!(matches!(err, KeyError::WritableByOthers { .. }), "{err:?}");
}
