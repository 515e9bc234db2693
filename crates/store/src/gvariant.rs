//! GVariant serialization, as GLib defines it, for the types OSTree objects use.
//!
//! OSTree's objects are GVariants, and their checksums are taken over the
//! serialized bytes, so this must match GLib byte for byte: alignment
//! padding, framing offsets (little-endian, sized by the container), and
//! the trailing type string of a variant. OSTree itself stores integers
//! big-endian by swapping them before serialization; that is the caller's
//! business (see `objects.rs`), this module writes what it is given.
//!
//! The reader is strict: any offset or size that does not fit is an error,
//! never a panic, because objects come from disk and from the network.

use std::fmt;

/// A GVariant type, parsed from its type string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Byte,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Uint64,
    Double,
    String,
    ObjectPath,
    Signature,
    Variant,
    Array(Box<Type>),
    Maybe(Box<Type>),
    Tuple(Vec<Type>),
    DictEntry(Box<Type>, Box<Type>),
}

/// A GVariant value. Integers are stored as GVariant stores them
/// (little-endian on the wire); OSTree's big-endian fields are swapped by
/// the object layer before they get here.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    Int16(i16),
    Uint16(u16),
    Int32(i32),
    Uint32(u32),
    Int64(i64),
    Uint64(u64),
    Double(f64),
    String(String),
    ObjectPath(String),
    Signature(String),
    Variant(Box<Value>),
    /// Element type plus elements; `ay` gets its own variant for speed.
    Array(Type, Vec<Value>),
    Bytes(Vec<u8>),
    Maybe(Type, Option<Box<Value>>),
    Tuple(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid GVariant type string `{0}`")]
    InvalidType(String),
    #[error("malformed GVariant of type `{ty}`: {reason}")]
    Malformed { ty: String, reason: &'static str },
}

type Result<T> = std::result::Result<T, Error>;

impl Type {
    pub fn parse(s: &str) -> Result<Type> {
        let bytes = s.as_bytes();
        let (ty, rest) = Self::parse_one(bytes, 0).ok_or_else(|| Error::InvalidType(s.into()))?;
        if rest != bytes.len() {
            return Err(Error::InvalidType(s.into()));
        }
        Ok(ty)
    }

    fn parse_one(s: &[u8], depth: usize) -> Option<(Type, usize)> {
        // GLib limits nesting to 128 levels; so do we, so hostile input
        // cannot overflow the stack.
        if depth > 128 {
            return None;
        }
        let c = *s.first()?;
        let simple = match c {
            b'b' => Some(Type::Bool),
            b'y' => Some(Type::Byte),
            b'n' => Some(Type::Int16),
            b'q' => Some(Type::Uint16),
            b'i' => Some(Type::Int32),
            b'u' => Some(Type::Uint32),
            b'x' => Some(Type::Int64),
            b't' => Some(Type::Uint64),
            b'd' => Some(Type::Double),
            b's' => Some(Type::String),
            b'o' => Some(Type::ObjectPath),
            b'g' => Some(Type::Signature),
            b'v' => Some(Type::Variant),
            _ => None,
        };
        if let Some(t) = simple {
            return Some((t, 1));
        }
        match c {
            b'a' => {
                let (t, n) = Self::parse_one(&s[1..], depth + 1)?;
                Some((Type::Array(Box::new(t)), n + 1))
            }
            b'm' => {
                let (t, n) = Self::parse_one(&s[1..], depth + 1)?;
                Some((Type::Maybe(Box::new(t)), n + 1))
            }
            b'(' => {
                let mut pos = 1;
                let mut members = Vec::new();
                while *s.get(pos)? != b')' {
                    let (t, n) = Self::parse_one(&s[pos..], depth + 1)?;
                    members.push(t);
                    pos += n;
                }
                Some((Type::Tuple(members), pos + 1))
            }
            b'{' => {
                let (k, n1) = Self::parse_one(&s[1..], depth + 1)?;
                if !k.is_basic() {
                    return None;
                }
                let (v, n2) = Self::parse_one(&s[1 + n1..], depth + 1)?;
                if *s.get(1 + n1 + n2)? != b'}' {
                    return None;
                }
                Some((Type::DictEntry(Box::new(k), Box::new(v)), n1 + n2 + 2))
            }
            _ => None,
        }
    }

    fn is_basic(&self) -> bool {
        !matches!(self, Type::Variant | Type::Array(_) | Type::Maybe(_) | Type::Tuple(_) | Type::DictEntry(..))
    }

    pub fn alignment(&self) -> usize {
        match self {
            Type::Bool | Type::Byte => 1,
            Type::Int16 | Type::Uint16 => 2,
            Type::Int32 | Type::Uint32 => 4,
            Type::Int64 | Type::Uint64 | Type::Double | Type::Variant => 8,
            Type::String | Type::ObjectPath | Type::Signature => 1,
            Type::Array(t) | Type::Maybe(t) => t.alignment(),
            Type::Tuple(members) => members.iter().map(Type::alignment).max().unwrap_or(1),
            Type::DictEntry(k, v) => k.alignment().max(v.alignment()),
        }
    }

    /// The size of every value of this type, when it is fixed.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Bool | Type::Byte => Some(1),
            Type::Int16 | Type::Uint16 => Some(2),
            Type::Int32 | Type::Uint32 => Some(4),
            Type::Int64 | Type::Uint64 | Type::Double => Some(8),
            Type::Tuple(members) => {
                let mut size = 0;
                for m in members {
                    size = align(size, m.alignment()) + m.fixed_size()?;
                }
                if members.is_empty() { Some(1) } else { Some(align(size, self.alignment())) }
            }
            Type::DictEntry(k, v) => {
                let size = align(k.fixed_size()?, v.alignment()) + v.fixed_size()?;
                Some(align(size, self.alignment()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("b"),
            Type::Byte => f.write_str("y"),
            Type::Int16 => f.write_str("n"),
            Type::Uint16 => f.write_str("q"),
            Type::Int32 => f.write_str("i"),
            Type::Uint32 => f.write_str("u"),
            Type::Int64 => f.write_str("x"),
            Type::Uint64 => f.write_str("t"),
            Type::Double => f.write_str("d"),
            Type::String => f.write_str("s"),
            Type::ObjectPath => f.write_str("o"),
            Type::Signature => f.write_str("g"),
            Type::Variant => f.write_str("v"),
            Type::Array(t) => write!(f, "a{t}"),
            Type::Maybe(t) => write!(f, "m{t}"),
            Type::Tuple(members) => {
                f.write_str("(")?;
                for m in members {
                    write!(f, "{m}")?;
                }
                f.write_str(")")
            }
            Type::DictEntry(k, v) => write!(f, "{{{k}{v}}}"),
        }
    }
}

fn align(offset: usize, alignment: usize) -> usize {
    (offset + alignment - 1) & !(alignment - 1)
}

fn pad(out: &mut Vec<u8>, alignment: usize) {
    let target = align(out.len(), alignment);
    out.resize(target, 0);
}

/// The width of the framing offsets of a container whose body is
/// `body` bytes long and which carries `count` offsets.
fn offset_size(body: usize, count: usize) -> usize {
    if body == 0 && count == 0 {
        0
    } else if body + count <= u8::MAX as usize {
        1
    } else if body + 2 * count <= u16::MAX as usize {
        2
    } else if body + 4 * count <= u32::MAX as usize {
        4
    } else {
        8
    }
}

/// The width of framing offsets for a container of total serialized size.
fn offset_size_for_total(total: usize) -> usize {
    if total == 0 {
        0
    } else if total <= u8::MAX as usize {
        1
    } else if total <= u16::MAX as usize {
        2
    } else if total <= u32::MAX as usize {
        4
    } else {
        8
    }
}

fn write_offsets(out: &mut Vec<u8>, start: usize, offsets: &[usize]) {
    let size = offset_size(out.len() - start, offsets.len());
    for &o in offsets {
        out.extend_from_slice(&o.to_le_bytes()[..size]);
    }
}

impl Value {
    pub fn type_(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Byte(_) => Type::Byte,
            Value::Int16(_) => Type::Int16,
            Value::Uint16(_) => Type::Uint16,
            Value::Int32(_) => Type::Int32,
            Value::Uint32(_) => Type::Uint32,
            Value::Int64(_) => Type::Int64,
            Value::Uint64(_) => Type::Uint64,
            Value::Double(_) => Type::Double,
            Value::String(_) => Type::String,
            Value::ObjectPath(_) => Type::ObjectPath,
            Value::Signature(_) => Type::Signature,
            Value::Variant(_) => Type::Variant,
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
            Value::Bytes(_) => Type::Array(Box::new(Type::Byte)),
            Value::Maybe(t, _) => Type::Maybe(Box::new(t.clone())),
            Value::Tuple(members) => Type::Tuple(members.iter().map(Value::type_).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_()), Box::new(v.type_())),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Appends the serialized value. `out.len()` must already be aligned
    /// for this value's type; containers take care of that for members.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Byte(b) => out.push(*b),
            Value::Int16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Uint16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Int32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Uint32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Uint64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::String(s) | Value::ObjectPath(s) | Value::Signature(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Variant(inner) => {
                inner.write(out);
                out.push(0);
                out.extend_from_slice(inner.type_().to_string().as_bytes());
            }
            Value::Maybe(t, inner) => {
                if let Some(inner) = inner {
                    inner.write(out);
                    if t.fixed_size().is_none() {
                        out.push(0);
                    }
                }
            }
            Value::Array(t, elements) => {
                let start = out.len();
                let alignment = t.alignment();
                if t.fixed_size().is_some() {
                    for e in elements {
                        pad(out, alignment);
                        e.write(out);
                    }
                } else {
                    let mut ends = Vec::with_capacity(elements.len());
                    for e in elements {
                        pad(out, alignment);
                        e.write(out);
                        ends.push(out.len() - start);
                    }
                    write_offsets(out, start, &ends);
                }
            }
            Value::Tuple(members) => {
                Self::write_struct(out, members.iter(), &self.type_());
            }
            Value::DictEntry(k, v) => {
                Self::write_struct(out, [k.as_ref(), v.as_ref()].into_iter(), &self.type_());
            }
        }
    }

    fn write_struct<'a>(out: &mut Vec<u8>, members: impl ExactSizeIterator<Item = &'a Value>, ty: &Type) {
        let start = out.len();
        let count = members.len();
        let mut ends = Vec::new();
        for (i, m) in members.enumerate() {
            let mt = m.type_();
            pad(out, mt.alignment());
            m.write(out);
            if mt.fixed_size().is_none() && i + 1 < count {
                ends.push(out.len() - start);
            }
        }
        if let Some(size) = ty.fixed_size() {
            // Fixed-size structs are padded to their alignment; the empty
            // struct is one zero byte.
            out.resize(start + size, 0);
        } else {
            ends.reverse();
            write_offsets(out, start, &ends);
        }
    }

    /// Parses `data` as a value of type `ty`.
    pub fn from_bytes(ty: &Type, data: &[u8]) -> Result<Value> {
        read(ty, data, 0)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn malformed(ty: &Type, reason: &'static str) -> Error {
    Error::Malformed { ty: ty.to_string(), reason }
}

fn fixed<const N: usize>(ty: &Type, data: &[u8]) -> Result<[u8; N]> {
    data.try_into().map_err(|_| malformed(ty, "wrong size for a fixed-size value"))
}

fn read_offset(data: &[u8], at: usize, size: usize) -> usize {
    let mut buf = [0u8; 8];
    buf[..size].copy_from_slice(&data[at..at + size]);
    u64::from_le_bytes(buf) as usize
}

fn read(ty: &Type, data: &[u8], depth: usize) -> Result<Value> {
    if depth > 128 {
        return Err(malformed(ty, "nested too deeply"));
    }
    Ok(match ty {
        Type::Bool => Value::Bool(fixed::<1>(ty, data)?[0] != 0),
        Type::Byte => Value::Byte(fixed::<1>(ty, data)?[0]),
        Type::Int16 => Value::Int16(i16::from_le_bytes(fixed(ty, data)?)),
        Type::Uint16 => Value::Uint16(u16::from_le_bytes(fixed(ty, data)?)),
        Type::Int32 => Value::Int32(i32::from_le_bytes(fixed(ty, data)?)),
        Type::Uint32 => Value::Uint32(u32::from_le_bytes(fixed(ty, data)?)),
        Type::Int64 => Value::Int64(i64::from_le_bytes(fixed(ty, data)?)),
        Type::Uint64 => Value::Uint64(u64::from_le_bytes(fixed(ty, data)?)),
        Type::Double => Value::Double(f64::from_le_bytes(fixed(ty, data)?)),
        Type::String | Type::ObjectPath | Type::Signature => {
            let (last, body) = data.split_last().ok_or_else(|| malformed(ty, "empty string"))?;
            if *last != 0 || body.contains(&0) {
                return Err(malformed(ty, "string is not NUL-terminated"));
            }
            let s = std::str::from_utf8(body).map_err(|_| malformed(ty, "string is not UTF-8"))?;
            match ty {
                Type::String => Value::String(s.to_owned()),
                Type::ObjectPath => Value::ObjectPath(s.to_owned()),
                _ => Value::Signature(s.to_owned()),
            }
        }
        Type::Variant => {
            let sep = data.iter().rposition(|&b| b == 0).ok_or_else(|| malformed(ty, "variant has no type string"))?;
            let sig =
                std::str::from_utf8(&data[sep + 1..]).map_err(|_| malformed(ty, "variant type string is not UTF-8"))?;
            let inner_ty = Type::parse(sig)?;
            Value::Variant(Box::new(read(&inner_ty, &data[..sep], depth + 1)?))
        }
        Type::Maybe(inner) => {
            if data.is_empty() {
                Value::Maybe((**inner).clone(), None)
            } else if inner.fixed_size().is_some() {
                Value::Maybe((**inner).clone(), Some(Box::new(read(inner, data, depth + 1)?)))
            } else {
                let body = &data[..data.len() - 1];
                Value::Maybe((**inner).clone(), Some(Box::new(read(inner, body, depth + 1)?)))
            }
        }
        Type::Array(inner) if **inner == Type::Byte => Value::Bytes(data.to_vec()),
        Type::Array(inner) => Value::Array((**inner).clone(), read_array(inner, data, depth)?),
        Type::Tuple(members) => Value::Tuple(read_struct(ty, members, data, depth)?),
        Type::DictEntry(k, v) => {
            let members = [(**k).clone(), (**v).clone()];
            let mut values = read_struct(ty, &members, data, depth)?;
            let v = values.pop().ok_or_else(|| malformed(ty, "missing value"))?;
            let k = values.pop().ok_or_else(|| malformed(ty, "missing key"))?;
            Value::DictEntry(Box::new(k), Box::new(v))
        }
    })
}

fn read_array(elem: &Type, data: &[u8], depth: usize) -> Result<Vec<Value>> {
    let array_ty = || Type::Array(Box::new(elem.clone()));
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(size) = elem.fixed_size() {
        if data.len() % size != 0 {
            return Err(malformed(&array_ty(), "length is not a multiple of the element size"));
        }
        return data.chunks(size).map(|c| read(elem, c, depth + 1)).collect();
    }
    let osize = offset_size_for_total(data.len());
    if data.len() < osize {
        return Err(malformed(&array_ty(), "too short for its framing offsets"));
    }
    let last_end = read_offset(data, data.len() - osize, osize);
    if last_end > data.len() - osize {
        return Err(malformed(&array_ty(), "framing offset out of range"));
    }
    let table = data.len() - last_end;
    if table % osize != 0 {
        return Err(malformed(&array_ty(), "framing offset table is misaligned"));
    }
    let count = table / osize;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    for i in 0..count {
        let end = read_offset(data, last_end + i * osize, osize);
        start = align(start, elem.alignment());
        if start > end || end > last_end {
            return Err(malformed(&array_ty(), "framing offset out of range"));
        }
        out.push(read(elem, &data[start..end], depth + 1)?);
        start = end;
    }
    Ok(out)
}

fn read_struct(ty: &Type, members: &[Type], data: &[u8], depth: usize) -> Result<Vec<Value>> {
    if let Some(size) = ty.fixed_size()
        && data.len() != size
    {
        return Err(malformed(ty, "wrong size for a fixed-size struct"));
    }
    let osize = offset_size_for_total(data.len());
    // Framing offsets are read from the end, one per variable-size member
    // that is not the last.
    let mut table_end = data.len();
    let mut pos = 0;
    let mut out = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        pos = align(pos, m.alignment());
        let end = if let Some(size) = m.fixed_size() {
            pos + size
        } else if i + 1 == members.len() {
            table_end
        } else {
            if table_end < osize {
                return Err(malformed(ty, "too short for its framing offsets"));
            }
            table_end -= osize;
            read_offset(data, table_end, osize)
        };
        if pos > end || end > table_end {
            return Err(malformed(ty, "member out of range"));
        }
        out.push(read(m, &data[pos..end], depth + 1)?);
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) -> Vec<u8> {
        let bytes = v.to_bytes();
        let back = Value::from_bytes(&v.type_(), &bytes).expect("parses");
        assert_eq!(back, v);
        bytes
    }

    #[test]
    fn type_strings() {
        for s in ["(uuuusa(ayay))", "(a(say)a(sayay))", "(a{sv}aya(say)sstayay)", "a{sv}", "mv"] {
            assert_eq!(Type::parse(s).expect("valid").to_string(), s);
        }
        for s in ["", "(", "a", "{sv}x", "{vs}", "z"] {
            assert!(Type::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn file_header_matches_glib() {
        // (uuuusa(ayay)) of 0, 0, 0o100644 (BE), 0, "", [] as GLib writes it.
        let v = Value::Tuple(vec![
            Value::Uint32(0),
            Value::Uint32(0),
            Value::Uint32(0o100644u32.to_be()),
            Value::Uint32(0),
            Value::String(String::new()),
            Value::Array(Type::parse("(ayay)").expect("valid"), vec![]),
        ]);
        let bytes = roundtrip(v);
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0, 17]);
    }

    #[test]
    fn variable_arrays_and_dicts() {
        let dict = Value::Array(
            Type::parse("{sv}").expect("valid"),
            vec![
                Value::DictEntry(
                    Box::new(Value::String("version".into())),
                    Box::new(Value::Variant(Box::new(Value::String("1".into())))),
                ),
                Value::DictEntry(
                    Box::new(Value::String("n".into())),
                    Box::new(Value::Variant(Box::new(Value::Uint64(7)))),
                ),
            ],
        );
        roundtrip(dict);
        roundtrip(Value::Tuple(vec![]));
        roundtrip(Value::Array(Type::String, vec![Value::String("a".into()), Value::String("".into())]));
        // Large enough for 2-byte offsets.
        let big: Vec<Value> = (0..400).map(|i| Value::String(format!("entry-{i}"))).collect();
        roundtrip(Value::Array(Type::String, big));
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let ty = Type::parse("(a{sv}aya(say)sstayay)").expect("valid");
        let good = Value::Tuple(vec![
            Value::Array(Type::parse("{sv}").expect("valid"), vec![]),
            Value::Bytes(vec![]),
            Value::Array(Type::parse("(say)").expect("valid"), vec![]),
            Value::String("subject".into()),
            Value::String(String::new()),
            Value::Uint64(1),
            Value::Bytes(vec![1; 32]),
            Value::Bytes(vec![2; 32]),
        ])
        .to_bytes();
        for cut in 0..good.len() {
            let _ = Value::from_bytes(&ty, &good[..cut]);
        }
        for i in 0..good.len() {
            for b in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = Value::from_bytes(&ty, &bad);
            }
        }
    }
}
