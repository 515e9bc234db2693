//! The sandbox's init: the caller's program re-executed with a hidden first
//! argument. It takes its own mount, UTS, IPC and network namespaces,
//! mounts the overlay and the session's filesystems, then runs the caller's
//! commands one after another, each under a fresh pid 1 ([`super::pid1`]),
//! relaying output, enforcing the timeout, and reporting how each ended.
//!
//! The mounts live only in this process's namespace: when it exits, or is
//! killed, the kernel takes them down with it. It exits when the caller
//! closes its stdin, which also happens when the caller dies.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

use super::protocol::{self, StepError, WireCommand};
use super::{PID1_ARG, mounts, ns};

/// Once killed, how long the script's pipes may take to close.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

struct Session {
    merged: PathBuf,
    max_processes: u32,
    own_pid_namespace: OwnedFd,
}

/// Runs the init; returns the process's exit code.
pub(crate) fn main(args: Vec<OsString>) -> i32 {
    // Unbuffered handles on the two pipes: frames are written whole, and
    // the control pipe is polled, so no userspace buffer may hold its data.
    let (mut control, mut responses) = match (dup_stdio(io::stdin().as_fd()), dup_stdio(io::stdout().as_fd())) {
        (Ok(control), Ok(responses)) => (control, responses),
        _ => return 2,
    };
    let session = match set_up(args) {
        Ok(session) => session,
        Err(error) => {
            let _ = protocol::write_frame(&mut responses, protocol::SETUP_FAILED, &error.encode());
            return 1;
        }
    };
    if protocol::write_frame(&mut responses, protocol::READY, protocol::READY_MAGIC).is_err() {
        return 2;
    }
    loop {
        match protocol::read_frame(&mut control) {
            Ok(None) => return 0,
            Ok(Some((protocol::COMMAND, payload))) => {
                let Ok(command) = WireCommand::decode(&payload) else {
                    return 2;
                };
                if run_command(&session, &command, &control, &mut responses).is_err() {
                    return 2;
                }
            }
            Ok(Some(_)) | Err(_) => return 2,
        }
    }
}

fn dup_stdio(fd: impl AsFd) -> io::Result<File> {
    Ok(File::from(fd.as_fd().try_clone_to_owned()?))
}

fn set_up(args: Vec<OsString>) -> Result<Session, StepError> {
    let [lower, upper, work, merged, hostname, max_processes] = <[OsString; 6]>::try_from(args)
        .map_err(|_| StepError::message("the sandbox init was started with the wrong arguments"))?;
    let max_processes = max_processes
        .to_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StepError::message("the process limit is not a number"))?;
    // Before any unshare: the pid namespace we go back to before each command.
    let own_pid_namespace = rustix::fs::open("/proc/self/ns/pid", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|errno| StepError::from_rustix("opening our pid namespace", errno))?;
    ns::unshare(ns::SESSION_NAMESPACES).map_err(|error| StepError::new("creating namespaces", &error))?;
    mounts::make_mounts_private()?;
    if !hostname.is_empty() {
        rustix::system::sethostname(hostname.as_encoded_bytes())
            .map_err(|errno| StepError::from_rustix("setting the hostname", errno))?;
    }
    let merged = PathBuf::from(merged);
    mounts::mount_overlay(lower.as_ref(), upper.as_ref(), work.as_ref(), &merged)?;
    mounts::mount_session_filesystems(&merged)?;
    Ok(Session { merged, max_processes, own_pid_namespace })
}

/// What the per-command pid 1 wrote on its status pipe.
enum Pid1Report {
    Exited(i32),
    Failed(StepError),
    Nothing,
}

/// Runs one command and reports it. An error means the caller is gone.
fn run_command(session: &Session, command: &WireCommand, control: &File, responses: &mut File) -> io::Result<()> {
    let spawned = spawn_pid1(session, command);
    let (mut child, pipes) = match spawned {
        Ok(spawned) => spawned,
        Err(error) => return protocol::write_frame(responses, protocol::SCRIPT_FAILED, &error.encode()),
    };
    let relayed = relay(&mut child, &pipes, command.timeout, control, responses);
    // Whatever happened, pid 1 (and with it every process of the command)
    // is gone before we report or leave.
    if relayed.is_err() {
        let _ = child.kill();
    }
    let status = child.wait();
    let timed_out = relayed?;
    let status = status?;
    let report = read_report(pipes.status);
    match (timed_out, report) {
        (true, _) => protocol::write_frame(responses, protocol::TIMED_OUT, &[]),
        (false, Pid1Report::Exited(raw)) => protocol::write_frame(responses, protocol::EXITED, &raw.to_le_bytes()),
        (false, Pid1Report::Failed(error)) => {
            protocol::write_frame(responses, protocol::SCRIPT_FAILED, &error.encode())
        }
        (false, Pid1Report::Nothing) => {
            let error = StepError::message(match status.signal() {
                Some(signal) => format!("the sandbox's pid 1 was killed by signal {signal}"),
                None => format!("the sandbox's pid 1 ended with {status} before reporting"),
            });
            protocol::write_frame(responses, protocol::SCRIPT_FAILED, &error.encode())
        }
    }
}

struct Pipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
    status: OwnedFd,
}

fn spawn_pid1(session: &Session, command: &WireCommand) -> Result<(Child, Pipes), StepError> {
    ns::fresh_pid_namespace_for_children(&session.own_pid_namespace)
        .map_err(|error| StepError::new("creating a pid namespace", &error))?;
    let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|errno| StepError::from_rustix("creating a pipe", errno));
    let (stdout, stdout_writer) = pipe()?;
    let (stderr, stderr_writer) = pipe()?;
    let (status, status_writer) = pipe()?;
    let mut pid1 = Command::new("/proc/self/exe");
    pid1.arg(PID1_ARG)
        .arg(&session.merged)
        .arg(session.max_processes.to_string())
        .arg(&command.current_dir)
        .arg(&command.program)
        .arg(command.args.len().to_string())
        .args(&command.args);
    for (key, value) in &command.env {
        pid1.arg(key).arg(value);
    }
    // pid 1 writes its report on its stdin, the status pipe; the script
    // gets /dev/null there.
    pid1.env_clear()
        .stdin(Stdio::from(status_writer))
        .stdout(Stdio::from(stdout_writer))
        .stderr(Stdio::from(stderr_writer));
    let child = pid1.spawn().map_err(|error| StepError::new("starting the sandbox's pid 1", &error))?;
    // `pid1` drops here, closing our copies of the write ends.
    Ok((child, Pipes { stdout, stderr, status }))
}

/// Relays output until the command's processes are gone; kills them at the
/// deadline. Returns whether the timeout struck. An error means the caller
/// went away.
fn relay(
    child: &mut Child,
    pipes: &Pipes,
    timeout: Duration,
    control: &File,
    responses: &mut File,
) -> io::Result<bool> {
    let pid = Pid::from_raw(child.id() as i32).ok_or_else(|| io::Error::other("no pid"))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    let mut deadline = Instant::now() + timeout;
    let mut stdout_open = true;
    let mut stderr_open = true;
    let mut exited = false;
    let mut timed_out = false;
    let mut buffer = vec![0u8; 64 * 1024];
    while stdout_open || stderr_open || !exited {
        let now = Instant::now();
        if now >= deadline {
            if exited {
                // The processes are dead; their pipes stay open only if a
                // descriptor leaked somewhere. Do not wait for it forever.
                break;
            }
            if !timed_out {
                let _ = child.kill();
                timed_out = true;
            }
            deadline = now + DRAIN_GRACE;
        }
        let mut fds = Vec::with_capacity(4);
        let mut roles = Vec::with_capacity(4);
        if stdout_open {
            fds.push(PollFd::new(&pipes.stdout, PollFlags::IN));
            roles.push(Role::Stdout);
        }
        if stderr_open {
            fds.push(PollFd::new(&pipes.stderr, PollFlags::IN));
            roles.push(Role::Stderr);
        }
        if !exited {
            fds.push(PollFd::new(&pidfd, PollFlags::IN));
            roles.push(Role::Exit);
        }
        fds.push(PollFd::new(control, PollFlags::IN));
        roles.push(Role::Control);
        let remaining = deadline.saturating_duration_since(now);
        let remaining = Timespec { tv_sec: remaining.as_secs() as i64, tv_nsec: i64::from(remaining.subsec_nanos()) };
        match poll(&mut fds, Some(&remaining)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let ready: Vec<(Role, bool)> =
            fds.iter().zip(&roles).map(|(fd, role)| (*role, !fd.revents().is_empty())).collect();
        drop(fds);
        for (role, ready) in ready {
            if !ready {
                continue;
            }
            match role {
                Role::Stdout => stdout_open = forward(&pipes.stdout, protocol::STDOUT, &mut buffer, responses)?,
                Role::Stderr => stderr_open = forward(&pipes.stderr, protocol::STDERR, &mut buffer, responses)?,
                Role::Exit => {
                    exited = true;
                    // The namespace is dead; what is left in the pipes is
                    // all there will be.
                    deadline = deadline.min(Instant::now() + DRAIN_GRACE);
                }
                Role::Control => {
                    // The caller sends nothing while a command runs: this
                    // is its end of the pipe closing.
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the caller went away"));
                }
            }
        }
    }
    Ok(timed_out)
}

#[derive(Clone, Copy)]
enum Role {
    Stdout,
    Stderr,
    Exit,
    Control,
}

/// Reads what is there and forwards it; returns whether the pipe is open.
fn forward(pipe: &OwnedFd, tag: u8, buffer: &mut [u8], responses: &mut File) -> io::Result<bool> {
    match rustix::io::read(pipe, &mut *buffer) {
        Ok(0) => Ok(false),
        Ok(count) => protocol::write_frame(responses, tag, &buffer[..count]).map(|()| true),
        Err(Errno::INTR | Errno::AGAIN) => Ok(true),
        Err(errno) => Err(errno.into()),
    }
}

fn read_report(status: OwnedFd) -> Pid1Report {
    let mut report = Vec::new();
    // pid 1 is reaped: every writer is gone, so this ends.
    if File::from(status).read_to_end(&mut report).is_err() {
        return Pid1Report::Nothing;
    }
    match report.split_first() {
        Some((b'S', raw)) => match <[u8; 4]>::try_from(raw) {
            Ok(raw) => Pid1Report::Exited(i32::from_le_bytes(raw)),
            Err(_) => Pid1Report::Nothing,
        },
        Some((b'E', error)) => Pid1Report::Failed(StepError::decode(error)),
        _ => Pid1Report::Nothing,
    }
}
