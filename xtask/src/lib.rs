//! What the `xtask` binary and the `entwurf-bench` binary share: the bench report's types
//! ([`report`]) and the reference's figures they are compared with ([`mod@reference`]).
#![deny(missing_docs)]

pub mod reference;
pub mod report;
