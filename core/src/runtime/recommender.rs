//! [`Recommender`]: a bundle, the user's local history store and a backend, scoring
//! candidates on the phone.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use burn::tensor::Tensor;

use crate::bundle::manifest::file;
use crate::bundle::{Bundle, BundleError, BundleManifest, BundleOptions, CatalogProblem};
use crate::bundle::{FeaturesFile, ItemsFile};
use crate::crm::{DinBatch, to_din_input};
use crate::history::{HistoryError, HistoryOptions, HistoryStore, StoredEvent, UserProfile};
use crate::llm::{LlamaModel, ProjectionAdapter, YesNoScore, fused_logit, sigmoid_probability};
use crate::plora::LoraContext;
use crate::prompt::{HistoryEvent, HistorySelection, RellaTemplate, SemanticRetriever};
use crate::tokenizer::{PromptTemplate, TextTokenizer};

use super::backend::ResolvedBackend;
use super::catalog::{ItemCatalog, item_retriever};
use super::error::RuntimeError;
use super::options::{GateMode, RecommenderOptions};
use super::profile::ProfileSchema;
use super::user::{UserContext, UserSnapshot};

/// One ranked candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredItem {
    /// The raw item id.
    pub item_id: u32,
    /// P(yes).
    pub score: f32,
}

/// The on-device recommender. `score` and `rank` take `&self` and may run from several
/// threads at once; the history store is behind a lock held only to copy or append.
#[derive(Debug)]
pub struct Recommender {
    pub(super) bundle: Bundle,
    pub(super) llm: LlamaModel,
    pub(super) tokenizer: TextTokenizer,
    pub(super) chat: PromptTemplate,
    pub(super) rella: RellaTemplate,
    pub(super) catalog: ItemCatalog,
    pub(super) schema: ProfileSchema,
    pub(super) retriever: SemanticRetriever,
    pub(super) features: FeaturesFile,
    history: Option<Mutex<HistoryStore>>,
    pub(super) backend: ResolvedBackend,
    pub(super) options: RecommenderOptions,
    /// The gate mode served: the options' or, by default, the one the adapter was trained for.
    gate_mode: GateMode,
    /// RecLoRA-fused's weight w on DIN's logit (`None`: P(yes) is the LLM's alone).
    pub(super) crm_logit_weight: Option<f32>,
}

impl Recommender {
    /// Opens the bundle in `bundle_dir` on the backend of `options` (validating the
    /// manifest, every file's size, optionally its sha256, and every shape) and the
    /// user's history store at `history_path` (created if absent, torn tail cut).
    pub fn open(
        bundle_dir: &Path,
        history_path: &Path,
        options: RecommenderOptions,
    ) -> Result<Self, RuntimeError> {
        let mut recommender = Self::open_bundle(bundle_dir, options)?;
        let store = HistoryStore::open(history_path, recommender.options.history)?;
        recommender.history = Some(Mutex::new(store));
        Ok(recommender)
    }

    /// Opens only the bundle: scoring then takes explicit [`UserSnapshot`]s
    /// ([`Self::score_user`]); the store methods return [`RuntimeError::NoStore`].
    pub fn open_bundle(
        bundle_dir: &Path,
        options: RecommenderOptions,
    ) -> Result<Self, RuntimeError> {
        options.validate()?;
        let backend = ResolvedBackend::resolve(options.backend)?;
        let bundle_options = BundleOptions {
            verify_checksums: options.verify_checksums,
        };
        let bundle = backend.run(|| Bundle::open(bundle_dir, &backend.device, bundle_options))?;
        let manifest = bundle.manifest().clone();
        let [tokenizer_bytes, items_bytes, items_json, features_json] = bundle.side_files();
        let path = |name: &str| bundle_dir.join(name);
        let features: FeaturesFile = parse_json(features_json, &path(file::FEATURES))?;
        let items: ItemsFile = parse_json(items_json, &path(file::ITEMS_JSON))?;
        features.check_against(&manifest.crm.din, &path(file::FEATURES))?;
        let catalog = ItemCatalog::new(
            &items,
            &features,
            manifest.item_count,
            &path(file::ITEMS_JSON),
        )?;
        let schema = ProfileSchema::new(&features, &path(file::FEATURES))?;
        let retriever = item_retriever(items_bytes, &catalog, &path(file::ITEMS))?;
        let tokenizer = TextTokenizer::from_json_bytes(tokenizer_bytes, &path(file::TOKENIZER))?
            .with_special_token_ids(None, Some(manifest.prompt.pad_id))?;
        let chat: PromptTemplate = manifest.prompt.template.parse()?;
        let rella = RellaTemplate::for_dataset(&manifest.prompt.dataset)
            .ok_or_else(|| BundleError::Catalog {
                path: path(file::MANIFEST),
                problem: CatalogProblem::Dataset {
                    dataset: manifest.prompt.dataset.clone(),
                },
            })?
            .with_layout(manifest.prompt.layout);
        // Quantized matrices stay in the map on the CPU; dense f32 on a GPU (see `llm_model`).
        let llm = backend.run(|| bundle.llm_model(&backend.device, options.kernel))?;
        let crm_logit_weight = backend.run(|| bundle.plora().crm_logit_weight_value());
        let trained = manifest.plora.gate_mode;
        let gate_mode = options.gate_mode.unwrap_or(trained);
        if gate_mode != trained {
            tracing::warn!(
                served = %gate_mode,
                %trained,
                "serving the adapter in a gate mode other than the one it was trained for"
            );
        }
        Ok(Self {
            crm_logit_weight,
            gate_mode,
            llm,
            tokenizer,
            chat,
            rella,
            catalog,
            schema,
            retriever,
            features,
            history: None,
            backend,
            options,
            bundle,
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &BundleManifest {
        self.bundle.manifest()
    }

    /// The gate mode in use: [`RecommenderOptions::gate_mode`], or the bundle's trained one.
    pub fn gate_mode(&self) -> GateMode {
        self.gate_mode
    }

    /// The backend in use (and why the GPU was not, if it was asked for).
    pub fn backend(&self) -> &ResolvedBackend {
        &self.backend
    }

    /// The CRM's dictionaries (profile field names and values, item fields).
    pub fn features(&self) -> &FeaturesFile {
        &self.features
    }

    /// The profile fields the CRM reads, in order.
    pub fn profile_fields(&self) -> Vec<String> {
        self.schema.field_names().map(str::to_owned).collect()
    }

    /// Appends one interaction to the local history (durable per the fsync policy).
    pub fn record(&self, event: StoredEvent) -> Result<(), RuntimeError> {
        self.with_store(|store| Ok(store.append(event)?))
    }

    /// Appends `events` in order under one lock. Every event is checked first, so an
    /// invalid one rejects the whole call before anything is written; an I/O error part-way
    /// leaves the events before it acknowledged.
    pub fn record_all(&self, events: &[StoredEvent]) -> Result<(), RuntimeError> {
        for event in events {
            event.feedback.validate().map_err(HistoryError::from)?;
        }
        self.with_store(|store| {
            for event in events {
                store.append(*event)?;
            }
            Ok(())
        })
    }

    /// Replaces the stored profile.
    pub fn set_profile(&self, profile: UserProfile) -> Result<(), RuntimeError> {
        self.with_store(|store| Ok(store.set_profile(profile)?))
    }

    /// The number of stored events (at most `HistoryOptions::max_events`).
    pub fn history_len(&self) -> Result<usize, RuntimeError> {
        self.with_store(|store| Ok(store.events().len()))
    }

    /// Forgets the stored events and keeps the profile ([`HistoryStore::clear_events`]).
    pub fn clear_history(&self) -> Result<(), RuntimeError> {
        self.with_store(|store| Ok(store.clear_events()?))
    }

    /// A copy of the stored profile and events.
    pub fn snapshot(&self) -> Result<UserSnapshot, RuntimeError> {
        self.with_store(|store| {
            Ok(UserSnapshot {
                profile: store.profile().cloned().unwrap_or_default(),
                events: store.events().copied().collect(),
            })
        })
    }

    fn with_store<T>(
        &self,
        work: impl FnOnce(&mut HistoryStore) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let store = self.history.as_ref().ok_or(RuntimeError::NoStore)?;
        let mut guard = lock_reloading(store, self.options.history)?;
        work(&mut guard)
    }

    /// P(yes) of each candidate (raw item ids) for the stored user, in input order.
    pub fn score(&self, candidates: &[u32]) -> Result<Vec<f32>, RuntimeError> {
        let snapshot = self.snapshot()?;
        self.score_user(&snapshot, candidates)
    }

    /// The `top_k` best candidates for the stored user, best first (ties in input order).
    /// With [`RecommenderOptions::llm_rerank`] the LLM scores only DIN's best candidates.
    pub fn rank(&self, candidates: &[u32], top_k: usize) -> Result<Vec<ScoredItem>, RuntimeError> {
        let snapshot = self.snapshot()?;
        self.rank_user(&snapshot, candidates, top_k)
    }

    /// [`Self::rank`] for an explicit user.
    pub fn rank_user(
        &self,
        user: &UserSnapshot,
        candidates: &[u32],
        top_k: usize,
    ) -> Result<Vec<ScoredItem>, RuntimeError> {
        let scored = |ids: &[u32], scores: Vec<f32>| -> Vec<ScoredItem> {
            let mut ranked: Vec<ScoredItem> = ids
                .iter()
                .zip(scores)
                .map(|(&item_id, score)| ScoredItem { item_id, score })
                .collect();
            // Stable: ties keep their input order.
            ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
            ranked
        };
        let mut ranked = match self.options.llm_rerank {
            Some(n) if n < candidates.len() => {
                let by_crm = scored(candidates, self.crm_scores(user, candidates)?);
                let shortlist: Vec<u32> = by_crm[..n].iter().map(|s| s.item_id).collect();
                let mut ranked = scored(&shortlist, self.score_user(user, &shortlist)?);
                ranked.extend_from_slice(&by_crm[n..]);
                ranked
            }
            _ => scored(candidates, self.score_user(user, candidates)?),
        };
        ranked.truncate(top_k);
        Ok(ranked)
    }

    /// DIN's P(click) of each candidate for `user`, in input order: target-aware attention
    /// over the whole stored history, no LLM.
    pub fn crm_scores(
        &self,
        user: &UserSnapshot,
        candidates: &[u32],
    ) -> Result<Vec<f32>, RuntimeError> {
        let Some((user, rows)) = self.request(user, candidates)? else {
            return Ok(Vec::new());
        };
        self.backend.run(|| {
            let samples = rows.iter().map(|&row| (row, user.history.as_slice()));
            let (_, logits) = self.crm_forward(&user, samples)?;
            Ok(logits
                .into_iter()
                .map(|logit| sigmoid_probability(f64::from(logit)))
                .collect())
        })
    }

    /// P(yes) of each candidate for an explicit user, in input order.
    pub fn score_user(
        &self,
        user: &UserSnapshot,
        candidates: &[u32],
    ) -> Result<Vec<f32>, RuntimeError> {
        let Some((user, rows)) = self.request(user, candidates)? else {
            return Ok(Vec::new());
        };
        self.backend.run(|| match self.gate_mode {
            GateMode::PerUser if !user.history.is_empty() => self.score_per_user(&user, &rows),
            // With no history there is no user representation: each candidate is gated
            // by its own R_c.
            _ => self.score_per_sample(&user, &rows),
        })
    }

    /// The user's context and the candidates' catalog rows, checked (size, known ids);
    /// `None` for an empty request.
    fn request(
        &self,
        user: &UserSnapshot,
        candidates: &[u32],
    ) -> Result<Option<(UserContext, Vec<usize>)>, RuntimeError> {
        if candidates.len() > self.options.max_candidates {
            return Err(RuntimeError::TooManyCandidates {
                requested: candidates.len(),
                limit: self.options.max_candidates,
            });
        }
        let rows = candidates
            .iter()
            .map(|&item_id| {
                self.catalog
                    .row(item_id)
                    .ok_or(RuntimeError::UnknownCandidate { item_id })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(None);
        }
        let user = UserContext::new(
            user,
            &self.schema,
            &self.catalog,
            self.features.rating_levels,
        )?;
        Ok(Some((user, rows)))
    }

    /// The paper's pipeline, per candidate: R_c → gates, retrieved short history →
    /// prompt, then batched LLM forwards with the mixed LoRA.
    fn score_per_sample(
        &self,
        user: &UserContext,
        rows: &[usize],
    ) -> Result<Vec<f32>, RuntimeError> {
        let k = self.manifest().prompt.history_k;
        let texts = self.prompt_texts(user, rows, HistorySelection::Retrieved { k })?;
        let prompts = self.tokenizer.encode_batch(&texts)?;
        // Similar lengths together, so a batch pads little.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| (prompts[i].len(), i));
        let mut scores = vec![0.0; rows.len()];
        for chunk in order.chunks(self.options.batch_size) {
            let chunk_rows: Vec<usize> = chunk.iter().map(|&i| rows[i]).collect();
            let samples = chunk_rows.iter().map(|&row| (row, user.history.as_slice()));
            let (r_c, crm_logits) = self.representations_and_logits(user, samples)?;
            let context = self.adapter(&r_c, chunk.len())?;
            let ids: Vec<Vec<u32>> = chunk.iter().map(|&i| prompts[i].clone()).collect();
            let logits = self.llm.last_position_logits_adapted(
                &ids,
                &self.manifest().prompt.answer_ids,
                self.manifest().prompt.pad_id,
                Some(&context as &dyn ProjectionAdapter),
            )?;
            for (j, ((&i, ids), logits)) in chunk.iter().zip(&ids).zip(logits).enumerate() {
                let crm_logit = crm_logits.as_ref().map(|l| l[j]);
                scores[i] = self.p_yes(&logits, ids.len(), crm_logit);
            }
        }
        Ok(scores)
    }

    /// P(yes) of one prompt from its two answer logits: the two-way softmax, or for a
    /// RecLoRA-fused bundle σ((logit_yes − logit_no) + w · `crm_logit`).
    pub(super) fn p_yes(&self, logits: &[f32], tokens: usize, crm_logit: Option<f32>) -> f32 {
        match (self.crm_logit_weight, crm_logit) {
            (Some(weight), Some(crm_logit)) => {
                sigmoid_probability(fused_logit(logits[0], logits[1], weight, crm_logit))
            }
            _ => YesNoScore::from_logits(logits[0], logits[1], tokens).p_yes,
        }
    }

    /// R_c for (target row, its past) pairs and, for a RecLoRA-fused bundle, DIN's click
    /// logits of the same samples (one DIN forward).
    ///
    /// # Shapes
    /// - returns `([samples.len(), representation_dim], samples.len() logits)`
    pub(super) fn representations_and_logits<'h>(
        &self,
        user: &UserContext,
        samples: impl ExactSizeIterator<Item = (usize, &'h [HistoryEvent])>,
    ) -> Result<(Tensor<2>, Option<Vec<f32>>), RuntimeError> {
        if self.crm_logit_weight.is_none() {
            return Ok((self.representations(user, samples), None));
        }
        let (r_c, logits) = self.crm_forward(user, samples)?;
        Ok((r_c, Some(logits)))
    }

    /// DIN's R_c and click logit for (target row, its past) pairs, the logits read back.
    ///
    /// # Shapes
    /// - returns `[samples.len(), representation_dim]` and `samples.len()` logits
    fn crm_forward<'h>(
        &self,
        user: &UserContext,
        samples: impl ExactSizeIterator<Item = (usize, &'h [HistoryEvent])>,
    ) -> Result<(Tensor<2>, Vec<f32>), RuntimeError> {
        let batch = self.din_batch(user, samples);
        let (r_c, logits) = self
            .bundle
            .crm()
            .forward_representation_and_logit(&to_din_input(&batch, &self.backend.device));
        let logits = logits
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|_| RuntimeError::Readback)?;
        Ok((r_c, logits))
    }

    /// R_c of the user for (target row, its past) pairs.
    ///
    /// # Shapes
    /// - returns `[samples.len(), representation_dim]`
    pub(super) fn representations<'h>(
        &self,
        user: &UserContext,
        samples: impl ExactSizeIterator<Item = (usize, &'h [HistoryEvent])>,
    ) -> Tensor<2> {
        let batch = self.din_batch(user, samples);
        self.bundle
            .crm()
            .forward_representation(&to_din_input(&batch, &self.backend.device))
    }

    /// DIN's input for (target row, its past) pairs: the user's fields and the target's,
    /// and the last `history_len` events of the past, right-padded.
    fn din_batch<'h>(
        &self,
        user: &UserContext,
        samples: impl ExactSizeIterator<Item = (usize, &'h [HistoryEvent])>,
    ) -> DinBatch {
        let spec = &self.manifest().crm;
        let (batch, history_len) = (samples.len(), spec.history_len);
        let num_fields = spec.din.num_fields;
        let rating_base = i64::from(self.features.num_features) - 1;
        let mut out = DinBatch {
            batch,
            num_fields,
            item_field: spec.din.item_field,
            history_len,
            field_ids: Vec::with_capacity(batch * num_fields),
            history_item_ids: vec![0; batch * history_len],
            history_rating_ids: vec![0; batch * history_len],
            history_mask: vec![0.0; batch * history_len],
            labels: vec![0.0; batch],
        };
        for (sample, (row, past)) in samples.enumerate() {
            out.field_ids
                .extend(user.field_ids.iter().map(|&id| i64::from(id)));
            out.field_ids.extend(
                self.catalog
                    .item_field_ids(row)
                    .iter()
                    .map(|&id| i64::from(id)),
            );
            let shown = &past[past.len().saturating_sub(history_len)..];
            let base = sample * history_len;
            for (j, event) in shown.iter().enumerate() {
                out.history_item_ids[base + j] = i64::from(event.item);
                out.history_rating_ids[base + j] = rating_base + i64::from(event.rating);
                out.history_mask[base + j] = 1.0;
            }
        }
        out
    }

    /// The adapter of a batch: gates from R_c when the PLoRA is gated, else its static
    /// mixture.
    pub(super) fn adapter(
        &self,
        r_c: &Tensor<2>,
        batch: usize,
    ) -> Result<LoraContext<'_>, RuntimeError> {
        let plora = self.bundle.plora();
        let gates = if plora.config.is_gated() {
            plora.gates(r_c)?
        } else {
            plora.static_gates(batch, &self.backend.device)?
        };
        Ok(LoraContext::new(plora, gates)?)
    }

    /// The chat-wrapped prompt of each target row: profile, the history `selection`
    /// picks (retrieval uses the bundle's LSMR table), the target.
    pub(super) fn prompt_texts(
        &self,
        user: &UserContext,
        rows: &[usize],
        selection: HistorySelection,
    ) -> Result<Vec<String>, RuntimeError> {
        rows.iter()
            .map(|&row| {
                let prompt = self.rella.build(
                    user.profile.clone(),
                    &user.history,
                    self.catalog.item_feature(row),
                    selection,
                    Some(&self.retriever),
                    &self.catalog,
                )?;
                Ok(self.chat.render(&prompt))
            })
            .collect()
    }
}

/// Locks the store. A panic while it was held (a caller's thread unwinding) may have left
/// the copy in memory behind its file, so a poisoned store is reloaded from the file, the
/// durable record, and the poison cleared: one panic never fails every later call.
fn lock_reloading(
    store: &Mutex<HistoryStore>,
    options: HistoryOptions,
) -> Result<MutexGuard<'_, HistoryStore>, RuntimeError> {
    match store.lock() {
        Ok(guard) => Ok(guard),
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            tracing::warn!(path = %guard.path().display(), "history lock poisoned; reloading");
            *guard = HistoryStore::open(guard.path(), options)?;
            store.clear_poison();
            Ok(guard)
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, BundleError> {
    serde_json::from_slice(bytes).map_err(|source| BundleError::SideFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Feedback;

    /// A panic while the store is locked does not fail later calls: the store comes back
    /// from its file with every acknowledged event.
    #[test]
    fn a_poisoned_store_is_reloaded_from_its_file() {
        let dir = std::env::temp_dir().join(format!("reclora-poison-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("history.bin");
        let options = HistoryOptions::default();
        let store = Mutex::new(HistoryStore::open(&path, options).expect("opens"));
        for k in 0..3 {
            let event = StoredEvent {
                item_id: k,
                feedback: Feedback::Like,
                timestamp: i64::from(k),
            };
            lock_reloading(&store, options)
                .expect("lock")
                .append(event)
                .expect("append");
        }
        let panicked = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _guard = store.lock().expect("lock");
                    // The file gets a record the copy in memory lacks, as when a panic
                    // strikes between the write and the update in memory.
                    let mut other = HistoryStore::open(&path, options).expect("second handle");
                    other
                        .append(StoredEvent {
                            item_id: 3,
                            feedback: Feedback::Dislike,
                            timestamp: 3,
                        })
                        .expect("append");
                    panic!("poisoning the store");
                })
                .join()
        });
        assert!(panicked.is_err());
        assert!(store.is_poisoned());
        let guard = lock_reloading(&store, options).expect("reloads");
        let ids: Vec<u32> = guard.events().map(|e| e.item_id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        drop(guard);
        assert!(!store.is_poisoned());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
