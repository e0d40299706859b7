//! Runtime tests: the tiny bundle against the hand-composed reference, on every backend;
//! quantized bundles within the parity bound; per-user mode against a cache-free
//! reference; the store, concurrency and typed errors.

mod errors;
mod fixture;
mod prompt_ids;
mod reference;
mod scoring;
