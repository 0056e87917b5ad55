//! The meta mailbox: `<mailboxDir>/<gid>/` with `<stamp>.msg` bodies, `state.json` receipts and
//! the `inbox.signal` doorbell edge; the drain; the deliverability predicate.
