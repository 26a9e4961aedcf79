package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.Outcome
import dev.hostcall.runtime.StatusException
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.TimeSource
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import kotlinx.coroutines.completeWith
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test

class CloseTest : DemoTest() {
    /**
     * Close answers every pending call with RET_SHUTTING_DOWN
     * ([CallException.ShuttingDown], "context shutting down"),
     * cancels every running host fn coroutine, and returns; later calls
     * are refused as closed; a second close does nothing.
     */
    @Test
    fun `close fails every pending call and cancels every host fn`() = bounded {
        val demo = Demo.open()
        val logins = 20
        val manyIds = 100
        val started = Channel<Unit>(Channel.UNLIMITED)
        val hostCancelled = Channel<Throwable>(Channel.UNLIMITED)
        demo.fetchProfile {
            started.send(Unit)
            try {
                awaitCancellation()
            } catch (e: CancellationException) {
                hostCancelled.send(e)
                throw e
            }
        }
        val notified = CompletableDeferred<Unit>()
        demo.notify {
            notified.complete(Unit)
            try {
                awaitCancellation()
            } catch (e: CancellationException) {
                hostCancelled.send(e)
                throw e
            }
        }
        val pending = List(logins) { async(Dispatchers.Default) { runCatching { demo.login("u") } } } +
            async(Dispatchers.Default) { runCatching { demo.loginMany(ids("m", manyIds)) } } +
            async(Dispatchers.Default) { runCatching { demo.pingHost("hi") } } // a native call
        repeat(logins + manyIds) { started.within("the host fns to start") }
        notified.within("notify to start")
        assertEquals(logins + 2, demo.runtime.pendingCalls)

        demo.close()

        val methods = pending.awaitAll().map { result ->
            val e = result.exceptionOrNull()
            // By the outcome code (RET_SHUTTING_DOWN), the native ping_host's reply too.
            assertTrue(e is CallException.ShuttingDown && e.shuttingDown, "a pending call after close: $result")
            (e as CallException).checkText(e.method, "context shutting down")
            assertEquals(Outcome.SHUTTING_DOWN, e.code)
            e.method
        }
        assertEquals(List(logins) { "login" } + "login_many" + "ping_host", methods)
        repeat(logins + manyIds + 1) { hostCancelled.within("the host fns to be cancelled") }
        assertEquals(0, demo.runtime.pendingCalls)

        demo.close() // idempotent
        checkClosed(demo)
    }

    /** Every member of a closed context refuses with StatusException.closed. */
    private suspend fun checkClosed(demo: Demo) {
        assertTrue(demo.isClosed)
        val calls: List<Pair<String, suspend () -> Unit>> = listOf(
            "demo: version" to { demo.version() },
            "demo: add" to { demo.add(1, 2) },
            "demo: login" to { demo.login("u") },
            "demo: login_many" to { demo.loginMany(listOf("u")) },
            "demo: first_profile" to { demo.firstProfile(listOf("u")) },
            "demo: ping_host" to { demo.pingHost("hi") },
            "demo: panic_with" to { demo.panicWith("x") },
            "demo: register fetch_profile" to { demo.fetchProfile { profileOf(it) } },
            "demo: register notify" to { demo.notify { } },
            "demo: listen progress" to { demo.progress.collect { } },
        )
        for ((operation, call) in calls) thrownBy<StatusException> { call() }.checkClosed(operation)
        assertEquals(0, demo.runtime.listenerCount)
    }

    @Test
    fun `calls racing close end with a result or a clear error`() = bounded {
        val demo = withStore()
        val running = Channel<Unit>(Channel.UNLIMITED)
        val unexpected = ConcurrentLinkedQueue<Throwable>()
        val callers = (0 until 16).map { g ->
            launch(Dispatchers.Default) {
                var first = true
                while (true) {
                    try {
                        when (g % 3) {
                            0 -> demo.add(1, 2)
                            1 -> demo.login("u")
                            else -> demo.loginMany(ids("r", 10))
                        }
                    } catch (e: StatusException) {
                        if (e.closed) break
                        unexpected.add(e)
                        break
                    } catch (e: CallException) {
                        if (!e.shuttingDown) {
                            unexpected.add(e)
                            break
                        }
                    }
                    if (first) running.send(Unit)
                    first = false
                }
            }
        }
        repeat(16) { running.within("the callers to start") }
        demo.close()
        callers.forEach { it.joinWithin("every caller to see the context closed") }
        assertEquals(emptyList<Throwable>(), unexpected.toList())
    }

    @Test
    fun `a host fn may close its own context`() = bounded {
        val demo = Demo.open()
        val closed = CompletableDeferred<Unit>()
        demo.fetchProfile { userId ->
            demo.close()
            closed.complete(Unit)
            profileOf(userId)
        }
        val e = thrownBy<CallException> { demo.login("u") }
        assertTrue(e.shuttingDown, "login whose host fn closed the context: $e")
        closed.within("close inside the host fn to return")
        thrownBy<StatusException> { demo.login("u") }.checkClosed("demo: login")
    }

    @Test
    fun `an event collector may close its context`() = bounded {
        val demo = withStore()
        val collected = AtomicInteger()
        val collector = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
            demo.progress.collect {
                if (collected.incrementAndGet() == 1) demo.close()
            }
        }
        val result = runCatching { demo.loginMany(ids("u", 10)) }
        // The library may have finished login_many before the collector ran.
        val e = result.exceptionOrNull()
        assertTrue(e == null || (e is CallException && e.shuttingDown), "loginMany: $result")
        collector.joinWithin("the flow to complete at close") // close ends the flow
        checkClosed(demo)
    }

    /**
     * A host fn still running at close is cancelled; one that ignores that
     * and answers afterwards is refused by the closed context, quietly: no
     * exception reaches its scope.
     */
    @Test
    fun `a host fn still running at close is cancelled and its late answer is harmless`() = bounded {
        val failures = ConcurrentLinkedQueue<Throwable>()
        val scopeJob = SupervisorJob()
        val scope = CoroutineScope(scopeJob + Dispatchers.Default + CoroutineExceptionHandler { _, e -> failures.add(e) })
        val demo = Demo.open(scope = scope)
        val started = CompletableDeferred<Job>()
        val cancelled = CompletableDeferred<Unit>()
        val release = CompletableDeferred<Unit>()
        demo.fetchProfile { userId ->
            coroutineScope {
                // A child notices its parent's cancellation, which the parent
                // ignores. (Started in place: a child cancelled before it
                // starts would never run its finally.)
                launch(start = CoroutineStart.UNDISPATCHED) {
                    try {
                        awaitCancellation()
                    } finally {
                        cancelled.complete(Unit)
                    }
                }
                started.complete(currentCoroutineContext().job)
                withContext(NonCancellable) { release.await() }
            }
            profileOf(userId)
        }
        val login = async(Dispatchers.Default) { runCatching { demo.login("u") } }
        val hostJob = started.within("the host fn to start")
        demo.close()
        cancelled.within("the running host fn to be cancelled by close")
        assertTrue(hostJob.isCancelled)
        assertTrue((login.within("the login").exceptionOrNull() as? CallException)?.shuttingDown == true)
        release.complete(Unit) // it now answers a context that is gone
        hostJob.joinWithin("the late host fn to finish")
        assertEquals(emptyList<Throwable>(), failures.toList())
        assertTrue(scopeJob.isActive, "close cancelled a scope it does not own")
        scope.cancel()
    }

    @Test
    fun `close completes the event flows`() = bounded {
        val demo = withStore()
        val subscribed = CompletableDeferred<Unit>()
        val collector = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
            subscribed.complete(Unit)
            runCatching { demo.progress.first { false } } // never satisfied: only completion ends it
        }
        subscribed.within("the collector")
        demo.loginMany(ids("u", 3))
        demo.close()
        val ended = collector.within("the flow to end").exceptionOrNull()
        assertTrue(ended is NoSuchElementException, "the flow ended with $ended, not by completing")
    }

    // A close racing the first close of the same context (from another
    // thread) must not return before the first one's teardown is over.
    // What a close runs of yours on its own thread, at a known point of its
    // teardown, is the cancellation of a job in the context's own scope:
    // close cancels the scope it made last, on the closing thread. (The
    // cancellation handlers of a running host fn coroutine are no good for
    // this: the library's cancel notice at destroy usually cancels it
    // first, on a Dispatchers.Default thread, racing close's own cancel.)

    @Test
    fun `a close racing the first one returns only when the teardown is over`() = bounded {
        val demo = Demo.open() // close cancels the scope open made, last, on the closing thread
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val handlerThread = AtomicReference<Thread>()
        val handlerDone = AtomicBoolean()
        val teardown = inTeardown(demo) {
            handlerThread.set(Thread.currentThread())
            entered.countDown()
            release.await(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS)
            handlerDone.set(true)
        }
        val first = Closer("the first close") { demo.close() }
        val seen = AtomicReference<List<Any>>()
        val second = Closer("the second close", start = false) {
            demo.close()
            seen.set(teardown.state(handlerDone.get()))
        }
        try {
            assertTrue(entered.await(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS), "the first close to reach its teardown's end")
            assertEquals(first.thread, handlerThread.get(), "the handler ran on another thread than the first close")
            second.start()
            val state = blockedOrEnded(second.thread, "the second close")
            // The first close is held in its teardown: a second close that
            // ended by now returned before the teardown was over.
            assertTrue(state != Thread.State.TERMINATED, "the second close returned while the first one was still tearing down")
        } finally {
            release.countDown()
        }
        first.join("the first close to return")
        second.join("the second close to return")
        assertEquals(teardown.state(handlerDone = true), seen.get(), "what held when the second close returned")
        teardown.checkLoginFailed()
        checkClosed(demo)
    }

    @Test
    fun `a close called in the first close's teardown, on its thread, returns at once`() = bounded {
        val demo = Demo.open()
        val handlerThread = AtomicReference<Thread>()
        val inner = CompletableDeferred<Result<Unit>>()
        val teardown = inTeardown(demo) {
            handlerThread.set(Thread.currentThread())
            inner.complete(runCatching { demo.close() }) // waiting for the teardown would wait for itself
        }
        val first = Closer("the close") { demo.close() }
        first.join("the close whose teardown closes the context again to return")
        assertEquals(first.thread, handlerThread.get(), "the handler ran on another thread than the close")
        assertEquals(Result.success(Unit), inner.within("the close inside the teardown"), "the close inside the teardown")
        teardown.checkLoginFailed()
        checkClosed(demo)
    }

    /**
     * The teardown of A's close (on thread 1) closes B while B's close (on
     * thread 2) is in its teardown, closing A. B's teardown waits for A's,
     * so A's close of B, which would wait for B's teardown and so for
     * itself, returns at once; B's close of A returns when A's teardown is
     * over, then B's ends too.
     */
    @Test
    fun `two closes whose teardowns close each other's context both return`() = bounded {
        val a = Demo.open()
        val b = Demo.open()
        val aEntered = CountDownLatch(1)
        val bEntered = CountDownLatch(1)
        val secondThread = AtomicReference<Thread>()
        val aDone = AtomicBoolean()
        val bCloseInA = CompletableDeferred<Result<Unit>>()
        val aCloseInB = CompletableDeferred<Result<Boolean>>() // true: A's teardown was over when it returned
        val teardownA = inTeardown(a) {
            aEntered.countDown()
            bCloseInA.complete(
                runCatching {
                    assertTrue(bEntered.await(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS), "B's close to reach its teardown's end")
                    val state = blockedOrEnded(secondThread.get(), "B's teardown to close A")
                    assertTrue(state != Thread.State.TERMINATED, "the close of A in B's teardown returned while A's teardown ran")
                    b.close()
                },
            )
            aDone.set(true)
        }
        val teardownB = inTeardown(b) {
            bEntered.countDown()
            aCloseInB.complete(runCatching {
                a.close()
                aDone.get()
            })
        }
        val first = Closer("the close of A") { a.close() }
        assertTrue(aEntered.await(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS), "A's close to reach its teardown's end")
        val second = Closer("the close of B", start = false) { b.close() }
        secondThread.set(second.thread)
        second.start()
        first.join("the close of A to return")
        second.join("the close of B to return")
        assertEquals(Result.success(Unit), bCloseInA.within("the close of B in A's teardown"), "the close of B in A's teardown")
        assertEquals(Result.success(true), aCloseInB.within("the close of A in B's teardown"), "the close of A in B's teardown")
        teardownA.checkLoginFailed()
        teardownB.checkLoginFailed()
        checkClosed(a)
        checkClosed(b)
    }

    /** A login in flight, its host fn's coroutine and the scope of the context it runs in. */
    private class Teardown(val demo: Demo, val login: Deferred<Result<Session>>, val hostJob: Job, val scopeJob: Job) {
        /**
         * What must hold once a close has returned (and the teardown's
         * handler has ended): the host fn cancelled, no call pending, the
         * scope cancelled, no library thread left.
         */
        fun state(handlerDone: Boolean): List<Any> = listOf(
            "handler done" to handlerDone,
            "host fn cancelled" to hostJob.isCancelled,
            "pending calls" to demo.runtime.pendingCalls,
            "scope cancelled" to scopeJob.isCancelled,
            "loop threads attached" to loopThreads().size,
            "loop threads running" to loopTasks(),
        )

        suspend fun checkLoginFailed() {
            val e = login.within("the pending login").exceptionOrNull()
            assertTrue(e is CallException && e.shuttingDown, "the login pending at close: $e")
        }
    }

    /**
     * Starts a login whose fetch_profile suspends until cancelled, and, in
     * the context's scope (the one [Demo.open] made, which close cancels
     * after everything else, on the closing thread), a job whose
     * cancellation runs [handler]. An exception of [handler] would escape
     * from close: it catches its own.
     */
    @OptIn(ExperimentalCoroutinesApi::class)
    private suspend fun CoroutineScope.inTeardown(demo: Demo, handler: () -> Unit): Teardown {
        val started = CompletableDeferred<Job>()
        demo.fetchProfile {
            val job = currentCoroutineContext().job
            Job(job.parent).invokeOnCompletion { handler() }
            started.complete(job)
            awaitCancellation()
        }
        val login = async(Dispatchers.Default) { runCatching { demo.login("u") } }
        val hostJob = started.within("the host fn to start")
        return Teardown(demo, login, hostJob, hostJob.parent!!)
    }

    /** A thread running [body], which must return (bounded by [join]) without throwing. */
    private class Closer(name: String, start: Boolean = true, body: () -> Unit) {
        private val error = AtomicReference<Throwable>()
        val thread = Thread({ runCatching(body).onFailure(error::set) }, name).apply { isDaemon = true }

        init {
            if (start) start()
        }

        fun start() = thread.start()

        fun join(what: String) {
            thread.join(WAIT.inWholeMilliseconds)
            if (thread.isAlive) fail<Unit>("deadlock: $what did not happen within $WAIT\n${threadDump()}")
            error.get()?.let { throw AssertionError("${thread.name} threw $it", it) }
        }
    }

    // Cross-context close (issue 9): contexts closing each other from inside
    // their event collectors or host fns. The C library and the Go binding
    // both deadlocked here once; the Kotlin close() must return in all of
    // these, and each context must end exactly as a plain close() ends it.

    /**
     * Two contexts whose progress collectors close each other, both inside
     * their collect block at the same moment.
     */
    @Test
    fun `two contexts whose event collectors close each other both close`() = collectorsCloseTheNext(2)

    /** A cycle of three: A's collector closes B, B's closes C, C's closes A. */
    @Test
    fun `a cycle of three contexts whose event collectors close the next all close`() = collectorsCloseTheNext(3)

    /**
     * [n] contexts in a ring, the progress collector of context i closing
     * context i + 1 (mod n), all of them inside their collect block at
     * once: each collector, at its event, says it entered, waits until
     * every collector has entered (and every held fetch is running), then
     * closes the next context.
     *
     * Each context's `login_many` has one fetch that answers at once (its
     * progress event is the only one) and [HELD] that never answer, so every
     * `login_many` is still pending when its context is closed and must fail
     * as shutting down, and every held fetch must be cancelled.
     */
    private fun collectorsCloseTheNext(n: Int) = crossClose { outside ->
        val heldRunning = Countdown(n * HELD)
        val heldCancelled = Countdown(n * HELD)
        val demos = List(n) { Demo.open().apply { fetchProfile { userId -> held(userId, heldRunning, heldCancelled) } } }
        val entered = Countdown(n)
        val events = List(n) { AtomicInteger() }
        val closed = List(n) { CompletableDeferred<Unit>() } // closed[i]: collector i's close of the next returned
        val collectors = demos.mapIndexed { i, demo ->
            outside.launch(start = CoroutineStart.UNDISPATCHED) { // subscribed before the calls below
                demo.progress.collect {
                    if (events[i].incrementAndGet() != 1) return@collect
                    closed[i].completeWith(
                        runCatching {
                            entered.arrive()
                            entered.await("every collector to be inside its collect block")
                            heldRunning.await("every held fetch to be running")
                            demos[(i + 1) % n].close()
                        },
                    )
                }
            }
        }
        val logins = demos.map { demo -> outside.async { runCatching { demo.loginMany(listOf(ANSWERED) + ids("held", HELD)) } } }

        for (i in 0 until n) closed[i].orDeadlock("close() of context ${(i + 1) % n} from the collector of context $i")
        for ((i, login) in logins.withIndex()) {
            val result = login.orDeadlock("login_many of context $i to end")
            val e = result.exceptionOrNull()
            assertTrue(e is CallException && e.method == "login_many" && e.shuttingDown, "login_many of context $i: $result")
        }
        heldCancelled.await("every held fetch to be cancelled by close")
        for ((i, collector) in collectors.withIndex()) collector.joinOrDeadlock("the progress flow of context $i to complete")
        assertEquals(List(n) { 1 }, events.map { it.get() }, "progress events collected per context")
        for (demo in demos) checkClosed(demo)
    }

    /**
     * A host fn of A, while running, closes B, while B's host fn closes A.
     * Each host fn, after its close returned, waits (bounded) until its own
     * context has been closed too, so that every login is pending when its
     * context closes and must fail as shutting down. The host fns run
     * non-cancellable: the other's close cancels each of them (checked)
     * before or while it closes the other.
     */
    @Test
    fun `host fns of two contexts may close each other`() = crossClose { outside ->
        val demos = List(2) { Demo.open() }
        val entered = Countdown(2)
        val closed = List(2) { CompletableDeferred<Unit>() } // closed[i]: host fn i's close of the other returned
        val hostJobs = List(2) { CompletableDeferred<Job>() }
        for ((i, demo) in demos.withIndex()) {
            demo.fetchProfile { userId ->
                hostJobs[i].complete(currentCoroutineContext().job)
                withContext(NonCancellable) {
                    closed[i].completeWith(
                        runCatching {
                            entered.arrive()
                            entered.await("both host fns to be running")
                            demos[1 - i].close()
                        },
                    )
                    closed[1 - i].orDeadlock("close() of context $i from the host fn of context ${1 - i}")
                }
                profileOf(userId) // not reached: the coroutine was cancelled by the close of its context
            }
        }
        val logins = demos.map { demo -> outside.async { runCatching { demo.login("u") } } }

        for (i in 0 until 2) closed[i].orDeadlock("close() of context ${1 - i} from the host fn of context $i")
        for ((i, login) in logins.withIndex()) {
            val result = login.orDeadlock("login of context $i to end")
            val e = result.exceptionOrNull()
            assertTrue(e is CallException && e.method == "login" && e.shuttingDown, "login of context $i: $result")
        }
        for ((i, job) in hostJobs.withIndex()) {
            val hostJob = job.orDeadlock("the host fn of context $i to start")
            assertTrue(hostJob.isCancelled, "the host fn of context $i was not cancelled by its context's close")
            hostJob.joinOrDeadlock("the host fn of context $i to end")
        }
        for (demo in demos) checkClosed(demo)
    }

    /**
     * A fetch_profile for the tests above: [ANSWERED] is answered at once,
     * any other id is held until the host fn is cancelled.
     */
    private suspend fun held(userId: String, running: Countdown, cancelled: Countdown): Profile {
        if (userId == ANSWERED) return profileOf(userId)
        running.arrive()
        try {
            awaitCancellation()
        } catch (e: CancellationException) {
            cancelled.arrive()
            throw e
        }
    }

    /**
     * Runs a cross-close test. Everything that may hang runs in `outside`,
     * a scope outside runBlocking's tree: a close() stuck in native code
     * cannot be cancelled, and would keep a structured parent (and the
     * timeout around it) from ever returning. So a hang fails the test
     * with "deadlock: ..." and a thread dump instead of stalling it.
     */
    private fun crossClose(body: suspend (outside: CoroutineScope) -> Unit): Unit = runBlocking {
        val outside = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        try {
            withTimeoutOrNull(WAIT * 3) { body(outside) }
                ?: fail<Unit>("deadlock: the test did not end within ${WAIT * 3}\n${threadDump()}")
        } finally {
            outside.cancel()
        }
    }

    /** Counts arrivals down to zero; [await] is bounded by [WAIT]. */
    private class Countdown(count: Int) {
        private val left = AtomicInteger(count)
        private val zero = CompletableDeferred<Unit>()

        fun arrive() {
            if (left.decrementAndGet() == 0) zero.complete(Unit)
        }

        suspend fun await(what: String) {
            withTimeoutOrNull(WAIT) { zero.await() }
                ?: fail("timed out after $WAIT waiting for $what (${left.get()} still to come)\n${threadDump()}")
        }
    }

    private companion object {
        /** The one id of a login_many that fetch_profile answers in the cross-close tests. */
        const val ANSWERED = "answered"

        /** The fetches of each login_many held until close. */
        const val HELD = 2

        suspend fun <T> Deferred<T>.orDeadlock(what: String): T =
            withTimeoutOrNull(WAIT) { await() } ?: fail("deadlock: $what did not happen within $WAIT\n${threadDump()}")

        suspend fun Job.joinOrDeadlock(what: String) {
            withTimeoutOrNull(WAIT) { join() } ?: fail("deadlock: $what did not happen within $WAIT\n${threadDump()}")
        }

        /**
         * Spins until [thread] waits (blocked on a latch, a lock's condition,
         * a join) or has ended, and returns that state: an observable event,
         * bounded by [WAIT].
         */
        fun blockedOrEnded(thread: Thread, what: String): Thread.State {
            val deadline = TimeSource.Monotonic.markNow() + WAIT
            while (true) {
                val state = thread.state
                if (state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING || state == Thread.State.TERMINATED) return state
                if (deadline.hasPassedNow()) fail<Unit>("timed out after $WAIT waiting for $what to wait or end (${thread.state})\n${threadDump()}")
                Thread.onSpinWait()
            }
        }

        /** Every thread's stack, for a failure that may be a deadlock. */
        fun threadDump(): String = Thread.getAllStackTraces().entries.joinToString("\n") { (thread, stack) ->
            "\"${thread.name}\" ${thread.state}\n" + stack.joinToString("") { "    at $it\n" }
        }
    }
}
