//! What the supervisor's unit tests share: a stand-in for the shim, a
//! service spec for a trivial process, and a guard against a hang.
//!
//! The actor spawns `<exe> __shim --parent P --signal S --grace-ms N -- argv…`
//! and reads `started <pid> <start ticks>` and then `exited code|signal <n>`
//! from the shim's stdin, a pipe's write end (`spawn.rs`). The real shim is
//! the `facerunner` binary, which a unit test cannot count on (Cargo names it
//! only to integration tests, and `cargo test --lib` does not build it), so
//! these tests run the actor against [`fake_shim`], a few lines of `sh` that
//! speak the same protocol: the service leads a session (so a process group)
//! of its own, reports its own pid and start time before it `exec`s the
//! program, and the script reports how it ended. Like the real shim it dies
//! with the thread that spawned it (`setpriv --pdeathsig`; the tests run on
//! a current-thread runtime, so that is the test's thread), and the service
//! dies with it, so a failing test leaves no process behind. What else the
//! real shim does (containment, forwarding signals, the grace period when
//! the daemon dies) is covered by the integration tests, which drive the
//! real binary. Needs `sh`, `setsid` and `setpriv` (util-linux).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::model::spec::{LogSpec, RestartPolicy, RestartSpec, ServiceSpec, StopSpec};

/// The protocol of `facerunner __shim`, in `sh`.
const FAKE_SHIM: &str = r#"#!/bin/sh
# Stand-in for `facerunner __shim` in unit tests (see test_support.rs).
# This script dies with the test's thread and the service with this script,
# so a test that fails halfway leaves nothing running.
if [ -z "$FAKE_SHIM_PDEATHSIG" ]; then
  FAKE_SHIM_PDEATHSIG=1 exec setpriv --pdeathsig KILL "$0" "$@"
fi
exec 3>&0
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
setsid setpriv --pdeathsig KILL sh -c 'read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ t _ < /proc/$$/stat
echo "started $$ $t" >&3
exec 3>&-
exec "$@"' service "$@" </dev/null &
wait "$!"
code=$?
if [ "$code" -gt 128 ]; then
  echo "exited signal $((code - 128))" >&3
else
  echo "exited code $code" >&3
fi
exit "$code"
"#;

/// Write the fake shim into `dir` and return its path.
///
/// A child `sh` writes the file, so this process never holds it open for
/// writing: a thread of another test forking at that moment would carry the
/// descriptor into its child, and exec'ing the script would then fail with
/// "text file busy".
pub(crate) fn fake_shim(dir: &Path) -> PathBuf {
    let path = dir.join("fake-shim");
    let mut writer = Command::new("sh")
        .args(["-c", "umask 077 && cat > \"$1\" && chmod 700 \"$1\"", "sh"])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh to write the fake shim");
    writer
        .stdin
        .take()
        .expect("stdin")
        .write_all(FAKE_SHIM.as_bytes())
        .expect("write the fake shim");
    assert!(writer.wait().expect("wait").success(), "writing the shim");
    path
}

/// A service running `argv`, not restarted, stopped with SIGTERM.
pub(crate) fn service(name: &str, argv: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        kind: "process".into(),
        argv: argv.iter().map(|a| (*a).to_string()).collect(),
        env: BTreeMap::new(),
        secret_env: Default::default(),
        working_dir: std::env::temp_dir(),
        depends_on: vec![],
        probe: None,
        restart: RestartSpec {
            policy: RestartPolicy::No,
            ..RestartSpec::default()
        },
        stop: StopSpec {
            signal: "SIGTERM".into(),
            timeout: Duration::from_secs(10),
        },
        bind: None,
        port: None,
        log: LogSpec::default(),
        spec_hash: format!("hash of {name}"),
    }
}

/// Await `fut`; a test that would hang fails instead, naming what it waited
/// for. The bound is far above any normal run and is not a measurement.
pub(crate) async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), fut).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting: {what}"),
    }
}
