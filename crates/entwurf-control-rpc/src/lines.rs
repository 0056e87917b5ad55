//! Request-line assembly for the server, bounded by [`MAX_REQUEST_LINE`].

use crate::wire::js_trim;

/// The longest request line the server accepts: 1 MiB (1,048,576 bytes) before its `\n`,
/// counting every byte (a trailing `\r` and surrounding blanks included).
///
/// A longer line is refused while it is still arriving: the server never buffers more than this
/// many bytes of one line, answers `{"type":"response","command":"parse","success":false,
/// "error":"Failed to parse command: request line longer than 1048576 bytes (the limit); closing
/// the connection"}` and closes the connection. The reference has no limit; every request a
/// dispatcher writes is far below it (its tool schema caps a message at 16000 characters).
pub const MAX_REQUEST_LINE: usize = 1 << 20;

/// A partial line whose buffer grew past this is freed (not kept for reuse) once the line ends,
/// so an idle connection that once sent a long line holds no large allocation.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The current line exceeded the limit; nothing after it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong {
    pub limit: usize,
}

impl TooLong {
    /// The error text of the refusal (a `parse` response, as for any line that cannot be parsed).
    pub fn message(&self) -> String {
        format!(
            "Failed to parse command: request line longer than {} bytes (the limit); closing the connection",
            self.limit
        )
    }
}

/// Splits a byte stream into trimmed, non-empty lines, holding at most `limit` bytes of the
/// line in progress (its buffer's capacity never exceeds `limit`).
#[derive(Debug)]
pub(crate) struct LineAssembler {
    partial: Vec<u8>,
    limit: usize,
}

impl LineAssembler {
    pub fn new(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            limit,
        }
    }

    /// Feeds `data`, appending every completed line to `out` in order. `Err` as soon as the line
    /// in progress would pass the limit: the lines completed before it are in `out`, and the
    /// caller must answer them, refuse, and stop reading.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<String>) -> Result<(), TooLong> {
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            let (segment, rest) = (&data[..pos], &data[pos + 1..]);
            data = rest;
            self.check(segment.len())?;
            if self.partial.is_empty() {
                Self::emit(segment, out);
            } else {
                self.partial.extend_from_slice(segment);
                let line = std::mem::take(&mut self.partial);
                Self::emit(&line, out);
                if line.capacity() <= KEEP_CAPACITY {
                    self.partial = line;
                    self.partial.clear();
                }
            }
        }
        if !data.is_empty() {
            self.check(data.len())?;
            self.append_bounded(data);
        }
        Ok(())
    }

    /// Bytes of the line in progress (for tests and diagnostics).
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    fn check(&self, more: usize) -> Result<(), TooLong> {
        if self.partial.len().saturating_add(more) > self.limit {
            return Err(TooLong { limit: self.limit });
        }
        Ok(())
    }

    /// Appends within the limit, growing the buffer by doubling but never past `limit`.
    fn append_bounded(&mut self, data: &[u8]) {
        let needed = self.partial.len() + data.len();
        if needed > self.partial.capacity() {
            let target = needed
                .max(self.partial.capacity().saturating_mul(2))
                .max(256)
                .min(self.limit);
            self.partial.reserve_exact(target - self.partial.len());
        }
        self.partial.extend_from_slice(data);
    }

    fn emit(raw: &[u8], out: &mut Vec<String>) {
        let text = String::from_utf8_lossy(raw);
        let trimmed = js_trim(&text);
        if !trimmed.is_empty() {
            out.push(trimmed.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut LineAssembler, data: &[u8]) -> (Vec<String>, Result<(), TooLong>) {
        let mut out = Vec::new();
        let r = a.push(data, &mut out);
        (out, r)
    }

    #[test]
    fn lines_split_across_chunks_are_joined_trimmed_and_blank_ones_skipped() {
        let mut a = LineAssembler::new(64);
        assert_eq!(feed(&mut a, b"{\"a\"").0, Vec::<String>::new());
        let (lines, r) = feed(&mut a, b":1}\r\n \n{\"b\":2}\n{\"c\"");
        assert!(r.is_ok());
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(a.pending(), 4);
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_accepted_and_one_byte_more_is_refused() {
        let mut a = LineAssembler::new(8);
        let (lines, r) = feed(&mut a, b"12345678\n");
        assert!(r.is_ok());
        assert_eq!(lines, ["12345678"]);
        let (lines, r) = feed(&mut a, b"1234\n123456789\nnever");
        assert_eq!(
            lines,
            ["1234"],
            "the lines before the long one are still answered"
        );
        assert_eq!(r, Err(TooLong { limit: 8 }));
    }

    #[test]
    fn an_unterminated_line_is_refused_while_it_streams_never_buffering_past_the_limit() {
        let limit = 100_000;
        let mut a = LineAssembler::new(limit);
        let chunk = [b'x'; 8192];
        let mut fed = 0;
        loop {
            let (lines, r) = feed(&mut a, &chunk);
            assert!(lines.is_empty());
            assert!(a.capacity() <= limit, "capacity {} > {limit}", a.capacity());
            if r.is_err() {
                break;
            }
            fed += chunk.len();
        }
        assert!(fed <= limit && fed + chunk.len() > limit);
        assert!(a.pending() <= limit);
    }

    #[test]
    fn a_long_line_buffer_is_released_once_the_line_ends() {
        let mut a = LineAssembler::new(1 << 20);
        let big = vec![b'y'; 200_000];
        assert!(feed(&mut a, &big).1.is_ok());
        let (lines, r) = feed(&mut a, b"\n");
        assert!(r.is_ok());
        assert_eq!(lines[0].len(), 200_000);
        assert_eq!(a.capacity(), 0);
    }

    #[test]
    fn the_refusal_names_the_limit() {
        assert!(TooLong { limit: 1_048_576 }
            .message()
            .contains("longer than 1048576 bytes"));
    }
}
