//! The streaming XML reader the metadata parsers share: quick-xml events
//! with errors named after the file, text gathered across the separate
//! events quick-xml reports entity references as, and attributes decoded.

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Decoder, XmlVersion};

use super::RpmmdError;
use super::compression::exceeded_limit;

/// A quick-xml reader whose errors say which file failed and where.
/// Events borrow a buffer the caller owns, so that the reader stays free
/// for [`XmlReader::bad`] and [`XmlReader::decoder`] while an event is held.
pub struct XmlReader<R> {
    reader: quick_xml::Reader<R>,
    what: String,
}

impl<R: BufRead> XmlReader<R> {
    /// `what` names the input in errors.
    pub fn new(input: R, what: &str) -> XmlReader<R> {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.trim_text(false);
        XmlReader { reader, what: what.to_owned() }
    }

    /// How attribute values are decoded.
    pub fn decoder(&self) -> Decoder {
        self.reader.decoder()
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    /// The next event; `Event::Eof` at the end.
    pub fn next<'b>(&mut self, buffer: &'b mut Vec<u8>) -> Result<Event<'b>, RpmmdError> {
        buffer.clear();
        let position = self.reader.buffer_position();
        match self.reader.read_event_into(buffer) {
            Ok(event) => Ok(event),
            Err(quick_xml::Error::Io(error)) => match exceeded_limit(&error) {
                Some(limit) => Err(RpmmdError::TooLarge { what: self.what.clone(), limit }),
                None => Err(RpmmdError::ReadMetadata { what: self.what.clone(), source: quick_xml::Error::Io(error) }),
            },
            Err(source) => Err(RpmmdError::ParseXml { what: self.what.clone(), position, source }),
        }
    }

    /// An error about the content (not the syntax) of the input.
    pub fn bad(&self, reason: impl Into<String>) -> RpmmdError {
        RpmmdError::BadMetadata {
            what: self.what.clone(),
            position: self.reader.buffer_position(),
            reason: reason.into(),
        }
    }
}

/// Appends the text of a `Text`, `CData` or `GeneralRef` event to `out`;
/// other events are ignored. Returns `Err(reason)` for an entity other
/// than XML's predefined ones or a character reference.
pub fn append_text(event: &Event<'_>, out: &mut String) -> Result<(), String> {
    match event {
        Event::Text(text) => out.push_str(&text.xml10_content().map_err(|e| e.to_string())?),
        Event::CData(data) => out.push_str(&data.decode().map_err(|e| e.to_string())?),
        Event::GeneralRef(reference) => out.push_str(&resolve_reference(reference)?),
        _ => {}
    }
    Ok(())
}

fn resolve_reference(reference: &BytesRef<'_>) -> Result<Cow<'static, str>, String> {
    if let Some(character) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(Cow::Owned(character.to_string()));
    }
    let name = reference.decode().map_err(|e| e.to_string())?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(Cow::Borrowed)
        .ok_or_else(|| format!("the entity `&{name};` is not defined"))
}

/// The decoded values of the attributes `names` (full names, such as
/// `xml:base`), entities resolved, in one pass over the element's
/// attributes (each pass re-checks them all for duplicates).
pub fn attributes<'a, const N: usize>(
    element: &'a BytesStart<'_>,
    names: [&[u8]; N],
    decoder: Decoder,
) -> Result<[Option<Cow<'a, str>>; N], String> {
    let mut values = [const { None }; N];
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if let Some(slot) = names.iter().position(|name| *name == attribute.key.as_ref()) {
            let value =
                attribute.decoded_and_normalized_value(XmlVersion::Implicit1_0, decoder).map_err(|e| e.to_string())?;
            values[slot] = Some(value);
        }
    }
    Ok(values)
}

/// The decoded value of attribute `name` (its full name, such as
/// `xml:base`), entities resolved.
pub fn attribute<'a>(
    element: &'a BytesStart<'_>,
    name: &[u8],
    decoder: Decoder,
) -> Result<Option<Cow<'a, str>>, String> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if attribute.key.as_ref() == name {
            let value =
                attribute.decoded_and_normalized_value(XmlVersion::Implicit1_0, decoder).map_err(|e| e.to_string())?;
            return Ok(Some(value));
        }
    }
    Ok(None)
}
