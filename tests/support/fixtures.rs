//! The `events/` fixtures, with their placeholders filled in: one loader for every test that
//! replays a trigger or a route as the Lambda runtime would hand it over.

use crate::TestEnv;

/// What a fixture's placeholders stand for. Unset ones are left as they are (an unknown key
/// answers 401, an unknown id 404).
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// `org_REPLACE_WITH_AN_ORG_ID`.
    pub org_id: Option<String>,
    /// `ar_REPLACE_WITH_A_SERVICE_KEY` (a key with `audit:write`).
    pub service_key: Option<String>,
    /// `ar_REPLACE_WITH_AN_OWNER_KEY`.
    pub owner_key: Option<String>,
    /// `whk_REPLACE_WITH_AN_ENDPOINT_ID` and `whk_REPLACE_WITH_A_WEBHOOK_ID`.
    pub webhook_id: Option<String>,
    /// `exp_REPLACE_WITH_AN_EXPORT_ID`.
    pub export_id: Option<String>,
}

impl Placeholders {
    /// Org A of `env`: its id, its writer (service) key and its owner key.
    pub fn org_a(env: &TestEnv) -> Self {
        Placeholders {
            org_id: Some(env.a.org.org_id.to_string()),
            service_key: Some(env.a.writer.clone()),
            owner_key: Some(env.a.owner.clone()),
            ..Placeholders::default()
        }
    }

    fn fill(&self, text: String) -> String {
        let pairs = [
            ("org_REPLACE_WITH_AN_ORG_ID", &self.org_id),
            ("ar_REPLACE_WITH_A_SERVICE_KEY", &self.service_key),
            ("ar_REPLACE_WITH_AN_OWNER_KEY", &self.owner_key),
            ("whk_REPLACE_WITH_AN_ENDPOINT_ID", &self.webhook_id),
            ("whk_REPLACE_WITH_A_WEBHOOK_ID", &self.webhook_id),
            ("exp_REPLACE_WITH_AN_EXPORT_ID", &self.export_id),
        ];
        pairs.into_iter().fold(text, |t, (from, to)| match to {
            Some(to) => t.replace(from, to),
            None => t,
        })
    }
}

/// Every file in `events/`, by name, sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// The text of `events/{name}` with `with`'s placeholders filled in.
pub fn text(name: &str, with: &Placeholders) -> String {
    let path = format!("{}/{name}", dir());
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    with.fill(raw)
}

/// An API Gateway HTTP API fixture, decoded by lambda_http exactly as the Lambda runtime would.
pub fn request(name: &str, with: &Placeholders) -> lambda_http::Request {
    lambda_http::request::from_str(&text(name, with)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dir() -> String {
    format!("{}/../events", env!("CARGO_MANIFEST_DIR"))
}
