//! Test-harness helpers for the deterministic matrix (`tests/matrix.rs`) and the live gate
//! (`tests/matrix_live.rs`).
