//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `reclora-ffi` from
//! its compiled library (`generate --library`). It links the same exact uniffi version as
//! the library, so the checksums it writes match the library's.

fn main() {
    uniffi::uniffi_bindgen_main()
}
