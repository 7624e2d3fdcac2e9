//! `auditctl` as an operator runs it, in one test binary: the CLI against moto (`make test`
//! sets `AWS_ENDPOINT_URL`), and `auditctl serve` delivering to real receivers on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod crash;
mod ctl;
mod limits;
mod serve_early_flush;
mod serve_otel;
mod serve_webhooks;
mod verify;
