use super::*;
use proptest::prelude::*;

#[test]
fn valid_names_fill_defaults() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("llama3.2", DEFAULT_HOST, "library", "llama3.2", "latest"),
        ("llama3.2:1b", DEFAULT_HOST, "library", "llama3.2", "1b"),
        (
            "myuser/mymodel",
            DEFAULT_HOST,
            "myuser",
            "mymodel",
            "latest",
        ),
        (
            "Llama3.2:Q4_K_M",
            DEFAULT_HOST,
            "library",
            "Llama3.2",
            "Q4_K_M",
        ),
        (
            "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:IQ3_M",
            "hf.co",
            "bartowski",
            "Llama-3.2-3B-Instruct-GGUF",
            "IQ3_M",
        ),
        ("localhost:5000/ns/m:t", "localhost:5000", "ns", "m", "t"),
        ("localhost:5000/ns/m", "localhost:5000", "ns", "m", "latest"),
        (
            "https://registry.ollama.ai/library/x:y",
            DEFAULT_HOST,
            "library",
            "x",
            "y",
        ),
        ("_a/_b:_c", DEFAULT_HOST, "_a", "_b", "_c"),
        (
            "gpt-oss:20b-cloud",
            DEFAULT_HOST,
            "library",
            "gpt-oss",
            "20b-cloud",
        ),
        ("qwen3:8b:local", DEFAULT_HOST, "library", "qwen3", "8b"),
        ("qwen3:local", DEFAULT_HOST, "library", "qwen3", "latest"),
        ("1.5.x", DEFAULT_HOST, "library", "1.5.x", "latest"),
    ];
    for &(input, host, ns, model, tag) in cases {
        let n = ModelName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(
            (n.host(), n.namespace(), n.model(), n.tag()),
            (host, ns, model, tag),
            "{input}"
        );
    }
}

#[test]
fn invalid_names_say_why() {
    use NameErrorReason as R;
    let long = "a".repeat(81);
    let long_host = format!("{}/n/m", "h".repeat(351));
    let cases: Vec<(&str, R)> = vec![
        ("", R::Empty),
        (
            "m:",
            R::EmptySide {
                separator: ':',
                side: Side::After,
            },
        ),
        (
            ":t",
            R::EmptySide {
                separator: ':',
                side: Side::Before,
            },
        ),
        (
            "/m",
            R::EmptySide {
                separator: '/',
                side: Side::Before,
            },
        ),
        (
            "n/",
            R::EmptySide {
                separator: '/',
                side: Side::After,
            },
        ),
        (
            "h//m",
            R::EmptySide {
                separator: '/',
                side: Side::Before,
            },
        ),
        ("a/b/c/d", R::TooManySegments { count: 4 }),
        (
            "Llama 3",
            R::BadChar {
                part: Part::Model,
                ch: ' ',
            },
        ),
        (
            "-x",
            R::BadFirstChar {
                part: Part::Model,
                ch: '-',
            },
        ),
        (
            ".x",
            R::BadFirstChar {
                part: Part::Model,
                ch: '.',
            },
        ),
        (
            "x:.t",
            R::BadFirstChar {
                part: Part::Tag,
                ch: '.',
            },
        ),
        (
            "my.org/m",
            R::BadChar {
                part: Part::Namespace,
                ch: '.',
            },
        ),
        (
            "x:t!",
            R::BadChar {
                part: Part::Tag,
                ch: '!',
            },
        ),
        ("llamä", R::NonAscii { ch: 'ä' }),
        ("m@sha256:abc", R::Digest),
        ("http://h/n/m:t", R::InsecureScheme),
        (
            "ftp://h/n/m",
            R::UnsupportedScheme {
                scheme: "ftp".into(),
            },
        ),
        ("https://n/m", R::SchemeWithoutHost),
        ("x:cloud:local", R::LocalAndCloud),
        ("x:8b-cloud:local", R::LocalAndCloud),
        ("x:local:cloud", R::LocalAndCloud),
    ];
    for (input, reason) in cases {
        let err = ModelName::parse(input).expect_err(input);
        assert_eq!(err.reason, reason, "{input}");
        assert_eq!(err.input, input);
    }
    let err = ModelName::parse(&long).expect_err("long model");
    assert_eq!(
        err.reason,
        R::TooLong {
            part: Part::Model,
            len: 81
        }
    );
    let err = ModelName::parse(&long_host).expect_err("long host");
    assert_eq!(
        err.reason,
        R::TooLong {
            part: Part::Host,
            len: 351
        }
    );
    assert!(ModelName::parse(&"a".repeat(80)).is_ok());
}

#[test]
fn error_display_is_readable() {
    let err = ModelName::parse("Llama 3").expect_err("space");
    assert_eq!(
        err.to_string(),
        "invalid model name \"Llama 3\": the model part contains ' ' \
         (allowed: letters, digits, '_', '-', '.')"
    );
}

#[test]
fn insecure_scheme_is_recorded() {
    let n = ModelName::parse_insecure("http://localhost:5000/ns/m:t").expect("insecure ok");
    assert!(n.is_insecure());
    assert_eq!(n.scheme(), Some("http"));
    assert_eq!(n.pull_ref(), "http://localhost:5000/ns/m:t");
    assert_eq!(n.display_shortest(), "localhost:5000/ns/m:t");
}

#[test]
fn display_forms() {
    let cases = [
        ("llama3.2", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("REGISTRY.ollama.ai/Library/x:y", "x:y"),
        ("myuser/mymodel", "myuser/mymodel:latest"),
        ("hf.co/a/b:Q4_K_M", "hf.co/a/b:Q4_K_M"),
        ("localhost:5000/ns/m:t", "localhost:5000/ns/m:t"),
    ];
    for (input, shown) in cases {
        let n = ModelName::parse(input).expect(input);
        assert_eq!(n.display_shortest(), shown);
        assert_eq!(n.to_string(), shown);
    }
    let n = ModelName::parse("llama3.2").expect("valid");
    assert_eq!(
        n.display_long(),
        "registry.ollama.ai/library/llama3.2:latest"
    );
}

#[test]
fn equality_is_case_insensitive() {
    let a = ModelName::parse("Llama3.2:1B").expect("valid");
    let b = ModelName::parse("registry.ollama.ai/library/llama3.2:1b").expect("valid");
    assert_eq!(a, b);
    assert_eq!(a.key(), "registry.ollama.ai/library/llama3.2:1b");
    assert_eq!(a.model(), "Llama3.2", "case is preserved");
    assert_ne!(
        ModelName::parse("hf.co/a/b").expect("valid"),
        ModelName::parse("huggingface.co/a/b").expect("valid")
    );
}

#[test]
fn cloud_and_local() {
    assert!(ModelName::parse("glm-4.6:cloud").expect("valid").is_cloud());
    assert!(
        ModelName::parse("gpt-oss:120b-CLOUD")
            .expect("valid")
            .is_cloud()
    );
    assert!(!ModelName::parse("llama3.2").expect("valid").is_cloud());
    let n = ModelName::parse("llama3.2:1b:local").expect("valid");
    assert!(n.is_local_forced());
    assert_eq!(n, ModelName::parse("llama3.2:1b").expect("valid"));
}

#[test]
fn manifest_paths() {
    let n = ModelName::parse("localhost:5000/ns/m:t").expect("valid");
    let p = n.manifest_rel_path();
    assert_eq!(p, Path::new("manifests/localhost:5000/ns/m/t"));
    assert_eq!(ModelName::from_manifest_rel_path(&p), Some(n));
    let bare = Path::new("registry.ollama.ai/library/llama3.2/latest");
    assert_eq!(
        ModelName::from_manifest_rel_path(bare).map(|n| n.to_string()),
        Some("llama3.2:latest".to_owned())
    );
    for bad in [
        "a/b/c",
        "manifests/h/n/m/t/x",
        "/abs/h/n/m/t",
        "manifests/h/n.x/m/t",
        "x/h/n/m/t",
    ] {
        assert_eq!(
            ModelName::from_manifest_rel_path(Path::new(bad)),
            None,
            "{bad}"
        );
    }
}

#[test]
fn serde_round_trip() {
    let n = ModelName::parse("hf.co/a/b:Q8_0").expect("valid");
    let json = serde_json::to_string(&n).expect("serialize");
    assert_eq!(json, "\"hf.co/a/b:Q8_0\"");
    let back: ModelName = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, n);
    let bad = serde_json::from_str::<ModelName>("\"a b\"").expect_err("invalid");
    assert!(bad.to_string().contains("invalid model name"));
}

fn part(first: &'static str, rest: &'static str, max: usize) -> impl Strategy<Value = String> {
    (
        proptest::string::string_regex(first).expect("valid regex"),
        proptest::string::string_regex(&format!("{rest}{{0,{max}}}")).expect("valid regex"),
    )
        .prop_map(|(a, b)| a + &b)
}

fn valid_name() -> impl Strategy<Value = String> {
    let first = "[A-Za-z0-9_]";
    let host = (
        part(first, "[A-Za-z0-9_.-]", 20),
        proptest::option::of(1u16..),
    )
        .prop_map(|(h, port)| port.map_or(h.clone(), |p| format!("{h}:{p}")));
    let ns = part(first, "[A-Za-z0-9_-]", 15);
    let model = part(first, "[A-Za-z0-9_.-]", 79);
    let tag = part(first, "[A-Za-z0-9_.-]", 20).prop_filter("source suffix", |t| {
        let t = t.to_ascii_lowercase();
        t != "local" && t != "cloud" && !t.ends_with("-cloud")
    });
    (
        proptest::option::of((proptest::option::of(host), ns)),
        model,
        proptest::option::of(tag),
    )
        .prop_map(|(prefix, model, tag)| {
            let mut s = match prefix {
                Some((Some(h), n)) => format!("{h}/{n}/"),
                Some((None, n)) => format!("{n}/"),
                None => String::new(),
            };
            s.push_str(&model);
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            s
        })
}

proptest! {
    #[test]
    fn display_round_trips(s in valid_name()) {
        let n = ModelName::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let shown = n.display_shortest();
        let again = ModelName::parse(&shown).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &n);
        prop_assert_eq!(again.display_shortest(), shown.clone());
        prop_assert_eq!((again.host(), again.namespace(), again.model(), again.tag()),
            (n.host(), n.namespace(), n.model(), n.tag()));
        let long = ModelName::parse(&n.display_long()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(long.display_shortest(), shown);
        let back = ModelName::from_manifest_rel_path(&n.manifest_rel_path());
        prop_assert_eq!(back.map(|b| b.display_long()), Some(n.display_long()));
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = ModelName::parse(&s);
        let _ = ModelName::parse_insecure(&s);
    }
}
