//! The columnar shape: the Event Data Schema of the analytics export (upper-case columns in
//! that schema's order and types), followed by the canonical fields it has no column for, so
//! that nothing of an event is lost in a table. The CSV and Parquet writers build on
//! [`COLUMNS`] and [`row`]; [`cell_text`] is the CSV text of one cell.
//!
//! Where the columns come from:
//! - `ORGANIZATION_ID` is the tenant id; `EVENT_ID` the event id.
//! - `EVENT_YEAR`, `EVENT_MONTH` (the month's first day), `EVENT_DATE` and `EVENT_TIME` (UTC,
//!   without a zone) come from `timestamp`.
//! - `USER_ID` and `EMAIL` are the actor's; `RESOURCE_TYPE` and `RESOURCE_ID` the resource's;
//!   `EVENT_TYPE` is the action.
//! - Every other column of the Event Data Schema (`APP_ID`, `ROLE_ID`, `LOGIN_TYPE`, ...) is the
//!   `metadata` key of the same name in lower case (`metadata.app_id`), else null. A value that
//!   is not a string is written as its JSON text (`42`, `true`, `{"a":1}`), so the column keeps
//!   its text type. The keys stay in `METADATA` as well: that column is the whole object.
//! - Then the canonical fields: `IP_ADDRESS`, `USER_AGENT`, `ACTOR_TYPE`, `PROJECT`, `SUCCESS`,
//!   `REQUEST_ID`, `DURATION_MS`, `RECEIVED_AT`, `RESOURCE_NAME` and `METADATA` (JSON text).

use serde_json::Value;
use time::{Date, OffsetDateTime, UtcOffset};

use super::{event_time, received_time, ShapeContext};
use crate::model::event::AuditEvent;

/// The type of a column, as the Event Data Schema names them (`VARCHAR`, `NUMBER`, `DATE`,
/// `TIMESTAMPNTZ`) plus the two the canonical fields need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `VARCHAR`: UTF-8 text.
    Text,
    /// `NUMBER`: a 64-bit signed integer.
    Number,
    /// `DATE`: a calendar day.
    Date,
    /// `TIMESTAMPNTZ`: a UTC time with microseconds and no zone.
    TimestampNtz,
    /// `BOOLEAN`.
    Boolean,
    /// JSON, carried as its text.
    Json,
}

impl ColumnKind {
    /// The type's name in the Event Data Schema's vocabulary (`VARCHAR`, `NUMBER`, ...).
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnKind::Text => "VARCHAR",
            ColumnKind::Number => "NUMBER",
            ColumnKind::Date => "DATE",
            ColumnKind::TimestampNtz => "TIMESTAMPNTZ",
            ColumnKind::Boolean => "BOOLEAN",
            ColumnKind::Json => "VARIANT",
        }
    }
}

/// One column: its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Upper-case column name.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnKind,
}

/// One value of a row. [`Cell::Null`] is an absent value, whatever the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// No value.
    Null,
    /// A `Text` or `Json` column's value.
    Text(String),
    /// A `Number` column's value.
    Int(i64),
    /// A `Boolean` column's value.
    Bool(bool),
    /// A `Date` column's value.
    Date {
        /// Days since 1970-01-01.
        days_since_epoch: i32,
    },
    /// A `TimestampNtz` column's value: microseconds since 1970-01-01T00:00:00 UTC.
    TimestampMicros(i64),
}

const fn col(name: &'static str, kind: ColumnKind) -> Column {
    Column { name, kind }
}

use ColumnKind::{Boolean, Date as DateKind, Json, Number, Text, TimestampNtz};

/// The columns, in order: the Event Data Schema's, then the canonical fields it lacks.
pub const COLUMNS: &[Column] = &[
    col("ORGANIZATION_ID", Text),
    col("EVENT_ID", Text),
    col("EVENT_YEAR", Number),
    col("EVENT_MONTH", DateKind),
    col("EVENT_DATE", DateKind),
    col("EVENT_TIME", TimestampNtz),
    col("ROOT_SCOPE_USER_ID", Text),
    col("USER_ID", Text),
    // The schema's table shows this row's name blank (the page's renderer hid what it took for
    // an e-mail address); the column holds the user's e-mail, so it is named EMAIL.
    col("EMAIL", Text),
    col("APP_ID", Text),
    col("BRANCH_ID", Text),
    col("DEPLOY_ID", Text),
    col("SAVEPOINT_ID", Text),
    col("SAVEPOINT_REVISION", Text),
    col("RESOURCE_TYPE", Text),
    col("RESOURCE_ID", Text),
    col("DOMAIN", Text),
    col("DATASTORE_ID", Text),
    col("API_KEY_ID", Text),
    col("NOTIFIER_ID", Text),
    col("SAML_ID", Text),
    col("WEBHOOK_ID", Text),
    col("ADAPTER_ID", Text),
    col("EMBED_ID", Text),
    col("ROLE_ID", Text),
    col("SERVICE", Text),
    col("SERVICE_REVISION", Text),
    col("LOGIN_TYPE", Text),
    col("EVENT_TYPE", Text),
    col("IP_ADDRESS", Text),
    col("USER_AGENT", Text),
    col("ACTOR_TYPE", Text),
    col("PROJECT", Text),
    col("SUCCESS", Boolean),
    col("REQUEST_ID", Text),
    col("DURATION_MS", Number),
    col("RECEIVED_AT", TimestampNtz),
    col("RESOURCE_NAME", Text),
    col("METADATA", Json),
];

/// The CSV header: the column names in order.
pub fn csv_header() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.name).collect()
}

fn text(s: Option<&str>) -> Cell {
    s.map_or(Cell::Null, |s| Cell::Text(s.to_string()))
}

fn date_cell(d: Date) -> Cell {
    // Julian day of 1970-01-01.
    const EPOCH_JULIAN_DAY: i32 = 2_440_588;
    Cell::Date {
        days_since_epoch: d.to_julian_day() - EPOCH_JULIAN_DAY,
    }
}

fn micros_cell(t: OffsetDateTime) -> Cell {
    let micros = t.unix_timestamp_nanos() / 1_000;
    i64::try_from(micros).map_or(Cell::Null, Cell::TimestampMicros)
}

/// A metadata value as column text: strings as they are, anything else as its JSON text.
fn metadata_text(event: &AuditEvent, column: &str) -> Cell {
    let key = column.to_ascii_lowercase();
    match event.metadata.as_ref().and_then(|m| m.get(&key)) {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::String(s)) => Cell::Text(s.clone()),
        Some(other) => Cell::Text(other.to_string()),
    }
}

/// The event as one row: one cell per [`COLUMNS`] entry, same order. `received_at` overrides
/// the event's own (stored events carry it). A `timestamp` that does not parse leaves the four
/// time columns null rather than inventing a time.
pub fn row(event: &AuditEvent, received_at: Option<&str>, ctx: &ShapeContext) -> Vec<Cell> {
    let time = event_time(event).map(|t| t.to_offset(UtcOffset::UTC));
    let received = received_time(event, received_at);
    let resource = event.resource.as_ref();
    COLUMNS
        .iter()
        .map(|c| match c.name {
            "ORGANIZATION_ID" => Cell::Text(ctx.tenant_of(event).to_string()),
            "EVENT_ID" => Cell::Text(event.event_id.clone()),
            "EVENT_YEAR" => time.map_or(Cell::Null, |t| Cell::Int(i64::from(t.year()))),
            "EVENT_MONTH" => time
                .and_then(|t| Date::from_calendar_date(t.year(), t.month(), 1).ok())
                .map_or(Cell::Null, date_cell),
            "EVENT_DATE" => time.map_or(Cell::Null, |t| date_cell(t.date())),
            "EVENT_TIME" => time.map_or(Cell::Null, micros_cell),
            "USER_ID" => Cell::Text(event.actor.user_id.clone()),
            "EMAIL" => text(event.actor.email.as_deref()),
            "RESOURCE_TYPE" => text(resource.map(|r| r.resource_type.as_str())),
            "RESOURCE_ID" => text(resource.map(|r| r.id.as_str())),
            "EVENT_TYPE" => Cell::Text(event.action.clone()),
            "IP_ADDRESS" => text(event.actor.ip_address.as_deref()),
            "USER_AGENT" => text(event.actor.user_agent.as_deref()),
            "ACTOR_TYPE" => text(event.actor.actor_type.map(|t| t.as_str())),
            "PROJECT" => text(event.project.as_deref()),
            "SUCCESS" => event.success.map_or(Cell::Null, Cell::Bool),
            "REQUEST_ID" => text(event.request_id.as_deref()),
            // Durations beyond i64 are not real; they saturate instead of wrapping negative.
            "DURATION_MS" => event.duration_ms.map_or(Cell::Null, |d| {
                Cell::Int(i64::try_from(d).unwrap_or(i64::MAX))
            }),
            "RECEIVED_AT" => received.map_or(Cell::Null, micros_cell),
            "RESOURCE_NAME" => text(resource.and_then(|r| r.name.as_deref())),
            "METADATA" => event.metadata.as_ref().map_or(Cell::Null, |m| {
                Cell::Text(Value::Object(m.clone()).to_string())
            }),
            other => metadata_text(event, other),
        })
        .collect()
}

fn date_text(days_since_epoch: i32) -> String {
    let day = OffsetDateTime::UNIX_EPOCH.date().to_julian_day() + days_since_epoch;
    match Date::from_julian_day(day) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        Err(_) => String::new(),
    }
}

fn timestamp_text(micros: i64) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ),
        Err(_) => String::new(),
    }
}

/// A cell's CSV text: empty for null, dates as `YYYY-MM-DD`, timestamps as
/// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, no zone: what `TIMESTAMPNTZ` loaders read), booleans as
/// `true`/`false`. Quoting is the CSV writer's business.
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Date { days_since_epoch } => date_text(*days_since_epoch),
        Cell::TimestampMicros(m) => timestamp_text(*m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::ActorType;
    use crate::shapes::test_support::{ctx, example};
    use serde_json::json;

    fn by_name(cells: &[Cell]) -> std::collections::HashMap<&'static str, Cell> {
        COLUMNS
            .iter()
            .map(|c| c.name)
            .zip(cells.iter().cloned())
            .collect()
    }

    #[test]
    fn the_event_data_schema_comes_first_in_its_order_and_types() {
        let page = [
            ("ORGANIZATION_ID", "VARCHAR"),
            ("EVENT_ID", "VARCHAR"),
            ("EVENT_YEAR", "NUMBER"),
            ("EVENT_MONTH", "DATE"),
            ("EVENT_DATE", "DATE"),
            ("EVENT_TIME", "TIMESTAMPNTZ"),
            ("ROOT_SCOPE_USER_ID", "VARCHAR"),
            ("USER_ID", "VARCHAR"),
            ("EMAIL", "VARCHAR"),
            ("APP_ID", "VARCHAR"),
            ("BRANCH_ID", "VARCHAR"),
            ("DEPLOY_ID", "VARCHAR"),
            ("SAVEPOINT_ID", "VARCHAR"),
            ("SAVEPOINT_REVISION", "VARCHAR"),
            ("RESOURCE_TYPE", "VARCHAR"),
            ("RESOURCE_ID", "VARCHAR"),
            ("DOMAIN", "VARCHAR"),
            ("DATASTORE_ID", "VARCHAR"),
            ("API_KEY_ID", "VARCHAR"),
            ("NOTIFIER_ID", "VARCHAR"),
            ("SAML_ID", "VARCHAR"),
            ("WEBHOOK_ID", "VARCHAR"),
            ("ADAPTER_ID", "VARCHAR"),
            ("EMBED_ID", "VARCHAR"),
            ("ROLE_ID", "VARCHAR"),
            ("SERVICE", "VARCHAR"),
            ("SERVICE_REVISION", "VARCHAR"),
            ("LOGIN_TYPE", "VARCHAR"),
            ("EVENT_TYPE", "VARCHAR"),
        ];
        for (i, (name, ty)) in page.iter().enumerate() {
            assert_eq!(COLUMNS[i].name, *name, "column {i}");
            assert_eq!(COLUMNS[i].kind.sql_name(), *ty, "{name}");
        }
        let mut names = csv_header();
        assert_eq!(names.len(), COLUMNS.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len(), "column names are unique");
    }

    #[test]
    fn documented_example_maps_to_its_columns() {
        let cells = row(&example(), None, &ctx());
        assert_eq!(cells.len(), COLUMNS.len());
        let c = by_name(&cells);
        assert_eq!(c["ORGANIZATION_ID"], Cell::Text("ten_01ABCDEFG".into()));
        assert_eq!(c["EVENT_ID"], Cell::Text("evt_01HXYZABCDEF".into()));
        assert_eq!(c["EVENT_YEAR"], Cell::Int(2026));
        assert_eq!(cell_text(&c["EVENT_MONTH"]), "2026-05-01");
        assert_eq!(cell_text(&c["EVENT_DATE"]), "2026-05-22");
        assert_eq!(cell_text(&c["EVENT_TIME"]), "2026-05-22 10:30:00.000000");
        assert_eq!(
            c["EVENT_TIME"],
            Cell::TimestampMicros(1_779_445_800_000_000)
        );
        assert_eq!(c["USER_ID"], Cell::Text("usr_01ABCDEFG".into()));
        assert_eq!(c["EMAIL"], Cell::Text("jane@example.com".into()));
        assert_eq!(c["RESOURCE_TYPE"], Cell::Text("document".into()));
        assert_eq!(c["RESOURCE_ID"], Cell::Text("doc_01ABCDEF".into()));
        assert_eq!(c["RESOURCE_NAME"], Cell::Text("Contract_v2.docx".into()));
        assert_eq!(c["EVENT_TYPE"], Cell::Text("document.opened".into()));
        assert_eq!(c["IP_ADDRESS"], Cell::Text("203.0.113.42".into()));
        assert_eq!(cell_text(&c["RECEIVED_AT"]), "2026-05-22 10:30:01.250000");
        for absent in [
            "APP_ID",
            "USER_AGENT",
            "ACTOR_TYPE",
            "PROJECT",
            "SUCCESS",
            "DURATION_MS",
            "METADATA",
        ] {
            assert_eq!(c[absent], Cell::Null, "{absent}");
            assert_eq!(cell_text(&c[absent]), "");
        }
    }

    #[test]
    fn metadata_keys_fill_the_schemas_columns_as_text() {
        let mut ev = example();
        ev.timestamp = "2024-02-29T23:59:59.123456789+01:00".into();
        ev.actor.actor_type = Some(ActorType::Group);
        ev.success = Some(false);
        ev.duration_ms = Some(12);
        ev.project = Some("prj_1".into());
        ev.metadata = json!({
            "app_id": "app_9", "role_id": 7, "login_type": null, "service": {"a": 1},
            "SAML_ID": "ignored: keys are lower case", "extra": true
        })
        .as_object()
        .cloned();
        let cells = row(&ev, Some("2024-03-01T00:00:00Z"), &ctx());
        let c = by_name(&cells);
        assert_eq!(c["APP_ID"], Cell::Text("app_9".into()));
        assert_eq!(c["ROLE_ID"], Cell::Text("7".into()));
        assert_eq!(c["SERVICE"], Cell::Text(r#"{"a":1}"#.into()));
        assert_eq!(c["LOGIN_TYPE"], Cell::Null);
        assert_eq!(c["SAML_ID"], Cell::Null);
        assert_eq!(c["ACTOR_TYPE"], Cell::Text("group".into()));
        assert_eq!(c["SUCCESS"], Cell::Bool(false));
        assert_eq!(cell_text(&c["SUCCESS"]), "false");
        assert_eq!(c["DURATION_MS"], Cell::Int(12));
        assert_eq!(c["PROJECT"], Cell::Text("prj_1".into()));
        // UTC: the +01:00 time is the day before, in February of a leap year.
        assert_eq!(c["EVENT_YEAR"], Cell::Int(2024));
        assert_eq!(cell_text(&c["EVENT_MONTH"]), "2024-02-01");
        assert_eq!(cell_text(&c["EVENT_DATE"]), "2024-02-29");
        assert_eq!(cell_text(&c["EVENT_TIME"]), "2024-02-29 22:59:59.123456");
        assert_eq!(cell_text(&c["RECEIVED_AT"]), "2024-03-01 00:00:00.000000");
        let meta: Value = match &c["METADATA"] {
            Cell::Text(s) => serde_json::from_str(s).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(meta["extra"], true);
        assert_eq!(meta["app_id"], "app_9");
    }

    #[test]
    fn an_event_without_a_tenant_takes_the_contexts_and_bad_times_are_null() {
        let mut ev = example();
        ev.tenant_id.clear();
        ev.timestamp = "not a time".into();
        ev.received_at.clear();
        ev.resource = None;
        let c = by_name(&row(&ev, None, &ctx()));
        assert_eq!(c["ORGANIZATION_ID"], Cell::Text("ten_01ABCDEFG".into()));
        for col in [
            "EVENT_YEAR",
            "EVENT_MONTH",
            "EVENT_DATE",
            "EVENT_TIME",
            "RECEIVED_AT",
            "RESOURCE_ID",
        ] {
            assert_eq!(c[col], Cell::Null, "{col}");
        }
    }

    #[test]
    fn cell_text_of_each_kind() {
        assert_eq!(
            cell_text(&Cell::Date {
                days_since_epoch: 0
            }),
            "1970-01-01"
        );
        assert_eq!(
            cell_text(&Cell::Date {
                days_since_epoch: -1
            }),
            "1969-12-31"
        );
        assert_eq!(
            cell_text(&Cell::TimestampMicros(1)),
            "1970-01-01 00:00:00.000001"
        );
        assert_eq!(cell_text(&Cell::Int(-5)), "-5");
        assert_eq!(cell_text(&Cell::Bool(true)), "true");
        assert_eq!(cell_text(&Cell::Text("a,b".into())), "a,b");
    }
}
