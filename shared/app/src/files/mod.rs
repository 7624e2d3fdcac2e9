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

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The spreadsheet-safe form of a text cell: a leading apostrophe when it starts like a
/// formula.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The original value of a cell [`neutralize`] changed.
pub fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
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
