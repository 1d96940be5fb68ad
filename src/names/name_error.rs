//! Why an Ollama model name is invalid, precisely enough to fix it.
//!
//! Ollama answers a bad name with a bare 400 `invalid model name`; FaceRunner
//! rejects it while loading `facerunner.yaml` and names the part, the
//! character and the rule (`shared/reference/ollama-api.md` §2.1), so the
//! error can be fixed without reading Ollama's source.

use std::fmt;

/// One of the four parts of a model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// `registry.ollama.ai`, `hf.co`, `localhost:5000`.
    Host,
    /// `library`, a user or an organisation.
    Namespace,
    /// `llama3.2`.
    Model,
    /// `latest`, `8b`, `Q4_K_M`.
    Tag,
}

impl Part {
    /// Longest value Ollama accepts for this part.
    pub fn max_len(self) -> usize {
        match self {
            Part::Host => 350,
            _ => 80,
        }
    }

    pub(crate) fn allows(self, c: char) -> bool {
        c.is_ascii_alphanumeric()
            || c == '_'
            || c == '-'
            || match self {
                Part::Host => c == '.' || c == ':',
                Part::Namespace => false,
                Part::Model | Part::Tag => c == '.',
            }
    }

    fn allowed_chars(self) -> &'static str {
        match self {
            Part::Host => "letters, digits, '_', '-', '.', ':'",
            Part::Namespace => "letters, digits, '_', '-'",
            Part::Model | Part::Tag => "letters, digits, '_', '-', '.'",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Host => "host",
            Part::Namespace => "namespace",
            Part::Model => "model",
            Part::Tag => "tag",
        })
    }
}

/// Which side of a separator is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Nothing before it (`/m`, `:t`).
    Before,
    /// Nothing after it (`m:`, `n/`).
    After,
}

/// Exactly why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameErrorReason {
    /// The name is empty.
    Empty,
    /// A `/` or `:` with nothing on one side.
    EmptySide {
        /// The separator.
        separator: char,
        /// The empty side.
        side: Side,
    },
    /// Four or more `/`-separated segments.
    TooManySegments {
        /// How many there were.
        count: usize,
    },
    /// A part starts with something other than a letter, digit or `_`.
    BadFirstChar {
        /// The part.
        part: Part,
        /// The offending character.
        ch: char,
    },
    /// A part contains a character it does not allow.
    BadChar {
        /// The part.
        part: Part,
        /// The offending character.
        ch: char,
    },
    /// A part is longer than Ollama allows.
    TooLong {
        /// The part.
        part: Part,
        /// Its length in bytes.
        len: usize,
    },
    /// A non-ASCII character.
    NonAscii {
        /// The offending character.
        ch: char,
    },
    /// `model@sha256:...`: the current parser rejects `@`.
    Digest,
    /// `http://` without `insecure`.
    InsecureScheme,
    /// A scheme other than `http` or `https`.
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// `scheme://` without the full `host/namespace/model` form.
    SchemeWithoutHost,
    /// Both `:local` and `:cloud` (or a `-cloud` tag).
    LocalAndCloud,
}

impl fmt::Display for NameErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NameErrorReason as R;
        match self {
            R::Empty => f.write_str("the name is empty"),
            R::EmptySide {
                separator,
                side: Side::Before,
            } => {
                write!(f, "nothing before '{separator}'")
            }
            R::EmptySide {
                separator,
                side: Side::After,
            } => {
                write!(f, "nothing after '{separator}'")
            }
            R::TooManySegments { count } => write!(
                f,
                "{count} '/'-separated parts; at most 3 (host/namespace/model) are allowed"
            ),
            R::BadFirstChar { part, ch } => write!(
                f,
                "the {part} part starts with {ch:?} (it must start with a letter, digit or '_')"
            ),
            R::BadChar { part, ch } => write!(
                f,
                "the {part} part contains {ch:?} (allowed: {})",
                part.allowed_chars()
            ),
            R::TooLong { part, len } => write!(
                f,
                "the {part} part is {len} characters long (at most {})",
                part.max_len()
            ),
            R::NonAscii { ch } => write!(f, "{ch:?} is not ASCII; Ollama names are ASCII only"),
            R::Digest => {
                f.write_str("'@digest' references are not supported by Ollama's parser; use a tag")
            }
            R::InsecureScheme => {
                f.write_str("insecure protocol http (allowed only with `insecure: true`)")
            }
            R::UnsupportedScheme { scheme } => {
                write!(f, "unsupported scheme {scheme:?} (use https:// or http://)")
            }
            R::SchemeWithoutHost => {
                f.write_str("a scheme needs the full form scheme://host/namespace/model[:tag]")
            }
            R::LocalAndCloud => f.write_str("use either :local or :cloud, not both"),
        }
    }
}

/// A model name Ollama would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model name {input:?}: {reason}")]
pub struct NameError {
    /// The name as written.
    pub input: String,
    /// Why it is invalid.
    pub reason: NameErrorReason,
}
