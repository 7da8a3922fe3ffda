//! A repository server reached over HTTP, in one of two modes:
//!
//! - **WebDAV** (nginx's dav module, Apache mod_dav, wsgidav): each file is PUT under a temporary
//!   name and MOVEd into place, and the lock is a collection made with MKCOL, which only one
//!   publisher can make.
//! - **PUT** (Sonatype Nexus raw repositories, JFrog Artifactory without its Pro move API, any
//!   server that takes PUT and DELETE and creates parent paths itself): no MKCOL, no MOVE. A file
//!   is PUT under its final name. Packages and metadata files have names no earlier publish used,
//!   and `repomd.xml` and its signature are written last, so a client reads either the old
//!   metadata or the new, as with MOVE. This holds as long as the server serves a PUT only once it
//!   is stored whole, as these servers do. The lock is its owner file, PUT with
//!   `If-None-Match: *`, which only one publisher can create where the server honours the
//!   condition. Whether it does is tried, and said.

use super::lock::OWNER_FILE;
use super::target::{LockOwner, Target, broken_lock_name};
use super::{LOCK_DIR, PublishError, ServerMode, UPLOAD_SUFFIX};
use crate::http::{self, REPOMD_LIMIT, SizeLimit};
use crate::repository::Location;

pub(super) struct HttpTarget {
    base: String,
    client: http::Client,
    mode: Mode,
    /// Whether the server refuses a PUT with `If-None-Match: *` of a file that exists, as a lock
    /// needs; learnt when the lock is first taken.
    conditional_put_honoured: std::cell::Cell<Option<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    WebDav,
    Put,
}

impl HttpTarget {
    /// The server at `base`, in the mode asked for; with [`ServerMode::Auto`], WebDAV if it makes
    /// and moves a collection (tried with names of this publish's own, then removed), else PUT.
    pub(super) fn open(base: String, server: ServerMode) -> Result<HttpTarget, PublishError> {
        let mut target = HttpTarget {
            client: http::Client::for_url(&base)?,
            base,
            mode: Mode::WebDav,
            conditional_put_honoured: std::cell::Cell::new(None),
        };
        target.mode = match server {
            ServerMode::Webdav => Mode::WebDav,
            ServerMode::Put => Mode::Put,
            ServerMode::Auto => target.detect()?,
            ServerMode::Pulp => {
                return Err(PublishError::Refused(
                    "a Pulp server is written through its REST API, not as files".into(),
                ));
            }
        };
        Ok(target)
    }

    fn detect(&self) -> Result<Mode, PublishError> {
        let token = format!("{:016x}", rand::random::<u64>());
        let probe = format!(".hostnet-probe-{token}/");
        let moved = format!(".hostnet-probe-{token}-moved/");
        let made = self.request("MKCOL", &probe, &[], None)?;
        if !(200..=299).contains(&made) {
            return Ok(Mode::Put);
        }
        let destination = self.url(&moved);
        let move_status = self.request(
            "MOVE",
            &probe,
            &[("Destination", &destination), ("Overwrite", "F")],
            None,
        )?;
        let _ = self.request("DELETE", &probe, &[], None);
        let _ = self.request("DELETE", &moved, &[], None);
        Ok(if (200..=299).contains(&move_status) {
            Mode::WebDav
        } else {
            Mode::Put
        })
    }

    fn url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    fn request(
        &self,
        method: &str,
        relative: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<u16, PublishError> {
        let answer =
            self.client
                .request(method, &self.url(relative), headers, body, REPOMD_LIMIT)?;
        Ok(answer.status)
    }

    fn failed(&self, method: &str, relative: &str, status: u16) -> PublishError {
        PublishError::Target {
            what: format!("{method} {}", self.url(relative)),
            detail: http::describe_status(status),
        }
    }

    /// MKCOL every collection above `relative` (nginx creates them with `create_full_put_path`,
    /// other servers on their own; MKCOL of an existing one answers 405, which is fine).
    fn make_parents(&self, relative: &str) -> Result<(), PublishError> {
        let mut path = String::new();
        let parts: Vec<&str> = relative.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            path.push_str(part);
            path.push('/');
            let status = self.request("MKCOL", &path, &[], None)?;
            if !matches!(status, 200..=299 | 301 | 405) {
                return Err(self.failed("MKCOL", &path, status));
            }
        }
        Ok(())
    }

    /// PUT `bytes` at `relative`; with WebDAV, parents made when the server asks for them.
    fn put_at(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError> {
        let mut status = self.request("PUT", relative, &[], Some(bytes))?;
        if status == 409 && self.mode == Mode::WebDav {
            self.make_parents(relative)?;
            status = self.request("PUT", relative, &[], Some(bytes))?;
        }
        if !(200..=299).contains(&status) {
            return Err(self.failed("PUT", relative, status));
        }
        Ok(())
    }

    /// A conditional PUT of the lock's owner file: created only if absent, where the server
    /// honours `If-None-Match: *`.
    fn put_if_absent(&self, relative: &str, bytes: &[u8]) -> Result<u16, PublishError> {
        self.request("PUT", relative, &[("If-None-Match", "*")], Some(bytes))
    }
}

impl Target for HttpTarget {
    fn describe(&self, relative: &str) -> String {
        self.url(relative)
    }

    fn guarantees(&self) -> String {
        match (self.mode, self.conditional_put_honoured.get()) {
            (Mode::WebDav, _) => "WebDAV: each file PUT under a temporary name and MOVEd into place, the lock a collection made with MKCOL".into(),
            (Mode::Put, honoured) => {
                let lock = match honoured {
                    Some(false) => "this server does not honour If-None-Match, so two publishes at once are not kept apart: serialise publishes in the pipeline (a GitLab resource_group)",
                    _ => "the lock its owner file, PUT with If-None-Match: *",
                };
                format!("plain PUT (the server takes no MKCOL or MOVE): each file PUT under its final name, repomd.xml and its signature last; {lock}")
            }
        }
    }

    fn get(&self, relative: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, PublishError> {
        Ok(self.client.get(&self.url(relative), limit)?)
    }

    fn put(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError> {
        if self.mode == Mode::Put {
            return self.put_at(relative, bytes);
        }
        let temporary = format!("{relative}{UPLOAD_SUFFIX}");
        self.put_at(&temporary, bytes)?;
        let destination = self.url(relative);
        let status = self.request(
            "MOVE",
            &temporary,
            &[("Destination", &destination), ("Overwrite", "T")],
            None,
        )?;
        if !(200..=299).contains(&status) {
            return Err(self.failed("MOVE", &temporary, status));
        }
        Ok(())
    }

    fn delete(&self, relative: &str) -> Result<(), PublishError> {
        match self.request("DELETE", relative, &[], None)? {
            200..=299 | 404 | 410 => Ok(()),
            status => Err(self.failed("DELETE", relative, status)),
        }
    }

    fn create_lock(&self) -> Result<bool, PublishError> {
        if self.mode == Mode::WebDav {
            let path = format!("{LOCK_DIR}/");
            return match self.request("MKCOL", &path, &[], None)? {
                200..=299 => Ok(true),
                405 => Ok(false),
                status => Err(self.failed("MKCOL", &path, status)),
            };
        }
        // A lock held now is seen even where the condition below is not honoured.
        if self.get(OWNER_FILE, REPOMD_LIMIT)?.is_some() {
            return Ok(false);
        }
        // An owner file with no owner yet: the caller writes the owner at once, and a publisher
        // that finds this one waits out the ownerless grace, as with a bare collection.
        match self.put_if_absent(OWNER_FILE, b"{}")? {
            200..=299 => {}
            412 => return Ok(false),
            status => return Err(self.failed("PUT", OWNER_FILE, status)),
        }
        if self.conditional_put_honoured.get().is_none() {
            let again = self.put_if_absent(OWNER_FILE, b"{}")?;
            self.conditional_put_honoured.set(Some(again == 412));
        }
        Ok(true)
    }

    fn remove_lock(&self) -> Result<(), PublishError> {
        if self.mode == Mode::WebDav {
            return self.delete(&format!("{LOCK_DIR}/"));
        }
        self.delete(OWNER_FILE)?;
        // The folder a server made for the owner file, where it keeps folders (nginx); a server
        // without folders (Nexus) has nothing there.
        let _ = self.request("DELETE", &format!("{LOCK_DIR}/"), &[], None);
        Ok(())
    }

    fn break_lock(&self, token: &str, stale: Option<&LockOwner>) -> Result<(), PublishError> {
        let broken_name = format!("{}/", broken_lock_name(token));
        let destination = self.url(&broken_name);
        let status = if self.mode == Mode::WebDav {
            self.request(
                "MOVE",
                &format!("{LOCK_DIR}/"),
                &[("Destination", &destination), ("Overwrite", "F")],
                None,
            )?
        } else {
            405
        };
        match status {
            200..=299 => {}
            // Another breaker won, or its owner released it.
            404 | 409 | 412 => return Ok(()),
            // A server without MOVE: deleting is all there is.
            405 | 501 => return self.remove_lock(),
            status => return Err(self.failed("MOVE", LOCK_DIR, status)),
        }
        let moved: Option<LockOwner> = self
            .get(&format!("{broken_name}owner"), REPOMD_LIMIT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if moved.as_ref() != stale {
            let back = self.url(&format!("{LOCK_DIR}/"));
            let _ = self.request(
                "MOVE",
                &broken_name,
                &[("Destination", &back), ("Overwrite", "F")],
                None,
            );
        }
        self.delete(&broken_name)
    }

    fn location(&self) -> Location {
        Location::Url(self.base.clone())
    }
}
