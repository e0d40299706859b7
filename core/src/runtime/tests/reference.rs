//! The scoring pipeline composed by hand from the training-time pieces (the seeded f32
//! LLM, the f32 DIN and PLoRA, feature ids written out), one candidate per forward: what
//! the runtime must reproduce from the bundle.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::YesNoScore;
use crate::crm::DinInput;
use crate::history::{Feedback, StoredEvent, UserProfile};
use crate::llm::{LlamaModel, ProjectionAdapter, SeededWeights};
use crate::plora::LoraContext;
use crate::prompt::{
    Gender, HistoryEvent, HistorySelection, ItemTitles, Profile, PromptInput, PromptLayout,
    RellaTemplate, SemanticRetriever, select_history,
};
use crate::runtime::UserSnapshot;
use crate::tokenizer::{PromptTemplate, TextTokenizer, byte_level_tokenizer};

use super::fixture::{
    EMBED_DIM, HISTORY_K, HISTORY_LEN, ITEM_IDS, LLM_SEED, Sources, item_embeddings, llm_config,
    titles,
};

/// A test user: profile values and its raw-id history.
pub struct TestUser {
    pub snapshot: UserSnapshot,
    /// The CRM's user feature ids, by hand from `fixture::features`.
    pub field_ids: [i64; 5],
    pub profile: Profile,
}

fn event(item_id: u32, rating: u8, timestamp: i64) -> StoredEvent {
    StoredEvent {
        item_id,
        feedback: Feedback::Rating(rating),
        timestamp,
    }
}

/// A programmer, 25-34, with nine known interactions and one the bundle does not know.
pub fn user_a() -> TestUser {
    let events = vec![
        event(1, 5, 100),
        event(3, 2, 110),
        event(8, 4, 120),
        event(21, 1, 130),
        event(999, 5, 135),
        event(55, 3, 140),
        event(144, 5, 150),
        event(2, 4, 160),
        event(13, 2, 170),
        event(89, 4, 180),
    ];
    TestUser {
        snapshot: UserSnapshot {
            profile: UserProfile::new([
                ("user_id", "11"),
                ("gender", "F"),
                ("age", "25"),
                ("occupation", "12"),
                ("zip_code", "02139"),
            ]),
            events,
        },
        // user 11 → 1, F → 4, 25 → 6, 12 → 8, 02139 → 10
        field_ids: [1, 4, 6, 8, 10],
        profile: Profile {
            gender: Gender::Female,
            occupation: "programmer".into(),
            age: "25-34".into(),
        },
    }
}

/// A male under 18 with two interactions.
pub fn user_b() -> TestUser {
    TestUser {
        snapshot: UserSnapshot {
            profile: UserProfile::new([
                ("user_id", "10"),
                ("gender", "M"),
                ("age", "1"),
                ("occupation", "0"),
                ("zip_code", "11106"),
            ]),
            events: vec![event(233, 5, 50), event(5, 1, 60)],
        },
        field_ids: [0, 3, 5, 7, 9],
        profile: Profile {
            gender: Gender::Male,
            occupation: "other".into(),
            age: "Under 18".into(),
        },
    }
}

fn row(raw_id: u32) -> usize {
    ITEM_IDS
        .iter()
        .position(|&id| id == raw_id)
        .expect("catalog item")
}

/// Item-id feature id of a raw id (11 + row).
pub fn feature(raw_id: u32) -> u32 {
    11 + row(raw_id) as u32
}

struct Titles(Vec<String>);

impl ItemTitles for Titles {
    fn title(&self, item: u32) -> Option<&str> {
        self.0
            .get(item.checked_sub(11)? as usize)
            .map(String::as_str)
    }
}

/// The reference pipeline.
pub struct Reference {
    llm: LlamaModel,
    tokenizer: TextTokenizer,
    retriever: SemanticRetriever,
    titles: Titles,
    device: Device,
    template: RellaTemplate,
}

impl Reference {
    pub fn new(device: &Device) -> Self {
        let config = llm_config();
        let seeded = SeededWeights::new(config.clone(), LLM_SEED);
        let ids: Vec<u32> = (11..23).collect();
        Self {
            llm: config.init_from(&seeded, device).expect("f32 llm"),
            tokenizer: byte_level_tokenizer().expect("tokenizer"),
            retriever: SemanticRetriever::from_vectors(&ids, &item_embeddings(), EMBED_DIM)
                .expect("retriever"),
            titles: Titles(titles()),
            device: device.clone(),
            template: RellaTemplate::MOVIELENS,
        }
    }

    /// The same reference on prompts in `layout`.
    pub fn in_layout(self, layout: PromptLayout) -> Self {
        Self {
            template: self.template.with_layout(layout),
            ..self
        }
    }

    /// Known history in feature ids (item 999 dropped by hand).
    pub fn history(user: &TestUser) -> Vec<HistoryEvent> {
        user.snapshot
            .events
            .iter()
            .filter(|e| ITEM_IDS.contains(&e.item_id))
            .map(|e| HistoryEvent {
                item: feature(e.item_id),
                rating: e.feedback.as_rating(),
                timestamp: e.timestamp,
            })
            .collect()
    }

    /// R_c of `user` for target `target` (raw id) with `past` as history, `[1, 10]`.
    pub fn r_c(
        &self,
        sources: &Sources,
        user: &TestUser,
        target: u32,
        past: &[HistoryEvent],
    ) -> Tensor<2> {
        sources
            .din
            .forward_representation(&self.din_input(user, target, past))
    }

    /// DIN's P(click) of `target` for `user` over the whole history: σ(logit).
    pub fn crm_p_click(&self, sources: &Sources, user: &TestUser, target: u32) -> f32 {
        let input = self.din_input(user, target, &Self::history(user));
        let (_, logit) = sources.din.forward_representation_and_logit(&input);
        let logit = logit.into_data().try_to_vec::<f32>().expect("f32")[0];
        1.0 / (1.0 + (-logit).exp())
    }

    /// DIN's input for one (user, target, past), built by hand from the fixture's layout.
    fn din_input(&self, user: &TestUser, target: u32, past: &[HistoryEvent]) -> DinInput {
        let r = row(target) as i64;
        let mut fields: Vec<i64> = user.field_ids.to_vec();
        fields.extend([11 + r, 23 + r, 35 + r % 3]);
        let shown = &past[past.len().saturating_sub(HISTORY_LEN)..];
        let mut items = vec![0i64; HISTORY_LEN];
        let mut ratings = vec![0i64; HISTORY_LEN];
        let mut mask = vec![0f32; HISTORY_LEN];
        for (j, e) in shown.iter().enumerate() {
            items[j] = i64::from(e.item);
            ratings[j] = 37 + i64::from(e.rating);
            mask[j] = 1.0;
        }
        let int =
            |v: Vec<i64>, n| Tensor::<2, Int>::from_data(TensorData::new(v, [1, n]), &self.device);
        DinInput {
            field_ids: int(fields, 8),
            history_items: int(items, HISTORY_LEN),
            history_ratings: int(ratings, HISTORY_LEN),
            history_mask: Tensor::from_data(TensorData::new(mask, [1, HISTORY_LEN]), &self.device),
        }
    }

    fn p_yes(&self, sources: &Sources, r_c: &Tensor<2>, prompt: &str) -> f32 {
        let ids = self
            .tokenizer
            .encode(&PromptTemplate::ChatMl.render(prompt))
            .expect("ids");
        let (yes, no) = self
            .tokenizer
            .answer_token_ids(PromptTemplate::ChatMl)
            .expect("answers");
        let context = LoraContext::new(&sources.plora, sources.plora.gates(r_c).expect("gates"))
            .expect("context");
        let logits = self
            .llm
            .last_position_logits_adapted(
                std::slice::from_ref(&ids),
                &[yes, no],
                2,
                Some(&context as &dyn ProjectionAdapter),
            )
            .expect("logits");
        YesNoScore::from_logits(logits[0][0], logits[0][1], ids.len()).p_yes
    }

    /// The paper's per-sample P(yes) of `target`.
    pub fn per_sample(&self, sources: &Sources, user: &TestUser, target: u32) -> f32 {
        let history = Self::history(user);
        let r_c = self.r_c(sources, user, target, &history);
        let prompt = self
            .template
            .build(
                Some(user.profile.clone()),
                &history,
                feature(target),
                HistorySelection::Retrieved { k: HISTORY_K },
                Some(&self.retriever),
                &self.titles,
            )
            .expect("prompt");
        self.p_yes(sources, &r_c, &prompt)
    }

    /// Per-user P(yes): the mean R_c over the last 8 interactions as pseudo-targets, the
    /// last K interactions in the prompt, one full forward (no cache).
    pub fn per_user(&self, sources: &Sources, user: &TestUser, target: u32) -> f32 {
        let history = Self::history(user);
        let first = history.len().saturating_sub(8);
        let reps: Vec<Tensor<2>> = (first..history.len())
            .map(|at| {
                let raw = ITEM_IDS[(history[at].item - 11) as usize];
                self.r_c(sources, user, raw, &history[..at])
            })
            .collect();
        let r_user = Tensor::cat(reps, 0).mean_dim(0);
        let shown =
            select_history(&history, 0, HistorySelection::LastK(HISTORY_K), None).expect("last k");
        let input = PromptInput {
            profile: Some(user.profile.clone()),
            history: shown
                .iter()
                .map(|e| {
                    (
                        self.titles.title(e.item).expect("title").to_owned(),
                        e.rating,
                    )
                })
                .collect(),
            target_title: self
                .titles
                .title(feature(target))
                .expect("title")
                .to_owned(),
        };
        self.p_yes(sources, &r_user, &self.template.render(&input))
    }
}
