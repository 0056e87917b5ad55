//! The enqueue receipt's message file: the mailbox hand does not return the name it wrote, so
//! the MCP dispatch runs production's hands through [`NamingHands`], which lists the target's
//! mailbox around the enqueue and names the one message that appeared. Two enqueues racing into
//! the same mailbox make it ambiguous: then no name is given (never a wrong one).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use entwurf_decider::{
    ControlSendResult, ControlSocketPlan, HandError, MailboxAck, MetaMailboxPlan, NativePushAck,
    NativePushPlan, Production, SpawnBgPlan, SpawnBgResumeResult, TransportHands,
};
use entwurf_lock::LockClaim;

/// Message names (`….msg`, a `.delivered` suffix dropped) in a mailbox dir.
pub fn message_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .filter_map(|n| {
                    n.strip_suffix(".delivered")
                        .map(str::to_owned)
                        .or(Some(n))
                        .filter(|n| n.ends_with(".msg"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The single name in `after` that is not in `before`, if exactly one.
pub fn the_new_one(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Option<String> {
    let mut new = after.difference(before);
    match (new.next(), new.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Production's hands, noting the file a mailbox enqueue wrote.
pub struct NamingHands<'a> {
    inner: &'a Production,
    written: Mutex<Option<PathBuf>>,
}

impl<'a> NamingHands<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a Production) -> Self {
        Self {
            inner,
            written: Mutex::new(None),
        }
    }

    /// The message file the mailbox hand wrote, when it could be named.
    pub fn written(&self) -> Option<PathBuf> {
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn named<F>(&self, plan: &MetaMailboxPlan, send: F) -> Result<MailboxAck, HandError>
    where
        F: std::future::Future<Output = Result<MailboxAck, HandError>>,
    {
        let dir = plan.mailbox_dir.join(plan.target_garden_id.as_str());
        let before = message_names(&dir);
        let ack = send.await?;
        if ack.success {
            let name = the_new_one(&before, &message_names(&dir)).map(|n| dir.join(n));
            *self
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = name;
        }
        Ok(ack)
    }
}

#[async_trait]
impl TransportHands for NamingHands<'_> {
    async fn send_control(
        &self,
        plan: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError> {
        self.inner.send_control(plan, lock).await
    }

    async fn send_mailbox(
        &self,
        plan: &MetaMailboxPlan,
        lock: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError> {
        self.named(plan, self.inner.send_mailbox(plan, lock)).await
    }

    async fn resume_spawn_bg(
        &self,
        plan: &SpawnBgPlan,
        lock: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError> {
        self.inner.resume_spawn_bg(plan, lock).await
    }

    async fn send_native_push(
        &self,
        plan: &NativePushPlan,
        lock: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError> {
        self.inner.send_native_push(plan, lock).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_new_message_is_named() {
        let before: BTreeSet<String> = ["a.msg".to_owned()].into();
        let one: BTreeSet<String> = ["a.msg".to_owned(), "b.msg".to_owned()].into();
        assert_eq!(the_new_one(&before, &one).as_deref(), Some("b.msg"));
        let two: BTreeSet<String> = ["a.msg", "b.msg", "c.msg"].map(String::from).into();
        assert_eq!(the_new_one(&before, &two), None);
        assert_eq!(the_new_one(&before, &before), None);
    }

    #[test]
    fn a_delivered_message_keeps_its_name_and_other_files_are_ignored() {
        let t = tempfile::tempdir().unwrap();
        for n in [
            "x.msg.delivered",
            "y.msg",
            "state.json",
            "inbox.signal",
            ".z.msg",
            "w.msg.read",
        ] {
            std::fs::write(t.path().join(n), "").unwrap();
        }
        let names: Vec<String> = message_names(t.path()).into_iter().collect();
        assert_eq!(names, ["x.msg", "y.msg"]);
    }
}
