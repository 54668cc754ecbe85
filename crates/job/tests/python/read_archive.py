#!/usr/bin/env python3
"""Read an archive the job wrote with Microsoft's official Python SDKs (azure-storage-blob,
azure-data-tables), as a user's own tool would, and print a JSON summary on stdout.

Usage: read_archive.py CONNECTION_STRING STREAM DAY [TABLE]

- every row of partition STREAM (lowercased, as the job names it) in TABLE (default `audios`),
  through TableClient (all pages);
- each row's blob downloaded with BlobClient: its MD5 against the row's `contentMd5` and its
  size against the row's `size`, and its metadata's frames against the row's;
- each byte range (`inByte`..`outByte`) starts on a frame header inside its blob;
- the day manifest `_days/DAY.json`: its segments, and whether each names a row's blob.

The connection string comes as an argument from the test; nothing secret is printed.
"""

import base64
import hashlib
import json
import sys

from azure.data.tables import TableClient
from azure.storage.blob import BlobServiceClient


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    conn, stream, day = sys.argv[1:4]
    table = sys.argv[4] if len(sys.argv) == 5 else "audios"
    partition = stream.lower()

    rows_client = TableClient.from_connection_string(conn, table_name=table)
    rows = list(rows_client.query_entities("PartitionKey eq @p", parameters={"p": partition}))

    service = BlobServiceClient.from_connection_string(conn)
    container = service.get_container_client(partition)
    summary = {
        "rows": len(rows),
        "rows_with_blob": 0,
        "blobs": 0,
        "md5_matches": 0,
        "size_matches": 0,
        "frames_in_metadata": 0,
        "byte_ranges": 0,
        "byte_ranges_on_frames": 0,
        "mismatches": [],
        "row_fields": sorted({k for r in rows for k in r.keys()}),
    }
    by_blob = {}
    for row in rows:
        blob_name = row.get("blobName")
        if not blob_name:
            continue
        summary["rows_with_blob"] += 1
        by_blob[blob_name] = row
        blob = container.get_blob_client(blob_name)
        data = blob.download_blob().readall()
        summary["blobs"] += 1
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if md5 == row.get("contentMd5"):
            summary["md5_matches"] += 1
        else:
            summary["mismatches"].append(f"{blob_name}: MD5 {md5} vs row {row.get('contentMd5')}")
        # Edm.Int64 properties come back as EntityProperty or int, depending on the SDK.
        size = row.get("size")
        size = getattr(size, "value", size)
        if size is not None and int(size) == len(data):
            summary["size_matches"] += 1
        else:
            summary["mismatches"].append(f"{blob_name}: {len(data)} bytes vs row {size}")
        # A byte range starts on a frame header (sync word) and ends inside the blob.
        in_byte, out_byte = (getattr(row.get(k), "value", row.get(k)) for k in ("inByte", "outByte"))
        if in_byte is not None and out_byte is not None:
            summary["byte_ranges"] += 1
            start, end = int(in_byte), int(out_byte)
            if end <= len(data) and data[start] == 0xFF and data[start + 1] & 0xE0 == 0xE0:
                summary["byte_ranges_on_frames"] += 1
        meta = blob.get_blob_properties().metadata or {}
        frames = row.get("frames")
        frames = getattr(frames, "value", frames)
        if frames is not None and meta.get("frames") == str(frames):
            summary["frames_in_metadata"] += 1

    manifest = json.loads(container.get_blob_client(f"_days/{day}.json").download_blob().readall())
    segments = manifest.get("segments", [])
    summary["manifest"] = {
        "day": manifest.get("day"),
        "segments": len(segments),
        "segments_with_rows": sum(1 for s in segments if s.get("blob") in by_blob),
        "archived_seconds": manifest.get("archived_seconds"),
    }
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
