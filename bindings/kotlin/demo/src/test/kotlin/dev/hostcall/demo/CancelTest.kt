package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.TimeSource
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.asContextElement
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.isActive
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class CancelTest : DemoTest() {
    /**
     * The caller's coroutine is cancelled while the host fn waits forever:
     * the call ends at once with CancellationException, the request is
     * withdrawn, the host fn's coroutine is cancelled, the library's one
     * reply (RET_CANCELLED) is consumed and dropped, and the context goes on.
     */
    @Test
    fun `cancelling the caller withdraws the call and cancels its host fn`() = bounded {
        Demo.open().use { demo ->
            val started = CompletableDeferred<Job>()
            val hostCancelled = CompletableDeferred<CancellationException>()
            demo.fetchProfile { userId ->
                if (userId == "stuck") {
                    started.complete(currentCoroutineContext().job)
                    try {
                        awaitCancellation()
                    } catch (e: CancellationException) {
                        hostCancelled.complete(e)
                        throw e
                    }
                }
                profileOf(userId)
            }
            val outcome = CompletableDeferred<Throwable?>()
            val caller = launch(Dispatchers.Default) {
                try {
                    demo.login("stuck")
                    outcome.complete(null)
                } catch (e: Throwable) {
                    outcome.complete(e)
                    throw e
                }
            }
            val hostJob = started.within("the host fn to start")
            val cancelledAt = TimeSource.Monotonic.markNow()
            caller.cancel()
            caller.joinWithin("the cancelled caller")
            val took = cancelledAt.elapsedNow()
            val error = outcome.within("the caller's outcome")
            assertTrue(error is CancellationException, "the call did not end cancelled: $error")
            assertTrue(took < 1000.milliseconds, "the cancelled call took $took to return")

            assertEquals("the library no longer waits for this host call", hostCancelled.within("the host fn to be cancelled").message)
            hostJob.joinWithin("the host fn's coroutine to end")
            demo.runtime.droppedReplies.first { it == 1L } // the RET_CANCELLED reply came, and was dropped
            assertEquals(0, demo.runtime.pendingCalls, "the withdrawn call's slot is still held")
            assertEquals(1L, demo.runtime.withdrawnCalls)
            for (userId in listOf("next", "after")) assertEquals(sessionOf(userId), demo.login(userId))
            assertEquals(0, demo.runtime.pendingCalls)
        }
    }

    @Test
    fun `a caller's own timeout withdraws the call and cancels its host fn`() = bounded {
        Demo.open().use { demo ->
            val hostCancelled = CompletableDeferred<CancellationException>()
            demo.fetchProfile { userId ->
                if (userId == "stuck") {
                    try {
                        awaitCancellation()
                    } catch (e: CancellationException) {
                        hostCancelled.complete(e)
                        throw e
                    }
                }
                profileOf(userId)
            }
            // Long enough for the host fn to have started (a call withdrawn before that never starts it).
            thrownBy<TimeoutCancellationException> { withTimeout(200.milliseconds) { demo.login("stuck") } }
            assertEquals("the library no longer waits for this host call", hostCancelled.within("the host fn to be cancelled").message)
            demo.runtime.droppedReplies.first { it == 1L }
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(sessionOf("u1"), demo.login("u1"))
        }
    }

    @Test
    fun `a caller cancelled before the call sends nothing`() = bounded {
        Demo.open().use { demo ->
            val asked = ConcurrentLinkedQueue<String>()
            demo.fetchProfile { userId ->
                asked.add(userId)
                profileOf(userId)
            }
            val cancelled = async {
                currentCoroutineContext().job.cancel()
                demo.login("never")
            }
            thrownBy<CancellationException> { cancelled.await() }
            assertEquals(sessionOf("u2"), demo.login("u2"))
            assertEquals(listOf("u2"), asked.toList(), "the cancelled caller's request reached the library")
        }
    }

    /** Unconfined would resume a caller in the thread that resumes it: the library's. */
    @Test
    fun `an unconfined caller is not resumed on the library's thread`() = bounded {
        withStore().use { demo ->
            val thread = withContext(Dispatchers.Unconfined) {
                demo.login("u1")
                Thread.currentThread().name
            }
            assertNotEquals(LOOP_THREAD, thread)
        }
    }

    @Test
    fun `the library's host call timeout cancels the host fn coroutine`() = bounded {
        Demo.open(DemoConfig(hostCallTimeout = 50.milliseconds)).use { demo ->
            val cancelled = CompletableDeferred<CancellationException>()
            val hostJob = CompletableDeferred<Job>()
            demo.fetchProfile {
                hostJob.complete(currentCoroutineContext().job)
                try {
                    awaitCancellation()
                } catch (e: CancellationException) {
                    cancelled.complete(e)
                    throw e
                }
            }
            val start = TimeSource.Monotonic.markNow()
            thrownBy<CallException> { demo.login("u1") }.check("login", "host fn 'fetch_profile' timed out after 50 ms")
            assertTrue(start.elapsedNow() >= 50.milliseconds, "the call failed before the timeout")
            val e = cancelled.within("the host fn to be cancelled")
            assertEquals("the library no longer waits for this host call", e.message)
            hostJob.within("the host fn's job").joinWithin("the host fn's coroutine to end")
        }
    }

    @Test
    fun `first_profile cancels the fetches that lost`() = bounded {
        Demo.open().use { demo ->
            val losers = listOf("slow-1", "slow-2", "slow-3")
            val started = Channel<String>(Channel.UNLIMITED)
            val cancelled = Channel<String>(Channel.UNLIMITED)
            demo.fetchProfile { userId ->
                if (userId == "fast") {
                    // A fetch dropped before its coroutine starts never runs;
                    // wait for the losers to be running so each is cancelled.
                    repeat(losers.size) { started.within("the losing fetches to start") }
                } else {
                    started.send(userId)
                    try {
                        awaitCancellation()
                    } finally {
                        cancelled.send(userId)
                    }
                }
                profileOf(userId)
            }
            assertEquals(profileOf("fast"), demo.firstProfile(listOf(losers[0], "fast") + losers.drop(1)))
            val seen = List(losers.size) { cancelled.within("a losing fetch to be cancelled") }
            assertEquals(losers.toSet(), seen.toSet())
        }
    }

    @Test
    fun `a failed fetch cancels the rest of login_many`() = bounded {
        Demo.open().use { demo ->
            val started = Channel<String>(Channel.UNLIMITED)
            val cancelled = Channel<String>(Channel.UNLIMITED)
            demo.fetchProfile { userId ->
                if (userId == "bad") {
                    // Fail once the others run (one dropped before it starts never runs).
                    repeat(20) { started.within("the slow fetches to start") }
                    throw IllegalArgumentException("no such user")
                }
                started.send(userId)
                try {
                    awaitCancellation()
                } finally {
                    cancelled.send(userId)
                }
            }
            thrownBy<CallException> { demo.loginMany(ids("slow", 20) + "bad") }.check("login_many", "host fetch failed: no such user")
            val seen = List(20) { cancelled.within("the remaining fetches to be cancelled") }
            assertEquals(ids("slow", 20).toSet(), seen.toSet())
        }
    }

    /** A host fn that ignores its cancellation and answers late is refused quietly. */
    @Test
    fun `a late answer after the library gave up is harmless`() = bounded {
        Demo.open(DemoConfig(hostCallTimeout = 50.milliseconds)).use { demo ->
            val release = CompletableDeferred<Unit>()
            val finished = CompletableDeferred<Boolean>()
            demo.fetchProfile { userId ->
                if (userId == "late") {
                    withContext(NonCancellable) { release.await() }
                    finished.complete(currentCoroutineContext().job.isCancelled)
                }
                profileOf(userId)
            }
            thrownBy<CallException> { demo.login("late") }.check("login", "timed out")
            release.complete(Unit)
            assertTrue(finished.within("the late host fn"), "the late host fn was not cancelled")
            assertEquals(sessionOf("u1"), demo.login("u1"))
        }
    }

    @Test
    fun `host fns run in a scope the user supplies`() = bounded {
        val scopeJob = Job()
        val scope = CoroutineScope(scopeJob + Dispatchers.Default + CoroutineName("my host fns"))
        Demo.open(scope = scope).use { demo ->
            val names = ConcurrentLinkedQueue<String?>()
            val parents = ConcurrentLinkedQueue<Boolean>()
            demo.fetchProfile { userId ->
                names.add(currentCoroutineContext()[CoroutineName]?.name)
                parents.add(currentCoroutineContext().job in scopeJob.children)
                profileOf(userId)
            }
            demo.loginMany(ids("s", 10))
            assertEquals(List(10) { "my host fns" }, names.toList())
            assertEquals(List(10) { true }, parents.toList())
        }
        assertTrue(scopeJob.isActive, "closing the context cancelled the user's scope")
        scope.cancel()
    }

    @Test
    fun `cancelling the user's scope cancels its running host fns`() = bounded {
        val scope = CoroutineScope(Job() + Dispatchers.Default)
        Demo.open(scope = scope).use { demo ->
            val started = CompletableDeferred<Unit>()
            demo.fetchProfile {
                started.complete(Unit)
                awaitCancellation()
            }
            val login = async(Dispatchers.Default) { runCatching { demo.login("u1") } }
            started.within("the host fn to start")
            scope.cancel(CancellationException("the app shuts this scope"))
            val error = login.within("the login").exceptionOrNull() as? CallException
            assertTrue(error?.text?.contains("host function cancelled: the app shuts this scope") == true, "$error")
        }
    }

    /** Thread context elements (MDC, thread locals) hold inside a host fn, before and after it suspends. */
    @Test
    fun `a scope's thread context elements are installed for host fns`() = bounded {
        val local = ThreadLocal<String?>()
        val scope = CoroutineScope(Job() + Dispatchers.Default + local.asContextElement("from the scope"))
        Demo.open(scope = scope).use { demo ->
            val seen = ConcurrentLinkedQueue<String?>()
            demo.fetchProfile { userId ->
                seen.add(local.get())
                yield()
                seen.add(local.get())
                profileOf(userId)
            }
            demo.loginMany(ids("t", 20))
            assertEquals(List(40) { "from the scope" }, seen.toList())
        }
        scope.cancel()
    }

    /** An Unconfined scope would start host fns on the library's thread; they hop off it. */
    @Test
    fun `an unconfined scope does not run host fns on the library's thread`() = bounded {
        val scope = CoroutineScope(Job() + Dispatchers.Unconfined)
        Demo.open(scope = scope).use { demo ->
            val threads = hostFnThreads(demo, 10)
            assertTrue(LOOP_THREAD !in threads, "a host fn ran on the library's thread: $threads")
        }
        scope.cancel()
    }

    /**
     * A scope cancelled while the context is open must not leave the
     * library waiting: a host fn that cannot start answers with an error.
     */
    @Test
    fun `host fns of a cancelled scope fail instead of hanging`() = bounded {
        val scope = CoroutineScope(Job() + Dispatchers.Default)
        scope.cancel()
        Demo.open(scope = scope).use { demo ->
            demo.fetchProfile { userId -> profileOf(userId) }
            thrownBy<CallException> { demo.login("u1") }.check("login", "host function cancelled")
        }
    }
}
