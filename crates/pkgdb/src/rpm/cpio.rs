//! Record headers of rpm's cpio payload: SVR4 "newc" (`070701`, or
//! `070702` whose checksum rpm ignores too), and rpm's stripped form
//! (`07070X` and an 8-digit index into the header's file list, used for
//! packages with files over 4 GiB and by rpm v6). Content is read by the
//! caller; this module only knows the framing.

use std::io::{self, Read};

use crate::entry::MAX_PATH;

/// Longest name field accepted: a path, a `./` prefix and the NUL.
const MAX_NAME_SIZE: usize = MAX_PATH + 3;
const NEWC_HEADER: usize = 110;
const STRIPPED_HEADER: usize = 14;

#[derive(Debug)]
pub enum Record {
    Newc { name: Vec<u8>, mode: u32, size: u64 },
    Stripped { index: u32 },
    Trailer,
}

#[derive(Debug)]
pub enum CpioFail {
    /// The stream ended, or failed to decompress (the cause is in the error).
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for CpioFail {
    fn from(e: io::Error) -> CpioFail {
        CpioFail::Io(e)
    }
}

/// Reads records from a decompressed payload, counting the bytes consumed.
pub struct CpioReader<R> {
    pub inner: R,
    pub offset: u64,
}

fn hex_field(field: &[u8]) -> Result<u32, CpioFail> {
    let bad = || CpioFail::Malformed(format!("bad hex field `{}`", String::from_utf8_lossy(field).escape_debug()));
    if !field.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let text = std::str::from_utf8(field).map_err(|_| bad())?;
    u32::from_str_radix(text, 16).map_err(|_| bad())
}

fn padding(len: u64) -> usize {
    ((4 - len % 4) % 4) as usize
}

impl<R: Read> CpioReader<R> {
    pub fn new(inner: R) -> CpioReader<R> {
        CpioReader { inner, offset: 0 }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), CpioFail> {
        self.inner.read_exact(buf)?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Skips the NUL padding that aligns the next record to 4 bytes.
    pub fn skip_padding(&mut self, after: u64) -> Result<(), CpioFail> {
        let mut pad = [0u8; 4];
        let n = padding(after);
        self.read_exact(&mut pad[..n])
    }

    /// Reads the next record header, leaving the stream at its content.
    pub fn next_record(&mut self) -> Result<Record, CpioFail> {
        let mut magic = [0u8; 6];
        self.read_exact(&mut magic)?;
        match &magic {
            b"070701" | b"070702" => {}
            b"07070X" => {
                let mut index = [0u8; 8];
                self.read_exact(&mut index)?;
                let index = hex_field(&index)?;
                self.skip_padding(STRIPPED_HEADER as u64)?;
                return Ok(Record::Stripped { index });
            }
            _ => {
                return Err(CpioFail::Malformed(format!(
                    "bad magic `{}`",
                    String::from_utf8_lossy(&magic).escape_debug()
                )));
            }
        }
        let mut fields = [0u8; NEWC_HEADER - 6];
        self.read_exact(&mut fields)?;
        let field = |i: usize| hex_field(&fields[i * 8..i * 8 + 8]);
        let mode = field(1)?;
        let size = u64::from(field(6)?);
        let name_size = field(11)? as usize;
        if name_size == 0 || name_size > MAX_NAME_SIZE {
            return Err(CpioFail::Malformed(format!("name of {name_size} bytes")));
        }
        let mut name = vec![0u8; name_size];
        self.read_exact(&mut name)?;
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(CpioFail::Malformed("name is not one NUL-terminated string".into()));
        }
        self.skip_padding((NEWC_HEADER + name_size) as u64)?;
        if name == b"TRAILER!!!" {
            if size != 0 {
                return Err(CpioFail::Malformed("trailer with content".into()));
            }
            return Ok(Record::Trailer);
        }
        Ok(Record::Newc { name, mode, size })
    }
}
