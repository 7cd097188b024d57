//! The memory allocator: the system's `malloc` in the server, a fresh arena in each child.
//!
//! Why: a forked child shares the parent's memory page by page, copy-on-write. glibc's
//! `malloc` keeps its bookkeeping (free lists, the arena's state) in pages the parent wrote, so
//! a child's first few dozen small allocations wrote to a dozen pages it shared with the
//! parent: a page fault and a 4 KiB copy each, for a request that needs a few kilobytes. That
//! was the largest single cost in a child after `fork` itself (see the book's Performance
//! chapter for the measurements).
//!
//! So once [`enter_child`] has been called (by the fork loop, first thing in the child),
//! memory comes from an arena that the parent never touched: a zeroed static region handed out
//! front to back, which costs only the pages actually used. Nothing is ever freed into it: a
//! child serves one request and ends, and all its memory goes back at once when it exits.
//! What does not fit (more than [`ARENA_SIZE`] in all) comes from `malloc` as before, and so
//! does everything in the parent, which lives for as long as the server does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The arena's size: address space, not memory. A page of it costs memory only once a child
/// writes to it; a static request uses two or three.
pub const ARENA_SIZE: usize = 1024 * 1024;

/// Every allocation of a program that links `shared`, the stages included.
#[global_allocator]
static ALLOCATOR: ForkAllocator = ForkAllocator {
    in_child: AtomicBool::new(false),
    used: AtomicUsize::new(0),
    arena: Arena(UnsafeCell::new([0; ARENA_SIZE])),
};

/// Switches this process's allocations to the arena. Call it in a child, right after `fork`,
/// and never in a process that lives long: the arena is never reused.
pub(crate) fn enter_child() {
    ALLOCATOR.in_child.store(true, Ordering::Relaxed);
}

struct ForkAllocator {
    in_child: AtomicBool,
    /// Bytes of the arena handed out so far.
    used: AtomicUsize,
    arena: Arena,
}

/// Zero-initialised, so it lives in `.bss`: the parent never touches it and the kernel only
/// maps a page when a child first writes to it.
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the arena's bytes are only reached through pointers handed out by `take`, each range
// to one caller once (the bump offset is claimed with compare_exchange).
unsafe impl Sync for Arena {}

impl ForkAllocator {
    fn start(&self) -> usize {
        self.arena.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.start()..self.start() + ARENA_SIZE).contains(&(ptr as usize))
    }

    /// Claims `layout` from the arena, or returns null when it is full.
    fn take(&self, layout: Layout) -> *mut u8 {
        let start = self.start();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(offset) = (start + used)
                .checked_next_multiple_of(layout.align())
                .map(|address| address - start)
            else {
                return ptr::null_mut();
            };
            let end = match offset.checked_add(layout.size()) {
                Some(end) if end <= ARENA_SIZE => end,
                _ => return ptr::null_mut(),
            };
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // The pointer is derived from the arena's own, so it stays within its provenance.
                Ok(_) => return self.arena.0.get().cast::<u8>().wrapping_add(offset),
                Err(now) => used = now,
            }
        }
    }
}

// SAFETY: `alloc` returns either System's memory or a fresh, suitably aligned range of the
// arena that no other allocation overlaps; `dealloc` and `realloc` pass System's pointers back
// to System and never free arena memory (it is reclaimed when the child exits).
unsafe impl GlobalAlloc for ForkAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.in_child.load(Ordering::Relaxed) {
            let ptr = self.take(layout);
            if !ptr.is_null() {
                return ptr;
            }
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: not ours, so System allocated it with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: not ours, so System allocated it with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `realloc`'s caller guarantees a valid size for this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both ranges are valid for the smaller size and do not overlap (the new
            // one was just handed out).
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second allocator, in a child's state: the global one stays in the parent's.
    static CHILD: ForkAllocator = ForkAllocator {
        in_child: AtomicBool::new(true),
        used: AtomicUsize::new(0),
        arena: Arena(UnsafeCell::new([0; ARENA_SIZE])),
    };

    #[test]
    fn the_arena_hands_out_aligned_disjoint_ranges_until_it_is_full() {
        let allocator = &CHILD;
        #[repr(align(64))]
        struct CacheLine {
            _bytes: [u8; 64],
        }
        let small = Layout::new::<[u8; 3]>();
        let aligned = Layout::new::<CacheLine>();
        let a = allocator.take(small);
        let b = allocator.take(aligned);
        assert!(allocator.owns(a) && allocator.owns(b));
        assert_eq!(b as usize % 64, 0);
        assert!(b as usize >= a as usize + 3);
        let too_big = Layout::new::<[u8; ARENA_SIZE]>();
        assert!(allocator.take(too_big).is_null());
    }
}
