//! `entwurf_inbox_wait`: block, bounded, until a mailbox holds unread mail.
//!
//! inotify watches the citizen's mailbox dir (a `.msg` renamed in, the `inbox.signal` doorbell
//! rewritten) — or the mailbox root until that dir exists. The watch is set up before the
//! unread count is checked, so a message landing in between still wakes the wait. When not
//! even the root exists there is nothing to watch and the check repeats every 250 ms.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use entwurf_mailbox::MailboxError;
use entwurf_meta_session::GardenId;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// How often the count is re-checked when no directory can be watched.
const UNWATCHED_RECHECK: Duration = Duration::from_millis(250);

/// Waits until `<mailbox>/<gid>` holds unread messages or `timeout` passes; returns the unread
/// count (0 on timeout).
pub fn wait_for_mail(
    mailbox_dir: &Path,
    gid: &GardenId,
    timeout: Duration,
) -> Result<usize, MailboxError> {
    let deadline = Instant::now() + timeout;
    let dir = entwurf_mailbox::mailbox_path(mailbox_dir, gid);
    loop {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
        let watched = inotify.as_ref().is_some_and(|ino| {
            let in_dir = AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY;
            ino.add_watch(&dir, in_dir).is_ok()
                || ino
                    .add_watch(
                        mailbox_dir,
                        AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                    )
                    .is_ok()
        });
        let unread = entwurf_mailbox::list(mailbox_dir, gid)?.unread().count();
        if unread > 0 {
            return Ok(unread);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(0);
        }
        let mut slice = deadline - now;
        if !watched {
            slice = slice.min(UNWATCHED_RECHECK);
        }
        match &inotify {
            Some(ino) if watched => {
                let ms = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
                // An interrupted or failed poll just re-checks.
                let _ = poll(&mut fds, PollTimeout::from(ms));
            }
            _ => std::thread::sleep(slice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_mailbox_times_out_with_zero() {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260101T000000-aaaaaa").unwrap();
        assert_eq!(
            wait_for_mail(t.path(), &gid, Duration::from_millis(0)).unwrap(),
            0
        );
    }

    #[test]
    fn mail_already_there_returns_at_once() {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260101T000000-aaaaaa").unwrap();
        let dir = t.path().join(gid.as_str());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("2026-01-01T00-00-00-000Z-000001.msg"), "x").unwrap();
        assert_eq!(
            wait_for_mail(t.path(), &gid, Duration::from_secs(600)).unwrap(),
            1
        );
    }
}
