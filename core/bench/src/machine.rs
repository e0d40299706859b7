//! The machine a run is on: CPU model, the ISA features that matter for the kernels, the
//! load, and the wgpu adapter.

/// ISA features worth reporting, as Linux's /proc/cpuinfo names them (x86 `flags`, Arm
/// `Features`).
const INTERESTING: &[&str] = &[
    // x86
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    // Arm
    "asimd",
    "asimdhp",
    "asimddp",
    "i8mm",
    "bf16",
    "sve",
    "sve2",
    "sme",
];

/// The CPU's model name and its interesting ISA features (empty off Linux).
pub fn cpu() -> (String, Vec<String>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    parse_cpuinfo(&text)
}

/// [`cpu`] on the text of /proc/cpuinfo.
pub fn parse_cpuinfo(text: &str) -> (String, Vec<String>) {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim().to_owned())
        })
    };
    let model = value("model name")
        .or_else(|| value("Hardware"))
        .or_else(|| value("CPU part").map(|part| format!("Arm CPU part {part}")))
        .unwrap_or_else(|| "unknown".to_owned());
    let flags = value("flags")
        .or_else(|| value("Features"))
        .unwrap_or_default();
    let present: std::collections::HashSet<&str> = flags.split_whitespace().collect();
    let isa = INTERESTING
        .iter()
        .filter(|f| present.contains(**f))
        .map(|f| (*f).to_owned())
        .collect();
    (model, isa)
}

/// Logical CPUs.
pub fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The 1-minute load average (Linux).
pub fn load_avg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The name of the first wgpu adapter (what burn's default device runs on when there is
/// one), with its backend and driver.
#[cfg(feature = "wgpu")]
pub fn wgpu_adapter() -> Option<String> {
    use burn_wgpu::wgpu::{Backends, Instance};
    let adapters = block_on(Instance::default().enumerate_adapters(Backends::PRIMARY));
    let info = adapters.first()?.get_info();
    Some(format!(
        "{} ({:?}, {} {})",
        info.name, info.backend, info.driver, info.driver_info
    ))
}

/// No wgpu in this build.
#[cfg(not(feature = "wgpu"))]
pub fn wgpu_adapter() -> Option<String> {
    None
}

/// Drives a future that native wgpu completes without waiting on anything.
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_and_arm_cpuinfo() {
        let x86 = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: fpu sse4_2 avx2 fma avx512f avx512_vnni amx_int8\n";
        let (model, isa) = parse_cpuinfo(x86);
        assert_eq!(model, "Intel(R) Xeon(R) Platinum");
        assert_eq!(
            isa,
            [
                "sse4_2",
                "avx2",
                "fma",
                "avx512f",
                "avx512_vnni",
                "amx_int8"
            ]
        );
        let arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm asimddp i8mm\nCPU part\t: 0xd4b\n";
        let (model, isa) = parse_cpuinfo(arm);
        assert_eq!(model, "Arm CPU part 0xd4b");
        assert_eq!(isa, ["asimd", "asimddp", "i8mm"]);
        assert_eq!(parse_cpuinfo("").0, "unknown");
    }
}
