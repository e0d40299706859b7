//! Construction, gate plumbing, typed errors and checkpoints of the PLoRA module.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use super::helpers::{host, random_values, tensor2, tiny_llama};
use crate::llm::LlamaConfig;
use crate::plora::{LoraContext, PloraConfig, PloraError, ProjectionKind};

/// Every float parameter of a module, in visiting order.
#[derive(Default)]
pub struct ParamValues(pub Vec<Vec<f32>>);

impl ModuleVisitor for ParamValues {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(host(param.val()));
    }
}

pub fn param_values<M: Module>(module: &M) -> Vec<Vec<f32>> {
    let mut values = ParamValues::default();
    module.visit(&mut values);
    values.0
}

fn gated_config() -> PloraConfig {
    PloraConfig {
        num_meta: 4,
        rank: 2,
        crm_dim: 8,
        gate_hidden: 6,
        targets: ProjectionKind::ALL.to_vec(),
        ..PloraConfig::default()
    }
}

#[test]
fn banks_have_the_projection_shapes_and_pytorch_lora_init() {
    let device = Device::flex();
    let llm = LlamaConfig::tiny_for_tests(); // d 32, q 32, kv 16, ff 48
    let config = PloraConfig {
        targets: ProjectionKind::ALL.to_vec(),
        ..PloraConfig::default()
    };
    let plora = config.init_seeded(&llm, 5, &device).expect("valid");
    assert_eq!(plora.layers.len(), 2);
    for kind in ProjectionKind::ALL {
        let bank = &plora.projection(1, kind).expect("adapted").bank;
        let (d_in, d_out) = kind.dims(&llm);
        assert_eq!(bank.a.val().dims(), [d_in, 16 * 8], "{kind}");
        assert_eq!(bank.b.val().dims(), [16 * 8, d_out], "{kind}");
        assert!(host(bank.b.val()).iter().all(|&v| v == 0.0));
        // kaiming_uniform_(a=√5) on [r, d_in] = U(−1/√d_in, 1/√d_in): std = bound/√3.
        let a = host(bank.a.val());
        let bound = 1.0 / (d_in as f64).sqrt();
        let largest = a.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let mean = a.iter().map(|&v| f64::from(v)).sum::<f64>() / a.len() as f64;
        let std = (a
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / a.len() as f64)
            .sqrt();
        assert!(
            largest <= bound && largest > 0.95 * bound,
            "{kind}: {largest} vs {bound}"
        );
        let want_std = bound / 3f64.sqrt();
        assert!(
            (std / want_std - 1.0).abs() < 0.06,
            "{kind}: std {std} vs {want_std}"
        );
        assert!(plora.projection(1, kind).expect("adapted").gate.is_some());
    }
    assert!(plora.shared_gate.is_none());
}

#[test]
fn gates_are_per_projection_shared_or_constant() {
    let device = Device::flex();
    let llm = tiny_llama();
    let r_c = tensor2(random_values(3 * 8, 31, 2.0), [3, 8], &device);

    let plora = gated_config().init(&llm, &device).expect("valid");
    let gates = plora.gates(&r_c).expect("fits");
    assert_eq!(gates.num_slots(), 2 * 7);
    let first = host(gates.get(0, 0).expect("slot").clone());
    let other = host(gates.get(1, 3).expect("slot").clone());
    assert_eq!(first.len(), 3 * 4);
    assert_ne!(first, other, "independent gates should differ");
    assert!(gates.get(0, 7).is_none() && gates.get(2, 0).is_none());

    let shared = PloraConfig {
        shared_gate: true,
        ..gated_config()
    }
    .init(&llm, &device)
    .expect("valid");
    assert!(shared.shared_gate.is_some());
    assert!(
        shared.layers[0]
            .projections
            .iter()
            .all(|p| p.gate.is_none())
    );
    let gates = shared.gates(&r_c).expect("fits");
    let first = host(gates.get(0, 0).expect("slot").clone());
    for alpha in gates.as_slice() {
        assert_eq!(host(alpha.clone()), first);
    }

    let baseline = PloraConfig::static_lora(4, 8.0, vec![ProjectionKind::Q])
        .init(&llm, &device)
        .expect("valid");
    assert!(baseline.layers[0].projections[0].gate.is_none() && baseline.shared_gate.is_none());
    for gates in [
        baseline.gates(&r_c).expect("any width"),
        baseline.static_gates(3, &device).expect("static"),
    ] {
        assert_eq!(gates.num_slots(), 2);
        for alpha in gates.as_slice() {
            assert_eq!(alpha.dims(), [3, 1]);
            assert!(host(alpha.clone()).iter().all(|&v| v == 1.0));
        }
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let device = Device::flex();
    let llm = tiny_llama();
    let plora = gated_config().init(&llm, &device).expect("valid");
    let wrong_width = tensor2(vec![0.0; 2 * 5], [2, 5], &device);
    assert!(matches!(
        plora.gates(&wrong_width),
        Err(PloraError::RepresentationWidth {
            expected: 8,
            found: 5
        })
    ));
    assert!(matches!(
        plora.static_gates(2, &device),
        Err(PloraError::GatesNeedRepresentation { num_meta: 4 })
    ));
    let other = PloraConfig::static_lora(2, 2.0, vec![ProjectionKind::Q])
        .init(&llm, &device)
        .expect("valid");
    let foreign = other.static_gates(2, &device).expect("static");
    assert!(matches!(
        LoraContext::new(&plora, foreign),
        Err(PloraError::GateSlots {
            expected: 14,
            found: 2
        })
    ));
    let mut bad_llm = llm.clone();
    bad_llm.num_kv_heads = 3;
    assert!(matches!(
        gated_config().init(&bad_llm, &device),
        Err(PloraError::Llm(_))
    ));
    let mut bad = gated_config();
    bad.targets.push(ProjectionKind::Down);
    assert!(matches!(
        bad.init(&llm, &device),
        Err(PloraError::DuplicateTarget(ProjectionKind::Down))
    ));
}

#[test]
fn save_and_load_round_trip_every_weight() {
    let device = Device::flex();
    let llm = tiny_llama();
    let config = gated_config();
    // Seed 1; `load` builds its model from seed 0 first.
    let plora = config.init_seeded(&llm, 1, &device).expect("valid");
    let before = param_values(&plora);
    let dir_dir = reclora_test_support::TempDir::new("plora");
    let dir = dir_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("plora.bpk");
    plora.save(&path).expect("saves");
    let loaded = config.load(&llm, &path, &device).expect("loads");
    assert_eq!(param_values(&loaded), before);
    let fresh = param_values(&config.init(&llm, &device).expect("valid"));
    assert_ne!(
        fresh, before,
        "a fresh init differs, so the load did something"
    );
    assert!(matches!(
        config.load(&llm, &dir.join("missing.bpk"), &device),
        Err(PloraError::Checkpoint { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}
