package dev.hostcall.demo

import dev.hostcall.runtime.StatusException
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class EventsTest : DemoTest() {
    private fun progressOf(n: Int, total: Int = n) = List(n) { Progress((it + 1).toUInt(), total.toUInt()) }

    /** Collects [demo]'s progress events into a channel, subscribed before this returns. */
    private fun CoroutineScope.record(demo: Demo): Pair<Job, Channel<Progress>> {
        val events = Channel<Progress>(Channel.UNLIMITED)
        val job = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
            demo.progress.collect { events.send(it) }
        }
        return job to events
    }

    private suspend fun Channel<Progress>.take(n: Int) = List(n) { within("progress event ${it + 1} of $n") }

    @Test
    fun `progress events arrive in order, to every collector`() = bounded {
        withStore().use { demo ->
            val (firstJob, first) = record(demo)
            val (secondJob, second) = record(demo)
            assertEquals(2, demo.runtime.listenerCount)
            for (n in listOf(1, 10, 1000)) {
                demo.loginMany(ids("p", n))
                assertEquals(progressOf(n), first.take(n))
                assertEquals(progressOf(n), second.take(n))
            }
            firstJob.cancel() // unsubscribes
            firstJob.joinWithin("the first collector to end")
            assertEquals(1, demo.runtime.listenerCount)
            demo.loginMany(ids("q", 50))
            assertEquals(progressOf(50), second.take(50)) // the events were emitted
            assertTrue(first.tryReceive().isFailure, "an unsubscribed collector got an event")
            secondJob.cancel()
        }
    }

    /**
     * The guarantee: every event a call emits is in the flow's buffer
     * before that call returns (the collector may still be working through
     * them). Shown by a collector held at its first event: after the call
     * returns, the context is closed - nothing can arrive after that - and
     * the collector, released, still finds every event, then the flow ends.
     */
    @Test
    fun `the events of a call are buffered before the call returns`() = bounded {
        val demo = withStore()
        val gate = CompletableDeferred<Unit>()
        val got = ConcurrentLinkedQueue<Progress>()
        val collector = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
            demo.progress.collect {
                gate.await()
                got.add(it)
            }
        }
        demo.loginMany(ids("u", 50))
        demo.close()
        gate.complete(Unit)
        collector.joinWithin("the flow to deliver its buffer and complete")
        assertEquals(progressOf(50), got.toList())
    }

    @Test
    fun `events of concurrent calls are in order within each call`() = bounded {
        withStore().use { demo ->
            val lastDone = ConcurrentHashMap<UInt, UInt>() // by total: each call has its own
            val outOfOrder = ConcurrentLinkedQueue<Progress>()
            val collector = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                demo.progress.collect { p ->
                    if (p.done != (lastDone[p.total] ?: 0u) + 1u) outOfOrder.add(p)
                    lastDone[p.total] = p.done
                }
            }
            (0 until 8).map { i -> async(Dispatchers.Default) { demo.loginMany(ids("c", 200 + i)) } }.awaitAll()
            demo.close() // completes the flow once its buffer is delivered
            collector.joinWithin("the collector")
            assertEquals(emptyList<Progress>(), outOfOrder.toList())
            for (i in 0 until 8) assertEquals((200 + i).toUInt(), lastDone[(200 + i).toUInt()], "call with ${200 + i} ids")
        }
    }

    /** An Unconfined collector would be resumed on the library's thread by the event's send. */
    @Test
    fun `an unconfined collector does not run on the library's thread`() = bounded {
        withStore().use { demo ->
            val threads = ConcurrentLinkedQueue<String>()
            val collector = launch(Dispatchers.Unconfined) {
                demo.progress.collect { threads.add(Thread.currentThread().name) }
            }
            demo.loginMany(ids("u", 100))
            demo.close()
            collector.joinWithin("the collector")
            assertEquals(100, threads.size)
            assertTrue(LOOP_THREAD !in threads, "the collector ran on the library's thread")
        }
    }

    @Test
    fun `a failing collector unsubscribes and leaves the context working`() = bounded {
        withStore().use { demo ->
            val failed = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                runCatching { demo.progress.collect { error("collector trouble") } }
            }
            demo.loginMany(ids("u", 5))
            assertEquals("collector trouble", failed.within("the collector to fail").exceptionOrNull()?.message)
            assertEquals(0, demo.runtime.listenerCount)
            assertEquals(ids("v", 5).map(::sessionOf), demo.loginMany(ids("v", 5)))
        }
    }

    @Test
    fun `collecting on a closed context is refused`() = bounded {
        val demo = Demo.open()
        demo.close()
        thrownBy<StatusException> { demo.progress.collect { } }.checkClosed("demo: listen progress")
    }
}
