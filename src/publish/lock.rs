//! The lock that keeps two publishers of one target apart: a directory or collection made
//! atomically, with its owner inside; broken only when its owner is gone or it is older than
//! `--lock-timeout`, refreshed by a long publish, checked before the switch.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::target::{LockOwner, Target};
use super::{LOCK_DIR, PublishError};
use crate::http::REPOMD_LIMIT;

/// How long a lock may stay without its owner file before it is taken to be left by a publisher
/// killed between making the lock and writing the file (another publisher may be in that very
/// moment).
const OWNERLESS_GRACE: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(500);
/// The lock's owner file: inside the lock directory or collection, or the lock itself.
pub(super) const OWNER_FILE: &str = ".hostnet-lock/owner";

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Holds the target's lock until dropped; a long publish refreshes it, and checks it still holds
/// it before anything a client reads changes.
pub(super) struct Lock<'t> {
    target: &'t dyn Target,
    owner: std::cell::RefCell<LockOwner>,
    refreshed: std::cell::Cell<std::time::Instant>,
    refresh_every: Duration,
}

impl Lock<'_> {
    fn read_owner(target: &dyn Target) -> Result<Option<LockOwner>, PublishError> {
        Ok(target
            .get(OWNER_FILE, REPOMD_LIMIT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Refuses to go on when the lock is no longer this publisher's: another one broke it (this
    /// publish outlived `--lock-timeout` somewhere it could not refresh, or a breaker raced it).
    pub(super) fn still_held(&self) -> Result<(), PublishError> {
        let owner = Lock::read_owner(self.target)?;
        if owner.as_ref().map(|o| &o.token) != Some(&self.owner.borrow().token) {
            return Err(PublishError::Refused(format!(
                "{}: this publish no longer holds the lock (another publisher took it); stopped before changing what clients read. Run it again",
                self.target.describe(LOCK_DIR)
            )));
        }
        Ok(())
    }

    /// Renews the owner's time, so that a publish longer than `--lock-timeout` is never taken
    /// for an abandoned one; at most every quarter of that timeout.
    pub(super) fn refresh(&self) -> Result<(), PublishError> {
        if self.refreshed.get().elapsed() < self.refresh_every {
            return Ok(());
        }
        self.still_held()?;
        self.owner.borrow_mut().since = now();
        let text = serde_json::to_vec(&*self.owner.borrow()).expect("a lock owner serialises");
        self.target.put(OWNER_FILE, &text)?;
        self.refreshed.set(std::time::Instant::now());
        Ok(())
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // Never another publisher's lock.
        if self.still_held().is_ok() {
            let _ = self.target.remove_lock();
        }
    }
}

pub(super) fn lock<'t>(
    target: &'t dyn Target,
    timeout: Duration,
) -> Result<Lock<'t>, PublishError> {
    let token = format!("{:016x}", rand::random::<u64>());
    let mut ownerless_since: Option<std::time::Instant> = None;
    // Bounded: the grace of an ownerless lock, polled, and a few breaks lost to other publishers.
    let attempts = 8 + (OWNERLESS_GRACE.as_millis() / LOCK_POLL.as_millis()) as usize;
    for _ in 0..attempts {
        if target.create_lock()? {
            let owner = LockOwner {
                host: this_host(),
                pid: std::process::id(),
                since: now(),
                token,
            };
            let text = serde_json::to_vec(&owner).expect("a lock owner serialises");
            target.put(OWNER_FILE, &text)?;
            return Ok(Lock {
                target,
                owner: std::cell::RefCell::new(owner),
                refreshed: std::cell::Cell::new(std::time::Instant::now()),
                refresh_every: (timeout / 4).max(Duration::from_secs(1)),
            });
        }
        let owner = Lock::read_owner(target)?;
        let stale = match &owner {
            None => {
                let since = *ownerless_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() < OWNERLESS_GRACE {
                    std::thread::sleep(LOCK_POLL);
                    continue;
                }
                true
            }
            Some(owner) => {
                let dead_here = owner.host == this_host()
                    && !Path::new(&format!("/proc/{}", owner.pid)).exists();
                dead_here || now().saturating_sub(owner.since) >= timeout.as_secs()
            }
        };
        if !stale {
            let owner = owner.expect("checked above");
            return Err(PublishError::Refused(format!(
                "{}: another publish (pid {} on {}) has held the lock for {} s; wait for it, or remove the lock if that publisher is gone",
                target.describe(LOCK_DIR),
                owner.pid,
                owner.host,
                now().saturating_sub(owner.since)
            )));
        }
        crate::tell!(
            "hostnet: breaking the lock {} left by a publisher that is gone",
            target.describe(LOCK_DIR)
        );
        target.break_lock(&token, owner.as_ref())?;
        ownerless_since = None;
    }
    Err(PublishError::Refused(format!(
        "{}: could not take the lock",
        target.describe(LOCK_DIR)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::target::DirectoryTarget;

    /// A lock another publisher took over (its owner file replaced) is never this publisher's
    /// again: refreshing and the switch refuse, and dropping leaves the other's lock in place.
    #[test]
    fn a_lock_taken_over_is_detected_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget {
            root: dir.path().to_path_buf(),
        };
        let held = lock(&target, Duration::from_secs(0)).unwrap();
        assert!(held.still_held().is_ok());
        let other = LockOwner {
            host: this_host(),
            pid: std::process::id(),
            since: now(),
            token: "another".into(),
        };
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        let refused = held.still_held().unwrap_err().to_string();
        assert!(refused.contains("no longer holds the lock"), "{refused}");
        // refresh_every is a second at least: wait it out so that refresh checks.
        std::thread::sleep(Duration::from_millis(1100));
        assert!(held.refresh().is_err());
        drop(held);
        assert!(
            dir.path().join(OWNER_FILE).exists(),
            "the other's lock stays"
        );
    }

    /// Of two publishers breaking one stale lock, one move wins; a lock taken meanwhile by a
    /// third is put back, not deleted.
    #[test]
    fn breaking_a_lock_keeps_one_taken_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget {
            root: dir.path().to_path_buf(),
        };
        let stale = LockOwner {
            host: "gone".into(),
            pid: 1,
            since: 0,
            token: "stale".into(),
        };
        let fresh = LockOwner {
            token: "fresh".into(),
            since: now(),
            ..stale.clone()
        };
        std::fs::create_dir(dir.path().join(LOCK_DIR)).unwrap();
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&fresh).unwrap(),
        )
        .unwrap();
        // Judged stale from an earlier read, but the lock now is another's.
        target.break_lock("breaker", Some(&stale)).unwrap();
        let kept: LockOwner =
            serde_json::from_slice(&std::fs::read(dir.path().join(OWNER_FILE)).unwrap()).unwrap();
        assert_eq!(kept, fresh);
        // The stale one itself goes; a second breaker finds nothing to break.
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&stale).unwrap(),
        )
        .unwrap();
        target.break_lock("first", Some(&stale)).unwrap();
        target.break_lock("second", Some(&stale)).unwrap();
        assert!(!dir.path().join(LOCK_DIR).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
