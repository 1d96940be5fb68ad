//! GGUF quantization names, as Hugging Face's registry accepts them as tags.
//!
//! Why a closed list: Hugging Face answers an unknown tag with a 400 ("not a
//! valid quantization scheme") only at pull time. Checking here turns a typo
//! like `q4km` into a validation error with a suggestion, before any download.
//! Hugging Face treats the tag case-insensitively; we normalize to the
//! canonical upper-case spelling so one model is not stored twice.

/// Quant names accepted as `hf.co/...:<QUANT>` tags, in canonical case.
pub const KNOWN_QUANTS: &[&str] = &[
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q6_K_L",
    "Q5_K_L",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_0",
    "Q5_1",
    "Q4_K_L",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_0",
    "Q4_1",
    "Q4_0_4_4",
    "Q4_0_4_8",
    "Q4_0_8_8",
    "Q3_K_XL",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "Q2_K_L",
    "Q2_K",
    "Q2_K_S",
    "IQ4_XS",
    "IQ4_NL",
    "IQ3_M",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "IQ2_M",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "TQ1_0",
    "TQ2_0",
    "MXFP4",
    "UD-Q8_K_XL",
    "UD-Q6_K_XL",
    "UD-Q5_K_XL",
    "UD-Q4_K_XL",
    "UD-Q3_K_XL",
    "UD-Q2_K_XL",
    "UD-IQ3_XXS",
    "UD-IQ2_M",
    "UD-IQ2_XXS",
    "UD-IQ1_M",
    "UD-IQ1_S",
];

/// The quant Hugging Face serves for `latest`, and ours when none is asked for.
pub const DEFAULT_QUANT: &str = "Q4_K_M";

/// Which quant to take when the repo lacks Q4_K_M: good quality per byte first,
/// then larger, then smaller, then unquantized.
const PREFERENCE: &[&str] = &[
    "Q4_K_M",
    "UD-Q4_K_XL",
    "Q4_K_S",
    "Q4_K_L",
    "Q5_K_M",
    "Q5_K_S",
    "Q4_0",
    "Q4_1",
    "IQ4_XS",
    "IQ4_NL",
    "MXFP4",
    "Q6_K",
    "Q8_0",
    "Q5_0",
    "Q5_1",
    "Q3_K_L",
    "Q3_K_M",
    "IQ3_M",
    "Q3_K_S",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K",
    "BF16",
    "F16",
    "F32",
];

/// The canonical spelling of a known quant, case-insensitively.
pub fn normalize_quant(q: &str) -> Option<&'static str> {
    KNOWN_QUANTS
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(q))
}

/// The known quant closest to a mistyped one, if any is close enough.
pub(crate) fn suggest_quant(q: &str) -> Option<&'static str> {
    let upper = q.to_ascii_uppercase().replace('-', "_");
    KNOWN_QUANTS
        .iter()
        .copied()
        .map(|k| (strsim::levenshtein(&upper, k), k))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// The best quant among those a repo has, by [`PREFERENCE`]; a known quant
/// missing from that list comes after it. `None` if none is known.
pub fn best_available(available: &[String]) -> Option<&'static str> {
    let known: Vec<&'static str> = available
        .iter()
        .filter_map(|a| normalize_quant(a))
        .collect();
    PREFERENCE
        .iter()
        .copied()
        .find(|p| known.contains(p))
        .or_else(|| known.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case() {
        assert_eq!(normalize_quant("q4_k_m"), Some("Q4_K_M"));
        assert_eq!(normalize_quant("iq3_m"), Some("IQ3_M"));
        assert_eq!(normalize_quant("ud-q4_k_xl"), Some("UD-Q4_K_XL"));
        assert_eq!(normalize_quant("q4km"), None);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest_quant("Q4KM"), Some("Q4_K_M"));
        assert_eq!(suggest_quant("q8-0"), Some("Q8_0"));
        assert_eq!(suggest_quant("banana"), None);
    }

    #[test]
    fn picks_best_available() {
        let have = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            best_available(&have(&["Q8_0", "q4_k_s", "F16"])),
            Some("Q4_K_S")
        );
        assert_eq!(best_available(&have(&["F16", "Q8_0"])), Some("Q8_0"));
        assert_eq!(best_available(&have(&["IQ1_S"])), Some("IQ1_S"));
        assert_eq!(best_available(&have(&["weird"])), None);
        assert!(KNOWN_QUANTS.contains(&DEFAULT_QUANT));
        assert!(PREFERENCE.iter().all(|p| KNOWN_QUANTS.contains(p)));
    }
}
