//! Reading the target's identity (its meta record) and judging its receiver, through the
//! meta-session store.

use std::path::{Path, PathBuf};

use entwurf_meta_session::{
    armed_receiver, read_record, record_path, GardenId, MetaRecord, RecordError,
};

use crate::error::MailboxError;

/// Reads the record for `gid` (it must exist, parse, and name `gid` in its body) and returns it
/// with its path. A v1 record is normalised, never rewritten: the mailbox does not modify records.
pub(crate) fn read_identity(
    sessions_dir: &Path,
    gid: &GardenId,
) -> Result<(MetaRecord, PathBuf), MailboxError> {
    match read_record(sessions_dir, gid) {
        Ok(record) => Ok((record, record_path(sessions_dir, gid))),
        Err(RecordError::NotFound { gid, dir }) => Err(MailboxError::RecordMissing {
            gid,
            sessions_dir: dir,
        }),
        Err(source) => Err(MailboxError::Record {
            gid: gid.clone(),
            source,
        }),
    }
}

/// True when a receiver marker for the record's gid reads with a live owner (start-key check)
/// and matches the record's gardenId, backend and nativeSessionId.
pub(crate) fn live_matching_receiver(receivers_dir: &Path, record: &MetaRecord) -> bool {
    armed_receiver(receivers_dir, record).is_some()
}
