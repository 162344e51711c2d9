//! What a category is called: its code (an ASCII slug, the same in every language) and its names
//! (any language, kept as written). One rule decides whether a text people type names a
//! category, so the API, the importers and the CLI all accept the same words.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A kind of problem citizens report, with its deadline and the agency it goes to by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "CategoryFields")]
pub struct Category {
    /// ASCII slug: lower-case letters, digits and `-` (or `_`), e.g. `wilder-muell`.
    pub code: String,
    /// Name by language code (ISO 639-1: `vi`, `en`, `de`, …), as people write it.
    pub names: BTreeMap<String, String>,
    pub deadline_hours: u32,
    pub agency: String,
}

/// How a category reads from TOML: `names = { vi = "…", en = "…" }`, or the older `name_vi` and
/// `name_en` keys of profiles saved before names were per language (still read, never written).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFields {
    code: String,
    #[serde(default)]
    names: BTreeMap<String, String>,
    name_vi: Option<String>,
    name_en: Option<String>,
    deadline_hours: u32,
    agency: String,
}

impl From<CategoryFields> for Category {
    fn from(f: CategoryFields) -> Self {
        let mut names = f.names;
        for (language, name) in [("vi", f.name_vi), ("en", f.name_en)] {
            if let Some(name) = name {
                names.entry(language.to_string()).or_insert(name);
            }
        }
        Self {
            code: f.code,
            names,
            deadline_hours: f.deadline_hours,
            agency: f.agency,
        }
    }
}

impl Category {
    /// The name in `language`, else the English one, else any, else the code.
    pub fn name(&self, language: &str) -> &str {
        self.names
            .get(language)
            .or_else(|| self.names.get("en"))
            .or_else(|| self.names.values().next())
            .unwrap_or(&self.code)
    }

    /// Whether `text` names this category: its code as it is; or, compared after Unicode NFC and
    /// case folding, its code or any of its names; or a text whose [`slug`] is the code
    /// (`Wilder-Müll`, `wilder müll` and `WILDER_MUELL` all name `wilder-muell`).
    pub fn answers_to(&self, text: &str) -> bool {
        if text == self.code {
            return true;
        }
        let folded = fold(text);
        folded == fold(&self.code) || self.names.values().any(|n| fold(n) == folded) || {
            let slugged = slug(text);
            !slugged.is_empty() && slugged == slug(&self.code)
        }
    }
}

/// `text` trimmed, in Unicode NFC, lower case, with runs of white space made one space: the form
/// two spellings of one name share (a decomposed `ü` and a composed one; `Müll` and `MÜLL`).
pub fn fold(text: &str) -> String {
    let composed: String = text.trim().nfc().collect();
    let mut out = String::with_capacity(composed.len());
    for word in composed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// An ASCII code from free text: letters transliterated (ß → ss, ä/ö/ü → ae/oe/ue, đ → d, other
/// accents dropped: ư → u, é → e), lower case, every other run of characters one `-`.
/// "Wilder Müll" → `wilder-muell`, "Đèn chiếu sáng hỏng" → `den-chieu-sang-hong`. Text with no
/// Latin letter or digit at all gives an empty slug.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.nfc() {
        let mapped: Option<&str> = transliterate(c);
        let mut push = |a: char| {
            if a.is_ascii_alphanumeric() {
                if gap && !out.is_empty() {
                    out.push('-');
                }
                gap = false;
                out.push(a.to_ascii_lowercase());
            } else {
                gap = true;
            }
        };
        match mapped {
            Some(s) => s.chars().for_each(&mut push),
            // Decomposed, a letter with accents is its base letter and combining marks.
            None => std::iter::once(c)
                .nfd()
                .filter(|d| !is_combining_mark(*d))
                .for_each(&mut push),
        }
    }
    out
}

/// Letters that decomposition does not reduce to ASCII, or that German writes out.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'ä' | 'Ä' => "ae",
        'ö' | 'Ö' => "oe",
        'ü' | 'Ü' => "ue",
        'đ' | 'Đ' | 'ð' | 'Ð' => "d",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'þ' | 'Þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category() -> Category {
        Category {
            code: "wilder-muell".into(),
            names: BTreeMap::from([
                ("de".into(), "Wilder Müll".into()),
                ("en".into(), "Fly-tipping".into()),
            ]),
            deadline_hours: 48,
            agency: "bsr".into(),
        }
    }

    #[test]
    fn slugs_are_ascii_in_every_script_we_meet() {
        assert_eq!(slug("Wilder Müll"), "wilder-muell");
        assert_eq!(slug("Straßenschäden"), "strassenschaeden");
        assert_eq!(slug("Đèn chiếu sáng hỏng"), "den-chieu-sang-hong");
        assert_eq!(slug("Sự cố cấp nước"), "su-co-cap-nuoc");
        assert_eq!(
            slug("  Pest Infestation - Residential "),
            "pest-infestation-residential"
        );
        // Decomposed input (u + combining diaeresis) gives the same code.
        assert_eq!(slug("Wilder Mu\u{308}ll"), "wilder-muell");
        assert_eq!(slug("--"), "");
        assert_eq!(slug("垃圾"), "");
    }

    #[test]
    fn a_category_answers_to_its_code_its_names_and_their_spellings() {
        let c = category();
        for text in [
            "wilder-muell",
            "Wilder Müll",
            "wilder müll",
            "WILDER MÜLL",
            "Wilder Mu\u{308}ll",
            "Wilder-Müll",
            "  Wilder   Müll ",
            "fly-tipping",
            "Fly-Tipping",
            "WILDER_MUELL",
        ] {
            assert!(c.answers_to(text), "{text:?}");
        }
        for text in ["Müll", "wilder", "flytipping", ""] {
            assert!(!c.answers_to(text), "{text:?}");
        }
    }

    #[test]
    fn old_name_keys_are_still_read() {
        let old: Category = toml::from_str(
            "code = \"flooding\"\nname_vi = \"Ngập úng\"\nname_en = \"Flooding\"\ndeadline_hours = 24\nagency = \"drainage\"\n",
        )
        .expect("old form");
        assert_eq!(old.names.get("vi").map(String::as_str), Some("Ngập úng"));
        assert_eq!(old.name("en"), "Flooding");
        assert_eq!(old.name("de"), "Flooding");
        let new: Category = toml::from_str(
            "code = \"flooding\"\nnames = { vi = \"Ngập úng\", en = \"Flooding\" }\ndeadline_hours = 24\nagency = \"drainage\"\n",
        )
        .expect("new form");
        assert_eq!(old, new);
    }
}
