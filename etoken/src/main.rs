//! `etoken`: key management, tokens, users, and the publish-tier auth server.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("etoken: not built yet");
    std::process::exit(2);
}
