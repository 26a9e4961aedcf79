/*
 * cycles.c - contexts that destroy each other, or remove each other's
 * listeners, from inside their callbacks.
 *
 * A destroy joins the context's loop thread and a listener removal waits for
 * the running listener, so a callback that does either waits for another
 * loop thread. If that thread waits (directly or through a chain) for the
 * caller's, waiting would hang both. The library refuses exactly that wait
 * and keeps every other one:
 *
 *  - two and three contexts whose reply callbacks destroy each other while
 *    all of them are inside their callbacks at once;
 *  - chains that need no overlap in time: A's callback destroys B, B's
 *    teardown delivers a pending request's RET_SHUTTING_DOWN reply, whose
 *    callback destroys C, ... and the last destroys A;
 *  - a destroy from another context's callback that closes no cycle still
 *    waits: when it returns, the destroyed context's pending requests have
 *    had their replies;
 *  - two listeners removing each other, and a listener removal racing a
 *    destroy, from inside callbacks.
 *
 * Every destroyed context ends the way a destroy promises: one reply per
 * request, every held host call cancelled, every entry point refusing it.
 * A hang fails the program through alarm() with the scenario's name.
 */
#include "harness.h"

#include <signal.h>

#define MAX_NODES 4

static const char *scenario = "(none)";

static void on_alarm(int sig) {
    (void)sig;
    static const char prefix[] = "FAILED: deadlock, scenario still running after the alarm: ";
    ssize_t ignored = write(2, prefix, sizeof prefix - 1);
    ignored = write(2, scenario, strlen(scenario));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(1);
}

/* Arms a deadline for one scenario: well inside the runner's timeout, well
 * above what a scenario needs even under valgrind. */
static void begin(const char *name) {
    scenario = name;
    printf("  %s\n", name);
    fflush(stdout);
    alarm(90);
}

static void end(void) { alarm(0); }

/* ------------------------------------------------------------- rendezvous */

/* Holds each arriving thread until `n` have arrived (bounded). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, n;
} rendezvous;

static void rendezvous_init(rendezvous *r, int n) {
    hc_mutex_init(&r->mu);
    hc_cond_init(&r->cv);
    r->arrived = 0;
    r->n = n;
}

static void rendezvous_arrive(rendezvous *r) {
    struct timespec deadline = hc_deadline(HC_WAIT_MS);
    hc_lock(&r->mu);
    r->arrived++;
    pthread_cond_broadcast(&r->cv);
    while (r->arrived < r->n && hc_wait_until(&r->cv, &r->mu, &deadline)) {
    }
    int arrived = r->arrived;
    hc_unlock(&r->mu);
    CHECK(arrived >= r->n, "%d of %d callbacks arrived within %d ms", arrived, r->n, HC_WAIT_MS);
}

static void rendezvous_free(rendezvous *r) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* ------------------------------------------------------------------ nodes */

/* One context of a scenario. Its "trigger" request's reply callback (or its
 * listener) acts on `target`; its "pending" login is held until teardown. */
typedef struct node {
    void *ctx;
    hc_held held;
    struct node *target;
    rendezvous *meet; /* NULL: act at once */
    int action_rc;
    atomic_int acted;
    hc_reply trigger; /* the reply that triggered the action */
    hc_reply pending; /* a login left waiting for the host */
    /* For the chains: the target's pending reply count seen right after
     * the destroy returned. */
    int target_replies_after;
    uint64_t listener; /* progress listener id */
} node;

static node nodes[MAX_NODES];

/* A fresh context whose fetch_profile holds every call. */
static void node_create(node *n) {
    memset(n, 0, sizeof *n);
    hc_held_init(&n->held);
    hc_reply_init(&n->trigger);
    hc_reply_init(&n->pending);
    n->ctx = hc_demo_new(NULL, 0);
    CHECK(n->ctx != NULL, "demo_new: %s", hc_last_error());
    CHECK_STATUS(demo_register_host_fn_cancellable(n->ctx, DEMO_HOST_FN_FETCH_PROFILE, hc_held_fn, hc_held_cancel,
                                                   &n->held),
                 HC_OK);
}

/* Starts login(user) on n, replying to cb, and waits until its fetch is held. */
static void hold_login(node *n, const char *user, FFICallBack cb, void *user_data) {
    uint8_t buf[64];
    cbor_enc e;
    cbor_enc_init(&e, buf, sizeof buf);
    demo_put_text_request(&e, user);
    int calls = hc_held_calls(&n->held);
    CHECK_STATUS(demo_call(n->ctx, DEMO_METHOD_LOGIN, cbor_enc_data(&e), e.len, cb, user_data), HC_OK);
    hc_held_wait_calls(&n->held, calls + 1);
}

/* Calls add(1, 2) on n, replying to cb: a sync handler, so the callback
 * runs on n's loop thread as soon as the request is handled. */
static void trigger_add(node *n, FFICallBack cb) {
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    CHECK_STATUS(demo_call(n->ctx, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, cb, n), HC_OK);
}

/* A context with a login held until its teardown. */
static void node_init(node *n, const char *pending_user) {
    node_create(n);
    hold_login(n, pending_user, hc_reply_cb, &n->pending);
}

/* The context was destroyed and its teardown has run: its pending login got
 * RET_SHUTTING_DOWN, its held host call was cancelled once, and every entry
 * point refuses the handle. */
static void node_check_torn_down(node *n, const char *pending_user) {
    hc_reply_wait(&n->pending);
    CHECK_REPLY_SHUTTING_DOWN(&n->pending);
    uint64_t token = hc_held_token_of(&n->held, pending_user);
    hc_held_wait_cancels(&n->held, 1);
    CHECK(hc_held_cancel_count(&n->held, token) == 1, "held token cancelled %d times",
          hc_held_cancel_count(&n->held, token));
    static const uint8_t add_req[] = {0x82, 0x01, 0x02};
    CHECK_STATUS(demo_call(n->ctx, DEMO_METHOD_ADD, (const char *)add_req, sizeof add_req, hc_never_cb, NULL),
                 HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(hc_complete_profile(n->ctx, token, "late", "Late", 1), HC_ERR_INVALID_CONTEXT);
    CHECK_STATUS(demo_destroy(n->ctx), HC_ERR_INVALID_CONTEXT);
}

static void node_free(node *n) {
    hc_reply_free(&n->trigger);
    hc_reply_free(&n->pending);
    hc_held_free(&n->held);
}

/* Reply callback of a trigger: meet the others, destroy the target. */
static void destroy_target_cb(int ret, const char *msg, size_t len, void *user_data) {
    node *n = (node *)user_data;
    if (n->meet != NULL) {
        rendezvous_arrive(n->meet);
    }
    n->action_rc = demo_destroy(n->target->ctx);
    n->target_replies_after = hc_reply_count(&n->target->pending);
    atomic_store(&n->acted, 1);
    hc_reply_cb(ret, msg, len, &n->trigger);
}

/* ---------------------------------------------- destroys that meet in time */

/* `count` contexts, each one's callback destroying the next, all inside
 * their callbacks at the same moment. */
static void test_destroy_ring(int count) {
    static char name[64];
    snprintf(name, sizeof name, "%d contexts destroying each other in a ring, all at once", count);
    begin(name);
    rendezvous meet;
    rendezvous_init(&meet, count);
    char users[MAX_NODES][16];
    for (int i = 0; i < count; i++) {
        snprintf(users[i], sizeof users[i], "p%d", i);
        node_init(&nodes[i], users[i]);
    }
    for (int i = 0; i < count; i++) {
        node *n = &nodes[i];
        n->target = &nodes[(i + 1) % count];
        n->meet = &meet;
        trigger_add(n, destroy_target_cb);
    }
    for (int i = 0; i < count; i++) {
        hc_reply_wait(&nodes[i].trigger);
        CHECK_REPLY_OK(&nodes[i].trigger);
        CHECK(nodes[i].action_rc == HC_OK, "destroy from callback %d returned %s", i,
              hc_status_name(nodes[i].action_rc));
    }
    for (int i = 0; i < count; i++) {
        node_check_torn_down(&nodes[i], users[i]);
        node_free(&nodes[i]);
    }
    rendezvous_free(&meet);
    end();
}

/* ------------------------------------------------------ chains over time */

/* Reply callback of node i's pending login (delivered by i's teardown):
 * destroys the next context of the chain. */
static void destroy_next_on_shutdown_cb(int ret, const char *msg, size_t len, void *user_data) {
    node *n = (node *)user_data;
    CHECK_SHUTTING_DOWN(ret, msg, len, "pending login");
    n->action_rc = demo_destroy(n->target->ctx);
    atomic_store(&n->acted, 1);
    hc_reply_cb(ret, msg, len, &n->pending);
}

/* nodes[0]'s reply callback destroys nodes[1]; each later node's teardown
 * reply destroys the next, and the last one's destroys nodes[0], whose loop
 * thread is still waiting (through the whole chain) for that teardown. */
static void test_destroy_chain(int count) {
    static char name[96];
    snprintf(name, sizeof name, "a chain of %d teardowns, each reply destroying the next, back to the first", count);
    begin(name);
    char users[MAX_NODES][16];
    for (int i = 0; i < count; i++) {
        node_create(&nodes[i]);
        nodes[i].target = &nodes[(i + 1) % count];
        snprintf(users[i], sizeof users[i], "c%d", i);
    }
    /* Nodes 1.. hold a login whose shutdown reply destroys the next; node 0
     * holds a plain one (to see its own teardown) and triggers the chain. */
    for (int i = 1; i < count; i++) {
        hold_login(&nodes[i], users[i], destroy_next_on_shutdown_cb, &nodes[i]);
    }
    hold_login(&nodes[0], users[0], hc_reply_cb, &nodes[0].pending);
    trigger_add(&nodes[0], destroy_target_cb);
    hc_reply_wait(&nodes[0].trigger);
    CHECK_REPLY_OK(&nodes[0].trigger);
    for (int i = 0; i < count; i++) {
        hc_reply_wait(&nodes[i].pending);
        CHECK(atomic_load(&nodes[i].acted) == 1, "node %d did not act", i);
        CHECK(nodes[i].action_rc == HC_OK, "destroy by node %d returned %s", i, hc_status_name(nodes[i].action_rc));
    }
    /* Node 0's destroy of node 1 closed no cycle when it was made: it waited
     * for node 1's whole teardown, so node 1's pending reply had come. */
    CHECK(nodes[0].target_replies_after == 1, "node 1 had %d replies when its destroy returned",
          nodes[0].target_replies_after);
    for (int i = 0; i < count; i++) {
        node_check_torn_down(&nodes[i], users[i]);
        node_free(&nodes[i]);
    }
    end();
}

/* ------------------------------------------------ destroy that may wait */

/* Another context's callback destroys a context that waits for nobody: the
 * destroy waits, so when it returns the target's teardown is complete. */
static void test_destroy_from_another_context_waits(void) {
    begin("a destroy from another context's callback, closing no cycle, waits for the teardown");
    node *a = &nodes[0], *b = &nodes[1];
    node_init(a, "wa");
    node_init(b, "wb");
    a->target = b;
    trigger_add(a, destroy_target_cb);
    hc_reply_wait(&a->trigger);
    CHECK(a->action_rc == HC_OK, "destroy returned %s", hc_status_name(a->action_rc));
    CHECK(a->target_replies_after == 1, "b had %d replies when its destroy returned", a->target_replies_after);
    node_check_torn_down(b, "wb");
    /* a is untouched and still works. */
    hc_barrier(a->ctx);
    CHECK_STATUS(demo_destroy(a->ctx), HC_OK);
    node_check_torn_down(a, "wa");
    node_free(a);
    node_free(b);
    end();
}

/* --------------------------------------------------------------- listeners */

static void fetch_inline(uint64_t token, const char *req, size_t len, void *user_data) {
    char user[HC_ARG_MAX];
    CHECK(demo_decode_text_arg(req, len, user, sizeof user), "request is not [text]");
    int rc = hc_complete_profile(user_data, token, user, "Inline", 1);
    CHECK(rc == HC_OK || rc == HC_ERR_INVALID_CONTEXT, "inline completion returned %s", hc_status_name(rc));
}

/* A progress listener: meets the other, then removes the target's listener
 * (or, with `destroy`, destroys the target). Acts on its first event only. */
static bool listener_destroys[MAX_NODES];

static void acting_listener(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret, (void)msg, (void)len;
    node *n = (node *)user_data;
    if (atomic_exchange(&n->acted, 1) != 0) {
        return;
    }
    rendezvous_arrive(n->meet);
    if (listener_destroys[n - nodes]) {
        n->action_rc = demo_destroy(n->target->ctx);
    } else {
        n->action_rc = demo_remove_event_listener(n->target->ctx, n->target->listener);
    }
}

/* Two contexts' listeners, running at once, each acting on the other. */
static void test_listeners(bool first_destroys) {
    begin(first_destroys ? "a listener destroys a context whose listener removes the first listener, at once"
                         : "two listeners removing each other, at once");
    rendezvous meet;
    rendezvous_init(&meet, 2);
    const char *ids[1] = {"l"};
    for (int i = 0; i < 2; i++) {
        node *n = &nodes[i];
        node_create(n);
        /* Completed inline: login_many emits its one event at once. */
        CHECK_STATUS(demo_register_host_fn(n->ctx, DEMO_HOST_FN_FETCH_PROFILE, fetch_inline, n->ctx), HC_OK);
        n->meet = &meet;
        n->target = &nodes[1 - i];
        n->listener = demo_add_event_listener(n->ctx, DEMO_EVENT_PROGRESS, acting_listener, n);
        CHECK(n->listener != 0, "add_event_listener: %s", hc_last_error());
        listener_destroys[i] = first_destroys && i == 0;
    }
    for (int i = 0; i < 2; i++) {
        uint8_t buf[64];
        cbor_enc e;
        cbor_enc_init(&e, buf, sizeof buf);
        demo_put_list_request(&e, ids, 1);
        CHECK_STATUS(demo_call(nodes[i].ctx, DEMO_METHOD_LOGIN_MANY, cbor_enc_data(&e), e.len, hc_reply_cb,
                               &nodes[i].trigger),
                     HC_OK);
    }
    for (int i = 0; i < 2; i++) {
        hc_reply_wait(&nodes[i].trigger);
        CHECK(atomic_load(&nodes[i].acted) == 1, "listener %d never ran", i);
        CHECK(nodes[i].action_rc == HC_OK, "listener %d's action returned %s", i, hc_status_name(nodes[i].action_rc));
    }
    if (first_destroys) {
        /* nodes[1] was destroyed: its login_many may have finished first. */
        node *b = &nodes[1];
        CHECK(hc_reply_count(&b->trigger) == 1, "%d replies", hc_reply_count(&b->trigger));
        if (RET_IS_ERROR(b->trigger.ret)) {
            CHECK_SHUTTING_DOWN(b->trigger.ret, b->trigger.msg, b->trigger.len, "login_many on the destroyed context");
        }
        CHECK_STATUS(demo_destroy(b->ctx), HC_ERR_INVALID_CONTEXT);
        CHECK_REPLY_OK(&nodes[0].trigger);
        CHECK_STATUS(demo_destroy(nodes[0].ctx), HC_OK);
    } else {
        for (int i = 0; i < 2; i++) {
            CHECK_REPLY_OK(&nodes[i].trigger);
            /* Removed once: a second removal finds nothing. */
            CHECK_STATUS(demo_remove_event_listener(nodes[i].ctx, nodes[i].listener), HC_ERR_INVALID_ARG);
            CHECK_STATUS(demo_destroy(nodes[i].ctx), HC_OK);
        }
    }
    for (int i = 0; i < 2; i++) {
        node_free(&nodes[i]);
    }
    rendezvous_free(&meet);
    end();
}

int main(void) {
    HC_REQUIRE(signal(SIGALRM, on_alarm) != SIG_ERR, "signal");
    test_destroy_ring(2);
    test_destroy_ring(3);
    test_destroy_chain(2);
    test_destroy_chain(4);
    test_destroy_from_another_context_waits();
    test_listeners(false);
    test_listeners(true);
    CHECK(atomic_load(&hc_never_count) == 0, "%d callbacks ran that never should", atomic_load(&hc_never_count));
    return hc_done();
}
