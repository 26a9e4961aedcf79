package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.CborCalls
import dev.hostcall.runtime.StatusException
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.yield
import kotlinx.coroutines.withTimeout

/**
 * Every kind of JNI crossing, many times, for JniTest to run in a child
 * JVM under -Xcheck:jni and read its output: host fn upcalls, event
 * upcalls, reply upcalls (CBOR and typed, native and CBOR entry points),
 * cancel upcalls, withdrawn calls (cancelCall), refusals thrown
 * from native code, borrowed arrays in both directions.
 *
 *     java -Xcheck:jni -Djava.library.path=… -cp … dev.hostcall.demo.JniWorkout [rounds]
 *
 * Prints one line, `ok <counts>`, and exits 0; anything else is a failure.
 */
object JniWorkout {
    @JvmStatic
    fun main(args: Array<String>) {
        val rounds = args.firstOrNull()?.toInt() ?: 10
        val counts = try {
            runBlocking { withTimeout(WAIT * 3) { workout(rounds) } }
        } catch (e: Throwable) {
            e.printStackTrace()
            exitProcess(1)
        }
        println("ok $counts")
    }

    private suspend fun workout(rounds: Int): String = kotlinx.coroutines.coroutineScope {
        val hostCalls = AtomicInteger()
        val cancels = AtomicInteger()
        val events = AtomicInteger()
        var refusals = 0
        Demo.open().use { demo ->
            demo.fetchProfile { userId ->
                when {
                    // Dropped by first_profile; one dropped before its
                    // coroutine starts never runs, so these are not counted.
                    userId.startsWith("slow") -> try {
                        awaitCancellation()
                    } finally {
                        cancels.incrementAndGet()
                    }
                    userId == "bad" -> {
                        hostCalls.incrementAndGet()
                        error("refused")
                    }
                    else -> {
                        hostCalls.incrementAndGet()
                        profileOf(userId)
                    }
                }
            }
            demo.notify { }
            val collector = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                demo.progress.collect { events.incrementAndGet() }
            }
            repeat(rounds) { round ->
                check(demo.loginMany(ids("r$round", 10_000)).size == 10_000)
            }
            (0 until 2000).map { async(Dispatchers.Default) { demo.login("c$it") } }.awaitAll()
            // Callers with elements to carry: each host fn upcall asks demo_host_call_origin (a JNI call down from the loop thread).
            (0 until 2000).map { async(Dispatchers.Default + CoroutineName("carried $it")) { demo.login("n$it") } }.awaitAll()
            repeat(100) { check(demo.firstProfile(listOf("slow-1", "fast", "slow-2")).userId == "fast") }
            repeat(100) {
                try {
                    demo.login("bad")
                    error("login(bad) succeeded")
                } catch (_: CallException) {
                }
            }
            repeat(1000) { check(demo.add(it.toLong(), 1) == it + 1L) }
            repeat(100) { demo.pingHost("ping $it") }
            check(demo.version().isNotEmpty())
            withContext(CborCalls) { // the same handlers through CBOR
                repeat(1000) { check(demo.add(it.toLong(), 1) == it + 1L) }
                repeat(100) { demo.pingHost("ping $it") }
                check(demo.version().isNotEmpty())
            }
            // Withdrawn calls (cancelCall, and their RET_CANCELLED replies).
            repeat(200) {
                val call = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { demo.login("slow-w$it") }
                yield()
                call.cancel()
                call.join()
            }
            demo.close()
            collector.join()
            repeat(1000) {
                try {
                    demo.login("closed")
                } catch (e: StatusException) {
                    refusals++
                }
            }
        }
        check(cancels.get() <= 400) { "${cancels.get()} cancellations of 200 dropped fetches and 200 withdrawn logins" }
        "hostCalls=${hostCalls.get()} events=${events.get()} refusals=$refusals"
    }
}
