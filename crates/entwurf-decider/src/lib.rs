//! Dispatch: the contract (receipts, reject reasons, tables), the pure decider, the runner and
//! its transport hands, and production wiring.
