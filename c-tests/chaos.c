/*
 * chaos.c - a bounded random schedule of every entry point of demo.h, from
 * many threads against several contexts, that accounts for every reply and
 * every host call and fails on any loss, duplicate, hang or leak.
 *
 *   chaos <seconds> [seed]
 *
 * SLOTS (4) context slots, each holding one live context (an atomically
 * read and replaced pointer to its record), and WORKERS (6) threads that,
 * for <seconds> of wall time, each pick operations at random (op_weights)
 * with their own PRNG seeded from the seed (printed first, so a failure can
 * be replayed as far as thread timing allows; without one, a seed is made
 * from the clock). Callbacks (on the loop threads) draw from PRNGs seeded
 * from it too:
 *
 *  - demo_call of every method, well-formed and malformed (bad CBOR, wrong
 *    count or type, trailing bytes, invalid UTF-8, empty payloads), unknown
 *    method names, NULL arguments and invented handles; the native entry
 *    points (demo_native_*), well-formed, invalid UTF-8 and NULL text;
 *  - demo_host_complete of tokens the host fns put in a shared pool (a
 *    profile, an error, a malformed payload; sometimes twice), of stale
 *    tokens (already completed or cancelled), invented tokens, bad `ret`
 *    values and NULL payloads;
 *  - re-registering fetch_profile and notify, always cancellable, with host
 *    fns that hold the token for the pool, complete inline, fail, or any of
 *    those at random (plus inline double and bad-ret completions);
 *  - adding and removing progress listeners (and removing unknown ids);
 *  - destroying a slot's context from a thread (once it has done some
 *    work), then putting a new context (random config: timeouts, request
 *    and in-flight bounds, spinning) in the slot; demo_new with bad configs;
 *    demo_last_error (after refusals), the description and the interface
 *    hash;
 *  - demo_call_cancellable (also with a NULL call_id) and demo_cancel_call:
 *    withdrawing recent requests (at once, or later, from threads and from
 *    inside every kind of callback), twice, and unknown ids (0, huge);
 *  - rings: calls on 2-4 slots whose reply callbacks meet and then each
 *    destroy the next one's context, so that destroys from callbacks wait
 *    for each other in a cycle (about ten a second).
 *
 * Callbacks join in (cb_chaos): reply callbacks, listeners, host fns and
 * cancel notifiers start calls, complete tokens, re-register, add and
 * remove listeners, and destroy their own context or another slot's (which
 * they then replace with a demo_new of their own).
 *
 * Threads stop starting calls while MAX_OUTSTANDING are unanswered.
 *
 * Accounting:
 *  - every call carries a heap record; a call that returned HC_OK must get
 *    exactly one reply, which must be plausible for its method and request
 *    (a second one fails at once: "duplicate reply"), with the outcome code
 *    its kind must have (RET_SHUTTING_DOWN for teardown's, RET_INVALID_ARG
 *    for a malformed request, RET_PANIC for panic_with, RET_ERR for demo's
 *    own errors; every reply is counted by code); a refused call must
 *    get none. Finished records go through a graveyard (delayed free), so a
 *    late duplicate still finds its record and fails loudly.
 *  - withdrawals, per (context, call id): at most one demo_cancel_call
 *    returns HC_OK; the request's one reply is RET_CANCELLED ("request '<m>'
 *    cancelled") if and only if one did, and its real reply otherwise (so a
 *    cancel refused with HC_ERR_UNKNOWN_TOKEN leaves the real reply); an id
 *    never issued is never accepted; checked once everything has replied.
 *  - every host fn invocation (token) must end exactly once: a
 *    demo_host_complete that returned HC_OK, or a cancel notice; a second
 *    HC_OK or a cancel after an accepted completion fails at once.
 *  - every status returned must be one docs/abi.md allows for that
 *    function, and, where the situation decides it, the one it must be (a
 *    handle whose destroy returned must get HC_ERR_INVALID_CONTEXT, ...).
 *  - callbacks of a context run on one thread, never overlap, and never run
 *    after a destroy called off the loop thread returned; a listener never
 *    runs after its removal returned.
 *  - when the threads stop, the surviving contexts are drained (every
 *    pooled token completed) until they answered all they accepted, then
 *    probed: add() answers and a login is not refused as overloaded, so no
 *    request or in-flight slot leaked;
 *  - then every context is destroyed, and the program waits (bounded, on a
 *    condition variable: a destroy from a callback returns before its
 *    teardown is done) until every accepted call has replied, every token
 *    has ended, every context created has been destroyed and no callback is
 *    running, or fails with what is missing ("lost replies: N", "tokens
 *    never ended: N"); then everything is freed.
 *
 * A hang fails through alarm(<seconds> + 90) naming the phase.
 *
 * c-tests/tests/c_programs.rs runs it for 30 s (environment variable
 * HOSTCALL_CHAOS_SECS overrides that, e.g. HOSTCALL_CHAOS_SECS=300) and for
 * 20 s under valgrind; HOSTCALL_CHAOS_SEED sets the seed of both.
 */
#include "harness.h"

#include <inttypes.h>
#include <sched.h>
#include <signal.h>

#define SLOTS 4
#define WORKERS 6
#define MAX_IDS 5
#define ID_LEN 24
#define MAX_LISTENERS 4
#define GRAVE 16384
#define STALE 1024
#define DEAD_RING 16
#define BUCKETS (1u << 16)
/* Withdrawal marks per context: call ids 1 .. CM_CHUNKS * CM_CHUNK are
 * tracked (chunks allocated as ids reach them); later ids are not cancelled. */
#define CM_CHUNK 4096
#define CM_CHUNKS 1024
/* Calls accepted and not yet answered above which threads stop starting more. */
#define MAX_OUTSTANDING 1000
/* How long the end of the run may take (ms): as long as any other wait. */
#define END_WAIT_MS HC_WAIT_MS
/* The watchdog's margin over <seconds>: above END_WAIT_MS, for valgrind. */
#define ALARM_MARGIN_S 90

/* --------------------------------------------------------------- statuses */

#define S(x) (1u << (unsigned)-(x))
#define ALL_STATUSES 0x1ffu

/* What docs/abi.md says each function returns. HC_ERR_SHUTTING_DOWN comes
 * only from a context whose event loop failed (a runtime bug no host can
 * cause), so this schedule never sees it; the unit test in
 * src/ffi/failed_loop.rs drives that path. */
#define DOC_NATIVE                                                                                            \
    (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_OVERLOADED) | S(HC_ERR_SHUTTING_DOWN))
#define DOC_CALL (DOC_NATIVE | S(HC_ERR_UNKNOWN_METHOD))
#define DOC_COMPLETE                                                                                          \
    (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_UNKNOWN_TOKEN))
#define DOC_REGISTER (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_INVALID_ARG))
#define DOC_REMOVE (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_INVALID_ARG))
#define DOC_DESTROY (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT))
#define DOC_CANCEL (S(HC_OK) | S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_UNKNOWN_TOKEN))

enum { FN_CALL, FN_NATIVE, FN_COMPLETE, FN_REGISTER, FN_REMOVE, FN_DESTROY, FN_CANCEL, FN_KINDS };
static const char *const fn_names[FN_KINDS] = {"demo_call*",           "demo_native_*",
                                               "demo_host_complete",  "demo_register_host_fn*",
                                               "demo_remove_event_listener", "demo_destroy",
                                               "demo_cancel_call"};
static const unsigned fn_docs[FN_KINDS] = {DOC_CALL,   DOC_NATIVE,  DOC_COMPLETE, DOC_REGISTER,
                                           DOC_REMOVE, DOC_DESTROY, DOC_CANCEL};
static atomic_long status_counts[FN_KINDS][9];

/* ------------------------------------------------------------ statistics */

static atomic_long st_ops_workers, st_ops_callbacks;
static atomic_long st_out[16];
enum {
    OUT_OK,
    OUT_SHUTDOWN,
    OUT_HOST_ERR,
    OUT_BAD_REQUEST,
    OUT_PANICKED,
    OUT_OVERFLOW,
    OUT_NO_IDS,
    OUT_CANCELLED,
    OUT_COUNT
};
static const char *const out_names[OUT_COUNT] = {"ok",       "shutting down", "host error",        "bad request",
                                                 "panicked", "overflow",      "no user ids given", "withdrawn"};
/* Replies by outcome code (RET_OK .. RET_ERR_TYPED). */
#define RET_CODES (RET_ERR_TYPED + 1)
static atomic_long st_ret[RET_CODES];
static void count_ret(int ret) {
    HC_REQUIRE(ret >= 0 && ret < RET_CODES, "ret %d", ret);
    atomic_fetch_add(&st_ret[ret], 1);
}
static atomic_long st_host_timeout, st_host_overloaded, st_host_malformed, st_host_unregistered, st_host_said;
static atomic_long st_tok_inline, st_tok_thread, st_tok_cancelled;
static atomic_long st_refused_stale, st_refused_invented, st_refused_double, st_refused_badret, st_refused_nullmsg,
    st_pool_refused;
static atomic_long st_inline_badret, st_inline_double;
static atomic_long st_listen_added, st_listen_add_refused, st_listen_removed, st_listen_events, st_listen_bad;
static atomic_long st_destroy_ring, st_rings;
static atomic_long st_destroy_outside, st_destroy_inside_own, st_destroy_inside_other, st_destroy_stale,
    st_destroy_leftover, st_destroy_final;
static atomic_long st_bad_config, st_last_error_probes, st_registered;
static atomic_long st_cancellable, st_cancel_ok, st_cancel_refused, st_cancel_dead, st_cancel_invented,
    st_cancel_at_once, st_cancel_null_id, st_reply_before_id;

/* ----------------------------------------------------------------- phases */

enum { PH_START, PH_RUNNING, PH_STOPPING, PH_DRAINING, PH_DESTROYING, PH_WAITING, PH_FREEING, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {
    "starting",
    "running the schedule",
    "stopping the threads",
    "draining the surviving contexts and probing them",
    "destroying every context",
    "waiting for every reply and token",
    "freeing",
};
static atomic_int phase;

static void set_phase(int p) {
    atomic_store(&phase, p);
    printf("phase: %s\n", phase_names[p]);
    fflush(stdout);
}

/* ------------------------------------------------------------- accounting */

/* Under acct.mu (also atomics, so that the watchdog can read them). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool waiting;
} acct;
static atomic_long n_accepted, n_replied, n_tok_started, n_tok_ended, n_active_cb, n_created, n_destroyed;

static void acct_add(atomic_long *counter, long d) {
    hc_lock(&acct.mu);
    atomic_fetch_add(counter, d);
    if (acct.waiting) {
        pthread_cond_broadcast(&acct.cv);
    }
    hc_unlock(&acct.mu);
}

/* ------------------------------------------------------------------- PRNG */

static uint64_t seed;
static atomic_ulong rng_streams;
static _Thread_local hc_rng tl_rng;
static _Thread_local bool tl_rng_ready;

/* This thread's PRNG: workers seed theirs from (seed, index); loop threads
 * (callbacks) get the next stream of the seed when they first need one. */
static hc_rng *my_rng(void) {
    if (!tl_rng_ready) {
        hc_rng_seed(&tl_rng, seed ^ (0x100000ull + atomic_fetch_add(&rng_streams, 1)) * 0x9e3779b97f4a7c15ull);
        tl_rng_ready = true;
    }
    return &tl_rng;
}

static bool one_in(uint64_t n) { return hc_rng_below(my_rng(), n) == 0; }

/* ------------------------------------------------------------- records */

typedef struct ctxrec ctxrec;

typedef struct listener_rec {
    ctxrec *ctx;
    atomic_ullong id;     /* 0 until add returned */
    atomic_int removed;   /* a removal that waited returned HC_OK: must never run again */
    atomic_int refused;   /* its add returned 0: must never run */
    atomic_long events;
    struct listener_rec *prev_all, *next_all; /* c->all_listeners, under c->mu */
} listener_rec;

struct ctxrec {
    void *handle;
    int id;
    int slot;
    int max_pending; /* config; 0: unbounded */
    int timeout_ms;
    int max_in_flight;
    int spin_us;
    long min_replies;   /* threads destroy it once it replied this often, */
    double destroy_at;  /* or once hc_now_ms() reaches this (for slow runs: valgrind) */
    double born_ms;
    atomic_int destroyed; /* a destroy of it returned HC_OK */
    atomic_int quiet;     /* that destroy was called off any loop thread: no callback may run again */
    atomic_int in_cb;
    atomic_ulong loop_thread;
    atomic_long accepted, replied; /* for diagnostics */
    pthread_mutex_t mu;            /* the listener lists */
    listener_rec *active[MAX_LISTENERS];
    int n_active;
    listener_rec *all_listeners; /* those that might still run; freed at the end */
    ctxrec *next_all;
    atomic_ullong max_call_id;      /* the highest id demo_call_cancellable returned */
    _Atomic(atomic_int *) cmarks[]; /* CM_CHUNKS chunks of CM_CHUNK marks, by call id (see cmark) */
};

static struct {
    pthread_mutex_t mu;
    ctxrec *all;
    ctxrec *dead[DEAD_RING];
    long dead_n;
    int next_id;
} ctxs;

static _Atomic(ctxrec *) slots[SLOTS];
static pthread_mutex_t slots_mu;
static bool stopping; /* under slots_mu: no more replacements */

/* ------------------------------------------------------ withdrawal marks */

/* What happened to call id `id` of a context: cancels that returned HC_OK
 * (low byte), and flags. */
#define CM_OK_MASK 0xff
#define CM_ISSUED 0x100    /* demo_call_cancellable returned HC_OK with this id */
#define CM_CANCELLED 0x200 /* its reply was RET_CANCELLED */
#define CM_REAL 0x400      /* its reply was anything else */

/* The mark of id, or NULL past what is tracked. */
static atomic_int *cmark(ctxrec *c, uint64_t id) {
    if (id == 0 || id > (uint64_t)CM_CHUNKS * CM_CHUNK) {
        return NULL;
    }
    uint64_t i = id - 1;
    _Atomic(atomic_int *) *slot = &c->cmarks[i / CM_CHUNK];
    atomic_int *chunk = atomic_load(slot);
    if (chunk == NULL) {
        atomic_int *fresh = calloc(CM_CHUNK, sizeof *fresh);
        HC_REQUIRE(fresh != NULL, "calloc");
        if (atomic_compare_exchange_strong(slot, &chunk, fresh)) {
            chunk = fresh;
        } else {
            free(fresh);
        }
    }
    return &chunk[i % CM_CHUNK];
}

/* ------------------------------------------------- callbacks and threads */

static _Thread_local int cb_depth;
static _Thread_local ctxrec *cb_ctx;

static bool in_callback(void) { return cb_depth > 0; }

static void cb_enter(ctxrec *c, const char *what) {
    acct_add(&n_active_cb, 1);
    cb_depth++;
    cb_ctx = c;
    if (c == NULL) {
        return;
    }
    CHECK(!atomic_load(&c->quiet), "%s of context %d ran after its destroy (called off the loop thread) returned", what,
          c->id);
    unsigned long me = (unsigned long)pthread_self();
    unsigned long expected = 0;
    if (!atomic_compare_exchange_strong(&c->loop_thread, &expected, me)) {
        CHECK(expected == me, "%s of context %d ran on a thread other than its loop thread", what, c->id);
    }
    CHECK(atomic_exchange(&c->in_cb, 1) == 0, "%s of context %d overlapped another of its callbacks", what, c->id);
}

static void cb_exit(ctxrec *c) {
    if (c != NULL) {
        atomic_store(&c->in_cb, 0);
    }
    cb_depth--;
    cb_ctx = NULL;
    acct_add(&n_active_cb, -1);
}

/* ------------------------------------------------------- status checking */

static void probe_last_error(int rc) {
    char buf[512], small[8];
    atomic_fetch_add(&st_last_error_probes, 1);
    size_t n = demo_last_error(buf, sizeof buf);
    const char *name = hc_status_name(rc);
    CHECK(n > 0, "demo_last_error is empty after %s", name);
    CHECK(strncmp(buf, name, strlen(name)) == 0, "demo_last_error \"%s\" after %s", buf, name);
    CHECK(demo_last_error(NULL, 0) == n, "demo_last_error(NULL, 0) gives another length");
    size_t cap = 1 + (size_t)hc_rng_below(my_rng(), sizeof small);
    memset(small, 'x', sizeof small);
    CHECK(demo_last_error(small, cap) == n, "demo_last_error with cap %zu gives another length", cap);
    size_t kept = n < cap - 1 ? n : cap - 1;
    CHECK(small[kept] == 0 && memcmp(small, buf, kept) == 0, "demo_last_error with cap %zu: not \"%.*s\" and a NUL",
          cap, (int)kept, buf);
    for (size_t i = kept + 1; i < sizeof small; i++) {
        CHECK(small[i] == 'x', "demo_last_error wrote past cap %zu", cap);
    }
}

/* CHECKs that `rc`, returned by a function of `kind`, is one the docs allow
 * for it and one of `allowed` (what this situation admits). */
static void check_status(int kind, int rc, unsigned allowed, const char *file, int line, const char *what) {
    atomic_fetch_add_explicit(&hc_checks, 1, memory_order_relaxed);
    bool code = rc <= 0 && rc >= -8;
    if (!code || !(fn_docs[kind] & S(rc))) {
        hc_fail(file, line, what, "%s returned %s (%d): not a status docs/abi.md allows for it; last error: %s",
                fn_names[kind], hc_status_name(rc), rc, hc_last_error());
    }
    if (!(allowed & S(rc))) {
        hc_fail(file, line, what, "%s returned %s (%d), which cannot be right here; last error: %s", fn_names[kind],
                hc_status_name(rc), rc, hc_last_error());
    }
    atomic_fetch_add(&status_counts[kind][-rc], 1);
    if (rc != HC_OK && one_in(8)) {
        probe_last_error(rc);
    }
}

#define CHECK_ALLOWED(kind, rc, allowed, what) check_status((kind), (rc), (allowed), __FILE__, __LINE__, (what))

/* What a call-like entry point may return for context c with valid arguments. */
static unsigned call_allowed(const ctxrec *c, bool dead) {
    if (dead) {
        return S(HC_ERR_INVALID_CONTEXT);
    }
    unsigned allowed = S(HC_OK) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_SHUTTING_DOWN);
    if (c->max_pending > 0) {
        allowed |= S(HC_ERR_OVERLOADED);
    }
    return allowed;
}

/* ------------------------------------------------------------- graveyard */

/* Finished records are freed late, so that a late callback with one still
 * finds it (and its magic says what went wrong). */
static struct {
    pthread_mutex_t mu;
    void *ring[GRAVE];
    size_t next;
} grave;

static void bury(void *p) {
    hc_lock(&grave.mu);
    void *old = grave.ring[grave.next % GRAVE];
    grave.ring[grave.next % GRAVE] = p;
    grave.next++;
    hc_unlock(&grave.mu);
    free(old);
}

/* --------------------------------------------------------------- tokens */

enum { HF_FETCH, HF_NOTIFY, HF_KINDS };
static const char *const hf_names[HF_KINDS] = {DEMO_HOST_FN_FETCH_PROFILE, DEMO_HOST_FN_NOTIFY};

typedef struct token_rec {
    ctxrec *ctx;
    uint64_t token;
    int kind;
    char arg[HC_ARG_MAX];
    long pool_index; /* -1: not in the pool */
    double parked_until; /* the threads leave it alone until then (hc_now_ms): time to be cancelled or time out */
    struct token_rec *next;
} token_rec;

/* Every token not yet ended, by (context, token); the pool of those held
 * for the threads; the ring of recently ended ones. All under tok.mu. */
static struct {
    pthread_mutex_t mu;
    token_rec *buckets[BUCKETS];
    token_rec **pool;
    long pool_size, pool_cap;
    struct {
        ctxrec *ctx;
        uint64_t token;
        int kind;
    } stale[STALE];
    long stale_n;
    long live;
} tok;

static size_t bucket_of(const ctxrec *c, uint64_t token) {
    uint64_t h = token * 0x9e3779b97f4a7c15ull ^ (uint64_t)c->id * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h >> 48) & (BUCKETS - 1);
}

/* tok.mu held. */
static token_rec **map_find(const ctxrec *c, uint64_t token) {
    token_rec **p = &tok.buckets[bucket_of(c, token)];
    while (*p != NULL && !((*p)->ctx == c && (*p)->token == token)) {
        p = &(*p)->next;
    }
    return p;
}

static void pool_add_locked(token_rec *t) {
    if (tok.pool_size == tok.pool_cap) {
        tok.pool_cap = tok.pool_cap ? tok.pool_cap * 2 : 1024;
        tok.pool = realloc(tok.pool, (size_t)tok.pool_cap * sizeof *tok.pool);
        HC_REQUIRE(tok.pool != NULL, "realloc");
    }
    t->pool_index = tok.pool_size;
    tok.pool[tok.pool_size++] = t;
}

static void pool_remove_locked(token_rec *t) {
    if (t->pool_index < 0) {
        return;
    }
    token_rec *last = tok.pool[--tok.pool_size];
    tok.pool[t->pool_index] = last;
    last->pool_index = t->pool_index;
    t->pool_index = -1;
}

/* A host fn was invoked with `token`: it is awaiting completion. */
static void token_started(ctxrec *c, uint64_t token, int kind, const char *arg, bool pooled) {
    token_rec *t = calloc(1, sizeof *t);
    HC_REQUIRE(t != NULL, "calloc");
    t->ctx = c;
    t->token = token;
    t->kind = kind;
    t->pool_index = -1;
    t->parked_until = one_in(16) ? hc_now_ms() + (double)hc_rng_below(my_rng(), 60) : 0;
    snprintf(t->arg, sizeof t->arg, "%s", arg);
    hc_lock(&tok.mu);
    token_rec **slot = map_find(c, token);
    CHECK(*slot == NULL, "host fn %s of context %d got token %#" PRIx64 ", which is already awaiting completion",
          hf_names[kind], c->id, token);
    *slot = t;
    tok.live++;
    if (pooled) {
        pool_add_locked(t);
    }
    hc_unlock(&tok.mu);
    acct_add(&n_tok_started, 1);
}

/* Puts a started token in the pool (if it is still awaiting completion). */
static void token_pool(ctxrec *c, uint64_t token) {
    hc_lock(&tok.mu);
    token_rec *t = *map_find(c, token);
    if (t != NULL && t->pool_index < 0) {
        pool_add_locked(t);
    }
    hc_unlock(&tok.mu);
}

enum { END_COMPLETED, END_CANCELLED };

/* Token `token` of `c` ended: a host_complete of it returned HC_OK
 * (END_COMPLETED) or its cancel notice came (END_CANCELLED). */
static void token_ended(ctxrec *c, uint64_t token, int how) {
    hc_lock(&tok.mu);
    token_rec **slot = map_find(c, token);
    token_rec *t = *slot;
    if (how == END_COMPLETED) {
        CHECK(t != NULL,
              "demo_host_complete returned HC_OK for token %#" PRIx64 " of context %d, which had already ended "
              "(an HC_OK completion or a cancel notice before)",
              token, c->id);
    } else {
        CHECK(t != NULL,
              "cancel notice for token %#" PRIx64 " of context %d, which was not awaiting completion (already "
              "completed with HC_OK, already cancelled, or never handed to a host fn)",
              token, c->id);
    }
    *slot = t->next;
    pool_remove_locked(t);
    tok.live--;
    long i = tok.stale_n++ % STALE;
    tok.stale[i].ctx = c;
    tok.stale[i].token = token;
    tok.stale[i].kind = t->kind;
    hc_unlock(&tok.mu);
    free(t);
    acct_add(&n_tok_ended, 1);
}

/* ----------------------------------------------------------- completions */

enum { V_OK, V_ERR, V_ERR_BAD_UTF8, V_MALFORMED, V_COUNT };

static uint32_t age_of(const char *arg) { return (uint32_t)strlen(arg) * 3u; }

/* Completes `token` (of host fn `kind`, whose argument was `arg`) with
 * outcome `variant`: the right result, an error, an error that is not
 * UTF-8, or a RET_OK payload that is not the host fn's result type. */
static int complete_as(void *handle, uint64_t token, int kind, const char *arg, int variant) {
    uint8_t buf[256];
    char text[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    switch (variant) {
    case V_OK:
        if (kind == HF_FETCH) {
            snprintf(text, sizeof text, "N%s", arg);
            demo_put_profile(&e, arg, text, age_of(arg));
            HC_REQUIRE(!e.overflow, "profile buffer");
            return demo_host_complete(handle, token, RET_OK, cbor_enc_data(&e), e.len);
        }
        if (one_in(2)) {
            return demo_host_complete(handle, token, RET_OK, NULL, 0);
        }
        cbor_put_null(&e);
        return demo_host_complete(handle, token, RET_OK, cbor_enc_data(&e), e.len);
    case V_ERR:
        snprintf(text, sizeof text, "no such thing as %s", arg);
        return demo_host_complete(handle, token, RET_ERR, text, strlen(text));
    case V_ERR_BAD_UTF8: {
        static const char bad[] = "bad \xff\xfe utf-8 \xc3";
        return demo_host_complete(handle, token, RET_ERR, bad, sizeof bad - 1);
    }
    default:
        /* fetch_profile wants a Profile: an integer, null or empty is none;
         * notify wants null: an array is not. */
        if (kind == HF_FETCH) {
            switch (hc_rng_below(my_rng(), 3)) {
            case 0: return demo_host_complete(handle, token, RET_OK, NULL, 0);
            case 1: cbor_put_uint(&e, 7); break;
            default: demo_put_profile(&e, arg, "x", 1); buf[0] = 0xa2; break; /* map of 2 entries, 3 given */
            }
        } else {
            cbor_put_array(&e, 1);
            cbor_put_uint(&e, 1);
        }
        return demo_host_complete(handle, token, RET_OK, cbor_enc_data(&e), e.len);
    }
}

static int random_variant(void) {
    uint64_t x = hc_rng_below(my_rng(), 100);
    return x < 70 ? V_OK : x < 85 ? V_ERR : x < 90 ? V_ERR_BAD_UTF8 : V_MALFORMED;
}

/* A thread's completion of a token of `c` returned `rc`. */
static void completion_result(ctxrec *c, uint64_t token, int kind, const char *arg, int rc) {
    if (rc != HC_OK) {
        return;
    }
    token_ended(c, token, END_COMPLETED);
    atomic_fetch_add(&st_tok_thread, 1);
    if (one_in(8)) {
        /* Accepted once: every later completion is refused. */
        int again = complete_as(c->handle, token, kind, arg, random_variant());
        CHECK_ALLOWED(FN_COMPLETE, again, S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT),
                      "a second completion of an accepted token");
        atomic_fetch_add(&st_refused_double, 1);
    }
}

/* Completes a random token of the pool with a random outcome. */
static void op_complete_pool(void) {
    hc_lock(&tok.mu);
    if (tok.pool_size == 0) {
        hc_unlock(&tok.mu);
        return;
    }
    token_rec *t = tok.pool[hc_rng_below(my_rng(), (uint64_t)tok.pool_size)];
    if (t->parked_until > 0 && hc_now_ms() < t->parked_until) {
        hc_unlock(&tok.mu);
        return;
    }
    ctxrec *c = t->ctx;
    uint64_t token = t->token;
    int kind = t->kind;
    char arg[HC_ARG_MAX];
    memcpy(arg, t->arg, sizeof arg);
    hc_unlock(&tok.mu);
    int rc = complete_as(c->handle, token, kind, arg, random_variant());
    /* Taken by a racing completion, a cancellation or a destroy meanwhile. */
    CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_OK) | S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT),
                  "completing a pooled token");
    if (rc != HC_OK) {
        atomic_fetch_add(&st_pool_refused, 1);
    }
    completion_result(c, token, kind, arg, rc);
}

/* A token that ended already: refused, whatever it is sent. */
static void op_complete_stale(void) {
    hc_lock(&tok.mu);
    if (tok.stale_n == 0) {
        hc_unlock(&tok.mu);
        return;
    }
    long n = tok.stale_n < STALE ? tok.stale_n : STALE;
    long i = (long)hc_rng_below(my_rng(), (uint64_t)n);
    ctxrec *c = tok.stale[i].ctx;
    uint64_t token = tok.stale[i].token;
    int kind = tok.stale[i].kind;
    hc_unlock(&tok.mu);
    int rc = complete_as(c->handle, token, kind, "stale", random_variant());
    CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT), "completing a stale token");
    atomic_fetch_add(&st_refused_stale, 1);
}

static ctxrec *pick_ctx(void);

/* Tokens no host fn was ever given (generations far beyond any issued). */
static void op_complete_invented(void) {
    ctxrec *c = pick_ctx();
    if (c == NULL) {
        return;
    }
    uint64_t token;
    switch (hc_rng_below(my_rng(), 4)) {
    case 0: token = 0; break;
    case 1: token = UINT64_MAX; break;
    default: token = hc_rng_next(my_rng()) | (1ull << 63); break;
    }
    bool dead = atomic_load(&c->destroyed);
    int rc = complete_as(c->handle, token, (int)hc_rng_below(my_rng(), HF_KINDS), "invented", random_variant());
    CHECK_ALLOWED(FN_COMPLETE, rc,
                  dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT),
                  "completing an invented token");
    atomic_fetch_add(&st_refused_invented, 1);
}

/* Every outcome code but RET_OK, RET_ERR and RET_ERR_TYPED (a host may
 * complete with those three only), one not defined yet, and some that never
 * were. */
static const int bad_rets[] = {RET_SHUTTING_DOWN,  RET_OVERLOADED,  RET_TIMED_OUT, RET_CANCELLED,
                               RET_NOT_REGISTERED, RET_INVALID_ARG, RET_PANIC,
                               RET_ERR_TYPED + 1,  -1,              99,            INT32_MIN,
                               INT32_MAX};
#define BAD_RETS (sizeof bad_rets / sizeof bad_rets[0])

/* A pooled token with an outcome code a host may not give,
 * or a NULL payload with a length, or a NULL context: refused, and the
 * token stays as it was. */
static void op_complete_bad(void) {
    hc_lock(&tok.mu);
    if (tok.pool_size == 0) {
        hc_unlock(&tok.mu);
        return;
    }
    token_rec *t = tok.pool[hc_rng_below(my_rng(), (uint64_t)tok.pool_size)];
    ctxrec *c = t->ctx;
    uint64_t token = t->token;
    hc_unlock(&tok.mu);
    int rc;
    switch (hc_rng_below(my_rng(), 4)) {
    case 0:
    case 1:
        rc = demo_host_complete(c->handle, token, bad_rets[hc_rng_below(my_rng(), BAD_RETS)], "x", 1);
        CHECK_ALLOWED(FN_COMPLETE, rc,
                      S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_UNKNOWN_TOKEN),
                      "a completion with a bad ret");
        atomic_fetch_add(&st_refused_badret, 1);
        break;
    case 2:
        rc = demo_host_complete(c->handle, token, (int)hc_rng_below(my_rng(), 2), NULL, 1 + hc_rng_below(my_rng(), 9));
        CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT),
                      "a completion with a NULL payload of non-zero length");
        atomic_fetch_add(&st_refused_nullmsg, 1);
        break;
    default:
        rc = demo_host_complete(NULL, token, RET_OK, NULL, 0);
        CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_ERR_NULL_ARG), "a completion with a NULL context");
        atomic_fetch_add(&st_refused_nullmsg, 1);
        break;
    }
}

/* ------------------------------------------------------------- host fns */

enum { MODE_HOLD, MODE_INLINE, MODE_FAIL, MODE_MIXED, MODE_COUNT };

static void cb_chaos(ctxrec *self);

/* Every host fn: records the token, then answers it as `mode` says. */
static void host_fn(int kind, int mode, uint64_t token, const char *req, size_t len, void *user_data) {
    ctxrec *c = (ctxrec *)user_data;
    char arg[HC_ARG_MAX];
    cb_enter(c, "host fn");
    CHECK(demo_decode_text_arg(req, len, arg, sizeof arg), "host fn %s: request is not [text] (%zu bytes)",
          hf_names[kind], len);
    CHECK(token != 0, "host fn %s got token 0", hf_names[kind]);
    if (mode == MODE_MIXED) {
        uint64_t x = hc_rng_below(my_rng(), 10);
        mode = x < 5 ? MODE_HOLD : x < 8 ? MODE_INLINE : MODE_FAIL;
    }
    token_started(c, token, kind, arg, mode == MODE_HOLD);
    bool chaos_first = one_in(2);
    if (chaos_first) {
        cb_chaos(c);
    }
    if (mode != MODE_HOLD) {
        if (one_in(16)) {
            /* A bad outcome code is refused and the token stays completable. */
            int rc = demo_host_complete(c->handle, token, bad_rets[hc_rng_below(my_rng(), BAD_RETS)], "x", 1);
            CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT),
                          "an inline completion with a bad ret");
            atomic_fetch_add(&st_inline_badret, 1);
        }
        int variant = mode == MODE_FAIL ? (one_in(4) ? V_ERR_BAD_UTF8 : V_ERR) : one_in(10) ? V_MALFORMED : V_OK;
        int rc = complete_as(c->handle, token, kind, arg, variant);
        /* From the host fn itself the token is pending: accepted, unless the
         * context is being destroyed. */
        CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_OK) | S(HC_ERR_INVALID_CONTEXT), "an inline completion");
        if (rc == HC_OK) {
            token_ended(c, token, END_COMPLETED);
            atomic_fetch_add(&st_tok_inline, 1);
            if (one_in(8)) {
                int again = complete_as(c->handle, token, kind, arg, V_OK);
                CHECK_ALLOWED(FN_COMPLETE, again, S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT),
                              "a second inline completion");
                atomic_fetch_add(&st_inline_double, 1);
            }
        } else {
            token_pool(c, token); /* the destroy cancels it */
        }
    }
    if (!chaos_first) {
        cb_chaos(c);
    }
    cb_exit(c);
}

static void on_cancel(uint64_t token, void *user_data) {
    ctxrec *c = (ctxrec *)user_data;
    cb_enter(c, "cancel notifier");
    token_ended(c, token, END_CANCELLED);
    atomic_fetch_add(&st_tok_cancelled, 1);
    cb_chaos(c);
    cb_exit(c);
}

#define HOST_FN(name, kind, mode)                                                                             \
    static void name(uint64_t token, const char *req, size_t len, void *user_data) {                          \
        host_fn((kind), (mode), token, req, len, user_data);                                                  \
    }
HOST_FN(fetch_hold, HF_FETCH, MODE_HOLD)
HOST_FN(fetch_inline, HF_FETCH, MODE_INLINE)
HOST_FN(fetch_fail, HF_FETCH, MODE_FAIL)
HOST_FN(fetch_mixed, HF_FETCH, MODE_MIXED)
HOST_FN(notify_hold, HF_NOTIFY, MODE_HOLD)
HOST_FN(notify_inline, HF_NOTIFY, MODE_INLINE)
HOST_FN(notify_fail, HF_NOTIFY, MODE_FAIL)
HOST_FN(notify_mixed, HF_NOTIFY, MODE_MIXED)

static FFIHostFn const host_fns[HF_KINDS][MODE_COUNT] = {
    {fetch_hold, fetch_inline, fetch_fail, fetch_mixed},
    {notify_hold, notify_inline, notify_fail, notify_mixed},
};

static void op_register(ctxrec *c) {
    int kind = (int)hc_rng_below(my_rng(), HF_KINDS);
    int mode = (int)hc_rng_below(my_rng(), MODE_COUNT);
    bool dead = atomic_load(&c->destroyed);
    int rc = demo_register_host_fn_cancellable(c->handle, hf_names[kind], host_fns[kind][mode], on_cancel, c);
    CHECK_ALLOWED(FN_REGISTER, rc, dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_OK) | S(HC_ERR_INVALID_CONTEXT),
                  "re-registering a host fn");
    if (rc == HC_OK) {
        atomic_fetch_add(&st_registered, 1);
    }
}

/* Registrations that must be refused (so they change nothing). */
static void op_register_bad(ctxrec *c) {
    int rc;
    switch (hc_rng_below(my_rng(), 5)) {
    case 0:
        rc = demo_register_host_fn(c->handle, "fetch_profiles", hc_never_host_fn, NULL);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT), "an undeclared host fn");
        break;
    case 1:
        rc = demo_register_host_fn_cancellable(c->handle, "", hc_never_host_fn, hc_never_cancel, NULL);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT), "an empty host fn name");
        break;
    case 2:
        rc = demo_register_host_fn(c->handle, DEMO_HOST_FN_FETCH_PROFILE, NULL, NULL);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "a NULL host fn");
        break;
    case 3:
        rc = demo_register_host_fn_cancellable(c->handle, NULL, hc_never_host_fn, hc_never_cancel, NULL);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "a NULL host fn name");
        break;
    default:
        rc = demo_register_host_fn_cancellable(NULL, DEMO_HOST_FN_NOTIFY, hc_never_host_fn, hc_never_cancel, NULL);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_ERR_NULL_ARG), "a registration on a NULL context");
        break;
    }
}

/* ------------------------------------------------------------ listeners */

/* A listener that can never run again leaves its context's list for the
 * graveyard (where a late run still finds it marked). */
static void listener_retire(listener_rec *l) {
    ctxrec *c = l->ctx;
    hc_lock(&c->mu);
    if (l->prev_all != NULL) {
        l->prev_all->next_all = l->next_all;
    } else {
        c->all_listeners = l->next_all;
    }
    if (l->next_all != NULL) {
        l->next_all->prev_all = l->prev_all;
    }
    hc_unlock(&c->mu);
    bury(l);
}

static void listener_cb(int ret, const char *msg, size_t len, void *user_data) {
    listener_rec *l = (listener_rec *)user_data;
    ctxrec *c = l->ctx;
    cb_enter(c, "listener");
    CHECK(!atomic_load(&l->refused), "a listener whose demo_add_event_listener returned 0 ran");
    CHECK(!atomic_load(&l->removed), "listener %llu of context %d ran after its removal returned HC_OK",
          (unsigned long long)atomic_load(&l->id), c->id);
    CHECK(ret == RET_OK, "listener called with ret %d", ret);
    demo_progress p = {0, 0};
    CHECK(demo_decode_progress(msg, len, &p), "progress event is not a Progress (%zu bytes)", len);
    CHECK(p.done >= 1 && p.done <= p.total && p.total <= MAX_IDS, "progress %u of %u", p.done, p.total);
    atomic_fetch_add(&l->events, 1);
    atomic_fetch_add(&st_listen_events, 1);
    if (one_in(64)) {
        /* Removes itself, if nobody else is removing it. */
        bool mine = false;
        hc_lock(&c->mu);
        for (int i = 0; i < c->n_active; i++) {
            if (c->active[i] == l) {
                c->active[i] = c->active[--c->n_active];
                mine = true;
                break;
            }
        }
        hc_unlock(&c->mu);
        if (mine) {
            bool dead = atomic_load(&c->destroyed);
            int rc = demo_remove_event_listener(c->handle, atomic_load(&l->id));
            CHECK_ALLOWED(FN_REMOVE, rc, dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_OK) | S(HC_ERR_INVALID_CONTEXT),
                          "a listener removing itself");
            if (rc == HC_OK) {
                /* This run is its last. */
                atomic_fetch_add(&st_listen_removed, 1);
                atomic_store(&l->removed, 1);
                listener_retire(l);
            }
        }
    } else {
        cb_chaos(c);
    }
    cb_exit(c);
}

static void op_add_listener(ctxrec *c) {
    hc_lock(&c->mu);
    bool full = c->n_active >= MAX_LISTENERS;
    hc_unlock(&c->mu);
    if (full) {
        return;
    }
    listener_rec *l = calloc(1, sizeof *l);
    HC_REQUIRE(l != NULL, "calloc");
    l->ctx = c;
    hc_lock(&c->mu);
    l->next_all = c->all_listeners;
    if (l->next_all != NULL) {
        l->next_all->prev_all = l;
    }
    c->all_listeners = l;
    hc_unlock(&c->mu);
    bool dead = atomic_load(&c->destroyed);
    uint64_t id = demo_add_event_listener(c->handle, DEMO_EVENT_PROGRESS, listener_cb, l);
    if (id == 0) {
        atomic_store(&l->refused, 1);
        const char *err = hc_last_error();
        CHECK(strncmp(err, "HC_ERR_INVALID_CONTEXT", 22) == 0, "demo_add_event_listener returned 0: %s", err);
        atomic_fetch_add(&st_listen_add_refused, 1);
        listener_retire(l);
        return;
    }
    CHECK(!dead, "demo_add_event_listener on a destroyed context returned %" PRIu64, id);
    atomic_store(&l->id, id);
    atomic_fetch_add(&st_listen_added, 1);
    hc_lock(&c->mu);
    if (c->n_active < MAX_LISTENERS) {
        c->active[c->n_active++] = l;
    }
    hc_unlock(&c->mu);
}

/* Listener additions that must fail. */
static void op_add_listener_bad(ctxrec *c) {
    uint64_t id;
    const char *want;
    switch (hc_rng_below(my_rng(), 4)) {
    case 0:
        id = demo_add_event_listener(c->handle, "progres", hc_never_cb, NULL);
        want = "HC_ERR_INVALID_ARG";
        break;
    case 1:
        id = demo_add_event_listener(c->handle, DEMO_EVENT_PROGRESS, NULL, NULL);
        want = "HC_ERR_NULL_ARG";
        break;
    case 2:
        id = demo_add_event_listener(c->handle, NULL, hc_never_cb, NULL);
        want = "HC_ERR_NULL_ARG";
        break;
    default:
        id = demo_add_event_listener(NULL, DEMO_EVENT_PROGRESS, hc_never_cb, NULL);
        want = "HC_ERR_NULL_ARG";
        break;
    }
    CHECK(id == 0, "a bad demo_add_event_listener returned id %" PRIu64, id);
    const char *err = hc_last_error();
    CHECK(strncmp(err, want, strlen(want)) == 0 || strncmp(err, "HC_ERR_INVALID_CONTEXT", 22) == 0,
          "a bad demo_add_event_listener: last error \"%s\", expected %s", err, want);
    atomic_fetch_add(&st_listen_bad, 1);
}

static void op_remove_listener(ctxrec *c) {
    listener_rec *l = NULL;
    hc_lock(&c->mu);
    if (c->n_active > 0) {
        int i = (int)hc_rng_below(my_rng(), (uint64_t)c->n_active);
        l = c->active[i];
        c->active[i] = c->active[--c->n_active];
    }
    hc_unlock(&c->mu);
    bool dead = atomic_load(&c->destroyed);
    if (l == NULL || one_in(8)) {
        /* An id never handed out. */
        uint64_t bogus = one_in(2) ? 0 : (hc_rng_next(my_rng()) | (1ull << 62));
        int rc = demo_remove_event_listener(c->handle, bogus);
        CHECK_ALLOWED(FN_REMOVE, rc,
                      dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT),
                      "removing an invented listener id");
        atomic_fetch_add(&st_listen_bad, 1);
        if (l == NULL) {
            return;
        }
    }
    uint64_t id = atomic_load(&l->id);
    int rc = demo_remove_event_listener(c->handle, id);
    /* It was added and nobody else removed it: never an unknown id. */
    CHECK_ALLOWED(FN_REMOVE, rc, dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_OK) | S(HC_ERR_INVALID_CONTEXT),
                  "removing a listener");
    if (rc != HC_OK) {
        return;
    }
    atomic_fetch_add(&st_listen_removed, 1);
    /* Off the loop threads, or on its own, the removal waited (or had nothing
     * to wait for): it never runs again. From another context's loop thread
     * it does not wait when waiting could close a cycle. */
    if (!in_callback() || cb_ctx == c) {
        atomic_store(&l->removed, 1);
        listener_retire(l);
    }
    rc = demo_remove_event_listener(c->handle, id);
    CHECK_ALLOWED(FN_REMOVE, rc, S(HC_ERR_INVALID_ARG) | S(HC_ERR_INVALID_CONTEXT), "removing a listener twice");
}

/* -------------------------------------------------------------- contexts */

static void ctx_remember_dead(ctxrec *c) {
    hc_lock(&ctxs.mu);
    ctxs.dead[ctxs.dead_n++ % DEAD_RING] = c;
    hc_unlock(&ctxs.mu);
}

/* A live context in a slot (mostly) or a recently destroyed one. NULL only
 * while the run ends. */
static ctxrec *pick_ctx(void) {
    if (one_in(32)) {
        hc_lock(&ctxs.mu);
        long n = ctxs.dead_n < DEAD_RING ? ctxs.dead_n : DEAD_RING;
        ctxrec *c = n > 0 ? ctxs.dead[hc_rng_below(my_rng(), (uint64_t)n)] : NULL;
        hc_unlock(&ctxs.mu);
        if (c != NULL) {
            return c;
        }
    }
    return atomic_load(&slots[hc_rng_below(my_rng(), SLOTS)]);
}

/* A new context with a random config, its host fns registered (mixed) and a
 * listener or two; not yet in any slot. */
static ctxrec *ctx_create(int slot) {
    ctxrec *c = calloc(1, sizeof *c + CM_CHUNKS * sizeof c->cmarks[0]);
    HC_REQUIRE(c != NULL, "calloc");
    hc_mutex_init(&c->mu);
    c->slot = slot;
    c->min_replies = one_in(4) ? 10 + (long)hc_rng_below(my_rng(), 90) : 100 + (long)hc_rng_below(my_rng(), 3000);
    c->born_ms = hc_now_ms();
    c->destroy_at = c->born_ms + 500 + (double)hc_rng_below(my_rng(), 2500);
    uint8_t buf[128];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    int keys = 0;
    uint64_t x = hc_rng_below(my_rng(), 100);
    if (x >= 40) {
        c->timeout_ms = one_in(3) ? 1 + (int)hc_rng_below(my_rng(), 50) : 0;
        c->max_pending = one_in(3) ? 4 + (int)hc_rng_below(my_rng(), 60) : 0;
        c->max_in_flight = one_in(4) ? 1 + (int)hc_rng_below(my_rng(), 4) : 0;
        c->spin_us = one_in(3) ? (int)hc_rng_below(my_rng(), 3) * 500 : -1;
        keys = (c->timeout_ms > 0) + (c->max_pending > 0) + (c->max_in_flight > 0) + (c->spin_us >= 0);
    } else {
        c->spin_us = -1;
    }
    void *handle;
    if (keys == 0 && one_in(2)) {
        handle = hc_demo_new(NULL, 0);
    } else {
        cbor_put_map(&e, (size_t)keys);
        if (c->timeout_ms > 0) {
            cbor_put_cstr(&e, "host_call_timeout_ms");
            cbor_put_uint(&e, (uint64_t)c->timeout_ms);
        }
        if (c->max_pending > 0) {
            cbor_put_cstr(&e, "max_pending_requests");
            cbor_put_uint(&e, (uint64_t)c->max_pending);
        }
        if (c->max_in_flight > 0) {
            cbor_put_cstr(&e, "max_in_flight");
            cbor_put_uint(&e, (uint64_t)c->max_in_flight);
        }
        if (c->spin_us >= 0) {
            cbor_put_cstr(&e, "spin_us");
            cbor_put_uint(&e, (uint64_t)c->spin_us);
        }
        HC_REQUIRE(!e.overflow, "config buffer");
        handle = hc_demo_new(cbor_enc_data(&e), e.len);
    }
    CHECK(handle != NULL, "demo_new: %s", hc_last_error());
    c->handle = handle;
    hc_lock(&ctxs.mu);
    c->id = ++ctxs.next_id;
    c->next_all = ctxs.all;
    ctxs.all = c;
    hc_unlock(&ctxs.mu);
    acct_add(&n_created, 1);
    for (int kind = 0; kind < HF_KINDS; kind++) {
        int rc = demo_register_host_fn_cancellable(handle, hf_names[kind], host_fns[kind][MODE_MIXED], on_cancel, c);
        CHECK_ALLOWED(FN_REGISTER, rc, S(HC_OK), "registering a new context's host fn");
    }
    int listeners = (int)hc_rng_below(my_rng(), 3);
    for (int i = 0; i < listeners; i++) {
        op_add_listener(c);
    }
    return c;
}

/* demo_new with configs it must refuse. */
static void op_new_bad(void) {
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    const char *want = "HC_ERR_INVALID_ARG";
    void *handle;
    switch (hc_rng_below(my_rng(), 7)) {
    case 0:
        cbor_put_map(&e, 1);
        cbor_put_cstr(&e, "max_in_flite");
        cbor_put_uint(&e, 1);
        break;
    case 1:
        cbor_put_map(&e, 1);
        cbor_put_cstr(&e, "spin_us");
        cbor_put_uint(&e, 10001);
        break;
    case 2:
        cbor_put_map(&e, 1);
        cbor_put_cstr(&e, "max_in_flight");
        cbor_put_uint(&e, 0);
        break;
    case 3:
        cbor_put_map(&e, 2);
        cbor_put_cstr(&e, "spin_us");
        cbor_put_uint(&e, 1);
        cbor_put_cstr(&e, "spin_us");
        cbor_put_uint(&e, 2);
        break;
    case 4:
        cbor_put_map(&e, 1);
        cbor_put_cstr(&e, "host_call_timeout_ms");
        cbor_put_cstr(&e, "soon");
        break;
    case 5:
        cbor_put_uint(&e, 0xff); /* not a map */
        break;
    default:
        want = "HC_ERR_NULL_ARG";
        break;
    }
    if (strcmp(want, "HC_ERR_NULL_ARG") == 0) {
        handle = hc_demo_new(NULL, 3);
    } else {
        handle = hc_demo_new(cbor_enc_data(&e), e.len);
    }
    CHECK(handle == NULL, "demo_new accepted a bad config");
    const char *err = hc_last_error();
    CHECK(strncmp(err, want, strlen(want)) == 0, "demo_new with a bad config: last error \"%s\", expected %s", err,
          want);
    atomic_fetch_add(&st_bad_config, 1);
}

static void op_describe(void) {
    size_t len = 0, len2 = 0;
    const uint8_t *d = demo_hostcall_description(&len);
    CHECK(d != NULL && len > 0, "demo_hostcall_description returned %p, %zu bytes", (const void *)d, len);
    CHECK(demo_hostcall_description(&len2) == d && len2 == len, "demo_hostcall_description changed");
    CHECK(demo_hostcall_description(NULL) == d, "demo_hostcall_description(NULL) differs");
    CHECK(demo_interface_hash() == DEMO_INTERFACE_HASH, "interface hash %#" PRIx64 " is not the header's",
          demo_interface_hash());
}

static void replace(int slot, ctxrec *old);

/* A destroy of c returned HC_OK (from a callback if in_callback()). */
static void destroyed(ctxrec *c) {
    CHECK(atomic_fetch_add(&c->destroyed, 1) == 0, "demo_destroy returned HC_OK twice for context %d", c->id);
    if (!in_callback()) {
        atomic_store(&c->quiet, 1);
    }
    acct_add(&n_destroyed, 1);
    /* The handle is refused at once, by every entry point. */
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    int rc = demo_call(c->handle, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, hc_never_cb, NULL);
    CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_INVALID_CONTEXT), "demo_call on a destroyed context");
    CHECK_ALLOWED(FN_DESTROY, demo_destroy(c->handle), S(HC_ERR_INVALID_CONTEXT), "a second destroy");
    CHECK_ALLOWED(FN_COMPLETE, demo_host_complete(c->handle, 1, RET_OK, NULL, 0), S(HC_ERR_INVALID_CONTEXT),
                  "demo_host_complete on a destroyed context");
    CHECK_ALLOWED(FN_NATIVE, demo_native_version(c->handle, hc_never_cb, NULL), S(HC_ERR_INVALID_CONTEXT),
                  "demo_native_version on a destroyed context");
    ctx_remember_dead(c);
}

/* Destroys c (the context in `slot`, or a stale one); with HC_OK, puts a new
 * context in its slot. */
static void destroy_ctx(ctxrec *c, atomic_long *counter) {
    bool dead = atomic_load(&c->destroyed);
    int rc = demo_destroy(c->handle);
    CHECK_ALLOWED(FN_DESTROY, rc, dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_OK) | S(HC_ERR_INVALID_CONTEXT),
                  "destroying a context");
    if (rc != HC_OK) {
        atomic_fetch_add(&st_destroy_stale, 1);
        return;
    }
    atomic_fetch_add(counter, 1);
    destroyed(c);
    replace(c->slot, c);
}

static void replace(int slot, ctxrec *old) {
    if (atomic_load(&phase) != PH_RUNNING) {
        return; /* the end of the run destroys what the slots hold */
    }
    ctxrec *c = ctx_create(slot);
    hc_lock(&slots_mu);
    bool publish = !stopping;
    if (publish) {
        ctxrec *expected = old;
        bool swapped = atomic_compare_exchange_strong(&slots[slot], &expected, c);
        CHECK(swapped, "slot %d held context %d, not the destroyed %d", slot, expected ? expected->id : 0, old->id);
    }
    hc_unlock(&slots_mu);
    if (!publish) {
        CHECK_ALLOWED(FN_DESTROY, demo_destroy(c->handle), S(HC_OK), "destroying a context created too late");
        atomic_fetch_add(&st_destroy_leftover, 1);
        destroyed(c);
    }
}

/* Whether a thread may destroy c: once it has done some work (or is stale). */
static bool destroyable(ctxrec *c) {
    return atomic_load(&c->destroyed) || atomic_load(&c->replied) >= c->min_replies || hc_now_ms() >= c->destroy_at;
}

static void op_destroy(void) {
    ctxrec *c = pick_ctx();
    if (c != NULL && destroyable(c)) {
        destroy_ctx(c, &st_destroy_outside);
    }
}

/* ------------------------------------------------------------------ calls */

enum { M_VERSION, M_ADD, M_LOGIN, M_LOGIN_MANY, M_FIRST_PROFILE, M_PING_HOST, M_PANIC_WITH, M_COUNT };
static const char *const method_names[M_COUNT] = {
    DEMO_METHOD_VERSION,   DEMO_METHOD_ADD,       DEMO_METHOD_LOGIN,      DEMO_METHOD_LOGIN_MANY,
    DEMO_METHOD_FIRST_PROFILE, DEMO_METHOD_PING_HOST, DEMO_METHOD_PANIC_WITH,
};

enum { REC_LIVE = 0x11fe, REC_DONE = 0xd0e, REC_REFUSED = 0x2ef };

typedef struct {
    atomic_uint magic;
    atomic_int replies;
    atomic_int refs;
    ctxrec *ctx; /* NULL for NULL or invented handles */
    int method;
    bool native;
    bool malformed;
    bool overflow;
    int64_t sum;
    int n_ids;
    char ids[MAX_IDS][ID_LEN];
    int destroy_slot; /* >= 0: the reply callback destroys that slot's context (OP_RING) */
    bool cancellable; /* made with demo_call_cancellable */
    uint64_t call_id; /* its id, written before the request is queued */
    struct ring *ring;
    struct probe *probe; /* a probe of the end: where the reply goes */
} call_rec;

/* The reply of a probe call (after the schedule). */
typedef struct probe {
    atomic_int done;
    int ret;
    char msg[200];
} probe_t;

static void probe_note(call_rec *r, int ret, const char *msg, size_t len) {
    if (r->probe == NULL) {
        return;
    }
    r->probe->ret = ret;
    snprintf(r->probe->msg, sizeof r->probe->msg, "%.*s", RET_IS_ERROR(ret) ? (int)len : 0, msg ? msg : "");
    atomic_store(&r->probe->done, 1);
}

static atomic_long st_calls_by_method[M_COUNT];

static call_rec *call_new(ctxrec *c, int method) {
    call_rec *r = calloc(1, sizeof *r);
    HC_REQUIRE(r != NULL, "calloc");
    atomic_store(&r->magic, REC_LIVE);
    atomic_store(&r->refs, 2);
    r->ctx = c;
    r->method = method;
    r->destroy_slot = -1;
    return r;
}

/* The caller's side: the entry point returned rc. */
static void call_finish(call_rec *r, int rc) {
    if (rc == HC_OK) {
        if (r->ctx != NULL) {
            atomic_fetch_add(&r->ctx->accepted, 1);
        }
        atomic_fetch_add(&st_calls_by_method[r->method], 1);
        acct_add(&n_accepted, 1);
        if (atomic_fetch_sub(&r->refs, 1) == 1) {
            atomic_store(&r->magic, REC_DONE);
            bury(r);
        }
        return;
    }
    CHECK(atomic_load(&r->replies) == 0, "a call refused with %s got a reply", hc_status_name(rc));
    atomic_store(&r->magic, REC_REFUSED);
    bury(r);
}

static void make_id(char *out) {
    static atomic_ulong next_user;
    snprintf(out, ID_LEN, "u%lu", atomic_fetch_add(&next_user, 1));
}

/* ------------------------------------------------------------- replies */

static call_rec *reply_begin(void *user_data) {
    call_rec *r = (call_rec *)user_data;
    cb_enter(r->ctx, "reply callback");
    unsigned magic = atomic_load(&r->magic);
    CHECK(magic != REC_REFUSED, "reply to a %s call that had been refused", method_names[r->method]);
    CHECK(magic != REC_DONE, "duplicate reply to a %s call (after it had finished)", method_names[r->method]);
    CHECK(magic == REC_LIVE, "reply with a user_data that is no call record (magic %#x)", magic);
    CHECK(atomic_fetch_add(&r->replies, 1) == 0, "duplicate reply to a %s call on context %d", method_names[r->method],
          r->ctx ? r->ctx->id : 0);
    CHECK(r->ctx != NULL, "reply to a call made with a NULL or invented handle");
    return r;
}

static void ring_destroy(struct ring *ring, int slot);

static void reply_end(call_rec *r, int outcome) {
    ctxrec *c = r->ctx;
    atomic_fetch_add(&st_out[outcome], 1);
    atomic_fetch_add(&c->replied, 1);
    acct_add(&n_replied, 1);
    if (r->ring != NULL) {
        ring_destroy(r->ring, r->destroy_slot);
    } else {
        cb_chaos(c);
    }
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        atomic_store(&r->magic, REC_DONE);
        bury(r);
    }
    cb_exit(c);
}

static bool starts_with(const char *msg, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(msg, prefix, n) == 0;
}

/* What a failed reply (outcome `ret`) means for r; fails on one it cannot
 * get. The runtime's own failures are told apart by code, never by text
 * (whose wording is still checked); demo's own errors are RET_ERR. */
static int classify_error(const call_rec *r, int ret, const char *msg, size_t len) {
    const char *method = method_names[r->method];
    CHECK(RET_IS_ERROR(ret), "%s: classifying ret %d as a failure", method, ret);
    CHECK(msg != NULL && len > 0, "%s: %s with empty error text", method, hc_ret_name(ret));
    switch (ret) {
    case RET_SHUTTING_DOWN:
        CHECK(len == strlen(HC_SHUTTING_DOWN_TEXT) && memcmp(msg, HC_SHUTTING_DOWN_TEXT, len) == 0,
              "%s: RET_SHUTTING_DOWN with text \"%.*s\"", method, (int)len, msg);
        return OUT_SHUTDOWN;
    case RET_INVALID_ARG: {
        char want[64];
        snprintf(want, sizeof want, "bad request for '%s': ", method);
        CHECK(r->malformed, "a well-formed %s request got RET_INVALID_ARG: \"%.*s\"", method, (int)len, msg);
        CHECK(starts_with(msg, len, want), "malformed %s request: error \"%.*s\"", method, (int)len, msg);
        return OUT_BAD_REQUEST;
    }
    case RET_PANIC:
        CHECK(r->method == M_PANIC_WITH && !r->malformed, "%s: RET_PANIC \"%.*s\"", method, (int)len, msg);
        CHECK(starts_with(msg, len, "handler 'panic_with' panicked: "), "panic_with: error \"%.*s\"", (int)len, msg);
        return OUT_PANICKED;
    case RET_ERR:
        break;
    default:
        /* demo's handlers turn host call errors into their own text, so no
         * other code can reach its callers. */
        CHECK(false, "%s: ret %d %s: \"%.*s\"", method, ret, hc_ret_name(ret), (int)len, msg);
        return OUT_COUNT;
    }
    /* RET_ERR: demo's own error text. */
    CHECK(!r->malformed, "malformed %s request: RET_ERR \"%.*s\", expected RET_INVALID_ARG", method, (int)len, msg);
    switch (r->method) {
    case M_ADD:
        CHECK(r->overflow && hc_contains(msg, len, "integer overflow"), "add: error \"%.*s\"", (int)len, msg);
        return OUT_OVERFLOW;
    case M_FIRST_PROFILE:
        if (r->n_ids == 0) {
            CHECK(len == 17 && memcmp(msg, "no user ids given", 17) == 0, "first_profile([]): error \"%.*s\"", (int)len,
                  msg);
            return OUT_NO_IDS;
        }
        /* fall through */
    case M_LOGIN:
    case M_LOGIN_MANY:
    case M_PING_HOST: {
        const char *prefix = r->method == M_PING_HOST ? "host notify failed: " : "host fetch failed: ";
        CHECK(starts_with(msg, len, prefix), "%s: error \"%.*s\"", method, (int)len, msg);
        CHECK(r->method != M_LOGIN_MANY || r->n_ids > 0, "login_many([]) failed: \"%.*s\"", (int)len, msg);
        if (hc_contains(msg, len, "timed out after")) {
            CHECK(r->ctx->timeout_ms > 0, "%s timed out on a context without a timeout", method);
            atomic_fetch_add(&st_host_timeout, 1);
        } else if (hc_contains(msg, len, "(max_in_flight)")) {
            CHECK(r->ctx->max_in_flight > 0, "%s overloaded on a context without max_in_flight", method);
            atomic_fetch_add(&st_host_overloaded, 1);
        } else if (hc_contains(msg, len, "sent a malformed reply")) {
            atomic_fetch_add(&st_host_malformed, 1);
        } else if (hc_contains(msg, len, "not registered")) {
            atomic_fetch_add(&st_host_unregistered, 1);
        } else {
            CHECK(hc_contains(msg, len, "no such thing as ") || hc_contains(msg, len, "bad "),
                  "%s: error \"%.*s\" is none the host sent", method, (int)len, msg);
            atomic_fetch_add(&st_host_said, 1);
        }
        return OUT_HOST_ERR;
    }
    default:
        CHECK(false, "%s failed: \"%.*s\"", method, (int)len, msg);
        return OUT_COUNT;
    }
}

static void check_session(const demo_session *s, const char *id) {
    char greeting[ID_LEN + 16];
    snprintf(greeting, sizeof greeting, "Hello, N%s", id);
    CHECK(strcmp(s->user_id, id) == 0, "session of \"%s\" for a login of \"%s\"", s->user_id, id);
    CHECK(strcmp(s->greeting, greeting) == 0, "session of \"%s\" greets \"%s\"", id, s->greeting);
}

/* A RET_OK reply of demo_call (CBOR) or of a native entry point. */
static void check_ok(const call_rec *r, const char *msg, size_t len) {
    const char *method = method_names[r->method];
    CHECK(!r->malformed, "a malformed %s request succeeded", method);
    CHECK(msg != NULL || len == 0, "%s: RET_OK with NULL payload of length %zu", method, len);
    cbor_dec d;
    cbor_dec_init(&d, msg, len);
    switch (r->method) {
    case M_VERSION:
        if (r->native) {
            CHECK(len > 0 && memchr(msg, 0, len) == NULL, "native version: %zu bytes", len);
        } else {
            const char *text;
            size_t n;
            CHECK(cbor_read_text(&d, &text, &n) && n > 0 && cbor_at_end(&d), "version reply is not text");
        }
        break;
    case M_ADD: {
        int64_t sum;
        CHECK(!r->overflow, "add overflowed but succeeded");
        CHECK(cbor_read_int(&d, &sum) && cbor_at_end(&d), "add reply is not an integer");
        CHECK(sum == r->sum, "add gave %" PRId64 ", expected %" PRId64, sum, r->sum);
        break;
    }
    case M_LOGIN: {
        demo_session s;
        CHECK(demo_decode_session(msg, len, &s), "login reply is not a Session");
        check_session(&s, r->ids[0]);
        break;
    }
    case M_LOGIN_MANY: {
        size_t n;
        CHECK(cbor_read_array(&d, &n) && n == (size_t)r->n_ids, "login_many reply is not an array of %d", r->n_ids);
        for (int i = 0; i < r->n_ids; i++) {
            demo_session s;
            CHECK(demo_read_session(&d, &s), "login_many reply %d is not a Session", i);
            check_session(&s, r->ids[i]);
        }
        CHECK(cbor_at_end(&d), "login_many reply has trailing bytes");
        break;
    }
    case M_FIRST_PROFILE: {
        demo_profile p;
        char name[DEMO_TEXT_MAX + 2];
        bool asked = false;
        CHECK(demo_decode_profile(msg, len, &p), "first_profile reply is not a Profile");
        for (int i = 0; i < r->n_ids; i++) {
            asked |= strcmp(r->ids[i], p.user_id) == 0;
        }
        CHECK(asked, "first_profile returned the profile of \"%s\", which it was not asked for", p.user_id);
        snprintf(name, sizeof name, "N%s", p.user_id);
        CHECK(strcmp(p.name, name) == 0 && p.age == age_of(p.user_id), "first_profile: profile \"%s\" %u", p.name,
              p.age);
        break;
    }
    case M_PING_HOST:
        if (r->native) {
            CHECK(len == 0, "native ping_host: %zu bytes", len);
        } else {
            CHECK(cbor_read_null(&d) && cbor_at_end(&d), "ping_host reply is not null");
        }
        break;
    default:
        CHECK(false, "%s succeeded", method);
    }
}

static void reply_cb(int ret, const char *msg, size_t len, void *user_data) {
    call_rec *r = reply_begin(user_data);
    CHECK(hc_ret_demo_may_reply(ret) || (ret == RET_CANCELLED && r->cancellable), "reply with ret %d %s to a%s %s call",
          ret, hc_ret_name(ret), r->cancellable ? " cancellable" : "", method_names[r->method]);
    count_ret(ret);
    if (r->cancellable) {
        /* docs/abi.md: *call_id is written before the request is queued, so
         * before its reply can run. A reply that comes first (a cancel of an
         * id its caller has not been given yet can bring it) is counted and
         * fails the run at the end; meanwhile it waits for the write, which
         * the caller's thread is about to make, so that the rest of the run
         * is still accounted for. */
        if (*(volatile uint64_t *)&r->call_id == 0) {
            atomic_fetch_add(&st_reply_before_id, 1);
            CHECK(ret == RET_CANCELLED, "context %d: a %s reply ran before its request's *call_id was written",
                  r->ctx->id, hc_ret_name(ret));
            double until = hc_now_ms() + HC_WAIT_MS;
            while (*(volatile uint64_t *)&r->call_id == 0) {
                CHECK(hc_now_ms() < until, "context %d: *call_id never written", r->ctx->id);
                sched_yield();
            }
        }
        atomic_int *mark = cmark(r->ctx, r->call_id);
        if (mark != NULL) {
            int before = atomic_fetch_or(mark, ret == RET_CANCELLED ? CM_CANCELLED : CM_REAL);
            CHECK((before & (CM_CANCELLED | CM_REAL)) == 0, "context %d: call id %" PRIu64 " replied twice",
                  r->ctx->id, r->call_id);
        }
    }
    int outcome;
    if (ret == RET_CANCELLED) {
        char want[64];
        snprintf(want, sizeof want, "request '%s' cancelled", method_names[r->method]);
        CHECK(len == strlen(want) && memcmp(msg, want, len) == 0, "%s withdrawn with \"%.*s\"",
              method_names[r->method], (int)len, msg ? msg : "");
        outcome = OUT_CANCELLED;
    } else if (ret == RET_OK) {
        check_ok(r, msg, len);
        outcome = OUT_OK;
    } else {
        outcome = classify_error(r, ret, msg, len);
    }
    probe_note(r, ret, msg, len);
    reply_end(r, outcome);
}

static void reply_i64_cb(int ret, int64_t value, const char *err, size_t err_len, void *user_data) {
    call_rec *r = reply_begin(user_data);
    int outcome;
    CHECK(r->method == M_ADD && r->native, "an FFICallBackI64 reply for %s", method_names[r->method]);
    count_ret(ret);
    if (ret == RET_OK) {
        CHECK(err == NULL && err_len == 0, "native add: RET_OK with error text");
        CHECK(!r->overflow, "native add overflowed but succeeded");
        CHECK(value == r->sum, "native add gave %" PRId64 ", expected %" PRId64, value, r->sum);
        outcome = OUT_OK;
    } else {
        /* demo's own error (overflow) or teardown's; never a bad argument
         * (two integers always decode) or a panic. */
        CHECK(ret == RET_ERR || ret == RET_SHUTTING_DOWN, "native add: ret %d %s", ret, hc_ret_name(ret));
        CHECK(value == 0, "native add: %s with value %" PRId64, hc_ret_name(ret), value);
        outcome = classify_error(r, ret, err, err_len);
    }
    reply_end(r, outcome);
}

/* --------------------------------------------------------- call requests */

static void put_ids(cbor_enc *e, call_rec *r) {
    cbor_put_array(e, (size_t)r->n_ids);
    for (int i = 0; i < r->n_ids; i++) {
        cbor_put_cstr(e, r->ids[i]);
    }
}

/* The arguments of a well-formed request of r->method. */
static void put_args(cbor_enc *e, call_rec *r, int64_t a, int64_t b, const char *text) {
    switch (r->method) {
    case M_VERSION: cbor_put_array(e, 0); break;
    case M_ADD:
        cbor_put_array(e, 2);
        cbor_put_int(e, a);
        cbor_put_int(e, b);
        break;
    case M_LOGIN:
        cbor_put_array(e, 1);
        cbor_put_cstr(e, r->ids[0]);
        break;
    case M_LOGIN_MANY:
    case M_FIRST_PROFILE:
        cbor_put_array(e, 1);
        put_ids(e, r);
        break;
    default:
        cbor_put_array(e, 1);
        cbor_put_cstr(e, text);
        break;
    }
}

static void random_add_args(call_rec *r, int64_t *a, int64_t *b) {
    hc_rng *rng = my_rng();
    if (one_in(8)) {
        *a = (int64_t)hc_rng_next(rng);
        *b = (int64_t)hc_rng_next(rng);
    } else if (one_in(8)) {
        *a = INT64_MAX - (int64_t)hc_rng_below(rng, 4);
        *b = (int64_t)hc_rng_below(rng, 8);
    } else {
        *a = (int64_t)hc_rng_below(rng, 2000001) - 1000000;
        *b = (int64_t)hc_rng_below(rng, 2000001) - 1000000;
    }
    r->overflow = __builtin_add_overflow(*a, *b, &r->sum);
    if (r->overflow) {
        r->sum = 0;
    }
}

/* Encodes a request for r->method into e: well-formed, or (r->malformed)
 * one the handler must refuse with "bad request". Returns false for an
 * empty payload (NULL, 0). */
static bool build_request(cbor_enc *e, call_rec *r) {
    hc_rng *rng = my_rng();
    int64_t a = 0, b = 0;
    char text[32];
    snprintf(text, sizeof text, "m%" PRIu64, hc_rng_below(rng, 1000000));
    if (r->method == M_ADD) {
        random_add_args(r, &a, &b);
    }
    if (r->method == M_LOGIN) {
        r->n_ids = 1;
        make_id(r->ids[0]);
    } else if (r->method == M_LOGIN_MANY || r->method == M_FIRST_PROFILE) {
        r->n_ids = (int)hc_rng_below(rng, MAX_IDS + 1);
        for (int i = 0; i < r->n_ids; i++) {
            make_id(r->ids[i]);
        }
    }
    if (!r->malformed) {
        if (r->method == M_VERSION && one_in(2)) {
            return false; /* no arguments: an empty payload will do */
        }
        put_args(e, r, a, b, text);
        return true;
    }
    r->overflow = false;
    bool no_args = r->method == M_VERSION;
    switch (hc_rng_below(rng, 8)) {
    case 0: cbor_put_raw(e, "\xff", 1); break;          /* not CBOR */
    case 1: cbor_put_raw(e, "\x82\x01", 2); break;      /* truncated */
    case 2: cbor_put_uint(e, 1); break;                 /* not an array */
    case 3:                                             /* one argument too many */
        put_args(e, r, a, b, text);
        e->buf[0] = (uint8_t)(e->buf[0] + 1);
        cbor_put_uint(e, 0);
        break;
    case 4:                                             /* trailing bytes */
        put_args(e, r, a, b, text);
        cbor_put_uint(e, 0);
        break;
    case 5:                                             /* a wrong type */
        cbor_put_array(e, no_args ? 1 : r->method == M_ADD ? 2 : 1);
        if (r->method == M_ADD) {
            cbor_put_int(e, 1);
            cbor_put_cstr(e, "two");
        } else if (r->method == M_LOGIN_MANY || r->method == M_FIRST_PROFILE) {
            cbor_put_cstr(e, "not a list");
        } else {
            cbor_put_uint(e, 42);
        }
        break;
    case 6:                                             /* invalid UTF-8 */
        if (no_args) {
            cbor_put_raw(e, "\x81\x62\xff\xfe", 4);
        } else if (r->method == M_ADD) {
            cbor_put_raw(e, "\x82\x01\x62\xff\xfe", 5);
        } else if (r->method == M_LOGIN_MANY || r->method == M_FIRST_PROFILE) {
            cbor_put_raw(e, "\x81\x81\x62\xc3\x28", 5);
        } else {
            cbor_put_raw(e, "\x81\x63\x61\xed\xa0", 5); /* a, then a truncated surrogate */
        }
        break;
    default:
        if (no_args) {
            cbor_put_raw(e, "\x80\x00", 2); /* [] and a trailing byte */
        } else if (one_in(2)) {
            cbor_put_array(e, 0); /* too few arguments */
        } else {
            return false; /* empty payload for a handler with arguments */
        }
        break;
    }
    return true;
}

static void op_call(ctxrec *c, int method, bool malformed) {
    uint8_t buf[512];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    call_rec *r = call_new(c, method);
    r->malformed = malformed;
    bool payload = build_request(&e, r);
    HC_REQUIRE(!e.overflow, "request buffer");
    bool dead = atomic_load(&c->destroyed);
    int rc = demo_call(c->handle, method_names[method], payload ? cbor_enc_data(&e) : NULL, payload ? e.len : 0,
                       reply_cb, r);
    CHECK_ALLOWED(FN_CALL, rc, call_allowed(c, dead), method_names[method]);
    call_finish(r, rc);
}

static void cancel_id(ctxrec *c, uint64_t id, bool invented);

/* As op_call, through demo_call_cancellable; sometimes withdrawn at once
 * (queued, running or held), sometimes with a NULL call_id (refused). */
static void op_call_cancellable(ctxrec *c, int method, bool malformed) {
    uint8_t buf[512];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    if (one_in(40)) {
        bool dead = atomic_load(&c->destroyed);
        (void)dead;
        int rc = demo_call_cancellable(c->handle, DEMO_METHOD_VERSION, NULL, 0, hc_never_cb, NULL, NULL);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_NULL_ARG), "demo_call_cancellable with a NULL call_id");
        atomic_fetch_add(&st_cancel_null_id, 1);
        return;
    }
    call_rec *r = call_new(c, method);
    r->malformed = malformed;
    r->cancellable = true;
    bool payload = build_request(&e, r);
    HC_REQUIRE(!e.overflow, "request buffer");
    bool dead = atomic_load(&c->destroyed);
    int rc = demo_call_cancellable(c->handle, method_names[method], payload ? cbor_enc_data(&e) : NULL,
                                   payload ? e.len : 0, reply_cb, r, &r->call_id);
    CHECK_ALLOWED(FN_CALL, rc, call_allowed(c, dead), method_names[method]);
    uint64_t id = r->call_id; /* r may be gone once call_finish returns */
    if (rc == HC_OK) {
        CHECK(id != 0, "demo_call_cancellable returned HC_OK with call id 0");
        atomic_int *mark = cmark(c, id);
        if (mark != NULL) {
            int before = atomic_fetch_or(mark, CM_ISSUED);
            CHECK((before & CM_ISSUED) == 0, "context %d: call id %" PRIu64 " issued twice", c->id, id);
        }
        unsigned long long max = atomic_load(&c->max_call_id);
        while (max < id && !atomic_compare_exchange_weak(&c->max_call_id, &max, id)) {
        }
        atomic_fetch_add(&st_cancellable, 1);
    }
    call_finish(r, rc);
    if (rc == HC_OK && one_in(4)) {
        atomic_fetch_add(&st_cancel_at_once, 1);
        cancel_id(c, id, false);
    }
}

/* demo_cancel_call(c, id), accounted for in id's mark. */
static void cancel_id(ctxrec *c, uint64_t id, bool invented) {
    bool dead = atomic_load(&c->destroyed);
    int rc = demo_cancel_call(c->handle, id);
    unsigned allowed = dead       ? S(HC_ERR_INVALID_CONTEXT)
                       : invented ? S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT)
                                  : S(HC_OK) | S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT);
    CHECK_ALLOWED(FN_CANCEL, rc, allowed, invented ? "cancelling an id never issued" : "cancelling a request");
    if (rc == HC_OK) {
        atomic_int *mark = cmark(c, id);
        CHECK(mark != NULL, "context %d: a cancel of untracked id %" PRIu64 " returned HC_OK", c->id, id);
        int before = atomic_fetch_add(mark, 1);
        CHECK((before & CM_OK_MASK) == 0, "context %d: a second cancel of call id %" PRIu64 " returned HC_OK", c->id,
              id);
        atomic_fetch_add(&st_cancel_ok, 1);
    } else if (rc == HC_ERR_UNKNOWN_TOKEN) {
        atomic_fetch_add(invented ? &st_cancel_invented : &st_cancel_refused, 1);
    } else {
        atomic_fetch_add(&st_cancel_dead, 1);
    }
}

/* Withdraws one of c's recent requests (most have replied, some not), an
 * older one, or an id never issued. */
static void op_cancel(ctxrec *c) {
    uint64_t max = atomic_load(&c->max_call_id);
    uint64_t x = hc_rng_below(my_rng(), 100);
    if (x < 2) {
        int rc = demo_cancel_call(NULL, max);
        CHECK_ALLOWED(FN_CANCEL, rc, S(HC_ERR_NULL_ARG), "demo_cancel_call(NULL, id)");
        return;
    }
    if (x < 10 || max == 0) {
        /* Never issued: 0, far ahead, the largest. Ids are only ever
         * issued by demo_call_cancellable, at most CM_CHUNKS * CM_CHUNK of
         * them here, so max + 2^32 cannot have been reached. */
        uint64_t id = x < 4 ? 0 : x < 7 ? UINT64_MAX : max + (1ull << 32);
        cancel_id(c, id, true);
        return;
    }
    uint64_t id = x < 80 ? max - hc_rng_below(my_rng(), max < 16 ? max : 16) : 1 + hc_rng_below(my_rng(), max);
    if (cmark(c, id) == NULL) {
        return;
    }
    cancel_id(c, id, false);
    if (one_in(10)) {
        cancel_id(c, id, false); /* again: refused, unless the first raced a reply it lost to */
    }
}

static const char *const unknown_methods[] = {"logout", "", "LOGIN", "login ", "add\n", "\xff\xfe", "version2",
                                              "panic"};

static void op_call_bad(ctxrec *c) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    call_rec *r = call_new(c, M_ADD);
    bool dead = atomic_load(&c->destroyed);
    int rc;
    switch (hc_rng_below(my_rng(), 8)) {
    case 0:
    case 1:
    case 2: {
        const char *m = unknown_methods[hc_rng_below(my_rng(), sizeof unknown_methods / sizeof *unknown_methods)];
        rc = demo_call(c->handle, m, (const char *)add_req, sizeof add_req, reply_cb, r);
        unsigned allowed = dead ? S(HC_ERR_INVALID_CONTEXT)
                                : S(HC_ERR_UNKNOWN_METHOD) | S(HC_ERR_INVALID_CONTEXT) | S(HC_ERR_SHUTTING_DOWN) |
                                      (c->max_pending ? S(HC_ERR_OVERLOADED) : 0);
        CHECK_ALLOWED(FN_CALL, rc, allowed, "an unknown method");
        break;
    }
    case 3:
        rc = demo_call(c->handle, NULL, (const char *)add_req, sizeof add_req, reply_cb, r);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "a NULL method");
        break;
    case 4:
        rc = demo_call(c->handle, DEMO_METHOD_ADD, NULL, 3, reply_cb, r);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "a NULL request of length 3");
        break;
    case 5:
        rc = demo_call(c->handle, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, NULL, r);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "a NULL callback");
        break;
    case 6:
        r->ctx = NULL;
        rc = demo_call(NULL, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, reply_cb, r);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_NULL_ARG), "a NULL context");
        break;
    default: {
        /* A handle no demo_new returned: a generation no slot reaches. */
        void *invented = (void *)(uintptr_t)(0x7ffffff000000000ull | (1 + hc_rng_below(my_rng(), 64)));
        r->ctx = NULL;
        rc = demo_call(invented, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, reply_cb, r);
        CHECK_ALLOWED(FN_CALL, rc, S(HC_ERR_INVALID_CONTEXT), "an invented handle");
        break;
    }
    }
    call_finish(r, rc);
}

static void op_native(ctxrec *c, int which, bool malformed) {
    hc_rng *rng = my_rng();
    static const char bad_utf8[] = "caf\xc3\x28 \xff";
    char text[32];
    snprintf(text, sizeof text, "n%" PRIu64, hc_rng_below(rng, 1000000));
    const char *arg = malformed ? bad_utf8 : text;
    size_t arg_len = strlen(arg);
    bool dead = atomic_load(&c->destroyed);
    unsigned allowed = call_allowed(c, dead);
    call_rec *r;
    int rc;
    switch (which) {
    case M_VERSION:
        r = call_new(c, M_VERSION);
        r->native = true;
        rc = demo_native_version(c->handle, reply_cb, r);
        break;
    case M_ADD: {
        int64_t a, b;
        r = call_new(c, M_ADD);
        r->native = true;
        random_add_args(r, &a, &b);
        rc = demo_native_add(c->handle, a, b, reply_i64_cb, r);
        break;
    }
    default:
        r = call_new(c, which);
        r->native = true;
        r->malformed = malformed;
        if (malformed && one_in(4)) {
            /* NULL text with a length: refused before anything happens. */
            r->malformed = false;
            rc = which == M_PING_HOST ? demo_native_ping_host(c->handle, NULL, 4, reply_cb, r)
                                      : demo_native_panic_with(c->handle, NULL, 4, reply_cb, r);
            allowed = S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT);
        } else if (which == M_PING_HOST) {
            rc = demo_native_ping_host(c->handle, arg, arg_len, reply_cb, r);
        } else {
            rc = demo_native_panic_with(c->handle, arg, arg_len, reply_cb, r);
        }
        break;
    }
    CHECK_ALLOWED(FN_NATIVE, rc, allowed, method_names[which]);
    call_finish(r, rc);
}

static void op_native_bad(ctxrec *c) {
    call_rec *r = call_new(c, M_VERSION);
    r->native = true;
    int rc;
    switch (hc_rng_below(my_rng(), 3)) {
    case 0:
        rc = demo_native_version(c->handle, NULL, r);
        CHECK_ALLOWED(FN_NATIVE, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "native version, NULL callback");
        break;
    case 1:
        r->method = M_ADD;
        rc = demo_native_add(c->handle, 1, 2, NULL, r);
        CHECK_ALLOWED(FN_NATIVE, rc, S(HC_ERR_NULL_ARG) | S(HC_ERR_INVALID_CONTEXT), "native add, NULL callback");
        break;
    default:
        r->method = M_PING_HOST;
        r->ctx = NULL;
        rc = demo_native_ping_host(NULL, "x", 1, reply_cb, r);
        CHECK_ALLOWED(FN_NATIVE, rc, S(HC_ERR_NULL_ARG), "native ping_host, NULL context");
        break;
    }
    call_finish(r, rc);
}

/* ------------------------------------------------------------------ rings */

/* The calls of one OP_RING: their reply callbacks meet (for a moment at
 * most: a loop thread must not wait for long on something the library
 * cannot see), then each destroys the next one's context. */
#define RING_MEET_MS 20

typedef struct ring {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;       /* calls */
    int arrived; /* reply callbacks arrived, plus refused calls */
    bool armed;  /* every call was made */
    int refs;    /* the issuer and each accepted call */
} ring_t;

static atomic_long st_ring_met;

static void ring_release(ring_t *ring) {
    hc_lock(&ring->mu);
    bool last = --ring->refs == 0;
    hc_unlock(&ring->mu);
    if (last) {
        pthread_cond_destroy(&ring->cv);
        pthread_mutex_destroy(&ring->mu);
        free(ring);
    }
}

/* A reply callback of a ring call: meets the others, then destroys the
 * context in `slot`. */
static void ring_destroy(ring_t *ring, int slot) {
    struct timespec deadline = hc_deadline(RING_MEET_MS);
    hc_lock(&ring->mu);
    ring->arrived++;
    pthread_cond_broadcast(&ring->cv);
    while (!(ring->armed && ring->arrived >= ring->n) && hc_wait_until(&ring->cv, &ring->mu, &deadline)) {
    }
    bool met = ring->armed && ring->arrived >= ring->n;
    hc_unlock(&ring->mu);
    if (met) {
        atomic_fetch_add(&st_ring_met, 1);
    }
    if (atomic_load(&phase) == PH_RUNNING) {
        ctxrec *target = atomic_load(&slots[slot]);
        if (target != NULL) {
            destroy_ctx(target, &st_destroy_ring);
        }
    }
    ring_release(ring);
}

/* hc_now_ms() before which no ring starts: about ten a second. */
static atomic_long next_ring_ms;

/* Calls on 2..SLOTS slots at once whose reply callbacks, all running at the
 * same moment on their loop threads, destroy the next slot's context in a
 * random cycle: the destroys wait for each other in a cycle, which must not
 * deadlock. Only contexts that had some time to work, and about ten rings a
 * second at most. */
#define RING_MIN_AGE_MS 10
#define RING_MIN_REPLIES 50
static void op_ring(void) {
    long now = (long)hc_now_ms();
    long next = atomic_load(&next_ring_ms);
    if (now < next) {
        return;
    }
    int order[SLOTS];
    ctxrec *members[SLOTS];
    for (int i = 0; i < SLOTS; i++) {
        order[i] = i;
    }
    for (int i = SLOTS - 1; i > 0; i--) {
        int j = (int)hc_rng_below(my_rng(), (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int n = 2 + (int)hc_rng_below(my_rng(), SLOTS - 1);
    for (int i = 0; i < n; i++) {
        members[i] = atomic_load(&slots[order[i]]);
        if (members[i] == NULL || atomic_load(&members[i]->destroyed) || now - members[i]->born_ms < RING_MIN_AGE_MS ||
            atomic_load(&members[i]->replied) < RING_MIN_REPLIES) {
            return;
        }
    }
    if (!atomic_compare_exchange_strong(&next_ring_ms, &next, now + 50 + (long)hc_rng_below(my_rng(), 100))) {
        return;
    }
    ring_t *ring = calloc(1, sizeof *ring);
    HC_REQUIRE(ring != NULL, "calloc");
    hc_mutex_init(&ring->mu);
    hc_cond_init(&ring->cv);
    ring->n = n;
    ring->refs = 1;
    atomic_fetch_add(&st_rings, 1);
    for (int i = 0; i < n; i++) {
        ctxrec *c = members[i];
        /* add replies at once; ping_host and login after a host fn. */
        int method = !one_in(8) ? M_ADD : one_in(2) ? M_PING_HOST : M_LOGIN;
        uint8_t buf[128];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        call_rec *r = call_new(c, method);
        r->destroy_slot = order[(i + 1) % n];
        r->ring = ring;
        bool payload = build_request(&e, r);
        HC_REQUIRE(!e.overflow, "request buffer");
        hc_lock(&ring->mu);
        ring->refs++;
        hc_unlock(&ring->mu);
        bool dead = atomic_load(&c->destroyed);
        int rc = demo_call(c->handle, method_names[method], payload ? cbor_enc_data(&e) : NULL, payload ? e.len : 0,
                           reply_cb, r);
        CHECK_ALLOWED(FN_CALL, rc, call_allowed(c, dead), "a ring call");
        if (rc != HC_OK) {
            hc_lock(&ring->mu);
            ring->refs--;
            ring->arrived++; /* nobody comes for it */
            hc_unlock(&ring->mu);
        }
        call_finish(r, rc);
    }
    hc_lock(&ring->mu);
    ring->armed = true;
    pthread_cond_broadcast(&ring->cv);
    hc_unlock(&ring->mu);
    ring_release(ring);
}

/* ------------------------------------------------------------ schedule */

enum {
    OP_CALL,
    OP_CALL_MALFORMED,
    OP_CALL_BAD,
    OP_CALL_CANCELLABLE,
    OP_NATIVE,
    OP_NATIVE_MALFORMED,
    OP_NATIVE_BAD,
    OP_COMPLETE,
    OP_COMPLETE_STALE,
    OP_COMPLETE_INVENTED,
    OP_COMPLETE_BAD,
    OP_REGISTER,
    OP_REGISTER_BAD,
    OP_ADD_LISTENER,
    OP_ADD_LISTENER_BAD,
    OP_REMOVE_LISTENER,
    OP_DESTROY,
    OP_RING,
    OP_NEW_BAD,
    OP_DESCRIBE,
    OP_CANCEL,
    OP_KINDS
};

/* Weights (per 10 000) of the threads' operations. */
static const int op_weights[OP_KINDS] = {
    [OP_CALL] = 2500,
    [OP_CALL_CANCELLABLE] = 700,
    [OP_CALL_MALFORMED] = 500,
    [OP_CALL_BAD] = 250,
    [OP_NATIVE] = 900,
    [OP_NATIVE_MALFORMED] = 150,
    [OP_NATIVE_BAD] = 50,
    [OP_COMPLETE] = 3300,
    [OP_COMPLETE_STALE] = 300,
    [OP_COMPLETE_INVENTED] = 200,
    [OP_COMPLETE_BAD] = 200,
    [OP_REGISTER] = 300,
    [OP_REGISTER_BAD] = 50,
    [OP_ADD_LISTENER] = 250,
    [OP_ADD_LISTENER_BAD] = 50,
    [OP_REMOVE_LISTENER] = 200,
    [OP_DESTROY] = 10,
    [OP_RING] = 10,
    [OP_NEW_BAD] = 20,
    [OP_DESCRIBE] = 20,
    [OP_CANCEL] = 500,
};

/* Methods of OP_CALL (per 100): host-calling ones dominate. */
static int pick_method(void) {
    uint64_t x = hc_rng_below(my_rng(), 100);
    return x < 30   ? M_LOGIN
           : x < 45 ? M_LOGIN_MANY
           : x < 57 ? M_FIRST_PROFILE
           : x < 75 ? M_PING_HOST
           : x < 90 ? M_ADD
           : x < 98 ? M_VERSION
                    : M_PANIC_WITH;
}

static int pick_native(void) {
    uint64_t x = hc_rng_below(my_rng(), 100);
    return x < 45 ? M_PING_HOST : x < 75 ? M_ADD : x < 97 ? M_VERSION : M_PANIC_WITH;
}

static void run_op(int op) {
    if (op <= OP_NATIVE_BAD && atomic_load(&n_accepted) - atomic_load(&n_replied) > MAX_OUTSTANDING) {
        op = OP_COMPLETE; /* let the answers catch up */
    }
    ctxrec *c = NULL;
    if (op != OP_COMPLETE && op != OP_COMPLETE_STALE && op != OP_COMPLETE_BAD && op != OP_NEW_BAD &&
        op != OP_DESCRIBE && op != OP_DESTROY && op != OP_RING) {
        c = pick_ctx();
        if (c == NULL) {
            return;
        }
    }
    switch (op) {
    case OP_CALL: op_call(c, pick_method(), false); break;
    case OP_CALL_MALFORMED: op_call(c, (int)hc_rng_below(my_rng(), M_COUNT), true); break;
    case OP_CALL_BAD: op_call_bad(c); break;
    case OP_CALL_CANCELLABLE: op_call_cancellable(c, one_in(10) ? (int)hc_rng_below(my_rng(), M_COUNT) : pick_method(),
                                                  one_in(10)); break;
    case OP_CANCEL: op_cancel(c); break;
    case OP_NATIVE: op_native(c, pick_native(), false); break;
    case OP_NATIVE_MALFORMED: op_native(c, one_in(2) ? M_PING_HOST : M_PANIC_WITH, true); break;
    case OP_NATIVE_BAD: op_native_bad(c); break;
    case OP_COMPLETE: op_complete_pool(); break;
    case OP_COMPLETE_STALE: op_complete_stale(); break;
    case OP_COMPLETE_INVENTED: op_complete_invented(); break;
    case OP_COMPLETE_BAD: op_complete_bad(); break;
    case OP_REGISTER: op_register(c); break;
    case OP_REGISTER_BAD: op_register_bad(c); break;
    case OP_ADD_LISTENER: op_add_listener(c); break;
    case OP_ADD_LISTENER_BAD: op_add_listener_bad(c); break;
    case OP_REMOVE_LISTENER: op_remove_listener(c); break;
    case OP_DESTROY: op_destroy(); break;
    case OP_RING: op_ring(); break;
    case OP_NEW_BAD: op_new_bad(); break;
    default: op_describe(); break;
    }
}

static int op_total; /* the sum of op_weights, set by main */

static int pick_op(void) {
    int total = op_total;
    int x = (int)hc_rng_below(my_rng(), (uint64_t)total);
    for (int i = 0; i < OP_KINDS; i++) {
        if (x < op_weights[i]) {
            return i;
        }
        x -= op_weights[i];
    }
    return OP_DESCRIBE;
}

/* Chances (per 10 000 callbacks) of what a callback does besides its job. */
#define CB_DESTROY_OWN 1
#define CB_DESTROY_OTHER 2
#define CB_OP 1500

/* What a callback (of context self) does on top of its job, while the
 * schedule runs: destroy its own context or another slot's, or one of the
 * threads' operations. */
static void cb_chaos(ctxrec *self) {
    if (atomic_load(&phase) != PH_RUNNING) {
        return;
    }
    uint64_t x = hc_rng_below(my_rng(), 10000);
    if (x < CB_DESTROY_OWN) {
        destroy_ctx(self, &st_destroy_inside_own);
    } else if (x < CB_DESTROY_OWN + CB_DESTROY_OTHER) {
        ctxrec *other = atomic_load(&slots[hc_rng_below(my_rng(), SLOTS)]);
        if (other != NULL && (atomic_load(&other->replied) >= other->min_replies / 4 || destroyable(other))) {
            destroy_ctx(other, other == self ? &st_destroy_inside_own : &st_destroy_inside_other);
        }
    } else if (x < CB_DESTROY_OWN + CB_DESTROY_OTHER + CB_OP) {
        int op = pick_op();
        if (op != OP_DESTROY && op != OP_RING) {
            atomic_fetch_add(&st_ops_callbacks, 1);
            run_op(op);
        }
    }
}

/* ---------------------------------------------------------------- threads */

static double deadline_ms;

static void *worker_main(void *arg) {
    long index = (long)(intptr_t)arg;
    hc_rng_seed(&tl_rng, seed * 0x100000001b3ull + (uint64_t)index + 1);
    tl_rng_ready = true;
    long ops = 0;
    while (hc_now_ms() < deadline_ms) {
        run_op(pick_op());
        ops++;
    }
    atomic_fetch_add(&st_ops_workers, ops);
    return NULL;
}

/* ------------------------------------------------------------------ drain */

/* Whether every surviving context has answered all it accepted and no
 * callback is running (so none can start anything more). */
static bool drained(void) {
    if (atomic_load(&n_active_cb) != 0) {
        return false;
    }
    for (int s = 0; s < SLOTS; s++) {
        ctxrec *c = atomic_load(&slots[s]);
        if (!atomic_load(&c->destroyed) && atomic_load(&c->accepted) != atomic_load(&c->replied)) {
            return false;
        }
    }
    return true;
}

static bool probes_done(probe_t *probes, int n) {
    for (int i = 0; i < n; i++) {
        if (!atomic_load(&probes[i].done)) {
            return false;
        }
    }
    return true;
}

/* Completes every pooled token (with its right result), parked or not,
 * until `done` says so; fails after END_WAIT_MS. */
static void drain_until(bool (*done)(probe_t *, int), probe_t *probes, int n, const char *what) {
    struct timespec deadline = hc_deadline(END_WAIT_MS);
    for (;;) {
        /* One pass over the pool as it is now: a token refused here is
         * being cancelled, and its notice takes it out. */
        hc_lock(&tok.mu);
        long count = tok.pool_size;
        struct {
            ctxrec *ctx;
            uint64_t token;
            int kind;
            char arg[HC_ARG_MAX];
        } *batch = calloc((size_t)count + 1, sizeof *batch);
        HC_REQUIRE(batch != NULL, "calloc");
        for (long i = 0; i < count; i++) {
            batch[i].ctx = tok.pool[i]->ctx;
            batch[i].token = tok.pool[i]->token;
            batch[i].kind = tok.pool[i]->kind;
            memcpy(batch[i].arg, tok.pool[i]->arg, HC_ARG_MAX);
        }
        hc_unlock(&tok.mu);
        bool progress = false;
        for (long i = 0; i < count; i++) {
            int rc = complete_as(batch[i].ctx->handle, batch[i].token, batch[i].kind, batch[i].arg, V_OK);
            CHECK_ALLOWED(FN_COMPLETE, rc, S(HC_OK) | S(HC_ERR_UNKNOWN_TOKEN) | S(HC_ERR_INVALID_CONTEXT),
                          "completing a pooled token while draining");
            completion_result(batch[i].ctx, batch[i].token, batch[i].kind, batch[i].arg, rc);
            progress |= rc == HC_OK;
        }
        free(batch);
        /* Then, unless that changed something, wait for a change: a reply,
         * a new token, a cancel notice, a callback returning. */
        hc_lock(&acct.mu);
        bool finished = done == NULL ? drained() : done(probes, n);
        bool in_time = true;
        if (!finished && !progress) {
            acct.waiting = true;
            in_time = hc_wait_until(&acct.cv, &acct.mu, &deadline);
            acct.waiting = false;
        }
        hc_unlock(&acct.mu);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
            in_time = false;
        }
        if (finished) {
            return;
        }
        if (!in_time) {
            fflush(stdout);
            for (int s = 0; s < SLOTS; s++) {
                ctxrec *c = atomic_load(&slots[s]);
                fprintf(stderr, "  slot %d: context %d, destroyed %d, %ld accepted, %ld replied\n", s, c->id,
                        atomic_load(&c->destroyed), atomic_load(&c->accepted), atomic_load(&c->replied));
            }
            CHECK(false, "%s: not done after %d ms with every token completed (%ld callbacks running)", what,
                  END_WAIT_MS, atomic_load(&n_active_cb));
        }
    }
}

/* After the schedule: the surviving contexts answer what they accepted once
 * the host answers every token, and still work: add() answers, and a login
 * is not refused as overloaded (no in-flight slot leaked). */
static void drain_and_probe(void) {
    double t0 = hc_now_ms();
    long unanswered = atomic_load(&n_accepted) - atomic_load(&n_replied);
    hc_lock(&tok.mu);
    long pooled = tok.pool_size;
    hc_unlock(&tok.mu);
    drain_until(NULL, NULL, 0, "draining the surviving contexts");
    printf("drain: %ld calls unanswered and %ld tokens pooled when the threads stopped; drained in %.0f ms\n",
           unanswered, pooled, hc_now_ms() - t0);
    probe_t probes[2 * SLOTS];
    ctxrec *probed[2 * SLOTS];
    int n = 0;
    memset(probes, 0, sizeof probes);
    for (int s = 0; s < SLOTS; s++) {
        ctxrec *c = atomic_load(&slots[s]);
        if (atomic_load(&c->destroyed)) {
            continue;
        }
        for (int m = 0; m < 2; m++) {
            uint8_t buf[64];
            cbor_enc e;
            cbor_enc_init(&e, buf, sizeof buf);
            call_rec *r = call_new(c, m == 0 ? M_ADD : M_LOGIN);
            r->probe = &probes[n];
            if (m == 0) {
                r->sum = 42;
                demo_put_add_request(&e, 20, 22);
            } else {
                r->n_ids = 1;
                make_id(r->ids[0]);
                demo_put_text_request(&e, r->ids[0]);
            }
            int rc = demo_call(c->handle, method_names[r->method], cbor_enc_data(&e), e.len, reply_cb, r);
            /* Nothing is pending: never overloaded. */
            CHECK_ALLOWED(FN_CALL, rc, S(HC_OK), "a probe of a surviving context");
            call_finish(r, rc);
            probed[n++] = c;
        }
    }
    drain_until(probes_done, probes, n, "probing the surviving contexts");
    for (int i = 0; i < n; i++) {
        ctxrec *c = probed[i];
        if (i % 2 == 0) {
            CHECK(probes[i].ret == RET_OK, "context %d after the schedule: add(20, 22) failed: %s", c->id,
                  probes[i].msg);
        } else {
            CHECK(probes[i].ret == RET_OK || !hc_contains(probes[i].msg, strlen(probes[i].msg), "overloaded"),
                  "context %d (max_in_flight %d) after the schedule, with no host call in flight: login refused: %s",
                  c->id, c->max_in_flight, probes[i].msg);
        }
    }
    printf("probes: %d surviving contexts answered add and login after the drain\n", n / 2);
}

/* --------------------------------------------------------------- watchdog */

static void put_str(const char *s) {
    ssize_t ignored = write(2, s, strlen(s));
    (void)ignored;
}

static void put_num(const char *label, long v) {
    char buf[32];
    int i = sizeof buf;
    bool neg = v < 0;
    unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0 && i > 1);
    if (neg) {
        buf[--i] = '-';
    }
    put_str(label);
    put_str(buf + i);
}

static void on_alarm(int sig) {
    (void)sig;
    int p = atomic_load(&phase);
    put_str("FAILED: hang: still ");
    put_str(p >= 0 && p < PH_COUNT ? phase_names[p] : "?");
    put_str(" when the alarm rang;");
    put_num(" accepted ", atomic_load(&n_accepted));
    put_num(", replied ", atomic_load(&n_replied));
    put_num(", tokens ", atomic_load(&n_tok_started));
    put_num(", ended ", atomic_load(&n_tok_ended));
    put_num(", contexts ", atomic_load(&n_created));
    put_num(", destroyed ", atomic_load(&n_destroyed));
    put_num(", callbacks running ", atomic_load(&n_active_cb));
    put_str("\n");
    _exit(1);
}

/* ----------------------------------------------------------------- report */

static void print_statuses(int kind) {
    printf("  %s:", fn_names[kind]);
    for (int i = 0; i < 9; i++) {
        long n = atomic_load(&status_counts[kind][i]);
        if (n > 0) {
            printf(" %s %ld", hc_status_name(-i), n);
        }
    }
    printf("\n");
}

static void print_summary(double elapsed_ms) {
    long worker_ops = atomic_load(&st_ops_workers);
    long statuses = 0;
    for (int kind = 0; kind < FN_KINDS; kind++) {
        for (int i = 0; i < 9; i++) {
            statuses += atomic_load(&status_counts[kind][i]);
        }
    }
    double secs = elapsed_ms / 1000;
    printf("summary: %ld operations by %d threads in %.1f s (%.0f/s; many find nothing to do), %ld more from inside "
           "callbacks\n",
           worker_ops, WORKERS, secs, worker_ops / secs, atomic_load(&st_ops_callbacks));
    printf(" statuses returned: %ld (%.0f/s)\n", statuses, statuses / secs);
    for (int kind = 0; kind < FN_KINDS; kind++) {
        print_statuses(kind);
    }
    printf(" calls accepted %ld:", atomic_load(&n_accepted));
    for (int m = 0; m < M_COUNT; m++) {
        printf(" %s %ld", method_names[m], atomic_load(&st_calls_by_method[m]));
    }
    printf("\n replies %ld:", atomic_load(&n_replied));
    for (int o = 0; o < OUT_COUNT; o++) {
        printf(" %s %ld%s", out_names[o], atomic_load(&st_out[o]), o + 1 < OUT_COUNT ? "," : "");
    }
    printf("\n  by outcome code:");
    for (int ret = 0; ret < RET_CODES; ret++) {
        long n = atomic_load(&st_ret[ret]);
        if (n > 0) {
            printf(" %s %ld", hc_ret_name(ret), n);
        }
    }
    printf("\n  host errors: timed out %ld, overloaded %ld, malformed reply %ld, not registered %ld, the host's %ld\n",
           atomic_load(&st_host_timeout), atomic_load(&st_host_overloaded), atomic_load(&st_host_malformed),
           atomic_load(&st_host_unregistered), atomic_load(&st_host_said));
    printf(" tokens %ld: completed %ld (inline %ld, by another thread %ld), cancelled %ld\n",
           atomic_load(&n_tok_started), atomic_load(&st_tok_inline) + atomic_load(&st_tok_thread),
           atomic_load(&st_tok_inline), atomic_load(&st_tok_thread), atomic_load(&st_tok_cancelled));
    printf("  completions refused: pooled token gone %ld, double %ld, stale %ld, invented %ld, bad ret %ld "
           "(inline %ld), NULL %ld; inline doubles %ld\n",
           atomic_load(&st_pool_refused), atomic_load(&st_refused_double), atomic_load(&st_refused_stale),
           atomic_load(&st_refused_invented), atomic_load(&st_refused_badret), atomic_load(&st_inline_badret),
           atomic_load(&st_refused_nullmsg), atomic_load(&st_inline_double));
    printf(" host fns re-registered %ld; listeners added %ld (refused %ld), removed %ld, events %ld, bad %ld\n",
           atomic_load(&st_registered), atomic_load(&st_listen_added), atomic_load(&st_listen_add_refused),
           atomic_load(&st_listen_removed), atomic_load(&st_listen_events), atomic_load(&st_listen_bad));
    printf(" destroys: outside callbacks %ld, inside callbacks %ld (own context %ld, another %ld, in %ld rings %ld), "
           "of stale handles %ld, too-late replacements %ld, at the end %ld; ring callbacks that met %ld\n",
           atomic_load(&st_destroy_outside),
           atomic_load(&st_destroy_inside_own) + atomic_load(&st_destroy_inside_other) + atomic_load(&st_destroy_ring),
           atomic_load(&st_destroy_inside_own), atomic_load(&st_destroy_inside_other), atomic_load(&st_rings),
           atomic_load(&st_destroy_ring), atomic_load(&st_destroy_stale),
           atomic_load(&st_destroy_leftover), atomic_load(&st_destroy_final), atomic_load(&st_ring_met));
    printf(" cancellable calls %ld (NULL call_id refused %ld); cancels accepted %ld (%ld at once), refused as "
           "replied %ld, of ids never issued %ld, of dead contexts %ld; replies before *call_id was written %ld\n",
           atomic_load(&st_cancellable), atomic_load(&st_cancel_null_id), atomic_load(&st_cancel_ok),
           atomic_load(&st_cancel_at_once), atomic_load(&st_cancel_refused), atomic_load(&st_cancel_invented),
           atomic_load(&st_cancel_dead), atomic_load(&st_reply_before_id));
    printf(" contexts created %ld, destroyed %ld; bad configs refused %ld; last-error probes %ld\n",
           atomic_load(&n_created), atomic_load(&n_destroyed), atomic_load(&st_bad_config),
           atomic_load(&st_last_error_probes));
    fflush(stdout);
}

/* What is missing, when the end's wait ran out. */
static void print_missing(void) {
    fflush(stdout);
    hc_lock(&ctxs.mu);
    int shown = 0;
    for (ctxrec *c = ctxs.all; c != NULL; c = c->next_all) {
        long lost = atomic_load(&c->accepted) - atomic_load(&c->replied);
        if (lost != 0 && shown++ < 20) {
            fprintf(stderr,
                    "  context %d (slot %d; timeout %d ms, max_pending %d, max_in_flight %d; destroyed %d, by a "
                    "thread %d): %ld accepted, %ld replied\n",
                    c->id, c->slot, c->timeout_ms, c->max_pending, c->max_in_flight, atomic_load(&c->destroyed),
                    atomic_load(&c->quiet), atomic_load(&c->accepted), atomic_load(&c->replied));
        }
    }
    hc_unlock(&ctxs.mu);
    hc_lock(&tok.mu);
    shown = 0;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (token_rec *t = tok.buckets[b]; t != NULL; t = t->next) {
            if (shown++ < 20) {
                fprintf(stderr, "  token %#" PRIx64 " of context %d (%s \"%s\", %s; context destroyed %d)\n", t->token,
                        t->ctx->id, hf_names[t->kind], t->arg, t->pool_index >= 0 ? "pooled" : "not pooled",
                        atomic_load(&t->ctx->destroyed));
            }
        }
    }
    hc_unlock(&tok.mu);
    fflush(stderr);
}

static void free_all(void) {
    hc_lock(&ctxs.mu);
    ctxrec *c = ctxs.all;
    ctxs.all = NULL;
    hc_unlock(&ctxs.mu);
    while (c != NULL) {
        ctxrec *next = c->next_all;
        listener_rec *l = c->all_listeners;
        while (l != NULL) {
            listener_rec *lnext = l->next_all;
            free(l);
            l = lnext;
        }
        for (int k = 0; k < CM_CHUNKS; k++) {
            free(atomic_load(&c->cmarks[k]));
        }
        pthread_mutex_destroy(&c->mu);
        free(c);
        c = next;
    }
    for (size_t i = 0; i < GRAVE; i++) {
        free(grave.ring[i]);
        grave.ring[i] = NULL;
    }
    CHECK(tok.live == 0 && tok.pool_size == 0, "%ld tokens still recorded", tok.live);
    free(tok.pool);
    tok.pool = NULL;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s <seconds> [seed]\n", argv[0]);
        return 2;
    }
    char *end;
    long seconds = strtol(argv[1], &end, 10);
    CHECK(*end == 0 && seconds > 0 && seconds < 100000, "bad <seconds> \"%s\"", argv[1]);
    if (argc == 3) {
        seed = strtoull(argv[2], &end, 0);
        CHECK(*end == 0, "bad seed \"%s\"", argv[2]);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        seed = ((uint64_t)now.tv_sec * 1000003u) ^ (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 40);
    }
    printf("chaos: seed %" PRIu64 " (replay: chaos %ld %" PRIu64 "), %d slots, %d threads\n", seed, seconds, seed,
           SLOTS, WORKERS);
    fflush(stdout);
    HC_REQUIRE(signal(SIGALRM, on_alarm) != SIG_ERR, "signal");
    alarm((unsigned)(seconds + ALARM_MARGIN_S));

    hc_mutex_init(&acct.mu);
    hc_cond_init(&acct.cv);
    hc_mutex_init(&grave.mu);
    hc_mutex_init(&tok.mu);
    hc_mutex_init(&ctxs.mu);
    hc_mutex_init(&slots_mu);
    hc_rng_seed(&tl_rng, seed);
    tl_rng_ready = true;

    for (int i = 0; i < OP_KINDS; i++) {
        op_total += op_weights[i];
    }

    set_phase(PH_RUNNING);
    for (int s = 0; s < SLOTS; s++) {
        atomic_store(&slots[s], ctx_create(s));
    }
    double t0 = hc_now_ms();
    deadline_ms = t0 + (double)seconds * 1000;
    pthread_t workers[WORKERS];
    for (long i = 0; i < WORKERS; i++) {
        hc_spawn(&workers[i], worker_main, (void *)(intptr_t)i);
    }
    for (int i = 0; i < WORKERS; i++) {
        hc_join(workers[i]);
    }
    double elapsed = hc_now_ms() - t0;

    /* No callback starts anything new from here on, and no slot changes. */
    set_phase(PH_STOPPING);
    hc_lock(&slots_mu);
    stopping = true;
    hc_unlock(&slots_mu);

    set_phase(PH_DRAINING);
    drain_and_probe();

    set_phase(PH_DESTROYING);
    for (int s = 0; s < SLOTS; s++) {
        ctxrec *c = atomic_exchange(&slots[s], NULL);
        bool dead = atomic_load(&c->destroyed);
        int rc = demo_destroy(c->handle);
        /* Destroyed by a callback whose replacement came too late. */
        CHECK_ALLOWED(FN_DESTROY, rc, dead ? S(HC_ERR_INVALID_CONTEXT) : S(HC_OK) | S(HC_ERR_INVALID_CONTEXT),
                      "destroying a slot's context at the end");
        if (rc == HC_OK) {
            atomic_fetch_add(&st_destroy_final, 1);
            destroyed(c);
        }
    }

    /* Destroys from callbacks may still be tearing down: wait on the counts. */
    set_phase(PH_WAITING);
    struct timespec deadline = hc_deadline(END_WAIT_MS);
    hc_lock(&acct.mu);
    acct.waiting = true;
    for (;;) {
        bool done = atomic_load(&n_replied) == atomic_load(&n_accepted) &&
                    atomic_load(&n_tok_ended) == atomic_load(&n_tok_started) && atomic_load(&n_active_cb) == 0 &&
                    atomic_load(&n_destroyed) == atomic_load(&n_created);
        if (done || !hc_wait_until(&acct.cv, &acct.mu, &deadline)) {
            break;
        }
    }
    long accepted = atomic_load(&n_accepted), replied = atomic_load(&n_replied);
    long started = atomic_load(&n_tok_started), ended = atomic_load(&n_tok_ended);
    long created = atomic_load(&n_created), destroyed_n = atomic_load(&n_destroyed);
    long active = atomic_load(&n_active_cb);
    hc_unlock(&acct.mu);
    if (replied != accepted || ended != started || created != destroyed_n || active != 0) {
        print_summary(elapsed);
        print_missing();
    }
    CHECK(replied == accepted, "lost replies: %ld (%ld calls accepted, %ld replies) after %d ms", accepted - replied,
          accepted, replied, END_WAIT_MS);
    CHECK(ended == started, "tokens never ended: %ld (%ld handed to host fns, %ld completed or cancelled) after %d ms",
          started - ended, started, ended, END_WAIT_MS);
    CHECK(created == destroyed_n, "contexts never destroyed: %ld of %ld", created - destroyed_n, created);
    CHECK(active == 0, "%ld callbacks still running after %d ms", active, END_WAIT_MS);
    /* Every reply was counted by its outcome code, and the codes agree with
     * what the replies were classified as. */
    long by_code = 0;
    for (int ret = 0; ret < RET_CODES; ret++) {
        by_code += atomic_load(&st_ret[ret]);
    }
    CHECK(by_code == replied, "%ld replies counted by outcome code, %ld replied", by_code, replied);
    CHECK(atomic_load(&st_ret[RET_OK]) == atomic_load(&st_out[OUT_OK]), "RET_OK %ld, ok %ld",
          atomic_load(&st_ret[RET_OK]), atomic_load(&st_out[OUT_OK]));
    CHECK(atomic_load(&st_ret[RET_SHUTTING_DOWN]) == atomic_load(&st_out[OUT_SHUTDOWN]),
          "RET_SHUTTING_DOWN %ld, shutting down %ld", atomic_load(&st_ret[RET_SHUTTING_DOWN]),
          atomic_load(&st_out[OUT_SHUTDOWN]));
    CHECK(atomic_load(&st_ret[RET_INVALID_ARG]) == atomic_load(&st_out[OUT_BAD_REQUEST]),
          "RET_INVALID_ARG %ld, bad request %ld", atomic_load(&st_ret[RET_INVALID_ARG]),
          atomic_load(&st_out[OUT_BAD_REQUEST]));
    CHECK(atomic_load(&st_ret[RET_PANIC]) == atomic_load(&st_out[OUT_PANICKED]), "RET_PANIC %ld, panicked %ld",
          atomic_load(&st_ret[RET_PANIC]), atomic_load(&st_out[OUT_PANICKED]));
    CHECK(atomic_load(&st_ret[RET_ERR]) == atomic_load(&st_out[OUT_HOST_ERR]) + atomic_load(&st_out[OUT_OVERFLOW]) +
                                               atomic_load(&st_out[OUT_NO_IDS]),
          "RET_ERR %ld, demo's own errors %ld", atomic_load(&st_ret[RET_ERR]),
          atomic_load(&st_out[OUT_HOST_ERR]) + atomic_load(&st_out[OUT_OVERFLOW]) + atomic_load(&st_out[OUT_NO_IDS]));

    /* Withdrawals: per call id, at most one cancel was accepted, and the one
     * reply was RET_CANCELLED exactly when one was. */
    CHECK(atomic_load(&st_ret[RET_CANCELLED]) == atomic_load(&st_out[OUT_CANCELLED]), "RET_CANCELLED %ld, withdrawn %ld",
          atomic_load(&st_ret[RET_CANCELLED]), atomic_load(&st_out[OUT_CANCELLED]));
    CHECK(atomic_load(&st_ret[RET_CANCELLED]) == atomic_load(&st_cancel_ok),
          "%ld RET_CANCELLED replies, %ld cancels returned HC_OK", atomic_load(&st_ret[RET_CANCELLED]),
          atomic_load(&st_cancel_ok));
    long ids_checked = 0;
    hc_lock(&ctxs.mu);
    for (ctxrec *c = ctxs.all; c != NULL; c = c->next_all) {
        for (int k = 0; k < CM_CHUNKS; k++) {
            atomic_int *chunk = atomic_load(&c->cmarks[k]);
            for (int j = 0; chunk != NULL && j < CM_CHUNK; j++) {
                int m = atomic_load(&chunk[j]);
                uint64_t id = (uint64_t)k * CM_CHUNK + (uint64_t)j + 1;
                int ok = m & CM_OK_MASK;
                if (!(m & CM_ISSUED)) {
                    CHECK(m == 0, "context %d: call id %" PRIu64 " was never issued, yet mark %#x", c->id, id, m);
                    continue;
                }
                ids_checked++;
                CHECK(!(m & CM_CANCELLED) != !(m & CM_REAL), "context %d: call id %" PRIu64 ": mark %#x", c->id, id, m);
                CHECK(ok <= 1, "context %d: call id %" PRIu64 ": %d cancels returned HC_OK", c->id, id, ok);
                CHECK((ok == 1) == !!(m & CM_CANCELLED),
                      "context %d: call id %" PRIu64 ": %d cancels returned HC_OK, and its reply was %s", c->id, id,
                      ok, (m & CM_CANCELLED) ? "RET_CANCELLED" : "its real one");
            }
        }
    }
    hc_unlock(&ctxs.mu);
    CHECK(ids_checked == atomic_load(&st_cancellable), "%ld call ids checked, %ld cancellable calls accepted",
          ids_checked, atomic_load(&st_cancellable));

    /* Every context is gone; every handle is refused. */
    hc_lock(&ctxs.mu);
    for (ctxrec *c = ctxs.all; c != NULL; c = c->next_all) {
        CHECK(atomic_load(&c->destroyed) == 1, "context %d destroyed %d times", c->id, atomic_load(&c->destroyed));
        CHECK(atomic_load(&c->accepted) == atomic_load(&c->replied), "context %d: %ld accepted, %ld replied", c->id,
              atomic_load(&c->accepted), atomic_load(&c->replied));
        CHECK_STATUS(demo_destroy(c->handle), HC_ERR_INVALID_CONTEXT);
    }
    hc_unlock(&ctxs.mu);
    CHECK(atomic_load(&hc_never_count) == 0, "%d callbacks of refused calls ran", atomic_load(&hc_never_count));

    set_phase(PH_FREEING);
    free_all();
    print_summary(elapsed);
    CHECK(atomic_load(&st_reply_before_id) == 0,
          "%ld replies of cancellable calls ran before demo_call_cancellable wrote their *call_id (docs/abi.md: "
          "written before the request is queued, so before its reply can run); each was a RET_CANCELLED brought by "
          "a cancel of an id that demo_call_cancellable had opened but not yet written out",
          atomic_load(&st_reply_before_id));
    alarm(0);
    return hc_done();
}
