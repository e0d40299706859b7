//! The text each item is encoded from, and which of its tokens are pooled.
//!
//! An item is described by one sentence pair, "Here is a movie. Its title is {title}. The
//! movie's genre is {genre}." (the noun is the dataset's: "movie", "book"), put in the user
//! turn of the ChatML template the scoring prompts use ([`PromptTemplate::ChatMl`]).
//!
//! Pooling rule: the mean is taken over the tokens of the description only, i.e. the user
//! message content; the `<|im_start|>user\n` header before it is run as context but not
//! pooled. The closing `<|im_end|>\n<|im_start|>assistant\n` is not run at all: under causal
//! attention tokens after the description cannot change the pooled states, so running them
//! would only cost time. The header and the description are tokenized separately and
//! concatenated, so the pooled span is exact by construction (a test checks that this equals
//! tokenizing the rendered prompt whole for every real item).

use std::ops::Range;

use reclora_core::LlmError;
use reclora_core::tokenizer::{PromptTemplate, TextTokenizer};

use super::LsmrError;
use crate::data::PreparedDataset;

/// The description template; `{noun}`, `{title}` and `{genre}` are filled in.
pub const ITEM_DESCRIPTION_TEMPLATE: &str =
    "Here is a {noun}. Its title is {title}. The {noun}'s genre is {genre}.";

/// The pooling rule, as written to `items.json`.
pub const POOLING_RULE: &str = "mean over the item-description tokens (the ChatML user-message \
content) of the last hidden state after the final RMSNorm; the <|im_start|>user header is run \
but not pooled; the closing <|im_end|> and assistant header are not run (causal attention makes \
them irrelevant to the pooled tokens); padding is never pooled";

/// Stands for the content while splitting the rendered template.
const CONTENT_MARK: &str = "\u{1}CONTENT\u{1}";

/// One item's model input and the positions to average.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemTokens {
    /// Token ids fed to the model: the ChatML user header, then the description.
    pub ids: Vec<u32>,
    /// Positions of the description tokens in `ids`; never empty.
    pub pooled: Range<usize>,
}

/// One item of a dataset and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemText {
    /// Item-id feature id (the id `HistoryEvent::item` and `SampleRef::item` use).
    pub item: u32,
    /// The filled-in description.
    pub description: String,
}

/// The description of one item. An empty genre drops the genre sentence (some datasets have
/// items without genres), so the text never says "genre is ."
pub fn item_description(noun: &str, title: &str, genre: &str) -> String {
    if genre.trim().is_empty() {
        format!("Here is a {noun}. Its title is {title}.")
    } else {
        ITEM_DESCRIPTION_TEMPLATE
            .replace("{noun}", noun)
            .replace("{title}", title)
            .replace("{genre}", genre)
    }
}

/// The ChatML text before the user content, taken from core's template so both stay in sync.
pub fn chat_user_header() -> String {
    let rendered = PromptTemplate::ChatMl.render(CONTENT_MARK);
    rendered
        .split_once(CONTENT_MARK)
        .map_or_else(String::new, |(header, _)| header.to_string())
}

/// The full rendered prompt of a description, as a scoring prompt would wrap it.
pub fn rendered_item_prompt(description: &str) -> String {
    PromptTemplate::ChatMl.render(description)
}

/// Tokenizes the header and the description separately and marks the description span.
pub fn item_tokens(tokenizer: &TextTokenizer, description: &str) -> Result<ItemTokens, LlmError> {
    let mut ids = tokenizer.encode(&chat_user_header())?;
    let start = ids.len();
    ids.extend(tokenizer.encode(description)?);
    if ids.len() == start {
        return Err(LlmError::BadRequest {
            reason: format!("item description {description:?} has no tokens"),
        });
    }
    let end = ids.len();
    Ok(ItemTokens {
        ids,
        pooled: start..end,
    })
}

/// Every item of `data`, in item-id order (`first item id .. first + count`).
pub fn item_texts(data: &PreparedDataset) -> Result<Vec<ItemText>, LsmrError> {
    let (first, count) = item_id_range(data);
    let noun = data.prompt_template().domain.item;
    (first..first + count)
        .map(|item| {
            let (title, genre) = data.item_text(item).unwrap_or(("", ""));
            if title.trim().is_empty() {
                return Err(LsmrError::MissingItemText {
                    item,
                    raw_id: data.item_raw_id(item).unwrap_or_default().to_string(),
                });
            }
            Ok(ItemText {
                item,
                description: item_description(noun, title, genre),
            })
        })
        .collect()
}

/// (first item-id feature id, number of items) of a prepared dataset.
pub fn item_id_range(data: &PreparedDataset) -> (u32, u32) {
    let field = &data.meta().fields[data.item_field()];
    (field.offset, field.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_fills_the_template_and_drops_an_empty_genre() {
        assert_eq!(
            item_description("movie", "Toy Story (1995)", "Animation"),
            "Here is a movie. Its title is Toy Story (1995). The movie's genre is Animation."
        );
        assert_eq!(
            item_description("book", "Odes", " "),
            "Here is a book. Its title is Odes."
        );
        assert_eq!(chat_user_header(), "<|im_start|>user\n");
        assert!(rendered_item_prompt("x").starts_with(&chat_user_header()));
    }
}
