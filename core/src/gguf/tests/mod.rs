//! Tests for the GGUF reader, checked against independent references (the Python `gguf`
//! package's outputs, hand-built files, and a real llama.cpp model).

mod golden;
mod malformed;
mod real_model;
mod round_trip;
mod writer;
