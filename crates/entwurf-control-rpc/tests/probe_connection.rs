//! The probe that keeps its connection: the request follows on it (one connection per send),
//! a refused or missing socket probes dead, a listener gone before the request still ends as a
//! dead connect, and a reply slower than the poll window is awaited on the reactor.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use entwurf_control_rpc::{
    probe_connect, send_message_within, FailureClass, Probed, Request, RpcError, SendRequest,
    SocketLiveness,
};

const BUDGET: Duration = Duration::from_millis(5000);
const REPLY: &str = "{\"type\":\"response\",\"command\":\"send\",\"success\":true,\"data\":{\"delivered\":true,\"deliveredAs\":\"direct\",\"wantsReply\":false}}\n";

fn sock(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("20260612T100000-aaaaaa.sock")
}

/// Serves `connections` connections one after another: reads one line, waits for `go` (when
/// given), answers. Returns the lines received, in order, with the connection index.
fn serve(
    listener: UnixListener,
    connections: usize,
    go: Option<mpsc::Receiver<()>>,
) -> std::thread::JoinHandle<Vec<(usize, String)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for i in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if !line.is_empty() {
                if let Some(go) = &go {
                    go.recv().unwrap();
                }
                (&stream).write_all(REPLY.as_bytes()).unwrap();
            }
            seen.push((i, line));
        }
        seen
    })
}

#[tokio::test]
async fn the_request_follows_on_the_probe_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    // Exactly one connection is served: a second connect would hang this test's join.
    let server = serve(listener, 1, None);
    let Probed::Alive(conn) = probe_connect(&path) else {
        panic!("a bound listener must probe alive");
    };
    assert_eq!(conn.path(), path.as_path());
    let ack = conn
        .send_message(SendRequest::new("hello"), BUDGET)
        .await
        .unwrap();
    assert!(ack.success);
    let seen = server.join().unwrap();
    let line = Request::Send(SendRequest::new("hello")).to_line();
    assert_eq!(seen, vec![(0, line)]);
}

#[rstest::rstest]
#[case::no_file(false)]
#[case::stale_file(true)]
fn nobody_listening_probes_dead(#[case] stale_file: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    if stale_file {
        drop(UnixListener::bind(&path).unwrap());
    }
    let probed = probe_connect(&path);
    assert_eq!(probed.liveness(), SocketLiveness::Dead);
    assert!(matches!(probed, Probed::Dead));
}

fn dead_connect(err: &RpcError, path: &Path) {
    match err {
        RpcError::Connect { code, .. } => assert_eq!(code, "ECONNREFUSED"),
        other => panic!("expected a refused connect, got {other:?}"),
    }
    assert_eq!(err.class(), FailureClass::Dead);
    assert_eq!(err.path(), path);
}

#[tokio::test]
async fn a_listener_gone_before_the_request_is_a_dead_connect() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let Probed::Alive(conn) = probe_connect(&path) else {
        panic!("a bound listener must probe alive");
    };
    // The listener dies with our connection still in its backlog: nothing was ever written, so
    // the send must behave like a fresh connect to a dead socket (retry-safe), not "closed".
    drop(listener);
    let err = conn
        .send_message(SendRequest::new("hi"), BUDGET)
        .await
        .unwrap_err();
    dead_connect(&err, &path);
    // A fresh send agrees.
    let err = send_message_within(&path, SendRequest::new("hi"), BUDGET)
        .await
        .unwrap_err();
    dead_connect(&err, &path);
}

#[tokio::test(flavor = "current_thread")]
async fn a_reply_slower_than_the_poll_window_is_awaited_on_the_reactor() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let (go_tx, go_rx) = mpsc::channel();
    let server = serve(listener, 1, Some(go_rx));
    // The listener answers only once this runtime runs the second future, which it can do only
    // after the client stopped blocking in poll and yielded to the reactor.
    let (ack, ()) = tokio::join!(
        send_message_within(&path, SendRequest::new("slow"), BUDGET),
        async move { go_tx.send(()).unwrap() }
    );
    assert!(ack.unwrap().success);
    assert_eq!(server.join().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dropped_probe_connection_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let server = serve(listener, 1, None);
    let probed = probe_connect(&path);
    assert_eq!(probed.liveness(), SocketLiveness::Alive);
    drop(probed);
    assert_eq!(server.join().unwrap(), vec![(0, String::new())]);
}

/// The probe has no time budget because it never waits: against a listener that never accepts,
/// it answers `alive` while the backlog has room and `indeterminate` (`EAGAIN`) once it is full,
/// each at once. Were the connect blocking, the probe of the full backlog would hang here.
#[tokio::test]
async fn a_silent_listener_with_a_full_backlog_probes_indeterminate_without_waiting() {
    use rustix::net::{bind, listen, socket_with, AddressFamily, SocketAddrUnix, SocketFlags};
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let listener = socket_with(
        AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    bind(&listener, &SocketAddrUnix::new(&path).unwrap()).unwrap();
    // Backlog 0: the kernel queues at most one unaccepted connection; nobody ever accepts.
    listen(&listener, 0).unwrap();
    let mut queued = Vec::new();
    let full = loop {
        assert!(queued.len() < 64, "the backlog never filled");
        match probe_connect(&path) {
            Probed::Alive(conn) => queued.push(conn),
            other => break other,
        }
    };
    assert!(
        !queued.is_empty(),
        "the first probe of a silent listener is alive"
    );
    assert!(matches!(full, Probed::Indeterminate), "{full:?}");
    assert_eq!(
        entwurf_control_rpc::probe(&path).await,
        SocketLiveness::Indeterminate
    );
    drop(queued);
    drop(listener);
}
