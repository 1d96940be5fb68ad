//! What the memory estimate needs to know about a model, as plain data.
//!
//! Read from a GGUF header (`gguf`), from Ollama's `/api/show` `model_info`
//! (the same keys), or from a model blob in an Ollama store. The keys are
//! GGUF's: `general.architecture`, then `{arch}.block_count`,
//! `{arch}.context_length`, `{arch}.embedding_length`,
//! `{arch}.attention.head_count`, `{arch}.attention.head_count_kv`,
//! `{arch}.attention.key_length` / `value_length`.

use serde::{Deserialize, Serialize};

/// A model's shape, as far as memory estimates care.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModelMeta {
    /// `general.architecture` (`llama`, `qwen2`, …).
    pub architecture: String,
    /// Transformer layers (`{arch}.block_count`).
    pub block_count: u64,
    /// Training context (`{arch}.context_length`); 0 when unknown.
    #[serde(default)]
    pub context_length: u64,
    /// Hidden size (`{arch}.embedding_length`).
    #[serde(default)]
    pub embedding_length: u64,
    /// Attention heads (the largest, when given per layer).
    #[serde(default)]
    pub head_count: u64,
    /// KV heads (the largest, when given per layer); defaults to `head_count`.
    #[serde(default)]
    pub head_count_kv: u64,
    /// Key head size; defaults to `embedding_length / head_count`.
    #[serde(default)]
    pub key_length: u64,
    /// Value head size; defaults to `embedding_length / head_count`.
    #[serde(default)]
    pub value_length: u64,
    /// Vocabulary size (the length of `tokenizer.ggml.tokens`), 0 if unknown.
    #[serde(default)]
    pub vocab_size: u64,
    /// `general.file_type` (0 F32, 1 F16, 2 Q4_0, 7 Q8_0, 15 Q4_K_M, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<u32>,
    /// An embedding model (`{arch}.pooling_type` is present).
    #[serde(default)]
    pub embedding_model: bool,
    /// Bytes of the weights (the GGUF file's size, or the model's size).
    pub file_size_bytes: u64,
}

impl ModelMeta {
    /// The quantization `general.file_type` names (`Q4_K_M`), if known.
    pub fn quant(&self) -> Option<&'static str> {
        Some(match self.file_type? {
            0 => "F32",
            1 => "F16",
            2 => "Q4_0",
            3 => "Q4_1",
            7 => "Q8_0",
            8 => "Q5_0",
            9 => "Q5_1",
            10 => "Q2_K",
            11 => "Q3_K_S",
            12 => "Q3_K_M",
            13 => "Q3_K_L",
            14 => "Q4_K_S",
            15 => "Q4_K_M",
            16 => "Q5_K_S",
            17 => "Q5_K_M",
            18 => "Q6_K",
            32 => "BF16",
            _ => return None,
        })
    }

    /// Fill the documented defaults: KV heads = heads, key/value length =
    /// embedding / heads.
    pub fn with_defaults(mut self) -> ModelMeta {
        if self.head_count_kv == 0 {
            self.head_count_kv = self.head_count;
        }
        let per_head = self
            .embedding_length
            .checked_div(self.head_count)
            .unwrap_or(0);
        if self.key_length == 0 {
            self.key_length = per_head;
        }
        if self.value_length == 0 {
            self.value_length = per_head;
        }
        self
    }
}
