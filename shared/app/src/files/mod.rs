//! Files of events in any shape and format: the continuous export's batches and export
//! jobs' files. The shapes themselves are defined once in `relay_core::shapes`; this module
//! only lays them out as bytes: JSONL (one record per line), CSV (the columnar shape's header
//! and rows, RFC 4180, text cells that a spreadsheet would run as a formula prefixed with
//! `'`), Parquet ([`parquet`]), each optionally gzip-compressed. Which shape goes with which
//! format is `relay_core::model::file_format`'s one table.
//!
//! [`FileWriter`] writes a file event by event with bounded memory (export jobs stream it into
//! a multipart upload); [`encode`] is the same writer for a batch held in memory.

pub mod ocsf_parquet;
pub mod parquet;
mod writer;

use std::borrow::Cow;

use relay_core::model::file_format::FileFormat;
use relay_core::shapes::{Schema, ShapeContext};

pub use writer::FileWriter;

/// One stored event: its canonical JSON and when it was accepted.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    /// Canonical JSON, as stored.
    pub doc: &'a str,
    /// Acceptance time (RFC 3339); empty: the event's own `received_at`.
    pub received_at: &'a str,
}

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A stored event is not an event (corrupt data).
    #[error("a stored event cannot be read: {0}")]
    Event(String),
    /// The shape does not go into the format (validation lets no such pair through).
    #[error("{schema} events cannot be written as {format}")]
    Combination {
        /// The shape.
        schema: &'static str,
        /// The format.
        format: &'static str,
    },
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encode(String),
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's list), with the
/// full-width and small forms some spreadsheets fold into them.
const FORMULA_STARTS: [char; 13] = [
    '=', '+', '-', '@', '\t', '\r', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}', '\u{FE66}',
    '\u{FE62}', '\u{FE63}',
];

/// Whether a spreadsheet could run `cell` as a formula: it starts with a formula character,
/// once the blanks a spreadsheet skips are trimmed (Unicode white space such as a space or a
/// no-break space, and zero-width characters; a leading tab or carriage return is itself one).
fn formula_like(cell: &str) -> bool {
    if cell.starts_with(['\t', '\r']) {
        return true;
    }
    cell.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
    .starts_with(FORMULA_STARTS)
}

/// The spreadsheet-safe form of a text cell: a leading apostrophe when it starts like a
/// formula.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if formula_like(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The original value of a cell [`neutralize`] changed.
pub fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

/// Writes `events` as one file of `schema` in `format`.
pub fn encode(
    events: &[StoredEvent<'_>],
    schema: Schema,
    format: FileFormat,
    ctx: &ShapeContext,
) -> Result<Vec<u8>, FileError> {
    let mut w = FileWriter::new(schema, format, ctx.clone())?;
    for e in events {
        w.push(e)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralized_and_restored() {
        for (raw, quoted) in [
            ("=1+1", true),
            ("+1", true),
            ("-1", true),
            ("@SUM(A1)", true),
            ("\tx", true),
            ("\rx", true),
            ("\u{FF1D}HYPERLINK(\"http://x\")", true),
            ("\u{FF20}x", true),
            ("\u{FE66}1", true),
            (" =1", true),
            ("\u{00A0}=1", true),
            ("\u{3000}+1", true),
            ("\u{200B}=1", true),
            ("plain", false),
            ("a=b", false),
            ("'quoted", false),
            ("", false),
            ("   ", false),
        ] {
            let safe = neutralize(raw);
            assert_eq!(safe.starts_with('\'') && safe != raw, quoted, "{raw:?}");
            assert_eq!(unneutralize(&safe), raw, "{raw:?} round-trips");
        }
    }
}
