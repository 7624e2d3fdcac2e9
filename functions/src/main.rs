//! The AuditRelay Lambda functions, in one binary. Each function in `template.yaml` names its
//! handler (`Handler: api`, `fanout`, `summarize`, `deliver`, `flush` or `export`), which
//! Lambda passes to the runtime in `_HANDLER`; the handlers are thin, over the `shared/`
//! crates.
//!
//! One binary rather than one per function: every binary compiled the same generic code (the
//! SDK's, tokio's, axum's) again, and five of them took more than half of the release build
//! (docs/operations.md, "Build").

mod api;
mod deliver;
mod export;
mod fanout;
mod flush;
mod summarize;

use lambda_runtime::Error;

/// The handlers, by the name a function's `Handler` gives.
const HANDLERS: [&str; 6] = ["api", "fanout", "summarize", "deliver", "flush", "export"];

#[tokio::main]
async fn main() -> Result<(), Error> {
    let handler = std::env::var("_HANDLER").unwrap_or_default();
    match handler.as_str() {
        "api" => api::run().await,
        "fanout" => fanout::run().await,
        "summarize" => summarize::run().await,
        "deliver" => deliver::run().await,
        "flush" => flush::run().await,
        "export" => export::run().await,
        other => Err(format!(
            "unknown handler {other:?} (_HANDLER): a function's Handler is one of {}",
            HANDLERS.join(", ")
        )
        .into()),
    }
}
