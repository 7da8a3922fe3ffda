//! HTTP for repositories: reading a published one, and writing one through WebDAV (`PUT`,
//! `DELETE`, `MKCOL`, `MOVE`), the way Artifactory, Nexus and nginx's dav module take uploads.
//!
//! Credentials come from the environment (`HOSTNET_REPO_USER` and `HOSTNET_REPO_PASSWORD`) or a
//! netrc file (`$NETRC`, else `~/.netrc`), never from the command line, where `ps` shows them.
//! Every request is retried a bounded number of times on connection errors and 5xx answers.

use std::io::Read as _;
use std::time::{Duration, Instant};

/// Reading a file from a server or a directory went wrong: it could not be read, it is larger than
/// allowed, or a limit set in the environment makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{what}: cannot read: {detail}")]
    Read { what: String, detail: String },
    #[error("{what}: {detail}")]
    TooLarge { what: String, detail: String },
    #[error("{0}")]
    Setting(String),
}

pub const USER_ENV: &str = "HOSTNET_REPO_USER";
pub const PASSWORD_ENV: &str = "HOSTNET_REPO_PASSWORD";
/// Seconds one request may take in all: connecting, waiting for the answer, the whole transfer
/// and every retry.
pub const TIMEOUT_ENV: &str = "HOSTNET_HTTP_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// A server that takes this long to accept a connection, or sends nothing for this long (before
/// its answer or within the body), has stalled; another attempt may find it well.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The pause before each retry.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(1000),
    Duration::from_millis(3000),
];

/// The largest answer hostnet reads for one kind of file, from a server or a directory alike:
/// enforced while reading, so that a hostile or broken repository cannot make hostnet hold more.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimit {
    /// What the limit is for, as the error names it.
    pub of: &'static str,
    default_mib: u64,
    /// The variable that raises it, in MiB.
    pub env: &'static str,
}

/// `repomd.xml`, its signature, a publish journal or lock file.
pub const REPOMD_LIMIT: SizeLimit = SizeLimit {
    of: "repomd.xml, its signature and publish's own small files",
    default_mib: 4,
    env: "HOSTNET_MAX_REPOMD_MIB",
};
/// A compressed metadata document (`primary.xml.gz`...).
pub const METADATA_LIMIT: SizeLimit = SizeLimit {
    of: "a compressed metadata file",
    default_mib: 256,
    env: "HOSTNET_MAX_METADATA_MIB",
};
/// A metadata document once decompressed.
pub const UNPACKED_METADATA_LIMIT: SizeLimit = SizeLimit {
    of: "a metadata file once decompressed",
    default_mib: 1024,
    env: "HOSTNET_MAX_UNPACKED_METADATA_MIB",
};
/// A package file.
pub const PACKAGE_LIMIT: SizeLimit = SizeLimit {
    of: "a package",
    default_mib: 256,
    env: "HOSTNET_MAX_PACKAGE_MIB",
};
/// What a server says besides the files hostnet asked for (an answer to PUT or MKCOL, an error
/// page): read only to keep the connection usable, never kept.
const ANSWER_LIMIT: u64 = 64 * 1024;

impl SizeLimit {
    /// The limit in bytes: the environment's, else the default.
    pub fn bytes(&self) -> Result<u64, FetchError> {
        let example = format!("a whole number of MiB, such as {}", self.default_mib * 4);
        let mib = positive_setting(self.env, "a size", &example)?.unwrap_or(self.default_mib);
        Ok(mib.saturating_mul(1024 * 1024))
    }

    /// The error for `what`, found larger than `limit` bytes.
    pub fn exceeded(&self, what: &str, limit: u64) -> FetchError {
        FetchError::TooLarge {
            what: what.to_string(),
            detail: format!(
                "larger than {} MiB, the limit for {}; if it is genuine, raise it with {}=<MiB>",
                limit / (1024 * 1024),
                self.of,
                self.env
            ),
        }
    }

    /// All of `reader`, which is `what`, up to the limit.
    pub fn read_all(&self, what: &str, reader: impl std::io::Read) -> Result<Vec<u8>, FetchError> {
        let limit = self.bytes()?;
        let mut bytes = Vec::new();
        reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| FetchError::Read {
                what: what.to_string(),
                detail: e.to_string(),
            })?;
        if bytes.len() as u64 > limit {
            return Err(self.exceeded(what, limit));
        }
        Ok(bytes)
    }
}

/// How long a request may take in all, retries included.
fn total_timeout() -> Result<Duration, FetchError> {
    let seconds = positive_setting(TIMEOUT_ENV, "a time", "whole seconds, such as 300")?;
    Ok(seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs))
}

/// The positive whole number the environment variable `name` sets, if set; anything else is an
/// error saying it is not `what` and to give `expected`.
fn positive_setting(name: &str, what: &str, expected: &str) -> Result<Option<u64>, FetchError> {
    let Ok(text) = std::env::var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(number) if number > 0 => Ok(Some(number)),
        _ => Err(FetchError::Setting(format!(
            "{name}={text:?} is not {what}; give {expected}"
        ))),
    }
}

pub struct Client {
    agent: ureq::Agent,
    credentials: Option<(String, String)>,
    timeout: Duration,
}

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    /// A client without credentials.
    fn anonymous() -> Result<Client, FetchError> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // WebDAV's MKCOL and MOVE.
            .allow_non_standard_methods(true)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(STALL_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        Ok(Client {
            agent: config.into(),
            credentials: None,
            timeout: total_timeout()?,
        })
    }

    /// The client for `url`'s host, with its credentials.
    pub fn for_url(url: &str) -> Result<Client, FetchError> {
        let mut client = Client::anonymous()?;
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

    /// Sends one request, retrying connection errors, stalls and 5xx answers while its time
    /// lasts; a 2xx answer's body is read up to `limit`, any other's only in part.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: SizeLimit,
    ) -> Result<Answer, FetchError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let what = format!("{method} {url}");
        let mut last_error = String::new();
        let mut attempts = 0;
        for pause in std::iter::once(Duration::ZERO).chain(RETRY_PAUSES) {
            if attempts > 0 && Instant::now() + pause >= deadline {
                break;
            }
            std::thread::sleep(pause);
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut builder = ureq::http::Request::builder().method(method).uri(url);
            if let Some(authorization) = self.authorization() {
                builder = builder.header("Authorization", authorization);
            }
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let request = builder
                .body(body.map(<[u8]>::to_vec).unwrap_or_default())
                .map_err(|e| FetchError::Read {
                    what: url.to_string(),
                    detail: e.to_string(),
                })?;
            let request = self
                .agent
                .configure_request(request)
                .timeout_global(Some(remaining))
                .build();
            match self.agent.run(request) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if status >= 500 {
                        last_error = format!("HTTP {status}");
                        continue;
                    }
                    let body = if (200..300).contains(&status) {
                        read_body(&what, &mut response, limit, deadline)
                    } else {
                        // Only to reuse the connection; what an error page says is not shown.
                        let _ = response
                            .body_mut()
                            .with_config()
                            .limit(ANSWER_LIMIT)
                            .read_to_vec();
                        Ok(Vec::new())
                    };
                    match body {
                        Ok(body) => return Ok(Answer { status, body }),
                        Err(BodyError::Fatal(error)) => return Err(error),
                        Err(BodyError::Retry(error)) => last_error = error,
                    }
                }
                // Only what another attempt can cure: the network, not a malformed request.
                Err(
                    e @ (ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::HostNotFound),
                ) => {
                    // The deadline cutting a later attempt short says less than what went wrong
                    // before it.
                    let global = matches!(e, ureq::Error::Timeout(ureq::Timeout::Global));
                    if !global || last_error.is_empty() {
                        last_error = describe_failure(&e);
                    }
                }
                Err(e) => {
                    return Err(FetchError::Read {
                        what,
                        detail: e.to_string(),
                    });
                }
            }
        }
        let server = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|host| format!("{host}:{}", u.port_or_known_default().unwrap_or(0)))
            })
            .unwrap_or_else(|| url.to_string());
        Err(FetchError::Read {
            what,
            detail: format!(
                "{last_error}; gave up on the server {server} after {attempts} attempt(s) in {:.0} s ({TIMEOUT_ENV}=<seconds> allows more than {} s)",
                started.elapsed().as_secs_f64(),
                self.timeout.as_secs()
            ),
        })
    }

    /// The body at `url`, up to `limit`; `None` for 404.
    pub fn get(&self, url: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, FetchError> {
        let answer = self.request("GET", url, &[], None, limit)?;
        match answer.status {
            200 => Ok(Some(answer.body)),
            404 | 410 => Ok(None),
            status => Err(FetchError::Read {
                what: url.to_string(),
                detail: describe_status(status),
            }),
        }
    }
}

enum BodyError {
    /// Too large: another attempt would read the same.
    Fatal(FetchError),
    /// Cut off or stalled: another attempt may get it whole.
    Retry(String),
}

/// A 2xx answer's body: refused at once when its declared length passes `limit`, and read in
/// pieces, each bounded in time, until the limit or the deadline.
fn read_body(
    what: &str,
    response: &mut ureq::http::Response<ureq::Body>,
    limit: SizeLimit,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    let bytes = limit.bytes().map_err(BodyError::Fatal)?;
    let declared = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|declared| declared > bytes) {
        return Err(BodyError::Fatal(limit.exceeded(what, bytes)));
    }
    let mut reader = response
        .body_mut()
        .with_config()
        .limit(bytes.saturating_add(1))
        .reader();
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(BodyError::Retry("the transfer took too long".into()));
        }
        let read = match reader.read(&mut chunk) {
            Ok(0) => return Ok(body),
            Ok(read) => read,
            Err(e) => {
                let text = e.to_string();
                if text.contains("larger than request limit") {
                    return Err(BodyError::Fatal(limit.exceeded(what, bytes)));
                }
                return Err(BodyError::Retry(format!("the transfer broke off: {text}")));
            }
        };
        if (body.len() + read) as u64 > bytes {
            return Err(BodyError::Fatal(limit.exceeded(what, bytes)));
        }
        body.extend_from_slice(&chunk[..read]);
    }
}

/// A connection failure in the words an operator needs: which stage stalled.
fn describe_failure(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())
        }
        ureq::Error::Timeout(ureq::Timeout::RecvResponse) => format!(
            "connected, but no answer within {} s",
            STALL_TIMEOUT.as_secs()
        ),
        ureq::Error::Timeout(ureq::Timeout::Global) => "the request took too long".into(),
        ureq::Error::Timeout(stage) => format!("timed out ({stage})"),
        other => other.to_string(),
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
fn credentials_for(url: &str) -> Result<Option<(String, String)>, FetchError> {
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
            return Err(FetchError::Read {
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
