//! Framing and handshake of the daemon's Unix-socket API.
//!
//! A frame is a u32 big-endian length followed by that many bytes of JSON.
//! The receiver refuses frames above [`MAX_FRAME`] before allocating, so a
//! confused peer cannot make the daemon allocate gigabytes. The first frame
//! of a connection is the client's [`Hello`] carrying [`PROTOCOL_VERSION`];
//! the daemon answers [`HelloReply`] and refuses any other version (no
//! negotiation: client and daemon are the same binary, so a mismatch means a
//! stale daemon from an older install, and the fix is `facerunner down`).
//! The socket's file mode (0600) is the access control.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::error::{Result, SupervisorError};

/// Bumped on any incompatible change to the messages.
pub const PROTOCOL_VERSION: u32 = 2;

/// Largest frame accepted (a ProjectSpec or a status report is a few KiB).
pub const MAX_FRAME: u32 = 8 * 1024 * 1024;

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the client.
    pub protocol: u32,
    /// Crate version of the client, for messages.
    pub version: String,
}

impl Hello {
    /// Our hello.
    pub fn ours() -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The daemon's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HelloReply {
    /// Versions match; requests may follow.
    Welcome {
        /// Daemon's protocol version.
        protocol: u32,
        /// Daemon's crate version.
        version: String,
        /// Daemon's pid.
        pid: u32,
    },
    /// Versions differ; the daemon closes the connection.
    Refused {
        /// Daemon's protocol version.
        protocol: u32,
        /// Daemon's crate version.
        version: String,
    },
}

/// Write one frame.
pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg).map_err(|e| SupervisorError::Protocol(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| {
            SupervisorError::Protocol(format!("frame of {} bytes is too large", body.len()))
        })?;
    w.write_all(&len.to_be_bytes())
        .await
        .map_err(SupervisorError::Connection)?;
    w.write_all(&body)
        .await
        .map_err(SupervisorError::Connection)?;
    w.flush().await.map_err(SupervisorError::Connection)
}

/// Read one frame; `Ok(None)` on a clean end of stream before a frame.
pub async fn read_frame<R, T>(r: &mut R) -> Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(SupervisorError::Connection(e)),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(SupervisorError::Protocol(format!(
            "frame of {len} bytes exceeds the limit of {MAX_FRAME}"
        )));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)
        .await
        .map_err(SupervisorError::Connection)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| SupervisorError::Protocol(format!("undecodable message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversize_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, &Hello::ours()).await.expect("write");
        let got: Option<Hello> = read_frame(&mut b).await.expect("read");
        assert_eq!(got, Some(Hello::ours()));

        a.write_all(&(MAX_FRAME + 1).to_be_bytes())
            .await
            .expect("write");
        let err = read_frame::<_, Hello>(&mut b).await.expect_err("too large");
        assert!(matches!(err, SupervisorError::Protocol(_)), "{err}");

        drop(a);
        let end: Option<Hello> = read_frame(&mut b).await.expect("eof");
        assert_eq!(end, None);
    }
}
