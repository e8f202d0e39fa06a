//! The URL clients use to reach the farm (the load balancer's): what a JWT
//! assertion's audience and metascopes name.

use std::fmt;
use std::str::FromStr;

/// An `http` or `https` origin, `scheme://host[:port]`, in the form a
/// WHATWG URL parser serializes it (lower-case host, no default port, no
/// trailing slash).
///
/// ```
/// use etoken::public_url::PublicUrl;
/// let url: PublicUrl = "HTTPS://Publish.Example.com:443/".parse()?;
/// assert_eq!(url.as_str(), "https://publish.example.com");
/// assert_eq!(url.audience("abc"), "https://publish.example.com/c/abc");
/// assert_eq!(url.metascope("read"), "https://publish.example.com/s/read");
/// assert_eq!(url.host(), "publish.example.com");
/// assert!("https://example.com/path".parse::<PublicUrl>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicUrl {
    origin: String,
    host: String,
}

impl PublicUrl {
    /// `scheme://host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// The host (no port): what technical account ids are named after.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `host[:port]` for https, the whole origin for http: the
    /// credentials document's `imsEndpoint`, which IMS clients prefix with
    /// `https://`.
    pub fn endpoint(&self) -> &str {
        self.origin
            .strip_prefix("https://")
            .unwrap_or(self.origin.as_str())
    }

    /// The inverse of [`endpoint`](Self::endpoint).
    ///
    /// ```
    /// use etoken::public_url::PublicUrl;
    /// assert_eq!(PublicUrl::from_endpoint("ims.example.com")?.as_str(), "https://ims.example.com");
    /// assert_eq!(PublicUrl::from_endpoint("http://127.0.0.1:8080")?.as_str(), "http://127.0.0.1:8080");
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_endpoint(endpoint: &str) -> Result<Self, String> {
        if endpoint.contains("://") {
            endpoint.parse()
        } else {
            format!("https://{endpoint}").parse()
        }
    }

    /// The audience of an assertion for `client_id`: `<url>/c/<client_id>`.
    pub fn audience(&self, client_id: &str) -> String {
        format!("{}/c/{client_id}", self.origin)
    }

    /// The claim name of metascope `scope`: `<url>/s/<scope>`.
    pub fn metascope(&self, scope: &str) -> String {
        format!("{}/s/{scope}", self.origin)
    }

    /// `<url>` + `path`, where `path` starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl FromStr for PublicUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("public URL {text:?}: {why}");
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme is http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("no user name or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("an origin only: no path, query or fragment"));
        }
        let Some(host) = url.host_str() else {
            return Err(bad("a host is required"));
        };
        let origin = url.origin().ascii_serialization();
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            origin,
        })
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}
