package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.CborCalls
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
import kotlinx.coroutines.NonCancellable
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
 * close, and through the native entry points' `_cancellable` forms.
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
     * ping_host has a native entry point, which calls take, through its
     * `_cancellable` form: cancelling the caller withdraws the request and
     * cancels the `notify` host fn it awaits. The same through CBOR
     * ([CborCalls]).
     */
    @Test
    fun `a native handler is withdrawn by coroutine cancellation`() = bounded {
        for (path in listOf(EmptyCoroutineContext, CborCalls)) {
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
                val caller = launch(Dispatchers.Default + path) { demo.pingHost("hello") }
                started.within("notify to start ($path)")
                caller.cancel()
                caller.joinWithin("the caller ($path)")
                assertTrue(caller.isCancelled)
                hostCancelled.within("notify to be cancelled ($path)")
                demo.runtime.droppedReplies.first { it == 1L }
                assertEquals(1L, demo.runtime.withdrawnCalls)
                assertEquals(0, demo.runtime.pendingCalls)
            }
        }
    }

    /**
     * Calls take the native entry point of a handler that has one, unless
     * the context holds [CborCalls]; the deprecated `NativeCalls` changes
     * nothing. Results and failures are the same both ways.
     */
    @Test
    fun `both paths give the same results`() = bounded {
        assertTrue(Runtime.nativeCalls(), "the native entry points are the default")
        assertFalse(withContext(CborCalls) { Runtime.nativeCalls() })
        @Suppress("DEPRECATION")
        assertTrue(withContext(dev.hostcall.runtime.NativeCalls) { Runtime.nativeCalls() })
        val noJob = CompletableDeferred<Boolean>()
        suspend { Runtime.nativeCalls() }.startCoroutine(Continuation(EmptyCoroutineContext) { noJob.complete(it.getOrThrow()) })
        assertTrue(noJob.within("a coroutine without a job"))

        Demo.open().use { demo ->
            demo.notify { }
            for (path in listOf(EmptyCoroutineContext, CborCalls, NonCancellable)) {
                withContext(path) {
                    assertEquals(5L, demo.add(2, 3))
                    thrownBy<CallException> { demo.add(Long.MAX_VALUE, 1) }.check("add", "overflow")
                    assertTrue(demo.version().isNotEmpty())
                    demo.pingHost("hi")
                    thrownBy<CallException.Panicked> { demo.panicWith("on purpose") }
                    assertEquals(sessionOf("u1"), withStore().use { it.login("u1") }) // CBOR handlers as always
                }
            }
            assertEquals(withContext(CborCalls) { demo.version() }, demo.version())
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(0L, demo.runtime.withdrawnCalls)
        }
    }

    /**
     * A native call cancelled while it is being started (the caller's
     * cancellation racing the `_cancellable` entry point's return of the
     * id) is withdrawn too, once: many of them, none left behind.
     */
    @Test
    fun `native calls cancelled at once are withdrawn once each`() = bounded {
        Demo.open().use { demo ->
            val notified = AtomicInteger()
            demo.notify { notified.incrementAndGet(); awaitCancellation() }
            val calls = List(200) {
                launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { demo.pingHost("p$it") }
            }
            calls.forEach { it.cancel() }
            calls.forEach { it.joinWithin("a cancelled ping") }
            demo.runtime.droppedReplies.first { it == 200L }
            assertEquals(0, demo.runtime.pendingCalls)
            assertTrue(demo.runtime.withdrawnCalls <= 200L)
        }
    }
}
