/*
 * stress.c - many host threads completing many host calls in random order,
 * then a destroy in the middle of the traffic.
 *
 *   stress [N]     (default N = 100000)
 *
 * Phase 1: N login calls. The host fn puts each (token, id) into a shared
 * pool; WORKERS threads each take random entries from the pool (per-thread
 * PRNG) and complete them: a Profile, or for every 13th id the error
 * "no user <id>". Now and then a worker completes a token again at once
 * (double) or completes one it finished earlier (late): those must be
 * refused with HC_ERR_UNKNOWN_TOKEN and must not disturb anything.
 *
 * Phase 2: N/2 more calls on the same context, streamed by a submitter
 * thread that keeps a bounded window in flight (it waits for replies, not
 * for time), so requests are queued, in the host's pool, being completed
 * and being delivered all at once. The host holds every 10th call aside
 * (never completes it). Once a third of them replied, the main thread
 * destroys the context in the middle of that traffic; the submitter stops
 * at the first refused call.
 *
 * Every request id (passed as user_data) must get exactly one reply; a
 * RET_OK session must greet the right user; every host call ends exactly
 * once, either completed by the host or cancelled (notifier) at destroy;
 * after destroy the unfinished requests have their RET_SHUTTING_DOWN reply;
 * a host error is demo's RET_ERR.
 */
#include "harness.h"

#define WORKERS 8
#define RING 16

enum { KIND_NONE = 0, KIND_OK = 1, KIND_HOST_ERR = 2, KIND_SHUTDOWN = 3 };

static void *ctx;
static long n1, n2, total;

/* Per request id. */
static atomic_int *replies;     /* reply callbacks */
static atomic_int *kinds;       /* what the reply was */
static atomic_int *host_calls;  /* host fn invocations */
static atomic_int *completed;   /* host_complete returned HC_OK */
static atomic_int *cancelled;   /* cancel notifications */
static atomic_int *refused;     /* a worker's first completion was refused */
static atomic_int *accepted;    /* demo_call returned HC_OK */
static uint64_t *token_of;      /* under pool.mu */

static hc_counter replies_done;
static atomic_bool destroy_started;
static atomic_long late_double_attempts;
static atomic_long late_double_after_destroy;
static atomic_long refused_unknown;  /* first completions refused: cancelled by the destroy */
static atomic_long refused_invalid;  /* first completions refused: context already gone */

/* The pool of host calls waiting for a worker, with a token -> id map. */
typedef struct {
    uint64_t token;
    long id;
} entry;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    entry *items;
    long size;
    long *pos; /* per id: index in items, or -1 */
    bool stop;
    uint64_t *keys; /* open addressing; 0 = empty (no token is 0) */
    long *vals;
    size_t mask;
    long held_aside;
} pool;

static size_t slot_of(uint64_t token) {
    uint64_t h = token * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ (h >> 29)) & pool.mask;
}

static void map_put(uint64_t token, long id) {
    CHECK(token != 0, "token 0 was handed out");
    size_t i = slot_of(token);
    while (pool.keys[i] != 0) {
        CHECK(pool.keys[i] != token, "token %#llx handed out twice", (unsigned long long)token);
        i = (i + 1) & pool.mask;
    }
    pool.keys[i] = token;
    pool.vals[i] = id;
}

static long map_get(uint64_t token) {
    size_t i = slot_of(token);
    while (pool.keys[i] != 0) {
        if (pool.keys[i] == token) {
            return pool.vals[i];
        }
        i = (i + 1) & pool.mask;
    }
    return -1;
}

/* Removes items[index]; pool.mu held. */
static entry pool_take(long index) {
    entry e = pool.items[index];
    pool.items[index] = pool.items[pool.size - 1];
    pool.pos[pool.items[index].id] = index;
    pool.size--;
    pool.pos[e.id] = -1;
    return e;
}

static bool is_error_id(long id) { return id % 13 == 0; }
static bool is_held_id(long id) { return id >= n1 && id % 10 == 7; }

/* ------------------------------------------------------------ host side */

static void fetch_profile(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[32];
    char *end;
    (void)user_data;
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "request is not [text]");
    CHECK(user[0] == 'u', "user id \"%s\"", user);
    long id = strtol(user + 1, &end, 10);
    CHECK(*end == 0 && id >= 0 && id < total, "user id \"%s\"", user);
    CHECK(atomic_fetch_add(&host_calls[id], 1) == 0, "host fn called twice for id %ld", id);
    hc_lock(&pool.mu);
    map_put(token, id);
    token_of[id] = token;
    if (is_held_id(id)) {
        pool.held_aside++;
    } else {
        pool.items[pool.size] = (entry){token, id};
        pool.pos[id] = pool.size;
        pool.size++;
        pthread_cond_signal(&pool.cv);
    }
    hc_unlock(&pool.mu);
}

static void cancel_profile(uint64_t token, void *user_data) {
    (void)user_data;
    hc_lock(&pool.mu);
    long id = map_get(token);
    CHECK(id >= 0, "cancel notifier got token %#llx, which the host fn never saw", (unsigned long long)token);
    if (pool.pos[id] >= 0) {
        pool_take(pool.pos[id]);
    }
    hc_unlock(&pool.mu);
    CHECK(atomic_load(&destroy_started), "host call %ld cancelled before the destroy", id);
    CHECK(atomic_fetch_add(&cancelled[id], 1) == 0, "host call %ld cancelled twice", id);
}

static int complete(uint64_t token, long id) {
    char user[32], name[48], error[48];
    snprintf(user, sizeof user, "u%ld", id);
    if (is_error_id(id)) {
        snprintf(error, sizeof error, "no user %ld", id);
        return hc_complete_error(ctx, token, error);
    }
    snprintf(name, sizeof name, "Name %ld", id);
    return hc_complete_profile(ctx, token, user, name, (uint32_t)(id % 100));
}

/* A refused completion (double, late, or cut off by the destroy). */
static void check_refused(int rc, const char *what, uint64_t token) {
    bool destroying = atomic_load(&destroy_started);
    CHECK(rc == HC_ERR_UNKNOWN_TOKEN || (destroying && rc == HC_ERR_INVALID_CONTEXT),
          "%s completion of %#llx returned %s", what, (unsigned long long)token, hc_status_name(rc));
}

static void *worker_main(void *arg) {
    long index = (long)(intptr_t)arg;
    hc_rng rng;
    uint64_t ring[RING];
    int ring_n = 0;
    hc_rng_seed(&rng, 0xc0ffee + (uint64_t)index);
    for (;;) {
        hc_lock(&pool.mu);
        while (pool.size == 0 && !pool.stop) {
            HC_REQUIRE(pthread_cond_wait(&pool.cv, &pool.mu) == 0, "cond wait");
        }
        if (pool.size == 0) {
            hc_unlock(&pool.mu);
            return NULL;
        }
        entry e = pool_take((long)hc_rng_below(&rng, (uint64_t)pool.size));
        hc_unlock(&pool.mu);

        bool destroying = atomic_load(&destroy_started);
        int rc = complete(e.token, e.id);
        if (rc == HC_OK) {
            CHECK(atomic_fetch_add(&completed[e.id], 1) == 0, "token of %ld completed twice", e.id);
        } else {
            /* Only the destroy may take a pending call away from the host. */
            CHECK(destroying || atomic_load(&destroy_started), "completion of %ld returned %s before the destroy",
                  e.id, hc_status_name(rc));
            check_refused(rc, "a", e.token);
            atomic_fetch_add(&refused[e.id], 1);
            atomic_fetch_add(rc == HC_ERR_UNKNOWN_TOKEN ? &refused_unknown : &refused_invalid, 1);
        }
        if (hc_rng_below(&rng, 8) == 0) {
            check_refused(complete(e.token, e.id), "a double", e.token);
            atomic_fetch_add(&late_double_attempts, 1);
        }
        if (ring_n > 0 && hc_rng_below(&rng, 8) == 0) {
            uint64_t late = ring[hc_rng_below(&rng, (uint64_t)ring_n)];
            int late_rc = hc_complete_profile(ctx, late, "late", "Late", 1);
            check_refused(late_rc, "a late", late);
            atomic_fetch_add(&late_double_attempts, 1);
            if (late_rc == HC_ERR_INVALID_CONTEXT) {
                atomic_fetch_add(&late_double_after_destroy, 1);
            }
        }
        if (ring_n < RING) {
            ring[ring_n++] = e.token;
        } else {
            ring[hc_rng_below(&rng, RING)] = e.token;
        }
    }
}

/* ------------------------------------------------------------ replies */

static void on_reply(int ret, const char *msg, size_t len, void *user_data) {
    long id = (long)(intptr_t)user_data;
    CHECK(id >= 0 && id < total, "reply with user_data %ld", id);
    CHECK(atomic_fetch_add(&replies[id], 1) == 0, "request %ld replied twice", id);
    int kind;
    if (ret == RET_OK) {
        demo_session s;
        char user[32], greeting[48];
        CHECK(demo_decode_session(msg, len, &s), "request %ld: reply is not a Session", id);
        snprintf(user, sizeof user, "u%ld", id);
        snprintf(greeting, sizeof greeting, "Hello, Name %ld", id);
        CHECK(strcmp(s.user_id, user) == 0, "request %ld got the session of \"%s\"", id, s.user_id);
        CHECK(strcmp(s.greeting, greeting) == 0, "request %ld greeted \"%s\"", id, s.greeting);
        CHECK(!is_error_id(id), "request %ld succeeded but its host call failed", id);
        kind = KIND_OK;
    } else if (ret == RET_SHUTTING_DOWN) {
        CHECK_SHUTTING_DOWN(ret, msg, len, "stress login");
        CHECK(atomic_load(&destroy_started), "request %ld shut down before the destroy", id);
        kind = KIND_SHUTDOWN;
    } else {
        char want[64];
        snprintf(want, sizeof want, "host fetch failed: no user %ld", id);
        CHECK(ret == RET_ERR, "request %ld failed with ret %d %s: \"%.*s\"", id, ret, hc_ret_name(ret), (int)len, msg);
        CHECK(is_error_id(id) && len == strlen(want) && memcmp(msg, want, len) == 0, "request %ld failed: \"%.*s\"",
              id, (int)len, msg);
        kind = KIND_HOST_ERR;
    }
    atomic_store(&kinds[id], kind);
    hc_counter_add(&replies_done, 1);
}

static int submit(long id) {
    uint8_t buf[32];
    char user[32];
    cbor_enc e;
    snprintf(user, sizeof user, "u%ld", id);
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, user);
    CHECK(!e.overflow, "request buffer");
    int rc = demo_call(ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, on_reply, (void *)(intptr_t)id);
    if (rc == HC_OK) {
        atomic_store(&accepted[id], 1);
    }
    return rc;
}

/* Phase 2's submitter: at most `window` unanswered (not held) calls. */
static long window;
static long first_refused = -1;

static void *submitter_main(void *arg) {
    long held = 0;
    (void)arg;
    for (long id = n1; id < total; id++) {
        /* in flight = (id - n1) - held - (replies - n1) < window */
        hc_counter_wait(&replies_done, id - held - window);
        int rc = submit(id);
        if (rc != HC_OK) {
            CHECK(rc == HC_ERR_INVALID_CONTEXT && atomic_load(&destroy_started), "demo_call(login %ld) returned %s", id,
                  hc_status_name(rc));
            first_refused = id;
            return NULL;
        }
        held += is_held_id(id);
    }
    return NULL;
}

static void *alloc_ids(size_t size) {
    void *p = calloc((size_t)total, size);
    HC_REQUIRE(p != NULL, "calloc");
    return p;
}

int main(int argc, char **argv) {
    n1 = argc > 1 ? atol(argv[1]) : 100000;
    CHECK(n1 >= 100, "N must be at least 100, not %s", argc > 1 ? argv[1] : "?");
    n2 = n1 / 2;
    total = n1 + n2;

    replies = alloc_ids(sizeof *replies);
    kinds = alloc_ids(sizeof *kinds);
    host_calls = alloc_ids(sizeof *host_calls);
    completed = alloc_ids(sizeof *completed);
    cancelled = alloc_ids(sizeof *cancelled);
    refused = alloc_ids(sizeof *refused);
    accepted = alloc_ids(sizeof *accepted);
    token_of = alloc_ids(sizeof *token_of);
    hc_counter_init(&replies_done);

    hc_mutex_init(&pool.mu);
    hc_cond_init(&pool.cv);
    pool.items = alloc_ids(sizeof *pool.items);
    pool.pos = alloc_ids(sizeof *pool.pos);
    for (long id = 0; id < total; id++) {
        pool.pos[id] = -1;
    }
    size_t cap = 1;
    while (cap < (size_t)total * 2) {
        cap <<= 1;
    }
    pool.mask = cap - 1;
    pool.keys = calloc(cap, sizeof *pool.keys);
    pool.vals = calloc(cap, sizeof *pool.vals);
    HC_REQUIRE(pool.keys && pool.vals, "calloc");

    ctx = hc_demo_new(NULL, 0);
    CHECK(ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn_cancellable(ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_profile, cancel_profile,
                                                   NULL),
                 HC_OK);

    pthread_t workers[WORKERS];
    for (long i = 0; i < WORKERS; i++) {
        hc_spawn(&workers[i], worker_main, (void *)(intptr_t)i);
    }

    /* Phase 1: everything completes. */
    double t0 = hc_now_ms();
    for (long id = 0; id < n1; id++) {
        CHECK_STATUS(submit(id), HC_OK);
    }
    hc_counter_wait(&replies_done, n1);
    double t1 = hc_now_ms();
    for (long id = 0; id < n1; id++) {
        CHECK(atomic_load(&replies[id]) == 1, "request %ld: %d replies", id, atomic_load(&replies[id]));
        CHECK(atomic_load(&kinds[id]) == (is_error_id(id) ? KIND_HOST_ERR : KIND_OK), "request %ld: kind %d", id,
              atomic_load(&kinds[id]));
        CHECK(atomic_load(&host_calls[id]) == 1, "request %ld: %d host calls", id, atomic_load(&host_calls[id]));
        CHECK(atomic_load(&cancelled[id]) == 0, "request %ld was cancelled", id);
    }
    /* Late completions of phase-1 tokens, from the main thread. */
    hc_rng rng;
    hc_rng_seed(&rng, 7);
    for (int i = 0; i < 200; i++) {
        long id = (long)hc_rng_below(&rng, (uint64_t)n1);
        hc_lock(&pool.mu);
        uint64_t token = token_of[id];
        hc_unlock(&pool.mu);
        CHECK_STATUS(complete(token, id), HC_ERR_UNKNOWN_TOKEN);
    }
    printf("phase 1: %ld calls completed by %d threads in %.0f ms\n", n1, WORKERS, t1 - t0);

    /* Phase 2: destroy in the middle of the traffic. */
    window = n2 / 20 > 50 ? n2 / 20 : 50;
    pthread_t submitter;
    hc_spawn(&submitter, submitter_main, NULL);
    hc_counter_wait(&replies_done, n1 + n2 / 3);
    long replied_before = hc_counter_get(&replies_done) - n1;
    atomic_store(&destroy_started, true);
    CHECK_STATUS(demo_destroy(ctx), HC_OK);

    /* Before destroy returned, every accepted request had its one reply and
     * every pending host call was cancelled (which emptied the pool). */
    long n_accepted = 0;
    for (long id = 0; id < total; id++) {
        n_accepted += atomic_load(&accepted[id]);
    }
    CHECK(hc_counter_get(&replies_done) == n_accepted, "%ld of %ld accepted requests replied when destroy returned",
          hc_counter_get(&replies_done), n_accepted);
    hc_lock(&pool.mu);
    CHECK(pool.size == 0, "%ld pending host calls were neither completed nor cancelled", pool.size);
    pool.stop = true;
    pthread_cond_broadcast(&pool.cv);
    hc_unlock(&pool.mu);
    for (int i = 0; i < WORKERS; i++) {
        hc_join(workers[i]);
    }
    hc_join(submitter);
    CHECK(hc_counter_get(&replies_done) == n_accepted, "replies after destroy returned");

    long ok = 0, host_err = 0, shut_cancelled = 0, shut_claimed = 0, shut_unstarted = 0;
    for (long id = 0; id < total; id++) {
        int kind = atomic_load(&kinds[id]);
        int calls = atomic_load(&host_calls[id]);
        int done = atomic_load(&completed[id]);
        int cancels = atomic_load(&cancelled[id]);
        if (!atomic_load(&accepted[id])) {
            CHECK(id >= n1 && (first_refused < 0 || id >= first_refused), "request %ld was not submitted", id);
            CHECK(atomic_load(&replies[id]) == 0 && kind == KIND_NONE && calls == 0 && done == 0 && cancels == 0,
                  "refused request %ld got a reply or a host call", id);
            continue;
        }
        CHECK(atomic_load(&replies[id]) == 1, "request %ld: %d replies", id, atomic_load(&replies[id]));
        CHECK(calls <= 1, "request %ld: %d host calls", id, calls);
        if (calls == 1) {
            CHECK(done + cancels == 1, "request %ld: host call completed %d and cancelled %d times", id, done, cancels);
        } else {
            CHECK(done == 0 && cancels == 0, "request %ld never reached the host but was completed/cancelled", id);
        }
        if (is_held_id(id)) {
            CHECK(kind == KIND_SHUTDOWN && done == 0, "held request %ld: kind %d", id, kind);
        }
        switch (kind) {
        case KIND_OK:
        case KIND_HOST_ERR:
            CHECK(done == 1, "request %ld answered without a completion", id);
            CHECK(kind == (is_error_id(id) ? KIND_HOST_ERR : KIND_OK), "request %ld: kind %d", id, kind);
            if (kind == KIND_OK) {
                ok++;
            } else {
                host_err++;
            }
            break;
        case KIND_SHUTDOWN:
            CHECK(id >= n1, "phase-1 request %ld shut down", id);
            if (calls == 0) {
                shut_unstarted++;
            } else if (cancels == 1) {
                shut_cancelled++;
            } else {
                shut_claimed++;
            }
            break;
        default:
            CHECK(false, "request %ld: no reply kind", id);
        }
    }
    CHECK(ok + host_err + shut_cancelled + shut_claimed + shut_unstarted == n_accepted, "tally");
    long phase2_answered = ok + host_err - n1;
    long phase2_accepted = n_accepted - n1;
    CHECK(phase2_answered >= n2 / 3 && phase2_answered < phase2_accepted,
          "phase 2: %ld of %ld accepted calls answered: the destroy was not mid-traffic", phase2_answered,
          phase2_accepted);
    CHECK(shut_cancelled >= pool.held_aside, "%ld held calls but %ld cancellations", pool.held_aside, shut_cancelled);
    printf("phase 2: %ld of %ld calls accepted (window %ld); destroy after %ld replies: %ld answered; "
           "shut down: %ld cancelled in the host "
           "(%ld held aside), %ld completed by the host but not delivered, %ld never started; "
           "%ld completions refused as cancelled, %ld as after destroy\n",
           phase2_accepted, n2, window, replied_before, phase2_answered, shut_cancelled, pool.held_aside, shut_claimed, shut_unstarted,
           atomic_load(&refused_unknown), atomic_load(&refused_invalid));
    printf("late/double completions refused: %ld (%ld of them after destroy)\n", atomic_load(&late_double_attempts),
           atomic_load(&late_double_after_destroy));
    CHECK(atomic_load(&late_double_attempts) > 0, "no late or double completions were tried");

    CHECK_STATUS(demo_destroy(ctx), HC_ERR_INVALID_CONTEXT);
    free(replies);
    free(kinds);
    free(host_calls);
    free(completed);
    free(cancelled);
    free(refused);
    free(accepted);
    free(token_of);
    free(pool.items);
    free(pool.pos);
    free(pool.keys);
    free(pool.vals);
    hc_counter_free(&replies_done);
    return hc_done();
}
