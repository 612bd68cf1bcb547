//! A local DynamoDB API server for tests: moto in server mode, from the project's
//! `.tools/venv` (created by `scripts/bootstrap`). One server per test process, started on
//! first use on a free loopback port and stopped when the process exits; each test makes
//! its own table, so tests never share state.
//!
//! Set `DYNAMODB_ENDPOINT` to use a server that is already running instead.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running DynamoDB API server.
#[derive(Debug)]
pub struct DynamoLocal {
    endpoint: String,
    /// Kept so the server lives as long as the test process.
    _child: Option<Child>,
}

impl DynamoLocal {
    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's process id, when this process started it (load runs read its memory).
    pub fn pid(&self) -> Option<u32> {
        self._child.as_ref().map(Child::id)
    }

    /// The server's peak resident memory so far in KiB (Linux: `VmHWM`), when known.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

static SERVER: OnceLock<DynamoLocal> = OnceLock::new();
static TABLES: AtomicU32 = AtomicU32::new(0);

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The project-local Python with moto installed.
pub fn venv_python() -> PathBuf {
    workspace_root().join(".tools/venv/bin/python")
}

/// The shared server, started on first use. Panics (test start-up) with what to do when
/// moto is not installed.
pub fn server() -> &'static DynamoLocal {
    SERVER.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
            return DynamoLocal {
                endpoint,
                _child: None,
            };
        }
        start().unwrap_or_else(|err| panic!("dynamo-local: {err}"))
    })
}

/// A table name no other test in this run uses.
pub fn unique_table_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    )
}

fn start() -> Result<DynamoLocal, String> {
    let python = venv_python();
    if !python.exists() {
        return Err(format!(
            "{} not found: run `bash scripts/bootstrap` (scripts/test does it) to install moto",
            python.display()
        ));
    }
    let script = workspace_root().join("scripts/moto_server.py");
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!("dynamo-local-{port}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                eprintln!("dynamo-local: moto DynamoDB API server at http://127.0.0.1:{port}");
                return Ok(DynamoLocal {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _child: Some(child),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                last_error = format!("moto exited with {status}; see {}", log_path.display());
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                last_error = format!(
                    "moto did not listen within 60 s; see {}",
                    log_path.display()
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Err(last_error)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
