//! Pid 1 of one command's pid namespace: the caller's program re-executed
//! once more. It mounts the namespace's `/proc`, makes the tree its root,
//! drops capabilities, runs the script, reaps orphans, and writes how the
//! script ended on its status pipe (its stdin).
//!
//! When it exits, the kernel kills every process left in the namespace:
//! daemons a script started, or a fork bomb. The init kills it at the
//! timeout for the same effect. A shell as pid 1 would ignore signals it
//! has no handler for; this process stands in so that the script does not.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{Signal, WaitOptions};
use rustix::thread::UnshareFlags;

use super::protocol::StepError;
use super::{caps, mounts, ns};

struct Invocation {
    merged: PathBuf,
    max_processes: u32,
    current_dir: OsString,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

/// Runs pid 1; returns the process's exit code.
pub(crate) fn main(args: Vec<OsString>) -> i32 {
    let Ok(mut status) = io::stdin().as_fd().try_clone_to_owned().map(File::from) else {
        return 2;
    };
    // Die with the init. If it is already gone, nobody reads our status
    // pipe any more: the write end then polls as an error.
    if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err() || reader_gone(&status) {
        return 2;
    }
    let report = match run(args) {
        Ok(raw_status) => {
            let mut report = vec![b'S'];
            report.extend_from_slice(&raw_status.to_le_bytes());
            report
        }
        Err(error) => {
            let mut report = vec![b'E'];
            report.extend_from_slice(&error.encode());
            report
        }
    };
    if status.write_all(&report).is_err() {
        return 2;
    }
    0
}

fn reader_gone(status: &File) -> bool {
    let mut fds = [PollFd::new(status, PollFlags::OUT)];
    let now = Timespec { tv_sec: 0, tv_nsec: 0 };
    poll(&mut fds, Some(&now)).is_ok() && fds[0].revents().contains(PollFlags::ERR)
}

fn parse(args: Vec<OsString>) -> Option<Invocation> {
    let mut args = args.into_iter();
    let merged = PathBuf::from(args.next()?);
    let max_processes = args.next()?.to_str()?.parse().ok()?;
    let current_dir = args.next()?;
    let program = args.next()?;
    let arg_count: usize = args.next()?.to_str()?.parse().ok()?;
    let script_args: Vec<OsString> = args.by_ref().take(arg_count).collect();
    if script_args.len() != arg_count {
        return None;
    }
    let rest: Vec<OsString> = args.collect();
    if rest.len() % 2 != 0 {
        return None;
    }
    let env = rest.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
    Some(Invocation { merged, max_processes, current_dir, program, args: script_args, env })
}

/// Sets up, runs the script and returns its raw wait status.
fn run(args: Vec<OsString>) -> Result<i32, StepError> {
    let invocation =
        parse(args).ok_or_else(|| StepError::message("the sandbox's pid 1 was started with the wrong arguments"))?;
    // A session of our own: no controlling terminal, so a script cannot
    // reach the caller's terminal through `/dev/tty` (TIOCSTI).
    rustix::process::setsid().map_err(|errno| StepError::from_rustix("starting a new session", errno))?;
    // Our own mount namespace, for this namespace's `/proc` and the root
    // switch; the overlay and the session's tmpfs are shared with the init.
    ns::unshare(UnshareFlags::NEWNS).map_err(|error| StepError::new("creating a mount namespace", &error))?;
    mounts::enter_root(&invocation.merged, invocation.max_processes)?;
    caps::drop_capabilities()?;
    let stdin = File::open("/dev/null").map_err(|error| StepError::new("opening `/dev/null`", &error))?;
    let child = Command::new(&invocation.program)
        .args(&invocation.args)
        .env_clear()
        .envs(invocation.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&invocation.current_dir)
        .stdin(Stdio::from(stdin))
        .spawn()
        .map_err(|error| StepError::new(format!("running `{}`", invocation.program.to_string_lossy()), &error))?;
    let script = child.id() as i32;
    // Reap everything that ends; orphans of the script are ours now.
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() == script => return Ok(status.as_raw()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(errno) => return Err(StepError::from_rustix("waiting for the script", errno)),
        }
    }
}
