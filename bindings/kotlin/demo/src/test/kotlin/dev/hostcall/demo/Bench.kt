package dev.hostcall.demo

import dev.hostcall.runtime.CborCalls
import java.lang.management.ManagementFactory
import java.util.concurrent.locks.LockSupport
import kotlin.coroutines.resume
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext

/**
 * Benchmarks of the Kotlin binding against the real libdemo; the figures
 * and how they were taken are in docs/benchmarks.md ("Kotlin bindings").
 * Measure against a release build of libdemo:
 *
 *     cargo build -p demo --release
 *     cd bindings/kotlin
 *     mvn -B -q -pl demo -am test-compile -Pbench -Dhostcall.lib.dir=$PWD/../../target/release
 *     mvn -B -q -pl demo -am test-compile -Pbench -Dhostcall.lib.dir=… -Dbench.args="--runs 5 --seconds 1 --only login"
 *
 * Each benchmark runs `--runs` times (default 5) for about `--seconds`
 * each (default 1, after a warm-up of the same length) and reports the
 * median and every run. `--smoke` runs each once, a few operations, for
 * BenchSmokeTest. Nothing here asserts anything about speed.
 */
object Bench {
    /** Host calls kept in flight by the throughput benchmarks. */
    const val IN_FLIGHT = 10_000

    /**
     * CPU time per call (µs) over the timed runs, by thread: the library's
     * loop thread (`hostcall-demo`), the `Dispatchers.Default` workers, and
     * every other thread (JIT, GC, the bench's own). Steadier than the
     * wall-clock figures on a loaded machine: it is what each side costs.
     */
    class Cpu(val loop: Double, val workers: Double, val other: Double)

    class Result(val name: String, val unit: String, val runs: List<Double>, val note: String, val cpu: Cpu? = null) {
        val median: Double get() = runs.sorted().let { (it[(it.size - 1) / 2] + it[it.size / 2]) / 2 }
    }

    class Options(val runs: Int = 5, val time: Duration = 1.seconds, val only: String? = null, val smoke: Boolean = false)

    /** One benchmark: `op` is one operation; `perOp` host calls (or calls) per operation; per-call time or calls/s. */
    private class Case(
        val name: String,
        val note: String,
        val rate: Boolean,
        val perOp: Int,
        val config: DemoConfig = DemoConfig(),
        val events: Boolean = false,
        val op: suspend (Demo) -> Unit,
    )

    private val userIds = ids("u", IN_FLIGHT)

    private val cases = listOf(
        Case("login", "login one at a time, fetch_profile in Kotlin (caller on Dispatchers.Default)", false, 1) {
            check(it.login("u1").userId == "u1")
        },
        Case("loginNoSpin", "the same with spin = 0", false, 1, DemoConfig(spin = Duration.ZERO)) {
            check(it.login("u1").userId == "u1")
        },
        Case("loginMany10k", "one loginMany of 10 000 ids per op: 10 000 host calls in flight", true, IN_FLIGHT) {
            check(it.loginMany(userIds).size == IN_FLIGHT)
        },
        Case("loginMany10kNoSpin", "the same with spin = 0", true, IN_FLIGHT, DemoConfig(spin = Duration.ZERO)) {
            check(it.loginMany(userIds).size == IN_FLIGHT)
        },
        Case("loginMany10kEvents", "loginMany10k with a progress collector: 10 000 events per op too", true, IN_FLIGHT, events = true) {
            check(it.loginMany(userIds).size == IN_FLIGHT)
        },
        Case("login10kCoroutines", "10 000 coroutines on Dispatchers.Default, one login each per op", true, IN_FLIGHT) { demo ->
            coroutineScope {
                userIds.map { id -> async(Dispatchers.Default) { demo.login(id) } }.awaitAll()
            }
        },
        Case("add", "native add one at a time (the default path, withdrawable)", false, 1) { check(it.add(1, 2) == 3L) },
        Case("addParallel", "native add from 2 coroutines on Dispatchers.Default (time per call)", false, 2) { demo ->
            coroutineScope { List(2) { launch(Dispatchers.Default) { demo.add(1, 2) } } }
        },
        Case("addCbor", "add one at a time through CBOR and call_cancellable (CborCalls)", false, 1) {
            withContext(CborCalls) { check(it.add(1, 2) == 3L) }
        },
        Case("cborCall", "loginMany of no ids (CBOR both ways, no host call) one at a time", false, 1) {
            check(it.loginMany(emptyList()).isEmpty())
        },
        Case("pingHost", "native ping_host awaiting notify in Kotlin, one at a time", false, 1) {
            it.pingHost("hi")
        },
        // Same-run baselines without the library: what the thread wake-ups
        // of a call one at a time cost on this machine.
        Case("parkPingPong", "baseline: 2 JVM threads, LockSupport.park/unpark round trip (2 wake-ups)", false, 1) {
            pingPong.parkRoundTrip()
        },
        Case("upcalls10k", "the Kotlin side alone: 10 000 host fn upcalls from a plain thread, answered to no library", true, IN_FLIGHT) {
            upcalls.burst()
        },
        Case("hopPingPong", "baseline: coroutine on Default resumed from a plain parked thread (2 wake-ups)", false, 1) {
            pingPong.hopRoundTrip()
        },
    )

    /** A plain JVM thread making the host fn upcalls the library's loop thread would, to a runtime of no library. */
    private val upcalls by lazy { Upcaller() }

    /**
     * The runtime's share of a host call without the library or JNI: the
     * thread `hostcall-sim` calls [Upcalls.hostFn] as the JNI trampoline
     * does (the same request bytes `fetch_profile` gets), the host fn
     * decodes, answers and encodes a [Profile] as the generated code does,
     * and the answer goes to a counter instead of `demo_host_complete`.
     */
    private class Upcaller {
        private val done = java.util.concurrent.atomic.AtomicLong()
        private val scope = kotlinx.coroutines.CoroutineScope(kotlinx.coroutines.SupervisorJob() + Dispatchers.Default)
        private val runtime = dev.hostcall.runtime.Runtime(scope, 1) { _, _, _ -> done.incrementAndGet(); 0 }
        private var key = 0L

        init {
            runtime.hostFn(0, register = { key = it }) { request ->
                val r = dev.hostcall.runtime.CborReader(request)
                r.array()
                val userId = r.text()
                dev.hostcall.runtime.CborWriter().writeProfile(Profile(userId, "Name of $userId", 36u)).bytes()
            }
        }
        private val request = dev.hostcall.runtime.CborWriter().array(1).text("u1").bytes()
        private var token = 0L

        @Volatile private var waiter: Thread? = null

        private val thread = Thread({ serve() }, "hostcall-sim").apply {
            isDaemon = true
            start()
        }

        private fun serve() {
            while (true) {
                val caller = waiter
                if (caller == null) {
                    LockSupport.park(this)
                    continue
                }
                repeat(IN_FLIGHT) { dev.hostcall.runtime.Upcalls.hostFn(key, ++token, request.copyOf()) }
                waiter = null
                LockSupport.unpark(caller)
            }
        }

        /** [IN_FLIGHT] upcalls; returns when every host fn has answered. */
        fun burst() {
            val target = done.get() + IN_FLIGHT
            waiter = Thread.currentThread()
            LockSupport.unpark(thread)
            val deadline = System.nanoTime() + 60_000_000_000L // a bench that hangs says so
            while (waiter != null || done.get() < target) {
                check(System.nanoTime() < deadline) { "upcalls10k: ${target - done.get()} host fns never answered" }
                if (waiter != null) LockSupport.parkNanos(this, 1_000_000) else Thread.onSpinWait()
            }
        }
    }

    /** A plain JVM thread standing in for the library's loop thread: woken by unpark, it hands the turn back. */
    private val pingPong by lazy { PingPong() }

    private class PingPong {
        /** The turn: a parked thread to unpark, or a continuation to resume; null once served. */
        @Volatile private var ball: Any? = null

        private val thread = Thread({ serve() }, "bench-ping-pong").apply {
            isDaemon = true
            start()
        }

        private fun serve() {
            while (true) {
                var got = ball
                while (got == null) {
                    LockSupport.park(this)
                    got = ball
                }
                ball = null
                if (got is CancellableContinuation<*>) {
                    @Suppress("UNCHECKED_CAST")
                    (got as CancellableContinuation<Unit>).resume(Unit) // dispatched to Default: a worker wakes
                } else {
                    LockSupport.unpark(got as Thread)
                }
            }
        }

        /** Hands the turn to the other thread and parks until it is handed back. */
        fun parkRoundTrip() {
            ball = Thread.currentThread()
            LockSupport.unpark(thread)
            while (ball != null) LockSupport.park(this)
        }

        /** Suspends; the other thread resumes the coroutine, which goes through Dispatchers.Default. */
        suspend fun hopRoundTrip() = suspendCancellableCoroutine<Unit> { cont ->
            ball = cont
            LockSupport.unpark(thread)
        }
    }

    fun run(options: Options, report: (String) -> Unit = ::println): List<Result> {
        val selected = cases.filter { options.only == null || it.name == options.only }
        require(selected.isNotEmpty()) { "no benchmark named ${options.only}; known: ${cases.joinToString { it.name }}" }
        return selected.map { case -> measure(case, options).also { report(format(it)) } }
    }

    private fun measure(case: Case, options: Options): Result = runBlocking(Dispatchers.Default) {
        Demo.open(case.config).use { demo ->
            demo.fetchProfile { userId -> Profile(userId, "Name of $userId", 36u) }
            demo.notify { }
            val collector = if (case.events) {
                launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { demo.progress.collect { } }
            } else {
                null
            }
            if (options.smoke) {
                val start = TimeSource.Monotonic.markNow()
                case.op(demo)
                val took = start.elapsedNow()
                collector?.cancel()
                return@runBlocking Result(case.name, "smoke", listOf(took.inWholeNanoseconds.toDouble()), case.note)
            }
            timed(case, demo, options.time) // warm-up: JIT, the library's tables, the dispatcher's threads
            val before = cpuByThread()
            val calls = LongArray(1)
            val runs = List(options.runs) { timed(case, demo, options.time, calls) }
            val cpu = cpuSince(before, calls[0])
            collector?.cancel()
            Result(case.name, if (case.rate) "calls/s" else "µs/call", runs, case.note, cpu)
        }
    }

    private val threads = ManagementFactory.getThreadMXBean()

    /** CPU time (ns) of every live thread, by id, with its name. */
    private fun cpuByThread(): Map<Long, Pair<String, Long>> =
        threads.getThreadInfo(threads.allThreadIds).filterNotNull().associate { it.threadId to (it.threadName to threads.getThreadCpuTime(it.threadId)) }

    private fun cpuSince(before: Map<Long, Pair<String, Long>>, calls: Long): Cpu? {
        if (calls == 0L) return null
        var loop = 0L
        var workers = 0L
        var other = 0L
        for ((id, now) in cpuByThread()) {
            val (name, ns) = now
            if (ns < 0) continue
            val spent = ns - (before[id]?.second ?: 0L)
            when {
                name.startsWith("hostcall-") -> loop += spent
                name.startsWith("DefaultDispatcher-worker") -> workers += spent
                else -> other += spent
            }
        }
        fun perCall(ns: Long) = ns / 1e3 / calls
        return Cpu(perCall(loop), perCall(workers), perCall(other))
    }

    /** Runs `case.op` for about [time]; returns calls/s or µs per call, and adds the calls made to [count]. */
    private suspend fun timed(case: Case, demo: Demo, time: Duration, count: LongArray? = null): Double = withContext(Dispatchers.Default) {
        val start = TimeSource.Monotonic.markNow()
        var ops = 0L
        while (start.elapsedNow() < time) {
            case.op(demo)
            ops++
        }
        val seconds = start.elapsedNow().inWholeNanoseconds / 1e9
        val calls = ops * case.perOp
        if (count != null) count[0] += calls
        if (case.rate) calls / seconds else seconds * 1e6 / calls
    }

    private fun format(r: Result): String {
        fun num(x: Double) = if (r.unit == "calls/s") "%,.0f".format(x) else "%.1f".format(x)
        val cpu = r.cpu?.let { "  cpu µs/call: loop %.2f workers %.2f other %.2f".format(it.loop, it.workers, it.other) } ?: ""
        return "%-20s %14s %-8s  runs: %s%s  (%s)".format(r.name, num(r.median), r.unit, r.runs.joinToString(" ") { num(it) }, cpu, r.note)
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val words = args.flatMap { it.split(' ') }.filter { it.isNotBlank() }.iterator()
        var options = Options()
        while (words.hasNext()) {
            when (val word = words.next()) {
                "--runs" -> options = Options(words.next().toInt(), options.time, options.only, options.smoke)
                "--seconds" -> options = Options(options.runs, words.next().toDouble().seconds, options.only, options.smoke)
                "--only" -> options = Options(options.runs, options.time, words.next(), options.smoke)
                "--smoke" -> options = Options(1, options.time, options.only, true)
                else -> error("unknown argument '$word' (known: --runs N, --seconds S, --only NAME, --smoke)")
            }
        }
        println("hostcall Kotlin benchmarks: ${Runtime.getRuntime().availableProcessors()} CPUs, ${System.getProperty("java.vm.name")} ${System.getProperty("java.version")}")
        run(options)
    }
}
