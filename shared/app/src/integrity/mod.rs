//! Tamper evidence: signing with the deployment's KMS key ([`signer`]), the hourly digests of
//! the continuous export ([`digests`]), and the offline verifier ([`verify`]). The format is
//! `relay_core::integrity`'s.

pub mod digests;
pub mod signer;
pub mod verify;
