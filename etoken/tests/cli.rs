//! The `etoken` command line, run as a process on real files: every
//! subcommand, and bad input that must get a clear message, a non-zero exit
//! and leave nothing half-written.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// Runs `etoken ARGS` in the test's working directory with `stdin` piped in.
fn etoken(args: &[&str], stdin: &str) -> Output {
    support::etoken(Path::new("."), args, stdin)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
fn ok(args: &[&str]) -> String {
    ok_with(args, "")
}

fn ok_with(args: &[&str], stdin: &str) -> String {
    let out = etoken(args, stdin);
    assert!(
        out.status.success(),
        "etoken {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Asserts a failure with exit code `code` whose stderr holds `needle`.
fn fails(args: &[&str], stdin: &str, code: i32, needle: &str) -> String {
    let out = etoken(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "etoken {args:?}: stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(needle),
        "etoken {args:?}: {err:?} lacks {needle:?}"
    );
    assert!(
        stdout(&out).is_empty(),
        "a failure prints nothing on stdout"
    );
    err
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The names in a directory, sorted (temporary files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("directory reads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("exists").permissions().mode() & 0o777
}

fn keys_json(dir: &Path) -> Vec<Value> {
    let text = ok(&["key", "list", "--dir", s(dir), "--json"]);
    match serde_json::from_str(&text).expect("key list --json is JSON") {
        Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}

fn active_id(dir: &Path) -> String {
    let rows = keys_json(dir);
    let active: Vec<&Value> = rows.iter().filter(|r| r["state"] == "active").collect();
    assert_eq!(active.len(), 1, "exactly one active key: {rows:?}");
    active[0]["id"].as_str().expect("id").to_owned()
}

#[test]
fn key_init_creates_a_private_directory_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let out = ok(&["key", "init", "--dir", s(&dir)]);
    assert!(out.contains("active key"), "{out}");
    assert_eq!(mode(&dir), 0o700);
    let files = names(&dir);
    assert_eq!(files.len(), 2, "one key file and ring.json: {files:?}");
    for name in &files {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let id = active_id(&dir);
    assert!(files.contains(&format!("{id}.key")));
    // Nothing but the key directory in its parent: no temporary left.
    assert_eq!(names(tmp.path()), vec!["keys".to_owned()]);

    let before = fs::read(dir.join(format!("{id}.key"))).unwrap();
    fails(&["key", "init", "--dir", s(&dir)], "", 1, "not empty");
    assert_eq!(fs::read(dir.join(format!("{id}.key"))).unwrap(), before);
    assert_eq!(names(&dir), files);
}

#[test]
fn key_init_creates_parents_and_fails_cleanly_under_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no/such/parent/keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    assert_eq!(keys_json(&dir).len(), 1);
    assert_eq!(names(dir.parent().unwrap()), vec!["keys".to_owned()]);

    let file = tmp.path().join("plain-file");
    fs::write(&file, "not a directory").unwrap();
    let inside = file.join("keys");
    let err = fails(&["key", "init", "--dir", s(&inside)], "", 1, "etoken: ");
    assert!(err.lines().count() == 1, "one line: {err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");
    assert_eq!(
        names(tmp.path()),
        vec!["no".to_owned(), "plain-file".to_owned()]
    );
}

#[test]
fn two_phase_rotation_add_promote_retire() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let old = active_id(&dir);
    let old_token = ok(&["mint", "--keys", s(&dir), "--user", "alice"]);

    // Phase 1: the new key verifies but does not mint.
    let out = ok(&["key", "add", "--dir", s(&dir)]);
    let rows = keys_json(&dir);
    assert_eq!(rows.len(), 2);
    let new = rows
        .iter()
        .find(|r| r["id"] != old.as_str())
        .expect("a new key")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(out.contains(&new) && out.contains("verify-only"), "{out}");
    assert_eq!(active_id(&dir), old);

    // Phase 2: the new key mints; tokens of the old one still verify.
    let out = ok(&["key", "promote", "--dir", s(&dir), &new]);
    assert!(out.contains(&new), "{out}");
    assert_eq!(active_id(&dir), new);
    let new_token = ok(&["mint", "--keys", s(&dir), "--user", "bob"]);
    let claims: Value =
        serde_json::from_str(&ok(&["verify", "--keys", s(&dir), new_token.trim()])).unwrap();
    assert_eq!(claims["key_id"], new.as_str());
    ok(&["verify", "--keys", s(&dir), old_token.trim()]);

    // The active key cannot be retired; the old one can, and its tokens die.
    fails(
        &["key", "retire", "--dir", s(&dir), &new],
        "",
        1,
        "promote another key first",
    );
    ok(&["key", "retire", "--dir", s(&dir), &old]);
    assert_eq!(keys_json(&dir).len(), 1);
    assert!(!dir.join(format!("{old}.key")).exists());
    fails(
        &["verify", "--keys", s(&dir), old_token.trim()],
        "",
        1,
        "unknown_key_id",
    );
    assert_eq!(
        names(&dir).len(),
        2,
        "no temporary files: {:?}",
        names(&dir)
    );
}

#[test]
fn key_commands_refuse_bad_key_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let before = names(&dir);
    fails(
        &["key", "promote", "--dir", s(&dir), "XYZ"],
        "",
        1,
        "is not a key id",
    );
    fails(
        &["key", "promote", "--dir", s(&dir), "0badc0de"],
        "",
        1,
        "no key with id 0badc0de",
    );
    fails(
        &["key", "retire", "--dir", s(&dir), "0badc0de"],
        "",
        1,
        "no key with id 0badc0de",
    );
    fails(
        &["key", "fingerprint", "--dir", s(&dir), "0badc0de"],
        "",
        1,
        "no key with id 0badc0de",
    );
    assert_eq!(names(&dir), before);
}

#[test]
fn fingerprints_agree_on_a_copy_and_change_with_the_ring() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o700)).unwrap();
    for name in names(&dir) {
        fs::copy(dir.join(&name), copy.join(&name)).unwrap();
    }
    let ring = ok(&["key", "fingerprint", "--dir", s(&dir)]);
    assert_eq!(ring.trim().len(), 19, "xxxx:xxxx:xxxx:xxxx: {ring}");
    assert_eq!(ok(&["key", "fingerprint", "--dir", s(&copy)]), ring);

    let id = active_id(&dir);
    let key = ok(&["key", "fingerprint", "--dir", s(&dir), &id]);
    assert_eq!(
        key.trim(),
        keys_json(&dir)[0]["fingerprint"].as_str().unwrap()
    );

    // Another key, or only another active key, is another ring.
    ok(&["key", "add", "--dir", s(&dir)]);
    let added = ok(&["key", "fingerprint", "--dir", s(&dir)]);
    assert_ne!(added, ring);
    let new = keys_json(&dir)
        .into_iter()
        .find(|r| r["state"] == "verify-only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&["key", "promote", "--dir", s(&dir), &new]);
    assert_ne!(ok(&["key", "fingerprint", "--dir", s(&dir)]), added);
}

#[test]
fn key_list_shows_id_fingerprint_state_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let table = ok(&["key", "list", "--dir", s(&dir)]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].contains("FINGERPRINT") && lines[0].contains("CREATED"));
    let row = &keys_json(&dir)[0];
    for field in ["id", "fingerprint", "state", "created"] {
        assert!(
            lines[1].contains(row[field].as_str().unwrap()),
            "{field}: {table}"
        );
    }
}

#[test]
fn mint_then_verify_prints_the_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let token = ok(&[
        "mint",
        "--keys",
        s(&dir),
        "--user",
        "alice",
        "--ttl",
        "24h",
        "--aud",
        "publish",
        "--attr",
        "role=editor",
        "--attr",
        "tenant=acme=1",
    ]);
    let token = token.trim();
    assert!(token.starts_with("et2."), "{token}");

    let claims: Value = serde_json::from_str(&ok(&[
        "verify",
        "--keys",
        s(&dir),
        "--aud",
        "publish",
        token,
    ]))
    .unwrap();
    assert_eq!(claims["verified"], true);
    assert_eq!(claims["subject"], "alice");
    assert_eq!(claims["audience"], "publish");
    assert_eq!(claims["attributes"]["role"], "editor");
    assert_eq!(claims["attributes"]["tenant"], "acme=1");
    let lifetime = claims["expires_at"].as_i64().unwrap() - claims["issued_at"].as_i64().unwrap();
    assert_eq!(lifetime, 24 * 3600);
    assert_eq!(claims["key_id"], active_id(&dir).as_str());

    // The token from stdin, with the newline `mint` printed.
    let piped = ok_with(
        &["verify", "--keys", s(&dir), "--aud", "publish", "-"],
        &format!("{token}\n"),
    );
    assert_eq!(serde_json::from_str::<Value>(&piped).unwrap(), claims);
}

#[test]
fn verify_refuses_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let other = tmp.path().join("other");
    ok(&["key", "init", "--dir", s(&dir)]);
    ok(&["key", "init", "--dir", s(&other)]);
    let token = ok(&[
        "mint",
        "--keys",
        s(&dir),
        "--user",
        "alice",
        "--aud",
        "publish",
    ]);
    let token = token.trim();

    fails(
        &["verify", "--keys", s(&dir), token],
        "",
        1,
        "wrong_audience",
    );
    fails(
        &["verify", "--keys", s(&dir), "--aud", "author", token],
        "",
        1,
        "wrong_audience",
    );
    fails(
        &["verify", "--keys", s(&other), "--aud", "publish", token],
        "",
        1,
        "unknown_key_id",
    );

    // One character changed in the tag.
    let mut altered = token.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'Q' } else { 'A' });
    let err = fails(
        &["verify", "--keys", s(&dir), "--aud", "publish", &altered],
        "",
        1,
        "refused",
    );
    assert!(
        err.contains("bad_tag") || err.contains("malformed"),
        "{err}"
    );

    fails(&["verify", "--keys", s(&dir), "hello"], "", 1, "malformed");
    fails(&["verify", "--keys", s(&dir), ""], "", 1, "refused");
}

#[test]
fn inspect_decodes_without_a_key_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let token = ok(&["mint", "--keys", s(&dir), "--user", "carol", "--ttl", "30m"]);
    let out = etoken(&["inspect", token.trim()], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT verified"), "{}", stderr(&out));
    let claims: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(claims["verified"], false);
    assert_eq!(claims["subject"], "carol");
    assert_eq!(claims["key_id"], active_id(&dir).as_str());

    fails(&["inspect", "et2.!!!"], "", 1, "cannot decode (malformed)");
    fails(&["inspect", "et9.AAAA"], "", 1, "cannot decode");
}

#[test]
fn mint_refuses_bad_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    fails(
        &["mint", "--keys", s(&dir), "--user", "a", "--ttl", "soon"],
        "",
        2,
        "--ttl",
    );
    fails(
        &["mint", "--keys", s(&dir), "--user", "a", "--ttl", "0s"],
        "",
        2,
        "at least 1s",
    );
    fails(
        &["mint", "--keys", s(&dir), "--user", "a", "--attr", "role"],
        "",
        2,
        "not name=value",
    );
    fails(&["mint", "--keys", s(&dir), "--user", ""], "", 1, "subject");
    fails(&["mint", "--keys", s(&dir)], "", 2, "--user");
}

#[test]
fn a_missing_key_directory_is_refused_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("absent");
    let d = s(&dir);
    for args in [
        &["key", "add", "--dir", d][..],
        &["key", "list", "--dir", d],
        &["key", "fingerprint", "--dir", d],
        &["key", "promote", "--dir", d, "00000000"],
        &["mint", "--keys", d, "--user", "a"],
        &["verify", "--keys", d, "et2.AAAA"],
    ] {
        fails(args, "", 1, "does not exist");
    }
    assert!(!dir.exists(), "nothing created");
}

#[test]
fn a_corrupt_key_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let key_file = dir.join(format!("{}.key", active_id(&dir)));
    let text = fs::read_to_string(&key_file).unwrap();
    fs::write(&key_file, &text[..text.len() / 2]).unwrap();
    let err = fails(
        &["key", "list", "--dir", s(&dir)],
        "",
        1,
        "not a valid key directory file",
    );
    assert!(err.contains(s(&key_file)), "names the file: {err}");
    fails(
        &["mint", "--keys", s(&dir), "--user", "a"],
        "",
        1,
        "not a valid key directory file",
    );
    fails(
        &["key", "add", "--dir", s(&dir)],
        "",
        1,
        "not a valid key directory file",
    );
    assert_eq!(names(&dir).len(), 2, "add wrote nothing: {:?}", names(&dir));
}

#[test]
fn a_readable_key_file_or_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    let key_file = dir.join(format!("{}.key", active_id(&dir)));
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    fails(&["key", "list", "--dir", s(&dir)], "", 1, "chmod 600");
    fails(
        &["mint", "--keys", s(&dir), "--user", "a"],
        "",
        1,
        "chmod 600",
    );
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fails(&["key", "list", "--dir", s(&dir)], "", 1, "chmod 700");
    fails(
        &["verify", "--keys", s(&dir), "et2.AAAA"],
        "",
        1,
        "chmod 700",
    );
}

#[test]
fn users_add_list_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("users.json");
    let f = s(&file);
    ok_with(&["user", "add", "--users", f, "alice"], "correct horse\n");
    ok_with(&["user", "add", "--users", f, "bob"], "battery staple");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(ok(&["user", "list", "--users", f]), "alice\nbob\n");

    let text = fs::read_to_string(&file).unwrap();
    assert!(!text.contains("correct horse"), "no clear password on disk");
    let json: Value = serde_json::from_str(&text).unwrap();
    let hash = json["users"]["alice"]["password"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    ok(&["user", "remove", "--users", f, "alice"]);
    assert_eq!(ok(&["user", "list", "--users", f]), "bob\n");
    assert_eq!(
        names(tmp.path()),
        vec!["users.json".to_owned()],
        "no temporary files"
    );
}

#[test]
fn user_add_refuses_duplicates_unless_replacing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("users.json");
    let f = s(&file);
    ok_with(&["user", "add", "--users", f, "alice"], "one\n");
    let before = fs::read(&file).unwrap();
    fails(
        &["user", "add", "--users", f, "alice"],
        "two\n",
        1,
        "--replace",
    );
    assert_eq!(fs::read(&file).unwrap(), before, "unchanged");
    ok_with(
        &["user", "add", "--users", f, "alice", "--replace"],
        "two\n",
    );
    assert_ne!(fs::read(&file).unwrap(), before, "a new hash");
}

#[test]
fn user_commands_refuse_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("users.json");
    let f = s(&file);
    fails(
        &["user", "add", "--users", f, "alice"],
        "",
        1,
        "password is empty",
    );
    fails(
        &["user", "add", "--users", f, "alice"],
        "\n",
        1,
        "password is empty",
    );
    fails(
        &["user", "add", "--users", f, " alice"],
        "pw\n",
        1,
        "whitespace",
    );
    fails(
        &["user", "add", "--users", f, ""],
        "pw\n",
        1,
        "1 to 255 bytes",
    );
    assert!(!file.exists(), "nothing written");
    fails(&["user", "list", "--users", f], "", 1, "does not exist");
    fails(
        &["user", "remove", "--users", f, "alice"],
        "",
        1,
        "does not exist",
    );

    ok_with(&["user", "add", "--users", f, "alice"], "pw\n");
    fails(
        &["user", "remove", "--users", f, "mallory"],
        "",
        1,
        "no user \"mallory\"",
    );

    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    fails(&["user", "list", "--users", f], "", 1, "chmod 600");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();

    fs::write(&file, "{\"format\":\"etoken-users/1\",\"users\":{").unwrap();
    fails(&["user", "list", "--users", f], "", 1, "is corrupt");
    let before = fs::read(&file).unwrap();
    fails(
        &["user", "add", "--users", f, "bob"],
        "pw\n",
        1,
        "is corrupt",
    );
    assert_eq!(
        fs::read(&file).unwrap(),
        before,
        "a corrupt file is not overwritten"
    );

    fs::write(
        &file,
        "{\"format\":\"etoken-users/1\",\"users\":{\"eve\":{\"password\":\"plain\"}}}",
    )
    .unwrap();
    fails(&["user", "list", "--users", f], "", 1, "user \"eve\": hash");
}

#[test]
fn help_lists_every_subcommand() {
    let help = ok(&["--help"]);
    for command in ["key", "mint", "verify", "inspect", "user", "serve"] {
        assert!(help.contains(command), "{command}: {help}");
    }
    let help = ok(&["key", "--help"]);
    for command in ["init", "add", "promote", "retire", "list", "fingerprint"] {
        assert!(help.contains(command), "{command}: {help}");
    }
    fails(&["frobnicate"], "", 2, "unrecognized subcommand");
}

#[test]
fn key_export_writes_the_ring_document_privately_and_never_to_a_terminal() {
    use encapsulated_token::KeyRing;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    ok(&["key", "init", "--dir", s(&dir)]);
    ok(&["key", "add", "--dir", s(&dir)]);
    let ring = KeyRing::load(&dir).unwrap();

    // --out: mode 0600, the whole ring with its active key, no temporary left.
    let file = tmp.path().join("ring-export.json");
    let out = etoken(&["key", "export", "--dir", s(&dir), "--out", s(&file)], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout with --out");
    assert!(stderr(&out).contains("2 key(s)"), "{}", stderr(&out));
    assert_eq!(mode(&file), 0o600);
    let written = fs::read(&file).unwrap();
    assert_eq!(KeyRing::from_ring_json(&written).unwrap(), ring);
    assert_eq!(names(tmp.path()), vec!["keys", "ring-export.json"]);

    // A pipe gets the same document; a second export overwrites the first.
    let piped = ok(&["key", "export", "--dir", s(&dir)]);
    assert_eq!(piped.as_bytes(), written.as_slice());
    ok(&[
        "key",
        "promote",
        "--dir",
        s(&dir),
        &ring
            .keys()
            .find(|k| !ring.is_active(k.id()))
            .unwrap()
            .id()
            .to_string(),
    ]);
    ok(&["key", "export", "--dir", s(&dir), "--out", s(&file)]);
    assert_eq!(
        KeyRing::from_ring_json(&fs::read(&file).unwrap()).unwrap(),
        KeyRing::load(&dir).unwrap()
    );

    // A terminal (a pseudo-terminal from util-linux's `script`) gets a
    // refusal and not one secret.
    let document: Value = serde_json::from_slice(&written).unwrap();
    let command = format!(
        "{} key export --dir {}",
        env!("CARGO_BIN_EXE_etoken"),
        s(&dir)
    );
    let screen = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("ETOKEN_KEYS")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script runs");
    let shown = String::from_utf8_lossy(&screen.stdout);
    assert_eq!(screen.status.code(), Some(1), "{shown}");
    assert!(shown.contains("not printed to a terminal"), "{shown}");
    for key in document["keys"].as_array().unwrap() {
        assert!(!shown.contains(key["secret"].as_str().unwrap()), "{shown}");
    }
}
