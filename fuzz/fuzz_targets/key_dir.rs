//! Arbitrary bytes as the contents of a key file, and of `ring.json`.
//!
//! Checks, beyond "never panics":
//! - a key file that `Key::from_key_file` accepts describes a key this
//!   library could have written: `to_key_file` of it parses back to the same
//!   key, and writing that again gives the same bytes;
//! - `KeyRing::load` agrees with `from_key_file`: a directory holding the
//!   bytes as `<id>.key` (mode 0600) and a `ring.json` naming that id loads
//!   exactly when the file parses, and then to the one-key ring;
//! - with the bytes as `ring.json` beside a valid key file, the only ring
//!   load may return is that key's;
//! - any ring load accepts survives `store` into a fresh directory and
//!   `load` back, equal.
//!
//! Directories live under /dev/shm when it exists, so the fsyncs of `store`
//! cost nothing.
#![no_main]

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use encapsulated_token::{Key, KeyRing, RING_FILE};
use libfuzzer_sys::fuzz_target;

/// A fresh scratch directory for one run of the target, removed when
/// dropped, so no run sees another's files and none are left behind.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm
    } else {
        &std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("fuzz-key-dir-")
        .tempdir_in(parent)
        .expect("scratch directory")
}

/// A new empty directory `name` under `scratch`.
fn fresh(scratch: &Path, name: &str) -> PathBuf {
    let dir = scratch.join(name);
    fs::create_dir(&dir).expect("create directory");
    dir
}

fn write(path: &Path, contents: &[u8]) {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .expect("write file");
}

fn ring_json(key: &Key) -> String {
    format!(
        "{{\"format\":\"encapsulated-token-ring/1\",\"active\":\"{}\"}}\n",
        key.id()
    )
}

/// A ring that load accepted goes through store and load unchanged.
fn store_and_reload(scratch: &Path, name: &str, ring: &KeyRing) {
    let dir = fresh(scratch, name);
    ring.store(&dir).expect("store into an empty directory");
    let again = KeyRing::load(&dir).expect("load what store wrote");
    assert_eq!(&again, ring);
}

fuzz_target!(|data: &[u8]| {
    let scratch = scratch();
    let scratch = scratch.path();
    let parsed = Key::from_key_file(data);
    if let Ok(key) = &parsed {
        let text = key.to_key_file();
        let again = Key::from_key_file(text.as_bytes()).expect("own key file parses");
        assert_eq!(&again, key);
        assert_eq!(again.to_key_file(), text, "key file output is stable");
    }

    // The bytes as a key file in a directory.
    let fallback = fuzz_support::key(0);
    let named = parsed.as_ref().unwrap_or(&fallback);
    let dir = fresh(scratch, "key");
    write(&dir.join(format!("{}.key", named.id())), data);
    write(&dir.join(RING_FILE), ring_json(named).as_bytes());
    match (KeyRing::load(&dir), &parsed) {
        (Ok(ring), Ok(key)) => {
            assert_eq!(ring, KeyRing::new(key.clone()));
            store_and_reload(scratch, "key-stored", &ring);
        }
        (Err(_), Err(_)) => {}
        (loaded, parsed) => panic!("load gave {loaded:?} but from_key_file {parsed:?}"),
    }

    // The bytes as ring.json beside a valid key file.
    let key = fuzz_support::key(1);
    let dir = fresh(scratch, "ring");
    write(
        &dir.join(format!("{}.key", key.id())),
        key.to_key_file().as_bytes(),
    );
    write(&dir.join(RING_FILE), data);
    if let Ok(ring) = KeyRing::load(&dir) {
        assert_eq!(ring, KeyRing::new(key));
        store_and_reload(scratch, "ring-stored", &ring);
    }
});
