use super::*;
use crate::model::hf::Gated;

const GIB: u64 = 1 << 30;

fn file(path: &str, size: u64) -> RepoFile {
    RepoFile {
        path: path.into(),
        size,
        lfs_sha256: Some("ab".repeat(32)),
        blob_id: None,
    }
}

fn repo(id: &str, files: Vec<RepoFile>) -> RepoInfo {
    RepoInfo {
        id: id.into(),
        commit: "c0ffee".repeat(6) + "abcd",
        gated: Gated::No,
        private: false,
        pipeline_tag: Some("text-generation".into()),
        library: None,
        base_model: vec![],
        architectures: vec![],
        files,
    }
}

fn gguf_repo() -> RepoInfo {
    repo(
        "someone/Some-Model-GGUF",
        vec![
            file("README.md", 100),
            file("Some-Model-Q4_K_M.gguf", 4 * GIB),
            file("Some-Model-Q6_K.gguf", 6 * GIB),
            file("Some-Model-Q8_0.gguf", 8 * GIB),
        ],
    )
}

fn entry(repo: &str) -> HfEntry {
    HfEntry {
        repo: repo.into(),
        ..HfEntry::default()
    }
}

fn no_gpu(_: u64) -> Option<bool> {
    None
}

#[test]
fn quant_auto_picks_the_largest_that_fits() {
    let e = HfEntry {
        quant: Some("auto".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let fits = |b: u64| Some(b <= 7 * GIB);
    let r = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &fits).expect("resolves");
    assert_eq!(r.quant.as_deref(), Some("Q6_K"));
    assert_eq!(r.bytes, 6 * GIB);
    assert_eq!(r.name, "hf.co/someone/Some-Model-GGUF:Q6_K");
    assert_eq!(r.source, HfSource::Ollama);
    assert_eq!(r.commit.as_deref(), Some(gguf_repo().commit.as_str()));
    assert_eq!(r.answered_by, AnsweredBy::Hub);
    assert!(r.reason.contains("largest that fits"), "{}", r.reason);
}

#[test]
fn quant_auto_without_a_fit_or_a_gpu_takes_q4_k_m() {
    let e = HfEntry {
        quant: Some("AUTO".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let none_fits = |_: u64| Some(false);
    let r = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &none_fits).expect("resolves");
    assert_eq!(r.quant.as_deref(), Some("Q4_K_M"));
    assert!(r.reason.contains("none fits"), "{}", r.reason);
    let r = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect("resolves");
    assert_eq!(r.quant.as_deref(), Some("Q4_K_M"));
    assert!(r.reason.contains("without a GPU"), "{}", r.reason);
}

#[test]
fn an_unknown_quant_lists_the_ones_there_are_with_sizes() {
    let e = HfEntry {
        quant: Some("Q5_K_M".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let err = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect_err("no Q5_K_M");
    assert!(err.reason.contains("no quant Q5_K_M"), "{err:?}");
    assert!(
        err.help.contains("Q4_K_M (4.0GiB)") && err.help.contains("Q8_0 (8.0GiB)"),
        "{err:?}"
    );
}

#[test]
fn a_quant_picks_its_file_and_a_named_quant_in_the_repo_name_counts() {
    let e = HfEntry {
        quant: Some("q8_0".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let r = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect("resolves");
    assert_eq!(r.quant.as_deref(), Some("Q8_0"));
    let r = resolve(
        &entry("hf.co/someone/Some-Model-GGUF:Q6_K"),
        Some(&gguf_repo()),
        HfEnv::default(),
        &no_gpu,
    )
    .expect("resolves");
    assert_eq!(r.quant.as_deref(), Some("Q6_K"));
}

#[test]
fn the_source_is_a_download_with_a_token_an_endpoint_a_gate_or_a_pinned_revision() {
    let e = entry("someone/Some-Model-GGUF");
    let info = gguf_repo();
    let src = |e: &HfEntry, info: &RepoInfo, env: HfEnv| {
        resolve(e, Some(info), env, &no_gpu)
            .expect("resolves")
            .source
    };
    assert_eq!(src(&e, &info, HfEnv::default()), HfSource::Ollama);
    let token = HfEnv {
        token_set: true,
        ..HfEnv::default()
    };
    assert_eq!(src(&e, &info, token), HfSource::Download);
    let endpoint = HfEnv {
        endpoint_set: true,
        ..HfEnv::default()
    };
    assert_eq!(src(&e, &info, endpoint), HfSource::Download);
    let gated = RepoInfo {
        gated: Gated::Manual,
        ..info.clone()
    };
    assert_eq!(src(&e, &gated, HfEnv::default()), HfSource::Download);
    let pinned = HfEntry {
        revision: Some("v2".into()),
        ..e.clone()
    };
    assert_eq!(src(&pinned, &info, HfEnv::default()), HfSource::Download);
    // `source:` overrides both ways.
    let forced = HfEntry {
        source: Some(HfSource::Ollama),
        ..e.clone()
    };
    assert_eq!(src(&forced, &info, token), HfSource::Ollama);
    let forced = HfEntry {
        source: Some(HfSource::Download),
        alias: Some("mine:latest".into()),
        ..e.clone()
    };
    let r = resolve(&forced, Some(&info), HfEnv::default(), &no_gpu).expect("resolves");
    assert_eq!(r.source, HfSource::Download);
    assert_eq!(
        r.name, "mine:latest",
        "an import is created under its alias"
    );
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].path, "Some-Model-Q4_K_M.gguf");
    assert_eq!(r.bytes, 4 * GIB);
}

#[test]
fn a_convertible_safetensors_repo_is_imported_with_quantize() {
    let mut info = repo(
        "org/Tiny-Llama",
        vec![
            file("config.json", 600),
            file("model-00001-of-00002.safetensors", 3 * GIB),
            file("model-00002-of-00002.safetensors", GIB),
            file("tokenizer.json", 2000),
            file("original/consolidated.00.pth", 4 * GIB),
            file("README.md", 10),
        ],
    );
    info.architectures = vec!["LlamaForCausalLM".into()];
    let e = HfEntry {
        quantize: Some("Q4_K_M".into()),
        ..entry("org/Tiny-Llama")
    };
    let r = resolve(&e, Some(&info), HfEnv::default(), &no_gpu).expect("resolves");
    assert_eq!(r.source, HfSource::Download);
    assert_eq!(r.format, HfFormat::Safetensors);
    assert_eq!(r.quantize.as_deref(), Some("q4_K_M"));
    assert_eq!(r.name, "hf.co/org/Tiny-Llama:q4_K_M");
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "tokenizer.json"
        ]
    );
    assert_eq!(r.bytes, 4 * GIB + 2600);
    // Ollama cannot pull it itself.
    let e = HfEntry {
        source: Some(HfSource::Ollama),
        ..entry("org/Tiny-Llama")
    };
    let err = resolve(&e, Some(&info), HfEnv::default(), &no_gpu).expect_err("refused");
    assert!(err.reason.contains("GGUF repos only"), "{err:?}");
}

#[test]
fn an_unconvertible_architecture_or_a_non_text_repo_is_refused_with_what_would_work() {
    let mut info = repo(
        "Qwen/Qwen3-8B",
        vec![file("config.json", 600), file("model.safetensors", GIB)],
    );
    info.id = "someone/Qwen3-8B-custom".into();
    info.architectures = vec!["Qwen3ForCausalLM".into()];
    let err = resolve(
        &entry("someone/Qwen3-8B-custom"),
        Some(&info),
        HfEnv::default(),
        &no_gpu,
    )
    .expect_err("refused");
    assert!(err.reason.contains("Qwen3ForCausalLM"), "{err:?}");
    assert!(err.help.contains("--gguf"), "{err:?}");

    let mut sd = repo("someone/diffuser", vec![file("unet/model.bin", GIB)]);
    sd.pipeline_tag = Some("text-to-image".into());
    sd.library = Some("diffusers".into());
    let err = resolve(
        &entry("someone/diffuser"),
        Some(&sd),
        HfEnv::default(),
        &no_gpu,
    )
    .expect_err("refused");
    assert!(
        err.reason.contains("text-to-image") && err.reason.contains("diffusers"),
        "{err:?}"
    );
    assert!(err.help.contains("kind: process"), "{err:?}");
}

#[test]
fn offline_the_table_and_rules_answer() {
    let r = resolve(
        &entry("meta-llama/Llama-3.1-8B-Instruct"),
        None,
        HfEnv::default(),
        &no_gpu,
    )
    .expect("the table knows it");
    assert_eq!(r.name, "llama3.1:8b");
    assert_eq!(r.answered_by, AnsweredBy::Table);
    assert_eq!(r.format, HfFormat::Library);
    let e = HfEntry {
        quant: Some("auto".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let r = resolve(&e, None, HfEnv::default(), &no_gpu).expect("rule");
    assert_eq!(r.name, "hf.co/someone/Some-Model-GGUF:Q4_K_M");
    assert!(r.reason.contains("quant: auto"), "{}", r.reason);
    let e = HfEntry {
        source: Some(HfSource::Download),
        ..entry("someone/Some-Model-GGUF")
    };
    let err = resolve(&e, None, HfEnv::default(), &no_gpu).expect_err("needs the hub");
    assert!(err.help.contains("HF_HUB_OFFLINE"), "{err:?}");
}

#[test]
fn online_a_library_repo_still_maps_to_the_library() {
    let mut info = repo(
        "meta-llama/Llama-3.1-8B-Instruct",
        vec![file("config.json", 1), file("model.safetensors", GIB)],
    );
    info.architectures = vec!["LlamaForCausalLM".into()];
    let r = resolve(
        &entry("meta-llama/Llama-3.1-8B-Instruct"),
        Some(&info),
        HfEnv::default(),
        &no_gpu,
    )
    .expect("library");
    assert_eq!(r.name, "llama3.1:8b");
    assert_eq!(r.format, HfFormat::Library);
    // Asking for an import downloads the original instead.
    let e = HfEntry {
        quantize: Some("q8_0".into()),
        ..entry("meta-llama/Llama-3.1-8B-Instruct")
    };
    let r = resolve(&e, Some(&info), HfEnv::default(), &no_gpu).expect("import");
    assert_eq!(r.format, HfFormat::Safetensors);
}

#[test]
fn quantize_is_checked_and_refused_on_gguf() {
    let e = HfEntry {
        quantize: Some("q5_0".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let err = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect_err("bad");
    assert!(err.help.contains("q4_K_M, q8_0"), "{err:?}");
    let e = HfEntry {
        quantize: Some("q8_0".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let err = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect_err("gguf");
    assert!(err.reason.contains("already quantized"), "{err:?}");
}

#[test]
fn ollama_cannot_pull_a_pinned_revision() {
    let e = HfEntry {
        source: Some(HfSource::Ollama),
        revision: Some("v2".into()),
        ..entry("someone/Some-Model-GGUF")
    };
    let err = resolve(&e, Some(&gguf_repo()), HfEnv::default(), &no_gpu).expect_err("refused");
    assert_eq!(err.key, "revision");
    assert!(err.reason.contains("`main`"), "{err:?}");
}
