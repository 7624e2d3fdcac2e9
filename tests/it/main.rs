//! The integration tests, in one binary: the real aws-sdk clients against moto server on
//! loopback (`make test` starts it and sets `AWS_ENDPOINT_URL`), real HTTP receivers on
//! 127.0.0.1, and the handlers served from the `events/` fixtures. What the modules share
//! is the `support` library beside this folder.

mod audit_queries;
mod auth;
mod class_overrides;
mod console;
mod cost;
mod credentials;
mod export_jobs;
mod fixtures;
mod health;
mod ingest;
mod integrity;
mod limits;
mod noisy_neighbour;
mod notifications;
mod object_stores;
mod openapi;
mod otel;
mod query;
mod s3_export;
mod sealing;
mod shapes;
mod stream_position;
mod template;
mod tls;
mod webhooks;
