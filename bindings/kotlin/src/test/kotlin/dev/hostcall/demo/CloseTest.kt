package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.StatusException
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class CloseTest : DemoTest() {
    /**
     * Close answers every pending call with "context shutting down",
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
            assertTrue(e is CallException && e.shuttingDown, "a pending call after close: $result")
            (e as CallException).method
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
}
