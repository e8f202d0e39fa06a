//! Who the provider vouched for, and whether they may in: the user name
//! from the chosen claim, the email only when verified and parsed strictly
//! (one `@`, the domain compared whole and case-insensitively), the
//! groups bounded, then the `--oidc-allowed-domain` and
//! `--oidc-allowed-group` rules.

use crate::users::check_name;

/// Which claim names the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UserClaim {
    /// The verified email (`email_verified: true`).
    Email,
    /// The provider's subject identifier.
    Sub,
    /// `preferred_username`.
    PreferredUsername,
}

/// At most this many groups travel in the login token.
pub const MAX_GROUPS: usize = 32;
/// Longest group name kept.
pub const MAX_GROUP_LEN: usize = 64;
/// The groups travel comma-joined in attributes of 128 bytes, at most this
/// many (the token's 1 KiB bound leaves room for three).
pub const GROUP_ATTRIBUTES: [&str; 3] = ["groups", "groups.2", "groups.3"];
const GROUPS_LEN: usize =
    GROUP_ATTRIBUTES.len() * encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN;

/// What the provider said about the user, from the ID token and userinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub preferred_username: Option<String>,
    pub groups: Option<Vec<String>>,
}

/// The rules of `--oidc-*`.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub user_claim: Option<UserClaim>,
    /// Lowercase domains; empty: any.
    pub allowed_domains: Vec<String>,
    /// Empty: any.
    pub allowed_groups: Vec<String>,
}

/// A user the rules let in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub name: String,
    /// The verified email, if the provider gave one.
    pub email: Option<String>,
    pub groups: Vec<String>,
}

/// Why the rules refused (the log's reason; the client sees 403 or 400).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The claim that names the user is missing or unusable (400).
    NoName(String),
    /// The user is not one of those allowed (403).
    NotAllowed(String),
}

impl Rules {
    fn user_claim(&self) -> UserClaim {
        self.user_claim.unwrap_or(UserClaim::Email)
    }

    /// Whether a claim the rules need is missing from `claimed` (then
    /// userinfo is asked).
    pub fn needs_more(&self, claimed: &Claimed) -> bool {
        let email_needed =
            self.user_claim() == UserClaim::Email || !self.allowed_domains.is_empty();
        (email_needed && (claimed.email.is_none() || claimed.email_verified.is_none()))
            || (self.user_claim() == UserClaim::PreferredUsername
                && claimed.preferred_username.is_none())
            || claimed.groups.is_none()
    }

    /// Applies the rules to what the provider vouched for.
    pub fn admit(&self, claimed: &Claimed) -> Result<Admitted, Refused> {
        let email = match (&claimed.email, claimed.email_verified) {
            (Some(email), Some(true)) => Some(strict_email(email).ok_or_else(|| {
                Refused::NoName(format!("the email {} is not one", etoken::quoted(email)))
            })?),
            _ => None,
        };
        let name = match self.user_claim() {
            UserClaim::Email => email.as_ref().map(|e| e.address.clone()).ok_or_else(|| {
                Refused::NoName(match &claimed.email {
                    Some(e) => format!("the email {} is not verified", etoken::quoted(e)),
                    None => "the provider gave no email".into(),
                })
            })?,
            UserClaim::Sub => claimed.subject.clone(),
            UserClaim::PreferredUsername => claimed
                .preferred_username
                .clone()
                .ok_or_else(|| Refused::NoName("the provider gave no preferred_username".into()))?,
        };
        check_name(&name).map_err(|e| {
            Refused::NoName(format!("{} is no user name: {e}", etoken::quoted(&name)))
        })?;
        if !self.allowed_domains.is_empty() {
            let domain = email.as_ref().map(|e| e.domain.as_str()).ok_or_else(|| {
                Refused::NotAllowed(format!(
                    "{} has no verified email, and only some domains may sign in",
                    etoken::quoted(&name)
                ))
            })?;
            if !self.allowed_domains.iter().any(|d| d == domain) {
                return Err(Refused::NotAllowed(format!(
                    "{}: the domain {} is not allowed",
                    etoken::quoted(&name),
                    etoken::quoted(domain)
                )));
            }
        }
        let groups = bounded_groups(claimed.groups.as_deref().unwrap_or_default());
        if !self.allowed_groups.is_empty()
            && !groups.iter().any(|g| self.allowed_groups.contains(g))
        {
            return Err(Refused::NotAllowed(format!(
                "{} is in none of the allowed groups",
                etoken::quoted(&name)
            )));
        }
        Ok(Admitted {
            name,
            email: email.map(|e| e.address),
            groups,
        })
    }
}

struct Email {
    /// As the provider wrote it, the domain lowercased.
    address: String,
    domain: String,
}

/// An email with exactly one `@`, a local part and a domain of labels, no
/// space or control character; the domain lowercased.
fn strict_email(text: &str) -> Option<Email> {
    let (local, domain) = text.split_once('@')?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || c == '@';
    if local.is_empty() || domain.is_empty() || text.len() > 254 {
        return None;
    }
    if local.chars().any(bad) || domain.chars().any(bad) {
        return None;
    }
    if domain.split('.').any(str::is_empty) {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    Some(Email {
        address: format!("{local}@{domain}"),
        domain,
    })
}

/// The groups that fit in the token: no comma or control character, at
/// most [`MAX_GROUP_LEN`] bytes each, [`MAX_GROUPS`] of them, and what
/// their comma-joined text holds; the rest is dropped and logged.
fn bounded_groups(groups: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    let mut len = 0;
    let mut dropped = 0;
    for group in groups {
        let fits = !group.is_empty()
            && group.len() <= MAX_GROUP_LEN
            && !group.chars().any(|c| c == ',' || c.is_control())
            && kept.len() < MAX_GROUPS
            && len + group.len() + usize::from(!kept.is_empty()) <= GROUPS_LEN;
        if fits && !kept.contains(group) {
            len += group.len() + usize::from(!kept.is_empty());
            kept.push(group.clone());
        } else if !fits {
            dropped += 1;
        }
    }
    if dropped > 0 {
        tracing::info!("sso: {dropped} groups dropped (over the token's bounds, or unusable)");
    }
    kept
}

/// The groups' comma-joined text cut into the token's attributes.
pub fn group_attributes(groups: &[String]) -> Vec<(&'static str, String)> {
    let joined = groups.join(",");
    joined
        .as_bytes()
        .chunks(encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN)
        .zip(GROUP_ATTRIBUTES)
        .map(|(part, name)| (name, String::from_utf8_lossy(part).into_owned()))
        .collect()
}

/// The groups back from a token's attributes, comma-separated.
pub fn groups_header<'a>(attribute: impl Fn(&str) -> Option<&'a str>) -> String {
    GROUP_ATTRIBUTES
        .iter()
        .map_while(|name| attribute(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(email: &str, verified: bool) -> Claimed {
        Claimed {
            subject: "sub-1".into(),
            email: Some(email.into()),
            email_verified: Some(verified),
            preferred_username: Some("ann".into()),
            groups: Some(vec!["editors".into(), "staff".into()]),
        }
    }

    fn domains(list: &[&str]) -> Rules {
        Rules {
            allowed_domains: list.iter().map(|d| d.to_string()).collect(),
            ..Rules::default()
        }
    }

    #[test]
    fn an_email_counts_only_verified_and_strictly_parsed() {
        let rules = Rules::default();
        let ok = rules.admit(&claimed("Ann@Company.COM", true)).unwrap();
        assert_eq!(ok.name, "Ann@company.com");
        assert_eq!(ok.groups, ["editors", "staff"]);
        for bad in [
            "a@evil@company.com",
            "@company.com",
            "ann@",
            "ann@company..com",
            "a nn@company.com",
            "ann",
        ] {
            assert!(
                matches!(rules.admit(&claimed(bad, true)), Err(Refused::NoName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            rules.admit(&claimed("ann@company.com", false)),
            Err(Refused::NoName(_))
        ));
        let mut none = claimed("ann@company.com", true);
        none.email_verified = None;
        assert!(rules.needs_more(&none));
        assert!(rules.admit(&none).is_err());
    }

    #[test]
    fn allowed_domains_match_whole_domains_case_insensitively() {
        let rules = domains(&["company.com"]);
        assert!(rules.admit(&claimed("ann@COMPANY.com", true)).is_ok());
        for outside in [
            "ann@evil-company.com",
            "ann@company.com.evil",
            "ann@sub.company.com",
            "a@evil@company.com",
        ] {
            assert!(rules.admit(&claimed(outside, true)).is_err(), "{outside}");
        }
        let mut by_sub = domains(&["company.com"]);
        by_sub.user_claim = Some(UserClaim::Sub);
        assert!(matches!(
            by_sub.admit(&claimed("ann@company.com", false)),
            Err(Refused::NotAllowed(_))
        ));
        assert_eq!(
            by_sub
                .admit(&claimed("ann@company.com", true))
                .unwrap()
                .name,
            "sub-1"
        );
    }

    #[test]
    fn allowed_groups_need_one_of_them() {
        let rules = Rules {
            allowed_groups: vec!["admins".into(), "staff".into()],
            ..Rules::default()
        };
        assert!(rules.admit(&claimed("ann@company.com", true)).is_ok());
        let mut outsider = claimed("ann@company.com", true);
        outsider.groups = Some(vec!["Staff".into()]);
        assert!(matches!(
            rules.admit(&outsider),
            Err(Refused::NotAllowed(_))
        ));
        outsider.groups = None;
        assert!(matches!(
            rules.admit(&outsider),
            Err(Refused::NotAllowed(_))
        ));
    }

    #[test]
    fn groups_are_bounded_and_come_back_from_the_attributes_whole() {
        let many: Vec<String> = (0..100).map(|i| format!("group-number-{i:03}")).collect();
        let kept = bounded_groups(&many);
        assert!(kept.len() <= MAX_GROUPS && kept.join(",").len() <= GROUPS_LEN);
        assert_eq!(kept[..], many[..kept.len()]);
        let attributes = group_attributes(&kept);
        assert!(attributes.len() <= GROUP_ATTRIBUTES.len());
        let back = groups_header(|name| {
            attributes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        });
        assert_eq!(back, kept.join(","));
        let odd = [
            "a,b".to_string(),
            "x".repeat(65),
            "ok".into(),
            "ok".into(),
            "\n".into(),
        ];
        assert_eq!(bounded_groups(&odd), ["ok"]);
    }
}
