//! The ReLLa/RecLoRA prompt template (profile, rated history as a Python list, target, question).

use super::PromptError;
use super::layout::PromptLayout;
use super::python_repr::python_list_repr;
use super::retriever::{HistoryEvent, HistoryRetriever, HistorySelection, select_history};

/// The user's gender as the datasets give it (MovieLens: M/F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// "male", "His".
    Male,
    /// "female", "Her".
    Female,
}

impl Gender {
    /// The noun used in "The user is a {..}."
    pub fn noun(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }

    /// The capitalised possessive starting the job and age sentences.
    pub fn possessive(self) -> &'static str {
        match self {
            Self::Male => "His",
            Self::Female => "Her",
        }
    }
}

/// Demographics shown in the first line (MovieLens-1M/100K only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Gender.
    pub gender: Gender,
    /// Occupation text, e.g. "programmer".
    pub occupation: String,
    /// Age text, e.g. "25-34" (ML-1M bucket) or "24" (ML-100K raw age).
    pub age: String,
}

/// Everything one prompt shows, already selected and in chronological order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptInput {
    /// Demographics; `None` for datasets without them (the sentence is left out).
    pub profile: Option<Profile>,
    /// (title, rating code) of the shown earlier interactions, oldest first.
    pub history: Vec<(String, u8)>,
    /// Title of the item to predict.
    pub target_title: String,
}

/// The words that name the items and the act of consuming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// "movie" / "book".
    pub item: &'static str,
    /// "movies" / "books".
    pub items: &'static str,
    /// "watched" / "read" (past tense and participle alike).
    pub consumed: &'static str,
}

impl Domain {
    /// MovieLens.
    pub const MOVIES: Self = Self {
        item: "movie",
        items: "movies",
        consumed: "watched",
    };
    /// GoodReads.
    pub const BOOKS: Self = Self {
        item: "book",
        items: "books",
        consumed: "read",
    };
}

/// How a stored rating code is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatingStyle {
    /// Code = stars: "4 stars", "1 star".
    Stars,
    /// Code = half stars (ML-25M): written as the Python float, "4.5 stars", "1.0 star".
    HalfStars,
}

impl RatingStyle {
    /// "{value} star" or "{value} stars", plural iff the value is above 1 (ReLLa's rule).
    pub fn text(self, code: u8) -> String {
        match self {
            Self::Stars => {
                let unit = if code > 1 { "stars" } else { "star" };
                format!("{code} {unit}")
            }
            Self::HalfStars => {
                let unit = if code > 2 { "stars" } else { "star" };
                let half = if code % 2 == 1 { 5 } else { 0 };
                format!("{}.{half} {unit}", code / 2)
            }
        }
    }
}

/// Looks up the title of an item id.
pub trait ItemTitles {
    /// The title, or `None` for an unknown id.
    fn title(&self, item: u32) -> Option<&str>;
}

/// The ReLLa template for one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RellaTemplate {
    /// Item words.
    pub domain: Domain,
    /// Rating rendering.
    pub rating_style: RatingStyle,
    /// Where the candidate goes.
    pub layout: PromptLayout,
}

impl RellaTemplate {
    /// MovieLens-1M/100K.
    pub const MOVIELENS: Self = Self {
        domain: Domain::MOVIES,
        rating_style: RatingStyle::Stars,
        layout: PromptLayout::Rella,
    };
    /// MovieLens-25M (half stars).
    pub const MOVIELENS_HALF_STARS: Self = Self {
        domain: Domain::MOVIES,
        rating_style: RatingStyle::HalfStars,
        layout: PromptLayout::Rella,
    };
    /// GoodReads.
    pub const BOOKS: Self = Self {
        domain: Domain::BOOKS,
        rating_style: RatingStyle::Stars,
        layout: PromptLayout::Rella,
    };

    /// The wording of a dataset by its prepared name (`ml-1m`, `ml-100k`, `ml-25m`,
    /// `goodreads`).
    pub fn for_dataset(name: &str) -> Option<Self> {
        match name {
            "ml-1m" | "ml-100k" => Some(Self::MOVIELENS),
            "ml-25m" => Some(Self::MOVIELENS_HALF_STARS),
            "goodreads" => Some(Self::BOOKS),
            _ => None,
        }
    }

    /// The same wording with the candidate placed by `layout`.
    pub fn with_layout(self, layout: PromptLayout) -> Self {
        Self { layout, ..self }
    }

    /// The prompt text, parts joined by `\n`.
    pub fn render(&self, input: &PromptInput) -> String {
        let Domain {
            item,
            items,
            consumed,
        } = self.domain;
        let mut parts = Vec::with_capacity(6);
        if let Some(profile) = &input.profile {
            let his = profile.gender.possessive();
            parts.push(format!(
                "The user is a {}. {his} job is {}. {his} age is {}.",
                profile.gender.noun(),
                profile.occupation,
                profile.age
            ));
        }
        parts.push(format!(
            "The user {consumed} the following {items} in order in the past, and rated them:"
        ));
        let lines: Vec<String> = input
            .history
            .iter()
            .enumerate()
            .map(|(i, (title, rating))| {
                format!("{i}. {title} ({})", self.rating_style.text(*rating))
            })
            .collect();
        parts.push(python_list_repr(&lines));
        let note = format!(
            "Note that more stars the user rated the {item}, the higher the user liked the {item}."
        );
        let title = &input.target_title;
        match self.layout {
            PromptLayout::Rella => {
                parts.push(format!(
                    "Based on the {items} the user has {consumed}, deduce if the user will like the {item} ***{title}***."
                ));
                parts.push(note);
                parts.push("You should ONLY tell me yes or no.".to_string());
            }
            PromptLayout::CandidateLast => {
                parts.push(note);
                parts.push(format!(
                    "Based on the {items} the user has {consumed}, deduce if the user will like the {item} below. You should ONLY tell me yes or no."
                ));
                parts.push(format!("{}{title}***", self.candidate_cue()));
            }
        }
        parts.join("\n")
    }

    /// Where the part of a rendered (or chat-wrapped) prompt that names the candidate
    /// starts: everything before it is the same for every candidate of one user and
    /// history, so it can run once as a shared prefix. `None` if `text` is not a prompt
    /// of this template.
    pub fn candidate_start(&self, text: &str) -> Option<usize> {
        let marker = match self.layout {
            PromptLayout::Rella => format!("\nBased on the {} ", self.domain.items),
            PromptLayout::CandidateLast => format!("\n{}", self.candidate_cue()),
        };
        text.rfind(&marker).map(|at| at + 1)
    }

    /// The line that names the candidate in [`PromptLayout::CandidateLast`]: "Movie: ***".
    fn candidate_cue(&self) -> String {
        let item = self.domain.item;
        let mut chars = item.chars();
        let capital: String = chars
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default();
        format!("{capital}{}: ***", chars.as_str())
    }

    /// Selects the history (last K or retrieved, then chronological), looks up the titles
    /// and renders the prompt.
    pub fn build(
        &self,
        profile: Option<Profile>,
        history: &[HistoryEvent],
        target_item: u32,
        selection: HistorySelection,
        retriever: Option<&dyn HistoryRetriever>,
        titles: &dyn ItemTitles,
    ) -> Result<String, PromptError> {
        let title = |item: u32| {
            titles
                .title(item)
                .map(str::to_string)
                .ok_or(PromptError::UnknownItem { item })
        };
        let shown = select_history(history, target_item, selection, retriever)?;
        let history = shown
            .iter()
            .map(|e| Ok((title(e.item)?, e.rating)))
            .collect::<Result<Vec<_>, PromptError>>()?;
        let input = PromptInput {
            profile,
            history,
            target_title: title(target_item)?,
        };
        Ok(self.render(&input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference prompt of the issue, character for character.
    const REFERENCE: &str = "The user is a female. Her job is programmer. Her age is 25-34.\nThe user watched the following movies in order in the past, and rated them:\n['0. Toy Story (1995) (5 stars)', '1. Heat (1995) (4 stars)', \"2. Schindler's List (1993) (5 stars)\", '3. Misérables, Les (1995) (3 stars)', '4. Jumanji (1995) (2 stars)']\nBased on the movies the user has watched, deduce if the user will like the movie ***GoldenEye (1995)***.\nNote that more stars the user rated the movie, the higher the user liked the movie.\nYou should ONLY tell me yes or no.";

    fn female_programmer() -> Profile {
        Profile {
            gender: Gender::Female,
            occupation: "programmer".into(),
            age: "25-34".into(),
        }
    }

    #[test]
    fn renders_the_reference_prompt_exactly() {
        let input = reference_input("GoldenEye (1995)");
        assert_eq!(RellaTemplate::MOVIELENS.render(&input), REFERENCE);
    }

    /// The candidate-last layout of the same input: the note and the question move before
    /// the candidate, which ends the prompt alone.
    const CANDIDATE_LAST: &str = "The user is a female. Her job is programmer. Her age is 25-34.\nThe user watched the following movies in order in the past, and rated them:\n['0. Toy Story (1995) (5 stars)', '1. Heat (1995) (4 stars)', \"2. Schindler's List (1993) (5 stars)\", '3. Misérables, Les (1995) (3 stars)', '4. Jumanji (1995) (2 stars)']\nNote that more stars the user rated the movie, the higher the user liked the movie.\nBased on the movies the user has watched, deduce if the user will like the movie below. You should ONLY tell me yes or no.\nMovie: ***GoldenEye (1995)***";

    fn reference_input(target: &str) -> PromptInput {
        PromptInput {
            profile: Some(female_programmer()),
            history: vec![
                ("Toy Story (1995)".into(), 5),
                ("Heat (1995)".into(), 4),
                ("Schindler's List (1993)".into(), 5),
                ("Misérables, Les (1995)".into(), 3),
                ("Jumanji (1995)".into(), 2),
            ],
            target_title: target.into(),
        }
    }

    #[test]
    fn renders_the_candidate_last_layout_exactly() {
        let template = RellaTemplate::MOVIELENS.with_layout(PromptLayout::CandidateLast);
        assert_eq!(
            template.render(&reference_input("GoldenEye (1995)")),
            CANDIDATE_LAST
        );
    }

    /// The shared prefix ends where the two candidates' prompts first differ in a part
    /// that names the candidate; in the candidate-last layout that is the last line.
    #[test]
    fn the_candidate_starts_at_its_own_part_in_either_layout() {
        for layout in PromptLayout::ALL {
            let template = RellaTemplate::MOVIELENS.with_layout(layout);
            let first = template.render(&reference_input("GoldenEye (1995)"));
            let second = template.render(&reference_input("Heat (1995)"));
            let at = template.candidate_start(&first).expect("marker");
            assert_eq!(Some(at), template.candidate_start(&second), "{layout}");
            assert_eq!(first[..at], second[..at], "{layout}");
            assert!(first[..at].ends_with(']') || first[..at].ends_with('\n'));
            let expected_start = match layout {
                PromptLayout::Rella => {
                    "Based on the movies the user has watched, deduce if the user will like the movie ***GoldenEye"
                }
                PromptLayout::CandidateLast => "Movie: ***GoldenEye (1995)***",
            };
            assert!(
                first[at..].starts_with(expected_start),
                "{layout}: {}",
                &first[at..]
            );
        }
        let books = RellaTemplate::BOOKS.with_layout(PromptLayout::CandidateLast);
        let text = books.render(&PromptInput {
            profile: None,
            history: vec![("Dune".into(), 1)],
            target_title: "Emma".into(),
        });
        let at = books.candidate_start(&text).expect("marker");
        assert_eq!(&text[at..], "Book: ***Emma***");
        assert_eq!(
            RellaTemplate::MOVIELENS.candidate_start("no prompt here"),
            None
        );
    }

    #[test]
    fn layout_names_round_trip_and_unknown_names_are_refused() {
        for layout in PromptLayout::ALL {
            assert_eq!(layout.as_str().parse::<PromptLayout>(), Ok(layout));
            let json = serde_json::to_string(&layout).expect("json");
            assert_eq!(json, format!("\"{}\"", layout.as_str()));
        }
        let error = "last".parse::<PromptLayout>().expect_err("unknown");
        assert_eq!(error.name, "last");
        assert_eq!(PromptLayout::default(), PromptLayout::Rella);
    }

    struct Titles;

    impl ItemTitles for Titles {
        fn title(&self, item: u32) -> Option<&str> {
            Some(match item {
                1 => "Toy Story (1995)",
                2 => "Heat (1995)",
                3 => "Schindler's List (1993)",
                4 => "Misérables, Les (1995)",
                5 => "Jumanji (1995)",
                6 => "GoldenEye (1995)",
                7 => "Old Movie (1950)",
                _ => return None,
            })
        }
    }

    #[test]
    fn build_takes_the_last_k_events() {
        let history: Vec<HistoryEvent> = [(7, 1), (1, 5), (2, 4), (3, 5), (4, 3), (5, 2)]
            .iter()
            .enumerate()
            .map(|(t, &(item, rating))| HistoryEvent {
                item,
                rating,
                timestamp: t as i64,
            })
            .collect();
        let prompt = RellaTemplate::MOVIELENS
            .build(
                Some(female_programmer()),
                &history,
                6,
                HistorySelection::LastK(5),
                None,
                &Titles,
            )
            .expect("prompt");
        assert_eq!(prompt, REFERENCE);
        let unknown = RellaTemplate::MOVIELENS.build(
            None,
            &history,
            42,
            HistorySelection::LastK(5),
            None,
            &Titles,
        );
        assert!(matches!(
            unknown,
            Err(PromptError::UnknownItem { item: 42 })
        ));
    }

    #[test]
    fn books_without_profile_and_singular_star() {
        let input = PromptInput {
            profile: None,
            history: vec![("Dune".into(), 1), ("It's Here".into(), 4)],
            target_title: "Emma".into(),
        };
        let expected = "The user read the following books in order in the past, and rated them:\n['0. Dune (1 star)', \"1. It's Here (4 stars)\"]\nBased on the books the user has read, deduce if the user will like the book ***Emma***.\nNote that more stars the user rated the book, the higher the user liked the book.\nYou should ONLY tell me yes or no.";
        assert_eq!(RellaTemplate::BOOKS.render(&input), expected);
    }

    /// ML-25M ratings print as Python floats: `f"{4.5}"`, `f"{1.0}"`, with ReLLa's
    /// `"stars" if star > 1 else "star"`.
    #[test]
    fn half_star_text_matches_python_float_formatting() {
        let style = RatingStyle::HalfStars;
        assert_eq!(style.text(1), "0.5 star");
        assert_eq!(style.text(2), "1.0 star");
        assert_eq!(style.text(3), "1.5 stars");
        assert_eq!(style.text(9), "4.5 stars");
        assert_eq!(style.text(10), "5.0 stars");
        assert_eq!(RatingStyle::Stars.text(1), "1 star");
        assert_eq!(RatingStyle::Stars.text(3), "3 stars");
    }
}
