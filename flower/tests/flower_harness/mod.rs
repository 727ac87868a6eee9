//! What the Flower tests start and stop: a virtualenv with `flwr==1.42.0`, a real
//! `flower-superlink` on a free loopback port, feddx nodes (the `flower_node`
//! example), and `flwr run` of the example app. Every process is killed when its
//! guard drops, so a failing test leaves nothing behind, and each waits for
//! readiness by polling, never by a fixed sleep.

#![allow(dead_code)]

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The pinned Flower release.
pub const FLWR: &str = "flwr==1.42.0";

/// The workspace root, above this crate's folder.
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map_or(here.clone(), Path::to_path_buf)
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The virtualenv with Flower: `$FEDDX_FLWR_VENV`, or `target/flwr-venv`, made on
/// first use with `python3 -m venv` and `pip install flwr==1.42.0`. Python 3 is a
/// prerequisite of the test suite: without it the tests fail and say so.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = std::env::var_os("FEDDX_FLWR_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("flwr-venv"));
        if venv.join("bin/flower-superlink").exists() {
            return venv;
        }
        eprintln!("making {} with {FLWR} (once)", venv.display());
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "the Flower tests need Python 3 with venv (`python3 -m venv`) to install {FLWR}"
        );
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", FLWR])
            .status();
        assert!(
            pip.is_ok_and(|s| s.success()),
            "`pip install {FLWR}` failed in {}: the Flower tests need PyPI or a prepared \
             virtualenv named by FEDDX_FLWR_VENV",
            venv.display()
        );
        venv
    })
}

/// A program of the virtualenv.
pub fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// `PATH` with the virtualenv first: the SuperLink starts `flower-superexec` and
/// the ServerApp process by name.
pub fn venv_path() -> std::ffi::OsString {
    let mut paths = vec![venv().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).expect("a PATH")
}

/// The `flower_node` example, built by `cargo test` with the other examples.
pub fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
        .join(format!("flower_node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the examples",
        path.display()
    );
    path
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `ready` every 100 ms until it holds, or panics after `timeout` with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process whose output goes to a log file, killed when dropped; its log's
/// end is printed if the test is failing.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `command` with stdout and stderr in `log`.
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("a log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log file handle"))
            .stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The log so far.
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit success.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let child = self.child.as_mut().expect("a running process");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("the process's status") {
                return status.success();
            }
            assert!(
                start.elapsed() < timeout,
                "{} did not finish within {timeout:?}; its log:\n{}",
                self.name,
                tail(&self.output(), 60)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(c.id().to_string())
                .status();
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would end it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} ({}) ----\n{}",
                self.name,
                self.log.display(),
                tail(&self.output(), 40)
            );
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// TLS material for a SuperLink on 127.0.0.1: a CA and a server certificate it signed.
pub struct Certificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes a CA and a certificate for `127.0.0.1`/`localhost` signed by it, in `dir`.
pub fn make_certificates(dir: &Path) -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    // Subject and issuer must differ: OpenSSL (Python's side) takes a certificate
    // whose issuer is its own subject for a self-signed one.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "feddx test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
    let key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params
        .signed_by(&key, &issuer)
        .expect("a server certificate");
    let out = Certificates {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&out.ca, ca.pem()).expect("ca.pem");
    std::fs::write(&out.cert, cert.pem()).expect("server.pem");
    std::fs::write(&out.key, key.serialize_pem()).expect("server.key");
    out
}

/// How a SuperLink is secured.
pub enum Security<'a> {
    /// `--insecure`.
    Insecure,
    /// TLS with these certificates.
    Tls(&'a Certificates),
    /// TLS and `--enable-supernode-auth`.
    TlsWithNodeAuth(&'a Certificates),
}

/// A running `flower-superlink`, with the `FLWR_HOME` that `flwr` commands use.
pub struct SuperLink {
    pub proc: Proc,
    pub port: u16,
    pub flwr_home: PathBuf,
    pub dir: PathBuf,
    tls: bool,
}

impl SuperLink {
    /// Starts a SuperLink on a free loopback port and waits until it accepts
    /// connections; `dir` holds its logs and `FLWR_HOME`.
    pub fn start(dir: &Path, security: Security<'_>) -> SuperLink {
        Self::start_on(dir, free_port(), security)
    }

    /// Starts a SuperLink on `port` (a SuperLink coming back where one was).
    pub fn start_on(dir: &Path, port: u16, security: Security<'_>) -> SuperLink {
        std::fs::create_dir_all(dir).expect("the SuperLink's directory");
        let flwr_home = dir.join("flwr-home");
        std::fs::create_dir_all(&flwr_home).expect("FLWR_HOME");
        let mut cmd = Command::new(venv_bin("flower-superlink"));
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--disable-runtime-dependency-installation")
            .env("FLWR_HOME", &flwr_home)
            .env("PATH", venv_path())
            .current_dir(dir);
        let (tls, certs) = match security {
            Security::Insecure => {
                cmd.arg("--insecure");
                (false, None)
            }
            Security::Tls(c) => (true, Some(c)),
            Security::TlsWithNodeAuth(c) => {
                cmd.arg("--enable-supernode-auth");
                (true, Some(c))
            }
        };
        if let Some(c) = certs {
            cmd.arg("--ssl-certfile").arg(&c.cert);
            cmd.arg("--ssl-keyfile").arg(&c.key);
            cmd.arg("--ssl-ca-certfile").arg(&c.ca);
        }
        let mut config = format!(
            "[superlink]\ndefault = \"local\"\n\n[superlink.local]\naddress = \"127.0.0.1:{port}\"\n"
        );
        match certs {
            Some(c) => config += &format!("root-certificates = \"{}\"\n", c.ca.display()),
            None => config += "insecure = true\n",
        }
        std::fs::write(flwr_home.join("config.toml"), config).expect("config.toml");
        let mut proc = Proc::spawn("flower-superlink", cmd, dir.join("superlink.log"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        wait_until("the SuperLink's port", Duration::from_secs(90), || {
            assert!(
                !proc.exited(),
                "the SuperLink exited:\n{}",
                tail(&proc.output(), 40)
            );
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        SuperLink {
            proc,
            port,
            flwr_home,
            dir: dir.to_owned(),
            tls,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A `flwr` CLI command against this SuperLink.
    pub fn flwr(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(venv_bin("flwr"));
        cmd.args(args)
            .env("FLWR_HOME", &self.flwr_home)
            .env("PATH", venv_path());
        cmd
    }
}

/// Starts `flower_node` with `args` (plus `--superlink`), logging to `dir/name.log`.
pub fn start_node(superlink: &SuperLink, name: &str, args: &[String]) -> Proc {
    let mut cmd = Command::new(node_binary());
    cmd.arg("--superlink").arg(superlink.address()).args(args);
    Proc::spawn(name, cmd, superlink.dir.join(format!("{name}.log")))
}

/// Waits until a node's log says it is connected.
pub fn wait_connected(node: &mut Proc) {
    let name = node.name.clone();
    wait_until(
        &format!("{name} to connect"),
        Duration::from_secs(60),
        || {
            assert!(
                !node.exited(),
                "{name} exited:\n{}",
                tail(&node.output(), 40)
            );
            node.output().contains("connected as node")
        },
    );
}

/// The `flower_node` example's initial arrays for `seed`, written to `dir/initial`
/// once per test directory.
pub fn export_initial(dir: &Path, seed: u64) -> PathBuf {
    let out = dir.join("initial");
    if !out.exists() {
        let status = Command::new(node_binary())
            .args(["export-initial", "--seed", &seed.to_string(), "--out"])
            .arg(&out)
            .status()
            .expect("flower_node export-initial");
        assert!(status.success(), "flower_node export-initial failed");
    }
    out
}

/// Waits up to `timeout` for `run` (a `flwr run`) to succeed, failing at once if one
/// of `nodes` dies meanwhile; returns the run's log.
pub fn wait_for_run(run: &mut Proc, nodes: &mut [Proc], timeout: Duration) -> String {
    wait_until("flwr run to finish", timeout, || {
        for node in nodes.iter_mut() {
            assert!(
                !node.exited(),
                "{} died during the run:\n{}",
                node.name,
                tail(&node.output(), 30)
            );
        }
        run.exited()
    });
    assert!(
        run.wait_exit(Duration::from_secs(1)),
        "{} failed:\n{}",
        run.name,
        tail(&run.output(), 60)
    );
    run.output()
}

/// `flwr run` of a scratch copy of `examples/<app>` with `run_config`, logging to
/// `dir/flwr-run-<name>.log`.
pub fn flwr_run_app(link: &SuperLink, dir: &Path, app: &str, name: &str, run_config: &str) -> Proc {
    let app = copy_example_app(dir, app);
    let mut cmd = link.flwr(&["run"]);
    cmd.arg(&app)
        .args(["local", "--stream", "--run-config", run_config])
        .current_dir(dir);
    Proc::spawn(
        &format!("flwr run {name}"),
        cmd,
        dir.join(format!("flwr-run-{name}.log")),
    )
}

/// The largest absolute difference between two weight vectors of one length.
pub fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "two weight vectors of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

/// Copies the example app to `dir/app` (so `flwr run` builds it from a scratch copy).
pub fn copy_app(dir: &Path) -> PathBuf {
    copy_example_app(dir, "flower")
}

/// Copies the app `examples/<name>` to `dir/<name>`.
pub fn copy_example_app(dir: &Path, name: &str) -> PathBuf {
    let app = dir.join(name);
    copy_dir(&root().join("examples").join(name), &app);
    app
}

/// Starts a Python `flower-supernode` on `superlink`, its ClientApp runtime on a
/// free port, with `node_config` (`--node-config`), logging to `dir/name.log`.
pub fn start_python_supernode(superlink: &SuperLink, name: &str, node_config: &str) -> Proc {
    let mut cmd = Command::new(venv_bin("flower-supernode"));
    cmd.args(["--insecure", "--superlink", &superlink.address()])
        .args(["--host", "127.0.0.1", "--port", &free_port().to_string()])
        .args(["--node-config", node_config])
        .env("FLWR_HOME", superlink.dir.join(format!("{name}-home")))
        .env("PATH", venv_path())
        .current_dir(&superlink.dir);
    Proc::spawn(name, cmd, superlink.dir.join(format!("{name}.log")))
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("a directory");
    for entry in std::fs::read_dir(src).expect("the example app") {
        let entry = entry.expect("an entry");
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &dst.join(name));
        } else {
            std::fs::copy(&path, dst.join(name)).expect("a copy");
        }
    }
}
