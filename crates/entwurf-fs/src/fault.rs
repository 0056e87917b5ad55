//! The crash seam: abort the process just before the Nth mutating call.
//!
//! With the cargo feature `fault-injection` (off by default; enabled only by the fault build
//! of `cargo xtask faults` and by test builds), every mutating call of this layer (create,
//! write, link, rename, exchange, unlink, mkdir) first calls [`point`], which counts it and
//! calls `std::process::abort` (a real crash: no destructors, no cleanup) when the count
//! reaches the value of `ENTWURF_FAULT_ABORT_AT` (read once). `ENTWURF_FAULT_TRACE=1` prints
//! each point to stderr (`entwurf-fault #N <op> <name>`), so a driver can say where a kill
//! landed. Without the feature, [`point`] is an empty inline function and neither variable is
//! ever read.

/// Counts one mutating call and aborts the process when the armed count is reached.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_op: &'static str, _name: &str) {}

/// Whether this build carries the seam.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

#[cfg(feature = "fault-injection")]
mod seam {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static COUNT: AtomicU64 = AtomicU64::new(0);
    static ARMED: AtomicU64 = AtomicU64::new(0);
    static ENV: OnceLock<(u64, bool)> = OnceLock::new();

    fn env() -> (u64, bool) {
        *ENV.get_or_init(|| {
            let at = std::env::var("ENTWURF_FAULT_ABORT_AT")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let trace = std::env::var_os("ENTWURF_FAULT_TRACE").is_some_and(|v| v == "1");
            (at, trace)
        })
    }

    /// See the module docs.
    pub fn point(op: &'static str, name: &str) {
        let (env_at, trace) = env();
        let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        let armed = match ARMED.load(Ordering::SeqCst) {
            0 => env_at,
            a => a,
        };
        if trace {
            eprintln!("entwurf-fault #{n} {op} {name}");
        }
        if armed != 0 && n == armed {
            eprintln!("entwurf-fault: abort before #{n} {op} {name}");
            std::process::abort();
        }
    }

    /// Arms the seam in this process (overrides the environment): abort before call `n`
    /// counted from now (`0` disarms). Resets the counter.
    pub fn arm(n: u64) {
        COUNT.store(0, Ordering::SeqCst);
        ARMED.store(n, Ordering::SeqCst);
    }

    /// How many mutating calls were counted since the start (or the last [`arm`]).
    pub fn count() -> u64 {
        COUNT.load(Ordering::SeqCst)
    }
}

#[cfg(feature = "fault-injection")]
pub use seam::{arm, count, point};
