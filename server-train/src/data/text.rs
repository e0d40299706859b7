//! Demographic codes → the words prompts use (MovieLens-1M README, "USERS FILE DESCRIPTION").

use reclora_core::prompt::Gender;

/// "M" / "F" → gender.
pub fn gender_from_code(code: &str) -> Option<Gender> {
    match code {
        "M" => Some(Gender::Male),
        "F" => Some(Gender::Female),
        _ => None,
    }
}

/// Gender → the code used as its feature key.
pub fn gender_code(gender: Gender) -> &'static str {
    match gender {
        Gender::Male => "M",
        Gender::Female => "F",
    }
}

/// ML-1M age bucket code → its range as the README writes it.
pub fn ml1m_age_text(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "Under 18",
        18 => "18-24",
        25 => "25-34",
        35 => "35-44",
        45 => "45-49",
        50 => "50-55",
        56 => "56+",
        _ => return None,
    })
}

/// ML-1M occupation code → its name as the README writes it. Code 0 is listed as
/// `"other" or not specified`; prompts say "other or not specified" (ReLLa's wording).
pub fn ml1m_occupation_text(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 21] = [
        "other or not specified",
        "academic/educator",
        "artist",
        "clerical/admin",
        "college/grad student",
        "customer service",
        "doctor/health care",
        "executive/managerial",
        "farmer",
        "homemaker",
        "K-12 student",
        "lawyer",
        "programmer",
        "retired",
        "sales/marketing",
        "scientist",
        "self-employed",
        "technician/engineer",
        "tradesman/craftsman",
        "unemployed",
        "writer",
    ];
    NAMES.get(usize::from(code)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked line by line against assets/ml-1m/README.
    #[test]
    fn tables_follow_the_readme() {
        assert_eq!(ml1m_age_text(1), Some("Under 18"));
        assert_eq!(ml1m_age_text(56), Some("56+"));
        assert_eq!(ml1m_age_text(2), None);
        assert_eq!(ml1m_occupation_text(0), Some("other or not specified"));
        assert_eq!(ml1m_occupation_text(10), Some("K-12 student"));
        assert_eq!(ml1m_occupation_text(12), Some("programmer"));
        assert_eq!(ml1m_occupation_text(20), Some("writer"));
        assert_eq!(ml1m_occupation_text(21), None);
        assert_eq!(gender_from_code("F"), Some(Gender::Female));
        assert_eq!(gender_from_code("x"), None);
        assert_eq!(gender_code(Gender::Male), "M");
    }
}
