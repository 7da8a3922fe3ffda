//! Pulp 3 (Satellite, Katello, or Pulp on its own) as a publish target, through its REST API:
//! `https://pulp.example.com/BASE` names the repository and the distribution `BASE` (a `/` in it
//! becomes `-` in their names), served by Pulp's content app at `<content origin>/pulp/content/BASE/`.
//!
//! 1. each package the build's metadata lists is found in Pulp by its sha256, or uploaded
//!    (`content/rpm/packages/`, one task each);
//! 2. one `modify` of the repository adds what it lacks and removes what the build no longer lists:
//!    one new repository version;
//! 3. a publication of that version (Pulp writes the metadata, and signs it with the repository's
//!    signing service when its administrator set one);
//! 4. the distribution is pointed at the publication in one update: readers switch from the old
//!    publication to the new one at once.
//!
//! Every step is idempotent, so a publish interrupted anywhere and run again completes. Pulp runs
//! each repository's tasks one at a time, so two publishers cannot corrupt it; the last one to
//! publish wins. Old versions and publications stay in Pulp, by its own retention.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{PublishError, PublishReport};
use crate::http::{Client, METADATA_LIMIT, PACKAGE_LIMIT, SizeLimit};
use crate::repository::RepositoryIndex;

/// What one Pulp answer may weigh: lists are paged, tasks are small.
const ANSWER_LIMIT: SizeLimit = METADATA_LIMIT;
/// How long one task (an upload, a publication) may run.
const TASK_LIMIT: Duration = Duration::from_secs(1800);
const API: &str = "/pulp/api/v3/";

pub(super) struct Pulp {
    client: Client,
    /// `scheme://host:port`.
    origin: String,
    /// The repository's and the distribution's name.
    name: String,
    base_path: String,
    /// The signing service (set up by Pulp's administrator) that signs the repository's metadata.
    signing_service: Option<String>,
}

impl Pulp {
    pub(super) fn open(target: &str, signing_service: Option<&str>) -> Result<Pulp, PublishError> {
        let refused = |why: &str| {
            PublishError::Refused(format!(
                "{target}: {why}; give Pulp's address and the base path to serve the repository at, e.g. https://pulp.example.com/hostnet"
            ))
        };
        // The URL parser would resolve `a/../b` to `b`: the path must be the one written.
        if target.split('/').any(|part| part == "." || part == "..") {
            return Err(refused("a path with . or .. in it"));
        }
        let url = url::Url::parse(target).map_err(|e| refused(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(refused("not an http(s) URL without a query"));
        }
        let base_path = url.path().trim_matches('/').to_string();
        if base_path.is_empty()
            || !base_path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            || base_path
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(refused(
                "no base path, or one with characters other than letters, digits and - _ . /",
            ));
        }
        if let Some(name) = signing_service
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(PublishError::Refused(format!(
                "--signing-service {name:?}: a Pulp signing service's name, in letters, digits and - _ ."
            )));
        }
        let origin = url.origin().ascii_serialization();
        Ok(Pulp {
            client: Client::for_url(target)?,
            name: base_path.replace('/', "-"),
            base_path,
            origin,
            signing_service: signing_service.map(String::from),
        })
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "Pulp at {} (repository and distribution {:?}, base path {})",
            self.origin, self.name, self.base_path
        )
    }

    /// The URL of an href Pulp gave: a path on Pulp's own origin, never another server (the
    /// credentials go with every request).
    fn url(&self, href: &str) -> Result<String, PublishError> {
        if href.starts_with('/') && !href.starts_with("//") {
            return Ok(format!("{}{href}", self.origin));
        }
        match href.strip_prefix(&self.origin) {
            Some(path) if path.starts_with('/') => Ok(href.to_string()),
            _ => Err(PublishError::Target {
                what: self.describe(),
                detail: format!(
                    "it names {href:?}, which is not on {}: refusing to send its credentials elsewhere",
                    self.origin
                ),
            }),
        }
    }

    fn call(&self, method: &str, href: &str, body: Option<&Value>) -> Result<Value, PublishError> {
        let text = body.map(Value::to_string);
        let headers: &[(&str, &str)] = match body {
            Some(_) => &[("Content-Type", "application/json")],
            None => &[],
        };
        let url = self.url(href)?;
        let answer = self.client.request(
            method,
            &url,
            headers,
            text.as_deref().map(str::as_bytes),
            ANSWER_LIMIT,
        )?;
        self.parse(method, &url, answer)
    }

    fn parse(
        &self,
        method: &str,
        url: &str,
        answer: crate::http::Answer,
    ) -> Result<Value, PublishError> {
        if !(200..300).contains(&answer.status) {
            return Err(PublishError::Target {
                what: format!("{method} {url}"),
                detail: crate::http::describe_status(answer.status),
            });
        }
        serde_json::from_slice(&answer.body).map_err(|e| PublishError::Target {
            what: format!("{method} {url}"),
            detail: format!("not Pulp's JSON: {e}"),
        })
    }

    /// Every result of a paged list, following `next`.
    fn list(&self, href: &str) -> Result<Vec<Value>, PublishError> {
        let mut results = Vec::new();
        let mut next = Some(href.to_string());
        while let Some(page) = next {
            let answer = self.call("GET", &page, None)?;
            results.extend(answer["results"].as_array().cloned().unwrap_or_default());
            next = answer["next"].as_str().map(String::from);
        }
        Ok(results)
    }

    /// Waits for the task an answer names; its created resources.
    fn wait(&self, answer: &Value) -> Result<Vec<String>, PublishError> {
        let Some(task) = answer["task"].as_str() else {
            return Err(self.odd("an answer without its task", answer));
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        while started.elapsed() < TASK_LIMIT {
            let state = self.call("GET", task, None)?;
            match state["state"].as_str() {
                Some("completed") => {
                    return Ok(state["created_resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(String::from))
                        .collect());
                }
                Some("failed" | "canceled" | "skipped") => {
                    return Err(PublishError::Target {
                        what: format!("Pulp task {task}"),
                        detail: format!(
                            "{}: {}",
                            state["state"].as_str().unwrap_or_default(),
                            state["error"]["description"]
                                .as_str()
                                .unwrap_or("no reason given")
                        ),
                    });
                }
                _ => std::thread::sleep(pause),
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        Err(PublishError::Target {
            what: format!("Pulp task {task}"),
            detail: format!(
                "not finished after {} s; it may still complete: run publish again",
                TASK_LIMIT.as_secs()
            ),
        })
    }

    fn odd(&self, what: &str, answer: &Value) -> PublishError {
        PublishError::Target {
            what: self.describe(),
            detail: format!("{what}: {answer}"),
        }
    }

    /// The one object of a filtered list, if any.
    fn find(&self, href: &str) -> Result<Option<Value>, PublishError> {
        Ok(self.list(href)?.into_iter().next())
    }

    /// The repository, made if missing, whose metadata its signing service signs: hosts read it
    /// with repo_gpgcheck=1, and `build --previous` trusts only metadata signed by the build's key.
    fn repository(&self) -> Result<Value, PublishError> {
        let signing = match &self.signing_service {
            Some(name) => {
                let query = format!("{API}signing-services/?name={name}");
                let found = self.find(&query)?.ok_or_else(|| {
                    PublishError::Refused(format!(
                        "{} has no signing service {name:?}; its administrator adds one that signs with the build's key (pulpcore-manager add-signing-service, class core:AsciiArmoredDetachedSigningService): see docs/operations.md",
                        self.describe()
                    ))
                })?;
                found["pulp_href"].as_str().map(String::from)
            }
            None => None,
        };
        let query = format!("{API}repositories/rpm/rpm/?name={}", self.name);
        let repository = match self.find(&query)? {
            Some(found) => found,
            None => self.call(
                "POST",
                &format!("{API}repositories/rpm/rpm/"),
                Some(&json!({ "name": self.name })),
            )?,
        };
        let current = repository["metadata_signing_service"].as_str();
        match (signing, current) {
            (Some(wanted), current) if current != Some(wanted.as_str()) => {
                let href = repository["pulp_href"].as_str().unwrap_or_default();
                let answer = self.call(
                    "PATCH",
                    href,
                    Some(&json!({ "metadata_signing_service": wanted })),
                )?;
                self.wait(&answer)?;
                self.call("GET", href, None)
            }
            (None, None) => Err(PublishError::Refused(format!(
                "{}: the repository's metadata would not be signed, so hosts could not read it with repo_gpgcheck=1 and build --previous would not trust it; give --signing-service with the Pulp signing service that signs with the build's key",
                self.describe()
            ))),
            _ => Ok(repository),
        }
    }

    /// The href of the package whose sha256 is `pkgid`, if Pulp has it.
    fn package(&self, pkgid: &str) -> Result<Option<String>, PublishError> {
        let query = format!("{API}content/rpm/packages/?sha256={pkgid}&fields=pulp_href");
        Ok(self
            .find(&query)?
            .and_then(|found| found["pulp_href"].as_str().map(String::from)))
    }

    /// Uploads the package `bytes` (sha256 `pkgid`); the href of the package it made.
    fn upload(
        &self,
        pkgid: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, PublishError> {
        // One part, the file; a boundary made of the content's own digest cannot occur in it.
        let boundary = format!("hostnet-{pkgid}");
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/x-rpm\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let url = self.url(&format!("{API}content/rpm/packages/"))?;
        let answer = self.client.request(
            "POST",
            &url,
            &[("Content-Type", &content_type)],
            Some(&body),
            ANSWER_LIMIT,
        )?;
        let answer = self.parse("POST", &url, answer)?;
        let created = self.wait(&answer)?;
        Ok(created
            .into_iter()
            .find(|href| href.contains("/content/rpm/packages/")))
    }
}

/// Publishes the build `local` (its files under `repo`) to Pulp.
pub(super) fn publish(
    pulp: &Pulp,
    repo: &std::path::Path,
    local: &RepositoryIndex,
    progress: &mut dyn FnMut(&str),
) -> Result<PublishReport, PublishError> {
    progress(&format!(
        "publishing to {}: one new repository version and publication, which the distribution switches to in one update; Pulp runs one task at a time per repository, so concurrent publishers cannot corrupt it (the last one wins)",
        pulp.describe()
    ));
    let mut report = PublishReport::default();
    let repository = pulp.repository()?;
    let Some(repository_href) = repository["pulp_href"].as_str().map(String::from) else {
        return Err(pulp.odd("a repository without its href", &repository));
    };

    // 1. Packages, by content.
    let mut wanted = Vec::new();
    for package in &local.packages {
        let location = package.location.as_str();
        let local_bytes = super::optional_local(repo, location, PACKAGE_LIMIT)?;
        if let Some(bytes) = &local_bytes
            && crate::digest::sha256_hex(bytes) != package.pkgid
        {
            return Err(PublishError::Refused(format!(
                "{}: its sha256 is not the one repodata lists; rebuild",
                repo.join(location).display()
            )));
        }
        let file_name = location.rsplit('/').next().unwrap_or(location);
        let known = pulp.package(&package.pkgid)?;
        let href = match (known, &local_bytes) {
            (Some(href), _) => {
                report.already_there.push(location.to_string());
                href
            }
            (None, Some(bytes)) => {
                progress(&format!("uploading {location}"));
                let href = pulp.upload(&package.pkgid, file_name, bytes)?;
                report
                    .uploaded
                    .push((location.to_string(), bytes.len() as u64));
                href.ok_or_else(|| pulp.odd("an upload that created no package", &json!(location)))?
            }
            (None, None) => {
                return Err(PublishError::Refused(format!(
                    "the metadata lists {location}, which is neither in {} nor in {}; build again with --previous pointing at what Pulp serves",
                    repo.display(),
                    pulp.describe()
                )));
            }
        };
        wanted.push(href);
    }

    // 2. One new repository version: exactly the build's packages.
    let latest = repository["latest_version_href"]
        .as_str()
        .unwrap_or_default();
    let present: Vec<Value> = pulp.list(&format!(
        "{API}content/rpm/packages/?repository_version={latest}&fields=pulp_href,location_href"
    ))?;
    let remove: Vec<&str> = present
        .iter()
        .filter_map(|p| p["pulp_href"].as_str())
        .filter(|href| !wanted.iter().any(|w| w == href))
        .collect();
    let add: Vec<&String> = wanted
        .iter()
        .filter(|w| {
            !present
                .iter()
                .any(|p| p["pulp_href"].as_str() == Some(w.as_str()))
        })
        .collect();
    for gone in present
        .iter()
        .filter(|p| remove.contains(&p["pulp_href"].as_str().unwrap_or_default()))
    {
        report
            .deleted
            .push(gone["location_href"].as_str().unwrap_or("?").to_string());
    }
    let version = if add.is_empty() && remove.is_empty() {
        latest.to_string()
    } else {
        let answer = pulp.call(
            "POST",
            &format!("{repository_href}modify/"),
            Some(&json!({ "add_content_units": add, "remove_content_units": remove })),
        )?;
        pulp.wait(&answer)?
            .into_iter()
            .find(|href| href.contains("/versions/"))
            .unwrap_or_else(|| latest.to_string())
    };

    // 3. Its publication, and 4. the distribution switched to it.
    let answer = pulp.call(
        "POST",
        &format!("{API}publications/rpm/rpm/"),
        Some(&json!({ "repository_version": version })),
    )?;
    let publication = pulp
        .wait(&answer)?
        .into_iter()
        .find(|href| href.contains("/publications/"))
        .ok_or_else(|| pulp.odd("a publication task that created no publication", &answer))?;
    let query = format!("{API}distributions/rpm/rpm/?name={}", pulp.name);
    let answer = match pulp.find(&query)? {
        Some(distribution) => {
            let href = distribution["pulp_href"].as_str().unwrap_or_default();
            pulp.call(
                "PATCH",
                href,
                Some(&json!({ "publication": publication, "base_path": pulp.base_path })),
            )?
        }
        None => pulp.call(
            "POST",
            &format!("{API}distributions/rpm/rpm/"),
            Some(&json!({ "name": pulp.name, "base_path": pulp.base_path, "publication": publication })),
        )?,
    };
    pulp.wait(&answer)?;
    progress(&format!(
        "Pulp serves {version} (publication {publication}) at its content app, under /pulp/content/{}/",
        pulp.base_path
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(target: &str) -> Result<Pulp, String> {
        Pulp::open(target, None).map_err(|e| e.to_string())
    }

    #[test]
    fn the_url_names_pulp_and_the_base_path() {
        let pulp = opened("https://pulp.example.com:8443/hostnet/el9").unwrap();
        assert_eq!(pulp.origin, "https://pulp.example.com:8443");
        assert_eq!(pulp.base_path, "hostnet/el9");
        assert_eq!(pulp.name, "hostnet-el9");
        for bad in [
            "https://pulp.example.com",
            "https://pulp.example.com/",
            "https://pulp.example.com/a/../b",
            "https://pulp.example.com/a b",
            "https://pulp.example.com/hostnet?x=1",
            "ftp://pulp.example.com/hostnet",
            "/srv/www/hostnet",
        ] {
            let error = opened(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(
                error.contains("give Pulp's address and the base path"),
                "{error}"
            );
        }
    }

    #[test]
    fn hrefs_stay_on_pulps_origin() {
        let pulp = opened("https://pulp.example.com/hostnet").unwrap();
        assert_eq!(
            pulp.url("/pulp/api/v3/tasks/1/").unwrap(),
            "https://pulp.example.com/pulp/api/v3/tasks/1/"
        );
        assert_eq!(
            pulp.url("https://pulp.example.com/pulp/api/v3/?offset=100")
                .unwrap(),
            "https://pulp.example.com/pulp/api/v3/?offset=100"
        );
        for elsewhere in [
            "https://evil.example.net/pulp/api/v3/",
            "https://pulp.example.com.evil.example.net/x",
            "//evil.example.net/x",
            "http://pulp.example.com/pulp/api/v3/",
        ] {
            let error = pulp.url(elsewhere).unwrap_err().to_string();
            assert!(
                error.contains("refusing to send its credentials elsewhere"),
                "{error}"
            );
        }
    }
}
