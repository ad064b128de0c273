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

Most lookups are of keys the table never held (a new event's idempotency key, a new delivery id),
and a batch mixes partitions, so a miss asks every partition's database
(``agents.runtime.partitioned_table``). Bloom filters answer most misses without a search: a
whole-key filter in each write buffer (Faust sets none) and 10 bits per key in the files (Faust's
3 let about one absent key in four read a block).
"""

from __future__ import annotations

from typing import Any, Literal

from faust.stores.rocksdb import RocksDBOptions
from faust.stores.rocksdb import Store as RocksStore
from faust.types import TableT

TableStore = Literal["rocksdb", "memory"]

# Faust's defaults (a 2 GiB block cache, 3 write buffers of 64 MiB) are per database, that is per
# partition: with a dozen partitions a worker could grow to tens of GiB. These bound one partition
# of one table to about 8 + 2 x 4 MiB.
_BLOCK_CACHE_BYTES = 8 * 1024**2
_WRITE_BUFFER_BYTES = 4 * 1024**2
_WRITE_BUFFERS = 2
_FILE_BYTES = 16 * 1024**2
_BLOOM_BITS_PER_KEY = 10
# Of a write buffer's size: ~80 KiB, about 13 bits for each of the ~50,000 keys a 4 MiB buffer holds.
_WRITE_BUFFER_FILTER_RATIO = 0.02


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
        "bloom_filter_size": _BLOOM_BITS_PER_KEY,
    }
    if retention_s is not None:
        options["ttl"] = int(retention_s)
    # Named: yarl reads a bare "rocksdb://" as an empty, false URL, and Faust then takes the app's store.
    return {"store": f"rocksdb:{table}", "options": options}


class _FilteredOptions(RocksDBOptions):
    """Faust's RocksDB options with a whole-key bloom filter in each write buffer."""

    def as_options(self) -> Any:
        options = super().as_options()
        options.set_memtable_prefix_bloom_ratio(_WRITE_BUFFER_FILTER_RATIO)
        options.set_memtable_whole_key_filtering(True)
        return options


def filter_write_buffers(table: TableT[bytes, bytes]) -> None:
    """Have ``table``'s RocksDB databases, opened from now on, filter their write buffers; a
    memory table is left as it is. Call before the worker starts: Faust opens a partition's
    database when the partition is assigned."""
    store = table.data
    if isinstance(store, RocksStore) and store.use_rocksdict:
        store.rocksdb_options = _FilteredOptions(**(store.options or {}), use_rocksdict=True)
