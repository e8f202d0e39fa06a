//! `etoken service ...`: technical accounts and their credentials, and the
//! client side of the exchange (`service token`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use etoken::assertion;
use etoken::certificate::{CertificateKey, KeyPair, unix_now};
use etoken::credentials::{Credentials, Integration, TechnicalAccount};
use etoken::public_url::PublicUrl;
use zeroize::Zeroizing;

use crate::commands::service_store::{ServiceStore, Write};
use crate::commands::tokens::parse_ttl;
use crate::services::{
    Certificate, MAX_CERTIFICATES, MAX_SECRETS, Service, Services, check_scopes, new_secret,
    random_hex,
};
use crate::users::check_name;

/// The services file, or the farm-wide directory, a command works on.
#[derive(Args)]
pub struct ServicesArg {
    /// The services file (JSON, mode 0600).
    #[arg(
        long,
        value_name = "FILE",
        env = "ETOKEN_SERVICES",
        default_value = "etoken-data/services.json"
    )]
    services: PathBuf,
    /// The farm-wide directory instead: redis://HOST:PORT/DB. Every
    /// instance following it sees the change within a second.
    #[arg(
        long,
        value_name = "URL",
        env = "ETOKEN_DIRECTORY",
        conflicts_with = "services"
    )]
    directory: Option<String>,
}

impl ServicesArg {
    fn store(self) -> ServiceStore {
        match self.directory {
            Some(url) => ServiceStore::Redis(url),
            None => ServiceStore::File(self.services),
        }
    }
}

/// `etoken service ...`.
#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Create a technical account and print its credentials JSON, once.
    Create {
        #[command(flatten)]
        file: ServicesArg,
        /// The account's name, for these commands.
        name: String,
        /// A scope it may ask for (repeatable).
        #[arg(long = "scope", value_name = "S", default_value = "ent_aem_cloud_api")]
        scopes: Vec<String>,
        /// Its organisation, the issuer of its assertions [default: etoken@HOST].
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// The URL clients reach the farm at (the load balancer's).
        #[arg(long, value_name = "URL", default_value = "http://localhost:8080")]
        public_url: PublicUrl,
        /// How long its certificate is valid, in days.
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        days: u32,
        /// Write the credentials to FILE (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        file: ServicesArg,
    },
    /// Revoke an account: the exchange refuses it at once, and its access
    /// tokens are refused by every instance that reloads the file (within a
    /// second with --directory).
    Revoke {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
    },
    /// End the account's access tokens issued until now, on every instance
    /// that reloads the file (within a second with --directory); the
    /// account keeps exchanging for new ones.
    RevokeTokens {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
    },
    /// Add a client secret (at most two at once) and print it, once.
    AddSecret {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
    },
    /// Remove a client secret by its id (`service list` shows them).
    RemoveSecret {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
        /// The secret's id.
        id: String,
    },
    /// Add a key pair (at most two at once); print the private key and
    /// certificate as JSON, once.
    AddCertificate {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
        /// How long the certificate is valid, in days.
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        days: u32,
        /// Write the JSON to FILE (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Remove a certificate by its fingerprint (`service list` shows them).
    RemoveCertificate {
        #[command(flatten)]
        file: ServicesArg,
        /// The account.
        name: String,
        /// The certificate's fingerprint.
        fingerprint: String,
    },
    /// Exchange credentials for an access token and print it: sign a JWT
    /// assertion with the private key and POST it to /ims/exchange/jwt.
    Token(TokenArgs),
}

/// `etoken service token`.
#[derive(Args)]
pub struct TokenArgs {
    /// The credentials JSON.
    #[arg(long, value_name = "FILE")]
    credentials: PathBuf,
    /// The farm's URL, the assertion's audience [default: from imsEndpoint].
    #[arg(long, value_name = "URL")]
    public_url: Option<PublicUrl>,
    /// Where to POST [default: PUBLIC-URL/ims/exchange/jwt], e.g. one
    /// instance behind the balancer. Plain http only.
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// How long the assertion is valid (at most 24h).
    #[arg(long, value_name = "TTL", default_value = "5m", value_parser = parse_ttl)]
    assertion_ttl: Duration,
}

/// Runs one `etoken service` command.
pub fn run(command: ServiceCommand) -> Result<(), String> {
    match command {
        ServiceCommand::Create {
            file,
            name,
            scopes,
            org,
            public_url,
            days,
            out,
        } => create(&file.store(), &name, scopes, org, &public_url, days, out),
        ServiceCommand::List { file } => list(&file.store()),
        ServiceCommand::Revoke { file, name } => revoke(&file.store(), &name),
        ServiceCommand::RevokeTokens { file, name } => revoke_tokens(&file.store(), &name),
        ServiceCommand::AddSecret { file, name } => add_secret(&file.store(), &name),
        ServiceCommand::RemoveSecret { file, name, id } => remove_secret(&file.store(), &name, &id),
        ServiceCommand::AddCertificate {
            file,
            name,
            days,
            out,
        } => add_certificate(&file.store(), &name, days, out),
        ServiceCommand::RemoveCertificate {
            file,
            name,
            fingerprint,
        } => remove_certificate(&file.store(), &name, &fingerprint),
        ServiceCommand::Token(args) => token(&args),
    }
}

/// The record of `name`, for a change.
fn existing(services: &Services, name: &str, store: &ServiceStore) -> Result<Service, String> {
    services
        .get(name)
        .map(|account| account.service.clone())
        .ok_or_else(|| format!("no service {name:?} in {}", store.describe()))
}

/// Writes `text` to `out` (mode 0600, refusing to overwrite), or prints it.
fn hand_over(text: &str, out: Option<&Path>) -> Result<(), String> {
    match out {
        Some(out) if out.exists() => Err(format!(
            "{} exists: choose another --out, nothing changed",
            out.display()
        )),
        Some(out) => encapsulated_token::write_file_atomically(out, text.as_bytes())
            .map_err(|e| format!("{}: {e}", out.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn expiry(certificate: &str) -> Option<String> {
    let key = CertificateKey::from_pem(certificate).ok()?;
    let time = time::OffsetDateTime::from_unix_timestamp(key.not_after as i64).ok()?;
    time.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// `service create`: the credentials are handed over (written or printed)
/// only once the services file or the directory holds the account, and a
/// refused --out changes nothing.
fn create(
    store: &ServiceStore,
    name: &str,
    scopes: Vec<String>,
    org: Option<String>,
    public_url: &PublicUrl,
    days: u32,
    out: Option<PathBuf>,
) -> Result<(), String> {
    check_name(name).map_err(|e| format!("{name:?}: {e}"))?;
    check_scopes(&scopes)?;
    if let Some(out) = out.as_deref().filter(|out| out.exists()) {
        return Err(format!(
            "{} exists: choose another --out, nothing changed",
            out.display()
        ));
    }
    let mut services = store.load(true)?;
    if services.get(name).is_some() {
        return Err(format!(
            "service {name:?} already exists in {}",
            store.describe()
        ));
    }
    let now = unix_now();
    let technical_account_id = format!(
        "{}@techacct.{}",
        random_hex(12).to_ascii_uppercase(),
        public_url.host()
    );
    let org = org.unwrap_or_else(|| format!("etoken@{}", public_url.host()));
    let pair = KeyPair::generate(&technical_account_id, days)?;
    let (secret, secret_record) = new_secret(now);
    let service = Service {
        client_id: random_hex(16),
        technical_account_id: technical_account_id.clone(),
        org: org.clone(),
        scopes: scopes.clone(),
        secrets: vec![secret_record],
        certificates: vec![Certificate {
            pem: pair.certificate.clone(),
            created_at: now,
        }],
        created_at: now,
        revoked_at: None,
        tokens_revoked_before: None,
    };
    let credentials = Credentials {
        ok: true,
        status_code: 200,
        integration: Integration {
            ims_endpoint: public_url.endpoint().to_owned(),
            metascopes: scopes.join(","),
            technical_account: TechnicalAccount {
                client_id: service.client_id.clone(),
                client_secret: secret,
            },
            email: technical_account_id.clone(),
            id: technical_account_id,
            org,
            private_key: pair.private_key,
            certificate_expiration_date: expiry(&pair.certificate),
            public_key: pair.certificate,
        },
    };
    let text = credentials.to_json()?;
    services.insert(name.to_owned(), service)?;
    store.store(&services, name, Write::New)?;
    hand_over(&text, out.as_deref())?;
    eprintln!(
        "created service {name} in {}{}",
        store.describe(),
        out.map(|o| format!("; credentials in {}", o.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `service list`: one block per account.
fn list(store: &ServiceStore) -> Result<(), String> {
    let services = store.load(false)?;
    for account in services.accounts() {
        let service = &account.service;
        let state = match service.revoked_at {
            Some(at) => format!("revoked at {at}"),
            None => "active".into(),
        };
        println!("{} ({state})", account.name);
        println!("  client id: {}", service.client_id);
        println!("  technical account id: {}", service.technical_account_id);
        println!("  org: {}", service.org);
        println!("  scopes: {}", service.scopes.join(","));
        for secret in &service.secrets {
            println!("  secret {} (created {})", secret.id, secret.created_at);
        }
        for key in &account.keys {
            println!(
                "  certificate {} (valid {}..{})",
                key.fingerprint, key.not_before, key.not_after
            );
        }
    }
    Ok(())
}

fn change(
    store: &ServiceStore,
    name: &str,
    edit: impl FnOnce(&mut Service) -> Result<String, String>,
) -> Result<(), String> {
    let mut services = store.load(false)?;
    let mut service = existing(&services, name, store)?;
    let done = edit(&mut service)?;
    services.insert(name.to_owned(), service)?;
    store.store(&services, name, Write::Change)?;
    eprintln!("{done} in {}", store.describe());
    Ok(())
}

fn revoke(store: &ServiceStore, name: &str) -> Result<(), String> {
    change(store, name, |service| {
        if service.revoked_at.is_some() {
            return Err(format!("service {name:?} is already revoked"));
        }
        service.revoked_at = Some(unix_now());
        Ok(format!("revoked service {name}"))
    })
}

fn revoke_tokens(store: &ServiceStore, name: &str) -> Result<(), String> {
    change(store, name, |service| {
        // Tokens carry whole seconds: those of an earlier second end, and
        // one exchanged right after this, in the same second, still works.
        service.tokens_revoked_before = Some(unix_now());
        Ok(format!(
            "access tokens of service {name} issued before now are refused {}",
            store.reach()
        ))
    })
}

fn add_secret(store: &ServiceStore, name: &str) -> Result<(), String> {
    let mut shown = None;
    change(store, name, |service| {
        if service.secrets.len() >= MAX_SECRETS {
            return Err(format!(
                "service {name:?} has {MAX_SECRETS} secrets: remove one first"
            ));
        }
        let (secret, record) = new_secret(unix_now());
        let done = format!("added secret {} to service {name}", record.id);
        service.secrets.push(record);
        shown = Some(secret);
        Ok(done)
    })?;
    if let Some(secret) = shown {
        println!("{}", secret.as_str());
    }
    Ok(())
}

fn remove_secret(store: &ServiceStore, name: &str, id: &str) -> Result<(), String> {
    change(store, name, |service| {
        let before = service.secrets.len();
        service.secrets.retain(|s| s.id != id);
        if service.secrets.len() == before {
            return Err(format!("service {name:?} has no secret {id:?}"));
        }
        Ok(format!("removed secret {id} from service {name}"))
    })
}

fn add_certificate(
    store: &ServiceStore,
    name: &str,
    days: u32,
    out: Option<PathBuf>,
) -> Result<(), String> {
    if let Some(out) = out.as_deref().filter(|out| out.exists()) {
        return Err(format!(
            "{} exists: choose another --out, nothing changed",
            out.display()
        ));
    }
    let mut shown = None;
    change(store, name, |service| {
        if service.certificates.len() >= MAX_CERTIFICATES {
            return Err(format!(
                "service {name:?} has {MAX_CERTIFICATES} certificates: remove one first"
            ));
        }
        let pair = KeyPair::generate(&service.technical_account_id, days)?;
        let key = CertificateKey::from_pem(&pair.certificate)?;
        service.certificates.push(Certificate {
            pem: pair.certificate.clone(),
            created_at: unix_now(),
        });
        let done = format!("added certificate {} to service {name}", key.fingerprint);
        let document = serde_json::json!({
            "privateKey": pair.private_key.as_str(),
            "publicKey": pair.certificate,
            "fingerprint": key.fingerprint,
            "certificateExpirationDate": expiry(&pair.certificate),
        });
        let mut text = Zeroizing::new(serde_json::to_string_pretty(&document).unwrap_or_default());
        text.push('\n');
        shown = Some(text);
        Ok(done)
    })?;
    match shown {
        Some(text) => hand_over(&text, out.as_deref()),
        None => Ok(()),
    }
}

fn remove_certificate(store: &ServiceStore, name: &str, fingerprint: &str) -> Result<(), String> {
    change(store, name, |service| {
        let before = service.certificates.len();
        service.certificates.retain(|c| {
            CertificateKey::from_pem(&c.pem).map_or(true, |k| k.fingerprint != fingerprint)
        });
        if service.certificates.len() == before {
            return Err(format!(
                "service {name:?} has no certificate {fingerprint:?}"
            ));
        }
        if service.certificates.is_empty() {
            return Err(format!(
                "{fingerprint} is service {name:?}'s only certificate: add one first, \
                 or revoke the service"
            ));
        }
        Ok(format!(
            "removed certificate {fingerprint} from service {name}"
        ))
    })
}

/// `service token`: what a backend or a CI job runs.
fn token(args: &TokenArgs) -> Result<(), String> {
    let credentials = Credentials::read(&args.credentials)?;
    let url = match &args.public_url {
        Some(url) => url.clone(),
        None => credentials.public_url()?,
    };
    let token_url = args
        .token_url
        .clone()
        .unwrap_or_else(|| url.join("/ims/exchange/jwt"));
    let integration = &credentials.integration;
    let claims = assertion::Claims::new(
        &integration.org,
        &integration.id,
        &url,
        &integration.technical_account.client_id,
        &credentials.scopes(),
        unix_now(),
        args.assertion_ttl.as_secs(),
    );
    let jwt = Zeroizing::new(
        assertion::sign(&claims, &integration.private_key).map_err(|e| e.to_string())?,
    );
    let form = [
        (
            "client_id",
            integration.technical_account.client_id.as_str(),
        ),
        (
            "client_secret",
            integration.technical_account.client_secret.as_str(),
        ),
        ("jwt_token", jwt.as_str()),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let answer: serde_json::Value = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("POST {token_url}: {e}"))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("POST {token_url}: {status}, not JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "POST {token_url}: {status}: {} ({})",
                body["error"].as_str().unwrap_or("?"),
                body["error_description"].as_str().unwrap_or("")
            ));
        }
        Ok(body)
    })?;
    match answer["access_token"].as_str() {
        Some(token) => {
            println!("{token}");
            Ok(())
        }
        None => Err(format!("POST {token_url}: no access_token in the answer")),
    }
}
