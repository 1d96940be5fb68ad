//! Tests of the GGUF header reader, with generated files.

use super::*;
use proptest::prelude::*;

/// A value to write.
pub enum W<'a> {
    /// u32.
    U32(u32),
    /// string.
    Str(&'a str),
    /// An array of `n` strings `t0`, `t1`, ….
    Tokens(u64),
    /// An array of u32.
    U32s(&'a [u32]),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A GGUF v3 header with these pairs, then `padding` bytes of "weights".
pub fn gguf(kv: &[(&str, W)], padding: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        put_str(&mut out, k);
        match v {
            W::U32(n) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
            }
            W::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                put_str(&mut out, s);
            }
            W::Tokens(n) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
                for i in 0..*n {
                    put_str(&mut out, &format!("t{i}"));
                }
            }
            W::U32s(xs) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&(xs.len() as u64).to_le_bytes());
                for x in *xs {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
    out.resize(out.len() + padding, 0);
    out
}

/// The 80-layer model of the fit tests: 64 heads of 128, 8 KV heads, a
/// 128k context, Q4_K_M, with a tokenizer of `tokens` entries.
pub fn llama80(tokens: u64, padding: usize) -> Vec<u8> {
    gguf(
        &[
            ("general.architecture", W::Str("llama")),
            ("general.file_type", W::U32(15)),
            ("llama.block_count", W::U32(80)),
            ("llama.context_length", W::U32(131_072)),
            ("llama.embedding_length", W::U32(8192)),
            ("llama.attention.head_count", W::U32(64)),
            ("llama.attention.head_count_kv", W::U32(8)),
            ("tokenizer.ggml.tokens", W::Tokens(tokens)),
        ],
        padding,
    )
}

#[test]
fn an_80_layer_header_reads_and_the_vocabulary_is_skipped() {
    let bytes = llama80(5000, 100);
    let h = read_header(bytes.as_slice()).expect("reads");
    assert_eq!(h.version, 3);
    match &h.kv["tokenizer.ggml.tokens"] {
        Value::Array { len, items } => assert_eq!((*len, items.len()), (5000, 0)),
        v => panic!("{v:?}"),
    }
    let m = h.meta(bytes.len() as u64).expect("meta");
    assert_eq!(m.architecture, "llama");
    assert_eq!(
        (m.block_count, m.head_count_kv, m.key_length, m.value_length),
        (80, 8, 128, 128)
    );
    assert_eq!((m.context_length, m.vocab_size), (131_072, 5000));
    assert_eq!(m.quant(), Some("Q4_K_M"));
    assert_eq!(h.bytes as usize, bytes.len() - 100);
}

#[test]
fn per_layer_kv_heads_take_the_largest_and_explicit_lengths_win() {
    let bytes = gguf(
        &[
            ("general.architecture", W::Str("gemma3")),
            ("gemma3.block_count", W::U32(4)),
            ("gemma3.embedding_length", W::U32(2048)),
            ("gemma3.attention.head_count", W::U32(8)),
            ("gemma3.attention.head_count_kv", W::U32s(&[2, 4, 2, 4])),
            ("gemma3.attention.key_length", W::U32(256)),
            ("gemma3.attention.value_length", W::U32(256)),
        ],
        0,
    );
    let m = read_header(bytes.as_slice())
        .expect("reads")
        .meta(7)
        .expect("meta");
    assert_eq!(
        (m.head_count_kv, m.key_length, m.file_size_bytes),
        (4, 256, 7)
    );
}

#[test]
fn a_local_file_reads_with_its_size_as_the_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("m.gguf");
    let bytes = llama80(10, 4096);
    std::fs::write(&p, &bytes).expect("write");
    let m = read_file(&p).expect("reads");
    assert_eq!(m.file_size_bytes, bytes.len() as u64);
    assert!(matches!(
        read_file(Path::new("/dev/zero")),
        Err(GgufError::Open(_))
    ));
}

#[test]
fn bad_magic_version_and_cut_short_headers_are_errors() {
    assert!(matches!(
        read_header(&b"GGML\x03\0\0\0"[..]),
        Err(GgufError::NotGguf)
    ));
    assert!(matches!(
        read_header(&b"GGUF\x07\0\0\0"[..]),
        Err(GgufError::Version(7))
    ));
    let bytes = llama80(10, 0);
    assert!(matches!(
        read_header(&bytes[..bytes.len() - 3]),
        Err(GgufError::Truncated)
    ));
    let no_arch = gguf(&[("x.block_count", W::U32(1))], 0);
    let e = read_header(no_arch.as_slice()).expect("reads").meta(0);
    assert!(matches!(e, Err(GgufError::Missing(k)) if k == "general.architecture"));
}

#[test]
fn a_huge_claimed_array_or_string_is_refused_without_allocating_it() {
    // An array of 2^60 u64 claims more than the header cap.
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    put_str(&mut b, "k");
    b.extend_from_slice(&9u32.to_le_bytes());
    b.extend_from_slice(&10u32.to_le_bytes());
    b.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(
        read_header(b.as_slice()),
        Err(GgufError::TooLarge)
    ));
    // A string claiming 2^40 bytes.
    let mut s = b"GGUF".to_vec();
    s.extend_from_slice(&3u32.to_le_bytes());
    s.extend_from_slice(&0u64.to_le_bytes());
    s.extend_from_slice(&1u64.to_le_bytes());
    s.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        read_header(s.as_slice()),
        Err(GgufError::Malformed(_))
    ));
    // 2^62 strings in an array: skipped one by one until the data ends.
    let mut t = b"GGUF".to_vec();
    t.extend_from_slice(&3u32.to_le_bytes());
    t.extend_from_slice(&0u64.to_le_bytes());
    t.extend_from_slice(&1u64.to_le_bytes());
    put_str(&mut t, "k");
    t.extend_from_slice(&9u32.to_le_bytes());
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(
        read_header(t.as_slice()),
        Err(GgufError::Truncated)
    ));
    // An endless source is cut at the cap.
    assert!(matches!(
        read_header(b"GGUF\x03\0\0\0".chain(io::repeat(0xff))),
        Err(GgufError::Malformed(_) | GgufError::TooLarge)
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut with_magic = b"GGUF\x03\0\0\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = read_header(bytes.as_slice());
        if let Ok(h) = read_header(with_magic.as_slice()) {
            let _ = h.meta(0);
        }
    }

    #[test]
    fn mutated_headers_never_panic(at in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut b = llama80(3, 0);
        let i = at % b.len();
        b[i] = byte;
        b.truncate(b.len() - cut.min(b.len()));
        if let Ok(h) = read_header(b.as_slice()) {
            let _ = h.meta(1);
        }
    }
}

/// A tiny HTTP server that honours `Range: bytes=A-B` on one file and
/// counts the bytes it sent.
fn range_server(file: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/m.gguf", listener.local_addr().expect("addr"));
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut range = None;
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (a, b) = v.trim().split_once('-').expect("range");
                    range = Some((
                        a.parse::<usize>().expect("a"),
                        b.parse::<usize>().expect("b"),
                    ));
                }
            }
            let (a, b) = range.expect("a range request");
            let b = b.min(file.len() - 1);
            let body = &file[a..=b];
            counter.fetch_add(body.len() as u64, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                file.len(),
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    (url, sent)
}

#[tokio::test]
async fn over_http_ranges_grow_until_the_header_is_complete() {
    // 400k tokens of ~15 bytes: a 5.6 MiB header, more than the first range;
    // then 24 MiB of "weights" that must not be fetched.
    let file = llama80(400_000, 24 << 20);
    let size = file.len() as u64;
    let (url, sent) = range_server(file);
    let client = crate::http::client_builder().build().expect("client");
    let m = read_url(&client, &url).await.expect("reads");
    assert_eq!(
        (m.block_count, m.vocab_size, m.file_size_bytes),
        (80, 400_000, size)
    );
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent > FIRST_RANGE,
        "it needed more than the first range: {sent}"
    );
    assert!(
        sent <= 8 << 20,
        "only the header's ranges were fetched: {sent}"
    );
}

#[test]
fn api_show_model_info_gives_the_same_shape_with_emptied_arrays() {
    // As `/api/show` answers without `verbose`: the token list emptied.
    let info: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"general.architecture":"llama","general.file_type":15,
            "llama.block_count":80,"llama.context_length":131072,
            "llama.embedding_length":8192,"llama.attention.head_count":64,
            "llama.attention.head_count_kv":8,"llama.vocab_size":128256,
            "llama.rope.freq_base":500000.0,"tokenizer.ggml.tokens":[],
            "general.tags":null}"#,
    )
    .expect("json");
    let m = meta_from_model_info(&info, 40 << 30).expect("meta");
    assert_eq!(m.architecture, "llama");
    assert_eq!(m.block_count, 80);
    assert_eq!(m.context_length, 131_072);
    assert_eq!(m.head_count_kv, 8);
    assert_eq!(m.key_length, 128);
    assert_eq!(m.vocab_size, 128_256);
    assert_eq!(m.file_type, Some(15));
    assert_eq!(m.file_size_bytes, 40 << 30);

    let mut bad = info.clone();
    bad.insert("general.architecture".into(), serde_json::json!(7));
    assert!(matches!(
        meta_from_model_info(&bad, 1),
        Err(GgufError::Missing(_))
    ));
}
