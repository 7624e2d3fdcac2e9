//! Encoding canonical events as the lines of an export file: JSONL (the stored JSON verbatim)
//! or CSV (RFC 4180, a header row, nested fields flattened, spreadsheet-safe).
//!
//! **CSV.** Columns are [`CSV_COLUMNS`], always all of them and in that order, so every file
//! of every export has the same header; a field the event does not have is an empty cell.
//! `actor.*` and `resource.*` are flattened with dotted names; `metadata` is one cell holding
//! the JSON object as text; `success` is `true`/`false`. Fields are quoted when they contain a
//! comma, a quote (doubled) or a line break, and lines end with CRLF (RFC 4180).
//!
//! **Formula injection.** A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and
//! some also treat a leading tab or carriage return so) as a formula, and audit data is
//! attacker-controlled (a user agent, a resource name). Such cells get a leading apostrophe
//! (`'`), which spreadsheets display as text; `crate::files::unneutralize` gives the original
//! value back.
//! JSONL files are always byte-for-byte the stored events.

use serde_json::value::RawValue;

use relay_core::model::event_view::EventView;
use std::borrow::Cow;

use crate::files::neutralize;
use relay_core::model::export_job::JobFormat;

/// The CSV header, in order.
pub const CSV_COLUMNS: [&str; 18] = [
    "event_id",
    "timestamp",
    "action",
    "actor.user_id",
    "actor.email",
    "actor.ip_address",
    "actor.type",
    "actor.user_agent",
    "resource.type",
    "resource.id",
    "resource.name",
    "tenant_id",
    "project",
    "success",
    "request_id",
    "duration_ms",
    "metadata",
    "received_at",
];

/// An event could not be encoded (its stored JSON is not an event).
#[derive(Debug, thiserror::Error)]
#[error("event {event} cannot be encoded: {detail}")]
pub struct EncodeError {
    /// Position or id of the event.
    pub event: String,
    /// What was wrong.
    pub detail: String,
}

/// Encodes events one at a time into a caller's buffer.
pub struct Encoder {
    format: JobFormat,
    csv: csv::WriterBuilder,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoder({})", self.format.as_str())
    }
}

impl Encoder {
    /// An encoder for `format`.
    pub fn new(format: JobFormat) -> Self {
        let mut csv = csv::WriterBuilder::new();
        csv.terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .has_headers(false)
            .buffer_capacity(4096);
        Encoder { format, csv }
    }

    /// Writes one CSV record straight into `out`.
    fn write_csv<I, T>(&self, record: I, out: &mut Vec<u8>) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut w = self.csv.from_writer(out);
        w.write_record(record)?;
        w.flush()?;
        Ok(())
    }

    /// Writes what starts every file: the header row for CSV, nothing for JSONL.
    pub fn header(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.format != JobFormat::Csv {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| EncodeError {
            event: "header".into(),
            detail: e.to_string(),
        };
        self.write_csv(CSV_COLUMNS, out).map_err(|e| err(&e))
    }

    /// Appends one event (its canonical JSON) to `out`.
    pub fn encode(&mut self, doc: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self.format {
            JobFormat::Jsonl => {
                out.extend_from_slice(doc.as_bytes());
                out.push(b'\n');
                Ok(())
            }
            JobFormat::Csv => self.encode_csv(doc, out),
        }
    }

    fn encode_csv(&mut self, doc: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let r: EventView<'_> = serde_json::from_str(doc).map_err(|e| EncodeError {
            event: doc.chars().take(80).collect(),
            detail: e.to_string(),
        })?;
        let text = |v: &Option<Cow<'_, str>>| -> String {
            v.as_deref()
                .map(|s| neutralize(s).into_owned())
                .unwrap_or_default()
        };
        let success = match r.success {
            Some(true) => "true",
            Some(false) => "false",
            None => "",
        };
        let duration = r.duration_ms.map(|d| d.to_string()).unwrap_or_default();
        let (rtype, rid, rname) = match &r.resource {
            Some(res) => (
                neutralize(&res.resource_type).into_owned(),
                neutralize(&res.id).into_owned(),
                text(&res.name),
            ),
            None => Default::default(),
        };
        let record: [Cow<'_, str>; 18] = [
            neutralize(&r.event_id),
            neutralize(&r.timestamp),
            neutralize(&r.action),
            neutralize(&r.actor.user_id),
            text(&r.actor.email).into(),
            text(&r.actor.ip_address).into(),
            text(&r.actor.actor_type).into(),
            text(&r.actor.user_agent).into(),
            rtype.into(),
            rid.into(),
            rname.into(),
            text(&r.tenant_id).into(),
            text(&r.project).into(),
            success.into(),
            text(&r.request_id).into(),
            duration.into(),
            // A JSON object always starts with '{': never a formula.
            r.metadata.map(RawValue::get).unwrap_or_default().into(),
            text(&r.received_at).into(),
        ];
        let err = |e: &dyn std::fmt::Display| EncodeError {
            event: r.event_id.to_string(),
            detail: e.to_string(),
        };
        self.write_csv(record.iter().map(|c| c.as_bytes()), out)
            .map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::unneutralize;

    const EVENT: &str = r#"{"event_id":"evt_1","timestamp":"2026-05-22T10:30:00Z","action":"document.opened","actor":{"user_id":"usr_1","email":"jane@example.com","ip_address":"203.0.113.42","type":"user","user_agent":"Mozilla/5.0 (X11, \"quoted\")\nnext"},"resource":{"type":"document","id":"=HYPERLINK(\"http://x\")","name":"@SUM(A1)"},"tenant_id":"ten_1","success":false,"duration_ms":12,"metadata":{"via":"share-link","n":[1,2]},"received_at":"2026-05-22T10:31:00.000Z"}"#;

    fn csv_of(docs: &[&str]) -> String {
        let mut e = Encoder::new(JobFormat::Csv);
        let mut out = Vec::new();
        e.header(&mut out).unwrap();
        for d in docs {
            e.encode(d, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn jsonl_is_the_stored_json_verbatim() {
        let mut e = Encoder::new(JobFormat::Jsonl);
        let mut out = Vec::new();
        e.header(&mut out).unwrap();
        e.encode(EVENT, &mut out).unwrap();
        assert_eq!(out, format!("{EVENT}\n").into_bytes());
    }

    #[test]
    fn csv_is_rfc4180_with_a_header_and_dotted_columns() {
        let text = csv_of(&[
            EVENT,
            r#"{"event_id":"evt_2","timestamp":"2026-05-22T10:30:00Z","action":"user_login","actor":{"user_id":"-1"},"tenant_id":"t"}"#,
        ]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert!(text.ends_with("\r\n"));
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = rdr.headers().unwrap().clone();
        assert_eq!(headers.iter().collect::<Vec<_>>(), CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let get = |row: &csv::StringRecord, col: &str| {
            row.get(CSV_COLUMNS.iter().position(|c| *c == col).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            get(&rows[0], "actor.user_agent"),
            "Mozilla/5.0 (X11, \"quoted\")\nnext"
        );
        assert_eq!(get(&rows[0], "resource.id"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(
            unneutralize(&get(&rows[0], "resource.id")),
            "=HYPERLINK(\"http://x\")"
        );
        assert_eq!(get(&rows[0], "resource.name"), "'@SUM(A1)");
        assert_eq!(get(&rows[0], "success"), "false");
        assert_eq!(get(&rows[0], "duration_ms"), "12");
        assert_eq!(
            get(&rows[0], "metadata"),
            r#"{"via":"share-link","n":[1,2]}"#
        );
        assert_eq!(get(&rows[1], "actor.user_id"), "'-1");
        assert_eq!(get(&rows[1], "resource.type"), "");
        assert_eq!(get(&rows[1], "metadata"), "");
        assert_eq!(get(&rows[1], "success"), "");
    }

    #[test]
    fn neutralization() {
        for (raw, safe) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("plain", "plain"),
            ("'quoted", "'quoted"),
            ("", ""),
        ] {
            assert_eq!(neutralize(raw), safe);
            assert_eq!(unneutralize(&neutralize(raw)), raw);
        }
    }

    #[test]
    fn a_document_that_is_not_an_event_is_an_error() {
        let mut e = Encoder::new(JobFormat::Csv);
        assert!(e.encode("{}", &mut Vec::new()).is_err());
    }
}
