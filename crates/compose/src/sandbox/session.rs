//! The caller's side of a sandbox session: start the init, send it
//! commands, collect their output, and hand back the upper dir.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use super::copyup::UpperDir;
use super::protocol::{self, StepError, WireCommand};
use super::{INIT_ARG, OutputStream, SandboxError, Script, ScriptOutput};

/// Where and how a session runs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The assembled tree: the overlay's read-only lower dir. Nothing may
    /// change it while a session runs.
    pub root: PathBuf,
    /// Where the session's scratch directory (upper, work and mount point)
    /// is made. It must be on the tree's filesystem, since changes are
    /// renamed into the tree.
    pub scratch_parent: PathBuf,
    /// The program re-executed as the sandbox's init. It must call
    /// [`super::init_main`] first thing in `main`. Default: `/proc/self/exe`.
    pub init_program: PathBuf,
    /// The sandbox's hostname; `None` keeps a copy of the host's.
    pub hostname: Option<String>,
    /// At most this many processes per command (Linux 6.14 and later; a
    /// floor of 512 applies). 0 sets no limit.
    pub max_processes: u32,
    /// Keep at most this many bytes of each stream of a script's output
    /// (the end of it). Streaming sees everything.
    pub max_output_bytes: usize,
}

impl SandboxConfig {
    pub fn new(root: impl Into<PathBuf>, scratch_parent: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            scratch_parent: scratch_parent.into(),
            init_program: PathBuf::from("/proc/self/exe"),
            hostname: None,
            max_processes: 2048,
            max_output_bytes: 4 << 20,
        }
    }
}

/// A running sandbox over one tree. Commands run one after another and see
/// each other's changes. Dropping it kills everything and removes the
/// scratch directory; [`Sandbox::finish`] keeps the changes.
#[derive(Debug)]
pub struct Sandbox {
    root: PathBuf,
    max_output_bytes: usize,
    // Declared before `scratch`: killed before the directory goes.
    init: Option<Init>,
    scratch: tempfile::TempDir,
}

#[derive(Debug)]
struct Init {
    child: Child,
    /// `None` once closed, which tells the init to exit.
    control: Option<ChildStdin>,
    responses: ChildStdout,
}

impl Drop for Init {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    /// Creates the scratch directory and starts the init, which mounts the
    /// overlay and the sandbox's filesystems in namespaces of its own.
    pub fn start(config: &SandboxConfig) -> Result<Self, SandboxError> {
        let root_metadata = std::fs::metadata(&config.root)
            .map_err(|source| SandboxError::OpenTree { path: config.root.clone(), source })?;
        if !root_metadata.is_dir() {
            return Err(SandboxError::OpenTree {
                path: config.root.clone(),
                source: io::Error::from(io::ErrorKind::NotADirectory),
            });
        }
        let scratch_error = |source| SandboxError::CreateScratch { path: config.scratch_parent.clone(), source };
        let canonical_root = std::fs::canonicalize(&config.root)
            .map_err(|source| SandboxError::OpenTree { path: config.root.clone(), source })?;
        let canonical_scratch = std::fs::canonicalize(&config.scratch_parent).map_err(scratch_error)?;
        if canonical_scratch.starts_with(&canonical_root) {
            return Err(SandboxError::ScratchInsideTree {
                scratch: config.scratch_parent.clone(),
                root: config.root.clone(),
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix(".layer-sandbox-")
            .tempdir_in(&config.scratch_parent)
            .map_err(scratch_error)?;
        let scratch_metadata = std::fs::metadata(scratch.path()).map_err(scratch_error)?;
        if scratch_metadata.dev() != root_metadata.dev() {
            return Err(SandboxError::DifferentFilesystem {
                scratch: config.scratch_parent.clone(),
                root: config.root.clone(),
            });
        }
        let upper = scratch.path().join("upper");
        let work = scratch.path().join("work");
        let merged = scratch.path().join("merged");
        for dir in [&upper, &work, &merged] {
            std::fs::create_dir(dir).map_err(scratch_error)?;
        }
        // The merged root shows the upper root's owner and mode: the tree's.
        std::os::unix::fs::chown(&upper, Some(root_metadata.uid()), Some(root_metadata.gid()))
            .map_err(scratch_error)?;
        std::fs::set_permissions(&upper, root_metadata.permissions()).map_err(scratch_error)?;

        let mut command = Command::new(&config.init_program);
        command
            .arg(INIT_ARG)
            .arg(&config.root)
            .arg(&upper)
            .arg(&work)
            .arg(&merged)
            .arg(config.hostname.as_deref().unwrap_or(""))
            .arg(config.max_processes.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .map_err(|source| SandboxError::SpawnInit { program: config.init_program.clone(), source })?;
        let (Some(control), Some(responses)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SandboxError::SpawnInit {
                program: config.init_program.clone(),
                source: io::Error::other("no pipes to the init"),
            });
        };
        let mut init = Init { child, control: Some(control), responses };
        let not_started = || SandboxError::InitNotStarted { program: config.init_program.clone() };
        match protocol::read_frame(&mut init.responses) {
            Ok(Some((protocol::READY, magic))) if magic == protocol::READY_MAGIC => {}
            Ok(Some((protocol::SETUP_FAILED, payload))) => {
                let error = StepError::decode(&payload);
                return Err(SandboxError::Setup { source: error.source(), step: error.step });
            }
            _ => return Err(not_started()),
        }
        Ok(Self { root: config.root.clone(), max_output_bytes: config.max_output_bytes, init: Some(init), scratch })
    }

    /// The scratch directory's upper dir, where the scripts' changes land.
    pub fn upper_dir(&self) -> PathBuf {
        self.scratch.path().join("upper")
    }

    /// Runs one script and waits for it. A non-zero exit is an `Ok` with
    /// that status (see [`ScriptOutput::require_success`]); the timeout is
    /// [`SandboxError::TimedOut`], and the session stays usable after it.
    pub fn run(&mut self, script: &Script) -> Result<ScriptOutput, SandboxError> {
        self.run_with_output(script, &mut |_, _| {})
    }

    /// Like [`Sandbox::run`], and calls `on_line` with each line of output
    /// (without its newline) as it arrives, for progress or logs.
    pub fn run_with_output(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(OutputStream, &[u8]),
    ) -> Result<ScriptOutput, SandboxError> {
        let result = self.exchange(script, on_line);
        if let Err(SandboxError::InitLost { .. }) = result {
            // Nothing more can run in this session.
            self.init = None;
        }
        result
    }

    fn exchange(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(OutputStream, &[u8]),
    ) -> Result<ScriptOutput, SandboxError> {
        let lost = |source| SandboxError::InitLost { source };
        let init = self.init.as_mut().ok_or_else(|| lost(io::Error::other("the session ended earlier")))?;
        let command = WireCommand {
            program: script.program.clone(),
            current_dir: script.current_dir.clone().into_os_string(),
            timeout: script.timeout,
            args: script.args.clone(),
            env: script.env.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
        };
        let control = init.control.as_mut().ok_or_else(|| lost(io::Error::other("the session ended earlier")))?;
        protocol::write_frame(control, protocol::COMMAND, &command.encode()).map_err(lost)?;
        let mut stdout = Capture::new(self.max_output_bytes);
        let mut stderr = Capture::new(self.max_output_bytes);
        loop {
            let frame = protocol::read_frame(&mut init.responses)
                .map_err(lost)?
                .ok_or_else(|| lost(io::ErrorKind::UnexpectedEof.into()))?;
            match frame {
                (protocol::STDOUT, chunk) => stdout.push(&chunk, &mut |line| on_line(OutputStream::Stdout, line)),
                (protocol::STDERR, chunk) => stderr.push(&chunk, &mut |line| on_line(OutputStream::Stderr, line)),
                (protocol::EXITED, raw) => {
                    let raw = <[u8; 4]>::try_from(raw.as_slice())
                        .map_err(|_| lost(io::Error::other("malformed exit status")))?;
                    stdout.finish(&mut |line| on_line(OutputStream::Stdout, line));
                    stderr.finish(&mut |line| on_line(OutputStream::Stderr, line));
                    return Ok(ScriptOutput {
                        name: script.name.clone(),
                        status: ExitStatus::from_raw(i32::from_le_bytes(raw)),
                        truncated: stdout.truncated || stderr.truncated,
                        stdout: stdout.bytes,
                        stderr: stderr.bytes,
                    });
                }
                (protocol::TIMED_OUT, _) => {
                    stdout.finish(&mut |line| on_line(OutputStream::Stdout, line));
                    stderr.finish(&mut |line| on_line(OutputStream::Stderr, line));
                    return Err(SandboxError::TimedOut { name: script.name.clone(), timeout: script.timeout });
                }
                (protocol::SCRIPT_FAILED, payload) => {
                    let error = StepError::decode(&payload);
                    return Err(SandboxError::ScriptStart {
                        name: script.name.clone(),
                        source: error.source(),
                        step: error.step,
                    });
                }
                _ => return Err(lost(io::Error::other("unexpected frame from the init"))),
            }
        }
    }

    /// Ends the session: the init exits, which unmounts everything, and the
    /// upper dir with the scripts' changes is handed over.
    pub fn finish(self) -> Result<UpperDir, SandboxError> {
        let Sandbox { root, init, scratch, .. } = self;
        let mut init =
            init.ok_or_else(|| SandboxError::InitLost { source: io::Error::other("the session ended earlier") })?;
        // End of commands: the init exits and its namespaces go with it.
        drop(init.control.take());
        let status = init.child.wait();
        drop(init);
        let status = status.map_err(|source| SandboxError::InitLost { source })?;
        if !status.success() {
            return Err(SandboxError::InitFailed { status });
        }
        Ok(UpperDir::new(scratch, root))
    }
}

/// One stream's captured output, and its lines for `on_line`.
struct Capture {
    bytes: Vec<u8>,
    limit: usize,
    truncated: bool,
    partial_line: Vec<u8>,
}

/// A line longer than this is passed on in pieces.
const MAX_LINE: usize = 64 * 1024;

impl Capture {
    fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit, truncated: false, partial_line: Vec::new() }
    }

    fn push(&mut self, chunk: &[u8], on_line: &mut dyn FnMut(&[u8])) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > self.limit.saturating_mul(2).max(MAX_LINE) {
            let excess = self.bytes.len() - self.limit;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
        for piece in chunk.split_inclusive(|byte| *byte == b'\n') {
            if let Some(line) = piece.strip_suffix(b"\n") {
                self.partial_line.extend_from_slice(line);
                on_line(&self.partial_line);
                self.partial_line.clear();
            } else {
                self.partial_line.extend_from_slice(piece);
                if self.partial_line.len() >= MAX_LINE {
                    on_line(&self.partial_line);
                    self.partial_line.clear();
                }
            }
        }
    }

    fn finish(&mut self, on_line: &mut dyn FnMut(&[u8])) {
        if self.bytes.len() > self.limit {
            let excess = self.bytes.len() - self.limit;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
        if !self.partial_line.is_empty() {
            on_line(&self.partial_line);
            self.partial_line.clear();
        }
    }
}

/// An `on_line` callback that prints each line to our stderr behind a
/// prefix, such as `htop.postinst: `.
pub fn prefixed_stderr(prefix: impl Into<String>) -> impl FnMut(OutputStream, &[u8]) {
    let prefix = prefix.into();
    move |_, line| {
        use std::io::Write;
        let mut stderr = io::stderr().lock();
        let _ = stderr.write_all(prefix.as_bytes());
        let _ = stderr.write_all(line);
        let _ = stderr.write_all(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_splits_lines_across_chunks_and_keeps_the_end() {
        let mut lines = Vec::new();
        let mut capture = Capture::new(4);
        capture.push(b"ab\ncd", &mut |line| lines.push(line.to_vec()));
        capture.push(b"ef\ngh", &mut |line| lines.push(line.to_vec()));
        capture.finish(&mut |line| lines.push(line.to_vec()));
        assert_eq!(lines, vec![b"ab".to_vec(), b"cdef".to_vec(), b"gh".to_vec()]);
        assert_eq!(capture.bytes, b"f\ngh");
        assert!(capture.truncated);
    }
}
