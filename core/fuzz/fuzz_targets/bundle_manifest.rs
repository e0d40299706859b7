//! `manifest.json` text → `BundleManifest::parse`: must return a typed error or a
//! manifest, never panic; a manifest it accepts must survive `to_json` unchanged.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reclora_core::bundle::BundleManifest;

fuzz_target!(|data: &[u8]| {
    // `read` refuses non-UTF-8 before parsing (read_to_string), so only text gets here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("manifest.json");
    if let Ok(manifest) = BundleManifest::parse(text, path) {
        // The export writes `to_json`; what was accepted once must read back the same.
        let again = BundleManifest::parse(&manifest.to_json(), path)
            .expect("a parsed manifest re-parses from its own JSON");
        assert_eq!(again, manifest);
    }
});
