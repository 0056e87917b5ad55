//! `entwurf lock show` / `entwurf lock clear` against a temp lock dir (and a temp HOME).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use entwurf_lock::{os_hostname, AcquireOutcome, Lock};
use entwurf_meta_session::GardenId;
use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::success_json;
use entwurf_testkit::dead_pid;

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            tmp: common::temp_root(&[]),
        }
    }
    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("locks")
    }
    /// `entwurf --lock-dir <dir> lock …` with HOME pointing into the temp dir.
    fn entwurf(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare(args);
        cmd.arg("--lock-dir").arg(self.dir());
        cmd
    }
    /// `entwurf lock …` with no `--lock-dir`.
    fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = common::entwurf(self.home());
        cmd.arg("lock").args(args);
        cmd
    }
    fn lock_path(&self, gid: &GardenId) -> PathBuf {
        self.dir().join(format!("{gid}.lock"))
    }
    /// Writes a claim for `gid` with the given pid and host.
    fn install(&self, gid: &GardenId, pid: u32, host: &str) -> PathBuf {
        fs::create_dir_all(self.dir()).unwrap();
        let path = self.lock_path(gid);
        fs::write(
            &path,
            format!(
                "{{\"gardenId\":\"{gid}\",\"pid\":{pid},\"hostname\":\"{host}\",\"createdAt\":\"2026-06-12T10:00:00.000Z\",\"nonce\":\"deadbeefcafef00d\",\"owner\":\"entwurf_v2\",\"lockPath\":\"{}\"}}\n",
                path.display()
            ),
        )
        .unwrap();
        path
    }
}

fn gid() -> GardenId {
    GardenId::mint()
}

#[test]
fn show_without_a_lock_says_so_and_creates_nothing() {
    let env = Env::new();
    let g = gid();
    env.entwurf(&["show", g.as_str()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("no lock for {g}")));
    let v = success_json(&mut env.entwurf(&["show", g.as_str(), "--json"]));
    assert_eq!(v["present"], false);
    assert_eq!(v["gardenId"], g.as_str());
    assert_eq!(v["lockPath"], env.lock_path(&g).to_str().unwrap());
    assert!(!env.dir().exists());
}

#[test]
fn show_reports_a_live_holder_on_this_host() {
    let env = Env::new();
    let g = gid();
    let lock = Lock::new(env.dir());
    let AcquireOutcome::Acquired(claim) = lock.acquire(&g).unwrap() else {
        panic!("fresh dir");
    };
    env.entwurf(&["show", g.as_str()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "holder  pid {} on host {}",
            std::process::id(),
            os_hostname()
        )))
        .stdout(predicate::str::contains(format!(
            "since   {}",
            claim.created_at
        )))
        .stdout(predicate::str::contains("alive on this host"))
        .stdout(predicate::str::contains("mtime   20"));
    let v = success_json(&mut env.entwurf(&["show", g.as_str(), "--json"]));
    assert_eq!(v["present"], true);
    assert_eq!(v["state"], "alive");
    assert_eq!(v["alive"], true);
    assert_eq!(v["holder"]["pid"], std::process::id());
    assert_eq!(v["holder"]["hostname"], os_hostname());
    assert_eq!(v["holder"]["nonce"], claim.nonce.as_str());
    assert!(v["fileMtime"].as_str().unwrap().ends_with('Z'));
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("held by pid {} on host ", std::process::id())));
    lock.release(&claim).unwrap();
}

#[test]
fn show_reports_corrupt_and_other_host_holders_as_unknown() {
    let env = Env::new();
    let g = gid();
    fs::create_dir_all(env.dir()).unwrap();
    fs::write(env.lock_path(&g), "not json at all\n").unwrap();
    let v = success_json(&mut env.entwurf(&["show", g.as_str(), "--json"]));
    assert_eq!(v["state"], "corrupt");
    assert_eq!(v["holder"], Value::Null);
    assert_eq!(v["alive"], Value::Null);
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .contains("is empty, corrupt, or holds a different garden id"));

    env.install(&g, 4242, "some-other-host");
    let v = success_json(&mut env.entwurf(&["show", g.as_str(), "--json"]));
    assert_eq!(v["state"], "other-host");
    assert_eq!(v["alive"], Value::Null);
}

#[test]
fn clear_refuses_a_live_holder_and_says_who_holds_it_until_forced() {
    let env = Env::new();
    let g = gid();
    let path = env.install(&g, std::process::id(), &os_hostname());
    let before = fs::read(&path).unwrap();
    env.entwurf(&["clear", g.as_str()])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "held by pid {} on host {}",
            std::process::id(),
            os_hostname()
        )))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(fs::read(&path).unwrap(), before, "lock kept");

    env.entwurf(&["clear", g.as_str(), "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "cleared {}",
            path.display()
        )));
    assert!(!path.exists());
}

#[test]
fn clear_refuses_another_hosts_holder_and_a_corrupt_file_without_force() {
    let env = Env::new();
    let g = gid();
    let path = env.install(&g, dead_pid(), "some-other-host");
    env.entwurf(&["clear", g.as_str()])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("on host some-other-host"));
    assert!(path.exists());

    fs::write(&path, "").unwrap();
    let out = env
        .entwurf(&["clear", g.as_str(), "--json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    // One error object; the refusal's status is its `details`.
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["kind"], "refused");
    assert_eq!(v["error"]["path"], path.to_str().unwrap());
    let v = &v["error"]["details"];
    assert_eq!(v["result"], "refused");
    assert_eq!(v["status"]["state"], "corrupt");
    assert!(path.exists());
}

#[test]
fn clear_removes_a_provably_dead_same_host_holder_without_force() {
    let env = Env::new();
    let g = gid();
    let path = env.install(&g, dead_pid(), &os_hostname());
    let v = success_json(&mut env.entwurf(&["clear", g.as_str(), "--json"]));
    assert_eq!(v["result"], "cleared");
    assert_eq!(v["was"]["state"], "dead");
    assert_eq!(v["was"]["alive"], false);
    assert!(!path.exists());
    env.entwurf(&["clear", g.as_str()])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to clear"));
}

#[test]
fn an_invalid_gid_is_refused_with_the_reference_text_before_any_dir_exists() {
    let env = Env::new();
    for sub in ["show", "clear"] {
        env.entwurf(&[sub, "../etc/passwd"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "entwurf-v2-lock: refusing to build a lock path from an invalid garden id (\"../etc/passwd\").",
            ));
    }
    assert!(!env.dir().exists());
}

#[test]
fn a_directory_at_the_lock_path_is_a_typed_error() {
    let env = Env::new();
    let g = gid();
    fs::create_dir_all(env.lock_path(&g)).unwrap();
    env.entwurf(&["show", g.as_str()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot read the lock file {}",
            env.lock_path(&g).display()
        )));
}

fn show_path(cmd: &mut Command) -> PathBuf {
    PathBuf::from(success_json(cmd)["lockPath"].as_str().unwrap())
}

#[test]
fn the_lock_dir_comes_from_flag_then_env_then_home() {
    let env = Env::new();
    let g = gid();
    let name = format!("{g}.lock");
    // Default: $HOME/.pi/entwurf-v2-locks.
    assert_eq!(
        show_path(&mut env.bare(&["show", g.as_str(), "--json"])),
        env.home().join(".pi/entwurf-v2-locks").join(&name)
    );
    // ENTWURF_V2_LOCK_DIR, with ~ expanded against HOME.
    assert_eq!(
        show_path(
            env.bare(&["show", g.as_str(), "--json"])
                .env("ENTWURF_V2_LOCK_DIR", "~/envlocks")
        ),
        env.home().join("envlocks").join(&name)
    );
    // An empty variable counts as unset.
    assert_eq!(
        show_path(
            env.bare(&["show", g.as_str(), "--json"])
                .env("ENTWURF_V2_LOCK_DIR", "")
        ),
        env.home().join(".pi/entwurf-v2-locks").join(&name)
    );
    // --lock-dir wins over the variable.
    assert_eq!(
        show_path(
            env.entwurf(&["show", g.as_str(), "--json"])
                .env("ENTWURF_V2_LOCK_DIR", "~/envlocks")
        ),
        env.dir().join(&name)
    );
    assert!(
        !Path::new(&env.home().join(".pi")).exists(),
        "show creates nothing"
    );
}
