"""Where a table keeps its entries: in the worker's memory (Faust's ``memory://`` store) or in
RocksDB databases on disk, one per partition (Faust's ``rocksdb://`` store through ``rocksdict``).

In memory, every entry costs the process memory for as long as it lives, and a restarted worker
reads the table's whole changelog before it consumes. In RocksDB, an entry costs disk; memory
holds only each database's block cache and write buffers (bounded below, per partition), and each
database keeps the changelog offset it holds up to (``PartitionedTable.checkpoint``), so a
restart reads only the changelog past it.

A table with a retention is opened with RocksDB's TTL: compaction drops an entry written longer
ago than the retention, so expired entries free their disk without a sweep reading every key
(lookups still check the entry's own stamp, ``agents.dedupe``: compaction may come late).
"""

from __future__ import annotations

from typing import Any, Literal

TableStore = Literal["rocksdb", "memory"]

# Faust's defaults (a 2 GiB block cache, 3 write buffers of 64 MiB) are per database, that is per
# partition: with a dozen partitions a worker could grow to tens of GiB. These bound one partition
# of one table to about 8 + 2 x 4 MiB.
_BLOCK_CACHE_BYTES = 8 * 1024**2
_WRITE_BUFFER_BYTES = 4 * 1024**2
_WRITE_BUFFERS = 2
_FILE_BYTES = 16 * 1024**2


def store_arguments(store: TableStore, table: str, retention_s: float | None) -> dict[str, Any]:
    """The ``store`` and ``options`` arguments of Faust table ``table`` kept in ``store``; with
    ``retention_s``, RocksDB drops entries older than that at compaction."""
    if store == "memory":
        return {"store": "memory://"}
    options: dict[str, Any] = {
        "driver": "rocksdict",
        "block_cache_size": _BLOCK_CACHE_BYTES,
        "write_buffer_size": _WRITE_BUFFER_BYTES,
        "max_write_buffer_number": _WRITE_BUFFERS,
        "target_file_size_base": _FILE_BYTES,
    }
    if retention_s is not None:
        options["ttl"] = int(retention_s)
    # Named: yarl reads a bare "rocksdb://" as an empty, false URL, and Faust then takes the app's store.
    return {"store": f"rocksdb:{table}", "options": options}
