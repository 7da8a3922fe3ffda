//! HTTP for repositories: reading a published one, and writing one through WebDAV (`PUT`,
//! `DELETE`, `MKCOL`, `MOVE`), the way Artifactory, Nexus and nginx's dav module take uploads.
//!
//! Credentials come from the environment (`HOSTNET_REPO_USER` and `HOSTNET_REPO_PASSWORD`) or a
//! netrc file (`$NETRC`, else `~/.netrc`), never from the command line, where `ps` shows them.
//! Every request is retried a bounded number of times on connection errors and 5xx answers.

use std::time::Duration;

use crate::repository::RepositoryError;

pub const USER_ENV: &str = "HOSTNET_REPO_USER";
pub const PASSWORD_ENV: &str = "HOSTNET_REPO_PASSWORD";

/// Attempts per request, and the pause before each retry.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(1000),
    Duration::from_millis(3000),
];

pub struct Client {
    agent: ureq::Agent,
    credentials: Option<(String, String)>,
}

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    /// A client without credentials.
    fn anonymous() -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // WebDAV's MKCOL and MOVE.
            .allow_non_standard_methods(true)
            .timeout_global(Some(Duration::from_secs(120)))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        Client {
            agent: config.into(),
            credentials: None,
        }
    }

    /// The client for `url`'s host, with its credentials.
    pub fn for_url(url: &str) -> Result<Client, RepositoryError> {
        let mut client = Client::anonymous();
        client.credentials = credentials_for(url)?;
        Ok(client)
    }

    fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        self.credentials.as_ref().map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        })
    }

    /// Sends one request, retrying connection errors and 5xx answers.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, RepositoryError> {
        let mut last_error = String::new();
        for (attempt, pause) in std::iter::once(Duration::ZERO)
            .chain(RETRY_PAUSES)
            .enumerate()
        {
            std::thread::sleep(pause);
            let mut builder = ureq::http::Request::builder().method(method).uri(url);
            if let Some(authorization) = self.authorization() {
                builder = builder.header("Authorization", authorization);
            }
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let request = builder
                .body(body.map(<[u8]>::to_vec).unwrap_or_default())
                .map_err(|e| RepositoryError::Read {
                    what: url.to_string(),
                    detail: e.to_string(),
                })?;
            match self.agent.run(request) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(1 << 30)
                        .read_to_vec()
                        .unwrap_or_default();
                    if status >= 500 && attempt < RETRY_PAUSES.len() {
                        last_error = format!("HTTP {status}");
                        continue;
                    }
                    return Ok(Answer { status, body });
                }
                // Only what another attempt can cure: the network, not a malformed request.
                Err(
                    e @ (ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::HostNotFound),
                ) => last_error = e.to_string(),
                Err(e) => {
                    return Err(RepositoryError::Read {
                        what: format!("{method} {url}"),
                        detail: e.to_string(),
                    });
                }
            }
        }
        Err(RepositoryError::Read {
            what: format!("{method} {url}"),
            detail: format!("{last_error} (after {} attempts)", RETRY_PAUSES.len() + 1),
        })
    }

    /// The body at `url`; `None` for 404.
    pub fn get(&self, url: &str) -> Result<Option<Vec<u8>>, RepositoryError> {
        let answer = self.request("GET", url, &[], None)?;
        match answer.status {
            200 => Ok(Some(answer.body)),
            404 | 410 => Ok(None),
            status => Err(RepositoryError::Read {
                what: url.to_string(),
                detail: describe_status(status),
            }),
        }
    }
}

pub fn describe_status(status: u16) -> String {
    match status {
        401 => "HTTP 401: the server wants credentials; set HOSTNET_REPO_USER and HOSTNET_REPO_PASSWORD or add the host to your netrc file".into(),
        403 => "HTTP 403: the credentials may not do this".into(),
        405 => "HTTP 405: the server does not accept this method here (is WebDAV enabled for this path?)".into(),
        status => format!("HTTP {status}"),
    }
}

/// User and password for `url`: the environment first, then the netrc file.
fn credentials_for(url: &str) -> Result<Option<(String, String)>, RepositoryError> {
    if let (Ok(user), Ok(password)) = (std::env::var(USER_ENV), std::env::var(PASSWORD_ENV)) {
        return Ok(Some((user, password)));
    }
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_default();
    let path = match std::env::var_os("NETRC") {
        Some(path) => std::path::PathBuf::from(path),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::Path::new(&home).join(".netrc"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RepositoryError::Read {
                what: path.display().to_string(),
                detail: e.to_string(),
            });
        }
    };
    Ok(netrc_entry(&text, &host))
}

/// The login and password netrc gives `host` (or its `default` entry).
fn netrc_entry(text: &str, host: &str) -> Option<(String, String)> {
    let mut tokens = text.split_whitespace();
    let mut found: Option<(String, String)> = None;
    let mut default: Option<(String, String)> = None;
    let mut current: Option<(bool, bool)> = None; // (is this host, is default)
    let (mut login, mut password) = (String::new(), String::new());
    let mut finish = |current: Option<(bool, bool)>, login: &str, password: &str| {
        if let Some((matches, is_default)) = current {
            let entry = Some((login.to_string(), password.to_string()));
            if matches && found.is_none() {
                found = entry;
            } else if is_default && default.is_none() {
                default = entry;
            }
        }
    };
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                finish(current, &login, &password);
                let name = tokens.next().unwrap_or("");
                current = Some((name == host, false));
                login.clear();
                password.clear();
            }
            "default" => {
                finish(current, &login, &password);
                current = Some((false, true));
                login.clear();
                password.clear();
            }
            "login" => login = tokens.next().unwrap_or("").to_string(),
            "password" => password = tokens.next().unwrap_or("").to_string(),
            _ => {}
        }
    }
    finish(current, &login, &password);
    found.or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries() {
        let text = "machine other.example.com login a password b\nmachine repo.example.com\n  login ci\n  password s3cret\ndefault login anon password x\n";
        assert_eq!(
            netrc_entry(text, "repo.example.com"),
            Some(("ci".into(), "s3cret".into()))
        );
        assert_eq!(
            netrc_entry(text, "unknown.example.com"),
            Some(("anon".into(), "x".into()))
        );
        assert_eq!(netrc_entry("machine a login b password c", "z"), None);
    }
}
