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

/// The CPU's model name and its interesting ISA features. The features are those this
/// process detects at run time (what the kernels dispatch on), named as /proc/cpuinfo names
/// them: under user-mode emulation (qemu-aarch64) /proc/cpuinfo is the host's.
pub fn cpu() -> (String, Vec<String>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (model, from_cpuinfo) = parse_cpuinfo(&text);
    let detected = detected_isa();
    (
        model,
        if detected.is_empty() {
            from_cpuinfo
        } else {
            detected
        },
    )
}

/// The interesting features the running process detects, in [`INTERESTING`]'s names.
fn detected_isa() -> Vec<String> {
    #[allow(unused_mut)] // empty on other architectures
    let mut isa: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($feature:tt => $name:literal),* $(,)?) => {
                $(if std::arch::is_x86_feature_detected!($feature) { isa.push($name); })*
            };
        }
        detect!(
            "sse4.2" => "sse4_2", "avx" => "avx", "avx2" => "avx2", "fma" => "fma",
            "f16c" => "f16c", "avxvnni" => "avx_vnni", "avx512f" => "avx512f",
            "avx512bw" => "avx512bw", "avx512vl" => "avx512vl",
            "avx512vnni" => "avx512_vnni", "avx512bf16" => "avx512_bf16",
            "avx512fp16" => "avx512_fp16",
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! detect {
            ($($feature:tt => $name:literal),* $(,)?) => {
                $(if std::arch::is_aarch64_feature_detected!($feature) { isa.push($name); })*
            };
        }
        detect!(
            "neon" => "asimd", "fp16" => "asimdhp", "dotprod" => "asimddp", "i8mm" => "i8mm",
            "bf16" => "bf16", "sve" => "sve", "sve2" => "sve2",
        );
    }
    isa.into_iter().map(str::to_owned).collect()
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
    fn the_reported_isa_is_what_this_process_detects() {
        let (_, isa) = cpu();
        #[cfg(target_arch = "x86_64")]
        for (feature, name) in [
            (std::arch::is_x86_feature_detected!("avx2"), "avx2"),
            (
                std::arch::is_x86_feature_detected!("avx512vnni"),
                "avx512_vnni",
            ),
        ] {
            assert_eq!(isa.iter().any(|f| f == name), feature, "{name} in {isa:?}");
        }
        #[cfg(target_arch = "aarch64")]
        assert!(isa.iter().any(|f| f == "asimd"), "{isa:?}");
        assert!(
            isa.iter().all(|f| INTERESTING.contains(&f.as_str())),
            "{isa:?}"
        );
    }

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
