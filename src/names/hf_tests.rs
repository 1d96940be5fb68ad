use super::*;

fn offline(input: &str) -> Result<Conversion, ConvertError> {
    convert(input, None, &RepoHints::default())
}

fn hints(quants: &[&str]) -> RepoHints {
    RepoHints {
        has_gguf: Some(true),
        available_quants: Some(quants.iter().map(|s| s.to_string()).collect()),
    }
}

#[test]
fn parses_every_spelling() {
    let want = |quant: Option<&str>| HfRepo {
        org: "bartowski".into(),
        repo: "Llama-3.2-3B-Instruct-GGUF".into(),
        quant: quant.map(str::to_owned),
    };
    for input in [
        "bartowski/Llama-3.2-3B-Instruct-GGUF",
        "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF",
        "HF.CO/bartowski/Llama-3.2-3B-Instruct-GGUF",
        "huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF",
        "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF",
        "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/",
        "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/tree/main",
        "https://www.huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF?x=1#y",
        "  bartowski/Llama-3.2-3B-Instruct-GGUF ",
    ] {
        assert_eq!(parse_hf(input), Ok(want(None)), "{input}");
    }
    assert_eq!(
        parse_hf("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:iq3_m"),
        Ok(want(Some("iq3_m")))
    );
    assert_eq!(
        parse_hf(
            "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/blob/main/\
             Llama-3.2-3B-Instruct-Q5_K_M.gguf"
        ),
        Ok(want(Some("Q5_K_M")))
    );
}

#[test]
fn rejects_non_model_references() {
    for input in [
        "",
        "llama3",
        "https://example.com/a/b",
        "https://huggingface.co/datasets/a/b",
        "spaces/a/b",
        "a/b/c",
        "a/b:",
        "a b/c",
        "/b",
    ] {
        let err = parse_hf(input).expect_err(input);
        assert_eq!(err.kind, ConvertErrorKind::BadInput, "{input}");
        assert!(!err.help.is_empty());
    }
}

#[test]
fn library_model_from_the_table() {
    let c = offline("meta-llama/Llama-3.1-8B-Instruct").expect("known");
    assert_eq!(c.ollama.to_string(), "llama3.1:8b");
    assert_eq!(c.method, Method::Library);
    assert_eq!(
        c.reason,
        "meta-llama/Llama-3.1-8B-Instruct is Meta's Llama 3.1 8B instruct model; \
         the Ollama library ships it as llama3.1:8b"
    );
    for (input, want) in [
        (
            "https://huggingface.co/META-LLAMA/llama-3.1-8b-instruct/tree/main",
            "llama3.1:8b",
        ),
        ("hf.co/meta-llama/Meta-Llama-3.1-8B-Instruct", "llama3.1:8b"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5:7b"),
        ("google/gemma-2-9b-it", "gemma2:9b"),
        ("openai/gpt-oss-20b", "gpt-oss:20b"),
        ("nomic-ai/nomic-embed-text-v1.5", "nomic-embed-text:latest"),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek-r1:7b"),
    ] {
        assert_eq!(
            offline(input).expect(input).ollama.to_string(),
            want,
            "{input}"
        );
    }
}

#[test]
fn library_model_refuses_a_quant() {
    let err = convert("google/gemma-3-4b-it", Some("Q8_0"), &RepoHints::default())
        .expect_err("quant on library");
    assert_eq!(err.kind, ConvertErrorKind::QuantOnLibraryModel);
    assert!(err.help.contains("gemma3:4b"), "{}", err.help);
}

#[test]
fn gguf_repo_defaults_to_q4_k_m() {
    let c = offline("bartowski/Llama-3.2-3B-Instruct-GGUF").expect("gguf");
    assert_eq!(c.method, Method::GgufRepo);
    assert_eq!(
        c.ollama.to_string(),
        "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"
    );
    assert_eq!(
        c.reason,
        "GGUF repository: Ollama pulls it straight from Hugging Face; \
         quant Q4_K_M (the default when the repo has it)"
    );
    let json = serde_json::to_value(&c).expect("serializes");
    assert_eq!(json["method"], "gguf-repo");
    assert_eq!(
        json["ollama"],
        "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"
    );
}

#[test]
fn gguf_quant_is_normalized_and_checked() {
    let c = convert("unsloth/Qwen3-8B-GGUF", Some("q8_0"), &RepoHints::default()).expect("ok");
    assert_eq!(c.ollama.tag(), "Q8_0");
    let c = offline("hf.co/unsloth/Qwen3-8B-GGUF:ud-q4_k_xl").expect("ok");
    assert_eq!(c.ollama.tag(), "UD-Q4_K_XL");
    let c = convert("a/model.gguf", Some("Q6_K"), &RepoHints::default()).expect("ok");
    assert_eq!(c.ollama.tag(), "Q6_K");

    let err = offline("unsloth/Qwen3-8B-GGUF:Q4KM").expect_err("unknown quant");
    assert_eq!(err.kind, ConvertErrorKind::UnknownQuant);
    assert!(err.help.starts_with("did you mean Q4_K_M?"), "{}", err.help);

    let err = convert("a/b-GGUF:Q8_0", Some("Q4_0"), &RepoHints::default()).expect_err("both");
    assert_eq!(err.kind, ConvertErrorKind::ConflictingQuant);
    assert!(convert("a/b-GGUF:q8_0", Some("Q8_0"), &RepoHints::default()).is_ok());
}

#[test]
fn gguf_quant_uses_hints() {
    let c = convert("a/b", None, &hints(&["Q8_0", "Q4_K_S", "F16"])).expect("ok");
    assert_eq!(c.ollama.tag(), "Q4_K_S");
    assert!(
        c.reason.contains("Hugging Face lists GGUF files"),
        "{}",
        c.reason
    );
    assert!(c.reason.contains("no Q4_K_M"), "{}", c.reason);
    let c = convert("a/b-GGUF", None, &hints(&["q4_k_m", "Q8_0"])).expect("ok");
    assert_eq!(c.ollama.tag(), "Q4_K_M");

    let err = convert("a/b-GGUF", Some("Q2_K"), &hints(&["Q8_0"])).expect_err("missing");
    assert_eq!(err.kind, ConvertErrorKind::QuantNotInRepo);
    assert!(err.help.contains("Q8_0"));
    let err = convert("a/b-GGUF", None, &hints(&["weird"])).expect_err("none known");
    assert_eq!(err.kind, ConvertErrorKind::NoKnownQuant);

    // The hint overrides the name: a "-GGUF" repo without GGUF files is not pulled as one.
    let no_gguf = RepoHints {
        has_gguf: Some(false),
        available_quants: None,
    };
    let err = convert("a/b-GGUF", None, &no_gguf).expect_err("not gguf");
    assert_eq!(err.kind, ConvertErrorKind::Unknown);
}

#[test]
fn gguf_repo_with_name_ollama_rejects() {
    for input in ["my.org/model-GGUF", &format!("org/{}-GGUF", "x".repeat(80))] {
        let err = offline(input).expect_err(input);
        assert_eq!(err.kind, ConvertErrorKind::OllamaRejectsName, "{input}");
        assert!(err.reason.contains("Ollama rejects"), "{}", err.reason);
        assert!(err.help.contains("`source: download`"), "{}", err.help);
        assert!(err.help.contains("`file:`"), "{}", err.help);
    }
}

#[test]
fn unrunnable_models_say_why() {
    for (input, says) in [
        (
            "stabilityai/stable-diffusion-xl-base-1.0",
            "text-to-image diffusion",
        ),
        ("black-forest-labs/FLUX.1-dev", "text-to-image diffusion"),
        ("runwayml/stable-diffusion-v1-5", "text-to-image diffusion"),
        ("openai/whisper-large-v3", "speech-to-text"),
        ("coqui/XTTS-v2", "text-to-speech"),
        ("facebook/wav2vec2-base-960h", "speech"),
        ("facebook/musicgen-small", "music"),
    ] {
        let err = offline(input).expect_err(input);
        assert_eq!(err.kind, ConvertErrorKind::Unrunnable, "{input}");
        assert!(err.reason.contains(says), "{input}: {}", err.reason);
        assert!(
            err.reason
                .contains("Ollama runs GGUF language and embedding models")
        );
        assert!(!err.help.is_empty());
    }
    // A GGUF build is pulled as such even when the name matches a pattern.
    assert!(offline("ggerganov/whisper-GGUF").is_ok());
}

#[test]
fn unknown_repo_suggests() {
    let err = offline("meta-llama/Llama-3.1-8b-Instrct").expect_err("typo");
    assert_eq!(err.kind, ConvertErrorKind::Unknown);
    assert!(
        err.help
            .starts_with("did you mean meta-llama/Llama-3.1-8B-Instruct (Ollama: llama3.1:8b)?"),
        "{}",
        err.help
    );
    let err = offline("someone/SomeModel-7B").expect_err("unknown");
    assert!(!err.help.contains("did you mean"), "{}", err.help);
    assert!(
        err.help.contains("bartowski/SomeModel-7B-GGUF"),
        "{}",
        err.help
    );
    assert_eq!(
        err.to_string(),
        "cannot convert \"someone/SomeModel-7B\": someone/SomeModel-7B is not a known \
         Ollama library model and not a GGUF repository"
    );
}
