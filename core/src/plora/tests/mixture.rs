//! Both mixture forms against a naive per-sample dense ΔW.

use burn::tensor::Device;

use super::helpers::{
    HostBank, apply_dense, host, max_abs_diff, param2, random_values, tensor2, tensor3,
};
use crate::plora::{MetaLoraBank, MixtureForm};
use crate::rng::SplitMix64;

const D_IN: usize = 6;
const D_OUT: usize = 5;
const RANK: usize = 3;
const BATCH: usize = 3;
const SEQ: usize = 4;

/// A bank with random non-zero A and B, and its host copy.
fn random_bank(num_meta: usize, device: &Device) -> (MetaLoraBank, HostBank) {
    let width = num_meta * RANK;
    let host_bank = HostBank {
        a: random_values(D_IN * width, 11, 1.0),
        b: random_values(width * D_OUT, 12, 1.0),
        d_in: D_IN,
        d_out: D_OUT,
        num_meta,
        rank: RANK,
    };
    let mut bank = MetaLoraBank::init(D_IN, D_OUT, num_meta, RANK, &mut SplitMix64::new(1), device);
    bank.a = param2(host_bank.a.clone(), [D_IN, width], device);
    bank.b = param2(host_bank.b.clone(), [width, D_OUT], device);
    (bank, host_bank)
}

/// Softmax rows of random logits, so α looks like a gate's output.
fn random_alpha(num_meta: usize, seed: u64) -> Vec<f32> {
    random_values(BATCH * num_meta, seed, 2.0)
        .chunks_exact(num_meta)
        .flat_map(|row| {
            let total: f32 = row.iter().map(|v| v.exp()).sum();
            row.iter().map(move |v| v.exp() / total).collect::<Vec<_>>()
        })
        .collect()
}

/// The module output and the dense reference, per sample: x_b·ΔW(α_b).
fn module_and_reference(num_meta: usize, mixture: MixtureForm) -> (Vec<f32>, Vec<f64>) {
    let device = Device::flex();
    let scaling = 16.0 / RANK as f64;
    let (bank, host_bank) = random_bank(num_meta, &device);
    let x = random_values(BATCH * SEQ * D_IN, 13, 1.0);
    let alpha = random_alpha(num_meta, 14);
    let got = host(bank.delta(
        tensor3(x.clone(), [BATCH, SEQ, D_IN], &device),
        tensor2(alpha.clone(), [BATCH, num_meta], &device),
        mixture,
        scaling,
    ));
    let mut want = Vec::with_capacity(BATCH * SEQ * D_OUT);
    for b in 0..BATCH {
        let alpha_b: Vec<f64> = alpha[b * num_meta..(b + 1) * num_meta]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let delta = host_bank.dense_delta(&alpha_b, scaling, mixture == MixtureForm::ProductOfSums);
        let rows = &x[b * SEQ * D_IN..(b + 1) * SEQ * D_IN];
        want.extend(apply_dense(rows, &delta, D_IN, D_OUT));
    }
    (got, want)
}

#[test]
fn both_forms_equal_a_dense_per_sample_reference() {
    for mixture in [MixtureForm::SumOfProducts, MixtureForm::ProductOfSums] {
        for num_meta in [1, 4] {
            let (got, want) = module_and_reference(num_meta, mixture);
            let largest = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let error = max_abs_diff(&got, &want);
            eprintln!("{mixture:?} N_m={num_meta}: max |Δ| = {error:.2e} (max |out| {largest:.2})");
            assert!(largest > 1.0, "outputs too small to test anything");
            assert!(error < 1e-5 * largest.max(1.0), "{mixture:?}: {error}");
        }
    }
}

#[test]
fn forms_differ_for_several_meta_loras_and_coincide_for_one() {
    let (sum_of_products, _) = module_and_reference(4, MixtureForm::SumOfProducts);
    let (product_of_sums, _) = module_and_reference(4, MixtureForm::ProductOfSums);
    let gap = max_abs_diff(
        &sum_of_products,
        &product_of_sums
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<_>>(),
    );
    assert!(gap > 0.1, "forms should differ for N_m = 4, gap {gap}");

    let (sum_of_products, _) = module_and_reference(1, MixtureForm::SumOfProducts);
    let (product_of_sums, _) = module_and_reference(1, MixtureForm::ProductOfSums);
    let gap = max_abs_diff(
        &sum_of_products,
        &product_of_sums
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<_>>(),
    );
    eprintln!("N_m = 1: forms differ by {gap:.2e}");
    assert!(gap < 1e-5, "forms should coincide for N_m = 1, gap {gap}");
}

/// One α row for the whole batch broadcasts like a per-row copy.
#[test]
fn a_single_alpha_row_broadcasts_over_the_batch() {
    let device = Device::flex();
    let (bank, _) = random_bank(4, &device);
    let x = tensor3(
        random_values(BATCH * SEQ * D_IN, 15, 1.0),
        [BATCH, SEQ, D_IN],
        &device,
    );
    let row = random_alpha(4, 16)[..4].to_vec();
    let repeated = row.repeat(BATCH);
    for mixture in [MixtureForm::SumOfProducts, MixtureForm::ProductOfSums] {
        let one = host(bank.delta(
            x.clone(),
            tensor2(row.clone(), [1, 4], &device),
            mixture,
            2.0,
        ));
        let all = host(bank.delta(
            x.clone(),
            tensor2(repeated.clone(), [BATCH, 4], &device),
            mixture,
            2.0,
        ));
        assert_eq!(one.len(), BATCH * SEQ * D_OUT);
        let all: Vec<f64> = all.iter().map(|&v| f64::from(v)).collect();
        assert!(max_abs_diff(&one, &all) < 1e-6);
    }
}
