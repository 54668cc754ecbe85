//! Byte offsets of frames in an archived blob, for points that changed after its upload (at
//! upload they are found in the pass that counts its frames).

use store::{ArchiveRead, StoreResult};

/// Bytes read per request: a few hundred frames at recording bitrates.
const CHUNK: u64 = 256 * 1024;

/// Where audio frames `first..end` of `blob` lie (`in_byte..out_byte`), counted as the upload
/// counted them ([`mp3count::Mp3Scanner::locate`]); `None` when the blob has fewer frames.
/// Reads the blob a range at a time from its start and stops once both ends are found, so an
/// in-point reads the blob's head only; an out-point at the blob's end reads it all.
pub async fn locate(
    archive: &dyn ArchiveRead,
    blob: &str,
    first: u64,
    end: u64,
) -> StoreResult<Option<(u64, u64)>> {
    let mut scanner = mp3count::Mp3Scanner::new();
    scanner.locate(first, end);
    let mut read = 0u64;
    loop {
        let found = scanner.located();
        if let (Some(start), Some(end)) = (found.start, found.end) {
            return Ok(Some((start, end)));
        }
        let chunk = archive.read_blob_range(blob, read, CHUNK).await?;
        read += chunk.len() as u64;
        scanner.feed(&chunk);
        if (chunk.len() as u64) < CHUNK {
            let (_, found) = scanner.finish_located(read);
            return Ok(found.start.zip(found.end));
        }
    }
}
