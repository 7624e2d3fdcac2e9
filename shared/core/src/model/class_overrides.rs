//! An org's OCSF class overrides: which OCSF class and activity the actions matching a pattern
//! map to, instead of the built-in rules (for example every `document.*` action as an API
//! Activity Read). The input of `PUT /orgs/{orgId}/ocsf/class-overrides`, its validation and
//! the view the API returns. The field names are OCSF's own (`class_uid`, `activity_id`), as
//! in the records they change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::shapes::ocsf::{classify_with, ClassOverride};

/// Most overrides per org: each is a glob matched against every exported event's action, in
/// order, so the list stays a short table an admin can read.
pub const MAX_OVERRIDES: usize = 50;
/// Longest pattern (actions themselves are at most 128 characters; a glob is rarely longer).
pub const MAX_PATTERN_CHARS: usize = 256;

/// Body of `PUT /orgs/{orgId}/ocsf/class-overrides`.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"overrides": [{"pattern": "document.*", "class_uid": 6003, "activity_id": 2}]}))]
pub struct ClassOverridesInput {
    /// The overrides, replacing the stored list, first match wins. Taken as any JSON value so
    /// that a wrong type gets a clear error naming the field.
    #[schema(value_type = Vec<Object>)]
    pub overrides: Value,
}

impl ClassOverridesInput {
    /// The validated list, in the order given: each entry an object with a non-empty
    /// `pattern` (at most [`MAX_PATTERN_CHARS`], `*` and `?` as wildcards), a `class_uid`
    /// the records use and an `activity_id` of that class; no pattern twice.
    pub fn validate(&self) -> Result<Vec<ClassOverride>, Error> {
        let Value::Array(items) = &self.overrides else {
            return Err(Error::invalid(
                "overrides",
                "must be an array of {pattern, class_uid, activity_id}",
            ));
        };
        if items.len() > MAX_OVERRIDES {
            return Err(Error::invalid(
                "overrides",
                format!("at most {MAX_OVERRIDES} overrides, got {}", items.len()),
            ));
        }
        let mut out: Vec<ClassOverride> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let one = parse_one(item, i)?;
            if out.iter().any(|o| o.pattern == one.pattern) {
                return Err(Error::invalid(
                    format!("overrides[{i}].pattern"),
                    format!(
                        "{} is listed twice (the first would always win)",
                        one.pattern
                    ),
                ));
            }
            out.push(one);
        }
        Ok(out)
    }
}

fn parse_one(item: &Value, i: usize) -> Result<ClassOverride, Error> {
    let field = |name: &str| format!("overrides[{i}].{name}");
    let Value::Object(m) = item else {
        return Err(Error::invalid(
            format!("overrides[{i}]"),
            "must be an object {pattern, class_uid, activity_id}",
        ));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["pattern", "class_uid", "activity_id"].contains(&k.as_str()))
    {
        return Err(Error::invalid(
            field(k),
            "is not a field of an override (pattern, class_uid, activity_id)",
        ));
    }
    let pattern = match m.get("pattern") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(Error::invalid(field("pattern"), "must be a string")),
        None => return Err(Error::invalid(field("pattern"), "is required")),
    };
    if pattern.is_empty() {
        return Err(Error::invalid(field("pattern"), "must not be empty"));
    }
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(Error::invalid(
            field("pattern"),
            format!("at most {MAX_PATTERN_CHARS} characters"),
        ));
    }
    if pattern.chars().any(char::is_control) {
        return Err(Error::invalid(
            field("pattern"),
            "must not contain control characters",
        ));
    }
    let number = |name: &str| -> Result<u64, Error> {
        match m.get(name) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| Error::invalid(field(name), "must be a non-negative integer")),
            None => Err(Error::invalid(field(name), "is required")),
        }
    };
    let class_uid = u32::try_from(number("class_uid")?).unwrap_or(u32::MAX);
    let activity_id = u8::try_from(number("activity_id")?).unwrap_or(u8::MAX);
    let candidate = ClassOverride {
        pattern,
        class_uid,
        activity_id,
    };
    if let Err(why) = candidate.check() {
        let name = if why.starts_with("class_uid") {
            "class_uid"
        } else {
            "activity_id"
        };
        return Err(Error::invalid(field(name), why));
    }
    Ok(candidate)
}

/// One override as the API shows it, with the class's and activity's names.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ClassOverrideView {
    /// The glob over action names.
    pub pattern: String,
    /// The OCSF class.
    pub class_uid: u32,
    /// Its name (`API Activity`).
    pub class_name: &'static str,
    /// The activity.
    pub activity_id: u8,
    /// Its name (`Read`).
    pub activity_name: &'static str,
}

impl ClassOverrideView {
    /// The view of a valid override; `None` for one that fails [`ClassOverride::check`]
    /// (validation lets none through).
    pub fn of(o: &ClassOverride) -> Option<Self> {
        let c = o.check().ok()?;
        Some(ClassOverrideView {
            pattern: o.pattern.clone(),
            class_uid: c.class.uid(),
            class_name: c.class.name(),
            activity_id: c.activity_id,
            activity_name: c.class.activity_caption(c.activity_id).unwrap_or("Other"),
        })
    }
}

/// What `GET|PUT /orgs/{orgId}/ocsf/class-overrides` answer.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassOverridesView {
    /// The overrides, first match wins.
    pub overrides: Vec<ClassOverrideView>,
    /// Last change (RFC 3339), `None` when never set.
    pub updated_at: Option<String>,
}

impl ClassOverridesView {
    /// The view of a stored list.
    pub fn of(overrides: &[ClassOverride], updated_at: Option<String>) -> Self {
        ClassOverridesView {
            overrides: overrides.iter().filter_map(ClassOverrideView::of).collect(),
            updated_at,
        }
    }
}

/// How `action` is classified with `overrides`: what `GET .../class-overrides?action=` shows
/// so an admin can try a pattern before events arrive.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationView {
    /// The action asked about.
    pub action: String,
    /// The class it maps to.
    pub class_uid: u32,
    /// The class's name.
    pub class_name: &'static str,
    /// The activity.
    pub activity_id: u8,
    /// The activity's name.
    pub activity_name: &'static str,
    /// `type_uid` (`class_uid` × 100 + `activity_id`).
    pub type_uid: u64,
    /// The pattern of the override that chose it; `None` for the built-in rules.
    pub pattern: Option<String>,
}

impl ClassificationView {
    /// The classification of `action` under `overrides`.
    pub fn of(action: &str, overrides: &[ClassOverride]) -> Self {
        let c = classify_with(action, overrides);
        let pattern = overrides
            .iter()
            .find(|o| o.matches(action) && o.check().is_ok())
            .map(|o| o.pattern.clone());
        ClassificationView {
            action: action.to_string(),
            class_uid: c.class.uid(),
            class_name: c.class.name(),
            activity_id: c.activity_id,
            activity_name: c.class.activity_caption(c.activity_id).unwrap_or("Other"),
            type_uid: u64::from(c.class.uid()) * 100 + u64::from(c.activity_id),
            pattern,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(v: Value) -> Result<Vec<ClassOverride>, Error> {
        ClassOverridesInput { overrides: v }.validate()
    }

    fn field(r: Result<Vec<ClassOverride>, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_list_keeps_its_order() {
        let got = validate(json!([
            {"pattern": "document.*", "class_uid": 6003, "activity_id": 2},
            {"pattern": " sso.? ", "class_uid": 3002, "activity_id": 1},
        ]))
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].pattern, "document.*");
        assert_eq!(got[1].pattern, "sso.?");
        assert_eq!(got[1].class_uid, 3002);
        assert!(validate(json!([])).unwrap().is_empty());
    }

    #[test]
    fn each_mistake_names_its_field() {
        assert_eq!(field(validate(json!({}))), "overrides");
        let many: Vec<Value> = (0..=MAX_OVERRIDES)
            .map(|i| json!({"pattern": format!("a{i}"), "class_uid": 6003, "activity_id": 1}))
            .collect();
        assert_eq!(field(validate(Value::Array(many))), "overrides");
        for (item, name) in [
            (json!("x"), "overrides[0]"),
            (
                json!({"class_uid": 6003, "activity_id": 1}),
                "overrides[0].pattern",
            ),
            (
                json!({"pattern": "", "class_uid": 6003, "activity_id": 1}),
                "overrides[0].pattern",
            ),
            (
                json!({"pattern": 1, "class_uid": 6003, "activity_id": 1}),
                "overrides[0].pattern",
            ),
            (
                json!({"pattern": "a", "class_uid": 4001, "activity_id": 1}),
                "overrides[0].class_uid",
            ),
            (
                json!({"pattern": "a", "class_uid": "6003", "activity_id": 1}),
                "overrides[0].class_uid",
            ),
            (
                json!({"pattern": "a", "activity_id": 1}),
                "overrides[0].class_uid",
            ),
            (
                json!({"pattern": "a", "class_uid": 6003, "activity_id": 9}),
                "overrides[0].activity_id",
            ),
            (
                json!({"pattern": "a", "class_uid": 6003, "activity_id": -1}),
                "overrides[0].activity_id",
            ),
            (
                json!({"pattern": "a", "class_uid": 6003, "activity_id": 1, "x": 1}),
                "overrides[0].x",
            ),
        ] {
            assert_eq!(field(validate(json!([item]))), name, "{item}");
        }
        let twice = json!([
            {"pattern": "a.*", "class_uid": 6003, "activity_id": 1},
            {"pattern": "a.*", "class_uid": 3001, "activity_id": 1},
        ]);
        assert_eq!(field(validate(twice)), "overrides[1].pattern");
    }

    #[test]
    fn views_name_classes_and_activities() {
        let list =
            validate(json!([{"pattern": "document.*", "class_uid": 6003, "activity_id": 2}]))
                .unwrap();
        let v = serde_json::to_value(ClassOverridesView::of(&list, None)).unwrap();
        assert_eq!(v["overrides"][0]["class_name"], "API Activity");
        assert_eq!(v["overrides"][0]["activity_name"], "Read");
        let c = ClassificationView::of("document.opened", &list);
        assert_eq!((c.class_uid, c.activity_id, c.type_uid), (6003, 2, 600302));
        assert_eq!(c.pattern.as_deref(), Some("document.*"));
        let builtin = ClassificationView::of("user.login", &list);
        assert_eq!(builtin.class_uid, 3002);
        assert_eq!(builtin.pattern, None);
    }
}
