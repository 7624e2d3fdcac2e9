//! The admin console's static files (`console/dist`, built from `console/src` and committed),
//! compiled into the binary so the API Lambda serves them with nothing else deployed.

use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name under `/console/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $ct:literal),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../console/dist/", $name)),
        }),*]
    };
}

/// Every file of `console/dist` (a unit test keeps this list and the folder in step).
pub static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "logs.js" => "text/javascript; charset=utf-8",
    "exports.js" => "text/javascript; charset=utf-8",
    "webhooks.js" => "text/javascript; charset=utf-8",
    "otel.js" => "text/javascript; charset=utf-8",
    "destination.js" => "text/javascript; charset=utf-8",
    "credentials.js" => "text/javascript; charset=utf-8",
    "notifications.js" => "text/javascript; charset=utf-8",
    "health.js" => "text/javascript; charset=utf-8",
};

/// The page's Content-Security-Policy: nothing from any other origin, no inline script or
/// style, no plugins, no framing, forms and fetches only to the service itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The asset called `name`, with its strong ETag.
pub fn asset(name: &str) -> Option<(&'static Asset, &'static str)> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    let etags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &relay_core::auth::sha256_hex(a.body)[..32]))
            .collect()
    });
    let i = ASSETS.iter().position(|a| a.name == name)?;
    Some((&ASSETS[i], etags[i].as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_file_is_embedded_and_nothing_else() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../console/dist");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "update ASSETS in shared/api/src/console.rs"
        );
    }

    #[test]
    fn assets_reference_no_other_origin() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).unwrap();
            // Example URLs in placeholders are fine; loading anything from elsewhere is not.
            for needle in [
                "src=\"http",
                "href=\"http",
                "src=\"//",
                "href=\"//",
                "url(",
                "@import",
                "from \"http",
                "import(\"http",
                "fetch(\"http",
            ] {
                assert!(
                    !text.contains(needle),
                    "{} contains {needle}: everything must come from the service",
                    a.name
                );
            }
        }
    }

    #[test]
    fn etags_are_stable_and_distinct() {
        let (_, a) = asset("app.js").unwrap();
        let (_, b) = asset("app.js").unwrap();
        let (_, c) = asset("index.html").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(asset("missing.js").is_none());
        assert!(asset("../Cargo.toml").is_none());
    }
}
