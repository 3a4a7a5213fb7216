//! Newline framing with a bounded line length: one JSON object per line, `\n` (or
//! `\r\n`) ended. The server reads requests with [`read_frame`] (async), the client reads
//! answers with [`read_line`] (blocking); neither buffers more than the bound plus the
//! line end, whatever the peer sends.

use std::io::BufRead;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// One read from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line, its end removed (the last line may lack one).
    Line(Vec<u8>),
    /// A line longer than the bound; the rest of the stream cannot be framed.
    TooLong,
    /// The peer closed its end.
    Eof,
}

/// Read into `line` at most `max` bytes plus the line end; classify what came.
fn classify(mut line: Vec<u8>, read: usize, max: usize) -> Frame {
    if read == 0 {
        return Frame::Eof;
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    if line.len() > max {
        Frame::TooLong
    } else {
        Frame::Line(line)
    }
}

/// Read the next line of at most `max` bytes.
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Frame> {
    let mut line = Vec::new();
    let read = reader.take(bound(max)).read_until(b'\n', &mut line).await?;
    Ok(classify(line, read, max))
}

/// Read the next line of at most `max` bytes (blocking).
pub fn read_line<R: BufRead>(reader: R, max: usize) -> std::io::Result<Frame> {
    let mut line = Vec::new();
    let read = std::io::Read::take(reader, bound(max)).read_until(b'\n', &mut line)?;
    Ok(classify(line, read, max))
}

/// What one read may take: the line and its `\r\n` (a longer line shows as too long).
fn bound(max: usize) -> u64 {
    u64::try_from(max).unwrap_or(u64::MAX).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_ends_removed() {
        let text = b"{\"a\":1}\r\n\n0123456789\n012345678901\nlast".to_vec();
        let mut reader = std::io::Cursor::new(text);
        let mut next = || read_line(&mut reader, 10).expect("read");
        assert_eq!(next(), Frame::Line(b"{\"a\":1}".to_vec()));
        assert_eq!(next(), Frame::Line(Vec::new()));
        assert_eq!(next(), Frame::Line(b"0123456789".to_vec()));
        assert_eq!(next(), Frame::TooLong);
    }

    #[test]
    fn a_line_without_end_then_eof() {
        let mut reader = std::io::Cursor::new(b"tail".to_vec());
        assert_eq!(
            read_line(&mut reader, 10).expect("read"),
            Frame::Line(b"tail".to_vec())
        );
        assert_eq!(read_line(&mut reader, 10).expect("read"), Frame::Eof);
    }

    #[test]
    fn the_async_reader_frames_alike() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let data: &[u8] = b"ok\nxxxxxxxxxxxxxxxxxxxxxxxx\n";
            let mut reader = tokio::io::BufReader::new(data);
            assert_eq!(
                read_frame(&mut reader, 8).await.expect("read"),
                Frame::Line(b"ok".to_vec())
            );
            assert_eq!(
                read_frame(&mut reader, 8).await.expect("read"),
                Frame::TooLong
            );
        });
    }
}
