//! How the exporter's memory goes back to the system. glibc's malloc keeps what a process
//! freed in its arenas, and raises its mmap threshold each time a big block is freed, so
//! the blocks of a config of 100,000 queue names and a scrape's megabyte buffers stay in
//! the heap, and the RSS an operator sees stays at the highest point ever reached.
//! A fixed threshold and a trim after each of those moments keep it near what is live: at
//! 10,000 queues 14 MiB after the scrapes instead of 21 without them, for 4-10 ms more
//! CPU a scrape, since the next scrape faults the returned pages in again
//! (benches/peers/RESULTS-exporter.md).

/// Blocks of at least this size get their own mapping, returned to the system when freed
/// (a scrape's exposition text at 100,000 queues is 6 MB); smaller ones, such as one
/// pipeline chunk's replies, are reused from the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_FROM: libc::c_int = 1024 * 1024;

/// Fixes the allocator's mmap threshold at [`OWN_MAPPING_FROM`] (a fixed setting keeps
/// glibc from raising it). Call once, first thing in `main`.
pub fn return_big_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM);
    }
}

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`): after a
/// config was read and after a scrape, which leave many small blocks free at once.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and madvises the allocator's own free chunks; it is
    // thread-safe (it takes each arena's lock) and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
