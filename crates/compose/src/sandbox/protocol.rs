//! The wire between the caller and the sandbox's init: length-prefixed
//! frames over two pipes, and the byte-string lists that carry a command.
//!
//! A frame is a tag byte, a little-endian `u32` length and the payload. Tags
//! are control bytes, so that a program that does not speak the protocol
//! (one that forgot to call `init_main`) is noticed at its first byte.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

/// Caller to init: run one command (payload: [`WireCommand`]).
pub(crate) const COMMAND: u8 = 0x10;
/// Init to caller: mounts are in place (payload: [`READY_MAGIC`]).
pub(crate) const READY: u8 = 0x01;
/// Init to caller: setting up the sandbox failed (payload: [`StepError`]).
pub(crate) const SETUP_FAILED: u8 = 0x02;
/// Init to caller: a chunk of the script's stdout.
pub(crate) const STDOUT: u8 = 0x03;
/// Init to caller: a chunk of the script's stderr.
pub(crate) const STDERR: u8 = 0x04;
/// Init to caller: the script ended (payload: raw wait status, `i32` LE).
pub(crate) const EXITED: u8 = 0x05;
/// Init to caller: the timeout expired and the script's namespace was killed.
pub(crate) const TIMED_OUT: u8 = 0x06;
/// Init to caller: the script could not be started (payload: [`StepError`]).
pub(crate) const SCRIPT_FAILED: u8 = 0x07;

pub(crate) const READY_MAGIC: &[u8] = b"layer-sandbox-ready-1";

/// Frames larger than this are a protocol error: output travels in chunks
/// of at most 64 KiB and commands are argument lists.
const MAX_FRAME: usize = 16 << 20;

pub(crate) fn write_frame(writer: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|length| (*length as usize) <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(tag);
    frame.extend_from_slice(&length.to_le_bytes());
    frame.extend_from_slice(payload);
    writer.write_all(&frame)?;
    writer.flush()
}

/// Reads one frame; `None` at a clean end of stream between frames.
pub(crate) fn read_frame(reader: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let tag = header[0];
    if !(READY..=SCRIPT_FAILED).contains(&tag) && tag != COMMAND {
        return Err(invalid("unknown frame tag"));
    }
    let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if length > MAX_FRAME {
        return Err(invalid("frame too large"));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some((tag, payload)))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A failed step on the far side of the pipe: what was being done, and the
/// errno (0 when there is none), so that the caller can rebuild an
/// `io::Error` as the source.
#[derive(Debug)]
pub(crate) struct StepError {
    pub(crate) step: String,
    pub(crate) errno: i32,
}

impl StepError {
    pub(crate) fn new(step: impl Into<String>, error: &io::Error) -> Self {
        Self { step: step.into(), errno: error.raw_os_error().unwrap_or(0) }
    }

    pub(crate) fn message(step: impl Into<String>) -> Self {
        Self { step: step.into(), errno: 0 }
    }

    pub(crate) fn from_rustix(step: impl Into<String>, errno: rustix::io::Errno) -> Self {
        Self { step: step.into(), errno: errno.raw_os_error() }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut payload = self.errno.to_le_bytes().to_vec();
        payload.extend_from_slice(self.step.as_bytes());
        payload
    }

    pub(crate) fn decode(payload: &[u8]) -> Self {
        let (errno, step) = match payload {
            [a, b, c, d, rest @ ..] => (i32::from_le_bytes([*a, *b, *c, *d]), rest),
            _ => (0, payload),
        };
        Self { step: String::from_utf8_lossy(step).into_owned(), errno }
    }

    /// The cause as an `io::Error`: the errno when there is one.
    pub(crate) fn source(&self) -> io::Error {
        if self.errno != 0 {
            io::Error::from_raw_os_error(self.errno)
        } else {
            io::Error::other("the sandbox reported no error code")
        }
    }
}

/// One command as it crosses to the init: program, working directory,
/// timeout, arguments and environment, all as byte strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireCommand {
    pub(crate) program: OsString,
    pub(crate) current_dir: OsString,
    pub(crate) timeout: Duration,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
}

impl WireCommand {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let timeout = self.timeout.as_millis().to_string();
        let arg_count = self.args.len().to_string();
        let mut fields: Vec<&[u8]> =
            vec![self.program.as_bytes(), self.current_dir.as_bytes(), timeout.as_bytes(), arg_count.as_bytes()];
        fields.extend(self.args.iter().map(|arg| arg.as_bytes()));
        for (key, value) in &self.env {
            fields.push(key.as_bytes());
            fields.push(value.as_bytes());
        }
        encode_fields(&fields)
    }

    pub(crate) fn decode(payload: &[u8]) -> io::Result<Self> {
        let fields = decode_fields(payload)?;
        let mut fields = fields.into_iter();
        let mut next = || fields.next().ok_or_else(|| invalid("command too short"));
        let program = OsString::from_vec(next()?);
        let current_dir = OsString::from_vec(next()?);
        let timeout = Duration::from_millis(parse_number(&next()?)?);
        let arg_count = parse_number(&next()?)?;
        let args = (0..arg_count).map(|_| next().map(OsString::from_vec)).collect::<io::Result<Vec<_>>>()?;
        let rest: Vec<Vec<u8>> = fields.collect();
        if rest.len() % 2 != 0 {
            return Err(invalid("environment without a value"));
        }
        let env = rest
            .chunks(2)
            .map(|pair| (OsString::from_vec(pair[0].clone()), OsString::from_vec(pair[1].clone())))
            .collect();
        Ok(Self { program, current_dir, timeout, args, env })
    }
}

fn parse_number(field: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(field).ok().and_then(|text| text.parse().ok()).ok_or_else(|| invalid("not a number"))
}

fn encode_fields(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field);
    }
    out
}

fn decode_fields(mut payload: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let mut fields = Vec::new();
    while !payload.is_empty() {
        let Some((length, rest)) = payload.split_first_chunk::<4>() else {
            return Err(invalid("truncated field length"));
        };
        let length = u32::from_le_bytes(*length) as usize;
        if rest.len() < length {
            return Err(invalid("truncated field"));
        }
        fields.push(rest[..length].to_vec());
        payload = &rest[length..];
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trips() {
        let command = WireCommand {
            program: "/var/lib/dpkg/info/a.postinst".into(),
            current_dir: "/".into(),
            timeout: Duration::from_millis(1500),
            args: vec!["configure".into(), "".into(), OsString::from_vec(vec![0xff, b'x'])],
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("EMPTY".into(), "".into())],
        };
        let decoded = WireCommand::decode(&command.encode()).expect("decodes");
        assert_eq!(decoded, command);
    }

    #[test]
    fn frames_round_trip_and_reject_garbage() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, STDOUT, b"hello").expect("writes");
        let mut reader = &buffer[..];
        assert_eq!(read_frame(&mut reader).expect("reads"), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(read_frame(&mut reader).expect("clean end"), None);
        // What libtest prints when it is run with an unknown filter.
        let mut reader = &b"\nrunning 0 tests\n"[..];
        assert!(read_frame(&mut reader).is_err());
        let mut reader = &[STDOUT, 5, 0][..];
        assert!(read_frame(&mut reader).is_err());
    }

    #[test]
    fn step_errors_keep_the_errno() {
        let error = StepError::new("mounting `/x`", &io::Error::from_raw_os_error(1));
        let decoded = StepError::decode(&error.encode());
        assert_eq!(decoded.step, "mounting `/x`");
        assert_eq!(decoded.source().raw_os_error(), Some(1));
    }
}
