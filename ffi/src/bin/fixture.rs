//! `reclora-ffi-fixture DIR`: writes the tiny test bundle, a corrupt copy and the Rust
//! reference results (`expected.txt`) that the Kotlin, Swift and Python tests read.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: reclora-ffi-fixture DIR");
        return ExitCode::from(2);
    };
    match reclora_ffi::fixture::write(std::path::Path::new(&dir)) {
        Ok(expected) => {
            println!(
                "fixture: {} scores, top 3 {:?}",
                expected.scores.len(),
                expected.top3
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("reclora-ffi-fixture: {error}");
            ExitCode::FAILURE
        }
    }
}
