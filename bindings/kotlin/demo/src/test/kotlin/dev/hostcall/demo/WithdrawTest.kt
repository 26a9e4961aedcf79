package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.NativeCalls
import dev.hostcall.runtime.Runtime
import dev.hostcall.runtime.StatusException
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicIntegerArray
import kotlin.coroutines.Continuation
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.startCoroutine
import kotlin.random.Random
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.isActive
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Withdrawing requests (`demo_call_cancellable` / `demo_cancel_call`) when
 * the calling coroutine is cancelled: under races with the replies, with
 * close, and the rule for handlers that have a native entry point.
 */
class WithdrawTest : DemoTest() {
    /**
     * Hundreds of logins in flight, each cancelled after a random number of
     * yields, racing its reply (some host fns answer at once, some after a
     * yield, some never). Every caller ends exactly once, with its session
     * or with CancellationException (never a CallException: a cancelled
     * caller does not see the RET_CANCELLED reply); every host fn coroutine
     * ends; and once the library has answered everything, no call slot is
     * left.
     */
    @Test
    fun `cancels racing replies end each call once and leak no slot`() = bounded {
        Demo.open().use { demo ->
            val hostRunning = MutableStateFlow(0)
            val hostCancelled = AtomicInteger()
            demo.fetchProfile { userId ->
                hostRunning.update { it + 1 }
                try {
                    when (userId.hashCode().mod(3)) {
                        0 -> {}
                        1 -> yield()
                        else -> if (userId != "barrier") awaitCancellation()
                    }
                    profileOf(userId)
                } catch (e: CancellationException) {
                    hostCancelled.incrementAndGet()
                    throw e
                } finally {
                    hostRunning.update { it - 1 }
                }
            }
            repeat(3) { round ->
                val n = 400
                val ends = AtomicIntegerArray(n)
                val sessions = AtomicInteger()
                val cancelled = AtomicInteger()
                val wrong = ConcurrentLinkedQueue<Throwable>()
                val callers = List(n) { i ->
                    // Undispatched: each caller starts its call before its canceller exists.
                    launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                        try {
                            val id = "r$round-$i"
                            if (demo.login(id) == sessionOf(id)) sessions.incrementAndGet() else wrong.add(AssertionError("wrong session for $id"))
                        } catch (e: CancellationException) {
                            cancelled.incrementAndGet()
                            throw e
                        } catch (e: Throwable) {
                            wrong.add(e)
                        } finally {
                            ends.incrementAndGet(i)
                        }
                    }
                }
                val random = Random(round)
                val cancellers = callers.map { caller ->
                    val yields = random.nextInt(0, 30)
                    launch(Dispatchers.Default) {
                        repeat(yields) { yield() }
                        caller.cancel()
                    }
                }
                cancellers.forEach { it.joinWithin("a canceller") }
                callers.forEach { it.joinWithin("a caller") }
                assertEquals(emptyList<Throwable>(), wrong.toList())
                assertEquals(List(n) { 1 }, List(n) { ends.get(it) }, "a caller did not end exactly once")
                assertEquals(n, sessions.get() + cancelled.get())
            }
            // Every withdrawal was sent before its caller ended, and the library
            // answers them in order: once a later call has its reply, so has each.
            assertEquals(sessionOf("barrier"), demo.login("barrier"))
            assertEquals(0, demo.runtime.pendingCalls, "call slots left after every reply")
            hostRunning.first { it == 0 }
            assertTrue(demo.runtime.withdrawnCalls > 0, "no call was withdrawn")
            assertTrue(demo.runtime.droppedReplies.value >= demo.runtime.withdrawnCalls, "a withdrawn call's reply was not dropped")
            assertTrue(hostCancelled.get() > 0, "no host fn was cancelled")
        }
    }

    /**
     * Callers cancelled while another thread closes the context: each ends
     * once — cancelled, shutting down, or refused as closed — and nothing
     * is left pending. A withdrawal that reaches a closed context is harmless.
     */
    @Test
    fun `cancels racing close end each call once`() = bounded {
        repeat(20) { round ->
            val demo = Demo.open()
            val started = Channel<Unit>(Channel.UNLIMITED)
            demo.fetchProfile {
                started.send(Unit)
                awaitCancellation()
            }
            val n = 50
            val ends = AtomicIntegerArray(n)
            val wrong = ConcurrentLinkedQueue<Throwable>()
            val callers = List(n) { i ->
                launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                    try {
                        demo.login("c$round-$i")
                        wrong.add(AssertionError("login c$round-$i succeeded"))
                    } catch (e: CancellationException) {
                        throw e
                    } catch (_: CallException.ShuttingDown) {
                    } catch (e: StatusException) {
                        if (!e.closed) wrong.add(e)
                    } catch (e: Throwable) {
                        wrong.add(e)
                    } finally {
                        ends.incrementAndGet(i)
                    }
                }
            }
            started.within("a host fn to start")
            val random = Random(round)
            val cancellers = callers.map { caller ->
                val yields = random.nextInt(0, 10)
                launch(Dispatchers.Default) {
                    repeat(yields) { yield() }
                    caller.cancel()
                }
            }
            val closer = launch(Dispatchers.Default) {
                repeat(random.nextInt(0, 10)) { yield() }
                demo.close()
            }
            closer.joinWithin("close")
            cancellers.forEach { it.joinWithin("a canceller") }
            callers.forEach { it.joinWithin("a caller") }
            assertEquals(emptyList<Throwable>(), wrong.toList())
            assertEquals(List(n) { 1 }, List(n) { ends.get(it) }, "a caller did not end exactly once")
            assertEquals(0, demo.runtime.pendingCalls, "call slots left after close")
        }
    }

    /** A host fn may withdraw the call it serves by cancelling its caller. */
    @Test
    fun `a host fn may cancel its own caller`() = bounded {
        Demo.open().use { demo ->
            val caller = CompletableDeferred<Job>()
            val hostCancelled = CompletableDeferred<Unit>()
            demo.fetchProfile { userId ->
                if (userId == "self") {
                    caller.await().cancel()
                    try {
                        awaitCancellation()
                    } finally {
                        hostCancelled.complete(Unit)
                    }
                }
                profileOf(userId)
            }
            val job = launch(Dispatchers.Default, start = CoroutineStart.LAZY) { demo.login("self") }
            caller.complete(job)
            job.start()
            job.joinWithin("the caller")
            assertTrue(job.isCancelled)
            hostCancelled.within("the host fn to be cancelled")
            demo.runtime.droppedReplies.first { it == 1L }
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(sessionOf("u1"), demo.login("u1"))
        }
    }

    /**
     * ping_host has a native entry point, which cannot be withdrawn: from a
     * cancellable coroutine it goes through CBOR and `call_cancellable`, so
     * cancelling the caller cancels the `notify` host fn it awaits.
     */
    @Test
    fun `a handler with a native entry point is withdrawn too`() = bounded {
        Demo.open().use { demo ->
            val started = CompletableDeferred<Unit>()
            val hostCancelled = CompletableDeferred<Unit>()
            demo.notify {
                started.complete(Unit)
                try {
                    awaitCancellation()
                } finally {
                    hostCancelled.complete(Unit)
                }
            }
            val caller = launch(Dispatchers.Default) { demo.pingHost("hello") }
            started.within("notify to start")
            caller.cancel()
            caller.joinWithin("the caller")
            hostCancelled.within("notify to be cancelled")
            demo.runtime.droppedReplies.first { it == 1L }
            assertEquals(1L, demo.runtime.withdrawnCalls)
        }
    }

    /**
     * The rule: the native entry points, which cannot be withdrawn, serve
     * only callers that ask for them (NativeCalls) or cannot be cancelled.
     */
    @Test
    fun `native entry points serve callers that ask for them`() = bounded {
        assertTrue(Runtime.cancellable(), "runBlocking's coroutine can be cancelled")
        assertFalse(withContext(NativeCalls) { Runtime.cancellable() })
        val noJob = CompletableDeferred<Boolean>()
        suspend { Runtime.cancellable() }.startCoroutine(Continuation(EmptyCoroutineContext) { noJob.complete(it.getOrThrow()) })
        assertFalse(noJob.within("a coroutine without a job"))

        Demo.open().use { demo ->
            demo.notify { }
            withContext(NativeCalls) {
                assertEquals(5L, demo.add(2, 3))
                thrownBy<CallException> { demo.add(Long.MAX_VALUE, 1) }.check("add", "overflow")
                assertTrue(demo.version().isNotEmpty())
                demo.pingHost("hi")
                thrownBy<CallException.Panicked> { demo.panicWith("on purpose") }
                assertEquals(sessionOf("u1"), withStore().use { it.login("u1") }) // CBOR handlers as always
            }
            // The same handlers through CBOR.
            assertEquals(5L, demo.add(2, 3))
            thrownBy<CallException> { demo.add(Long.MAX_VALUE, 1) }.check("add", "overflow")
            assertEquals(withContext(NativeCalls) { demo.version() }, demo.version())
            demo.pingHost("hi")
            thrownBy<CallException.Panicked> { demo.panicWith("on purpose") }
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(0L, demo.runtime.withdrawnCalls)
        }
    }

    /**
     * A native call is not withdrawn: its caller ends at once, but the
     * host fn it awaits goes on, and its late reply is dropped.
     */
    @Test
    fun `a cancelled native call is abandoned, not withdrawn`() = bounded {
        Demo.open().use { demo ->
            val started = CompletableDeferred<Unit>()
            val release = CompletableDeferred<Unit>()
            val stillActive = CompletableDeferred<Boolean>()
            demo.notify {
                started.complete(Unit)
                release.await()
                stillActive.complete(currentCoroutineContext().isActive)
            }
            val caller = launch(Dispatchers.Default + NativeCalls) { demo.pingHost("hello") }
            started.within("notify to start")
            caller.cancel()
            caller.joinWithin("the caller")
            release.complete(Unit)
            assertTrue(stillActive.within("notify to finish"), "the native call's host fn was cancelled")
            demo.runtime.droppedReplies.first { it == 1L }
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(0L, demo.runtime.withdrawnCalls)
        }
    }
}
