// The C host the Swift benchmark compares itself with, in the same run:
// `login` one at a time through demo's C ABI, driven from C, no Swift on the
// path. Hand-written; see host_baseline.c.
#ifndef DEMO_HOST_BASELINE_H
#define DEMO_HOST_BASELINE_H

#include <stdint.h>

/// How the C host's `fetch_profile` answers.
enum demo_host_baseline_mode {
    /// `demo_host_complete` inside the host fn, on the library's thread.
    DEMO_HOST_BASELINE_INLINE = 0,
    /// The host fn hands the token to a worker thread that waits on a
    /// condition variable and completes it: the shape of every binding,
    /// whose host fns run off the library's thread.
    DEMO_HOST_BASELINE_WORKER = 1,
};

/// Runs `n` `login`s one at a time on a fresh context (its `spin_us` as
/// given; a negative value keeps the default), the caller blocking on a
/// condition variable for each reply. Returns the mean nanoseconds per
/// login, or a negative value when a call failed.
double demo_host_baseline_login_ns(uint64_t n, int mode, int64_t spin_us);

/// Runs `ops` `login_many`s of `ids` ids each on a fresh context, the
/// host fn queueing each token for a worker thread that completes every
/// queued token in a batch. Returns host calls per second, or a negative
/// value when a call failed.
double demo_host_baseline_login_many_rate(uint64_t ops, uint32_t ids);

#endif
