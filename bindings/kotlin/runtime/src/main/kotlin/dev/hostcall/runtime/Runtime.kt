package dev.hostcall.runtime

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.ConcurrentSkipListSet
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReferenceArray
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock
import kotlin.coroutines.Continuation
import kotlin.coroutines.ContinuationInterceptor
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.intrinsics.createCoroutineUnintercepted
import kotlin.coroutines.intrinsics.intercepted
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableJob
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.ThreadContextElement
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext

/**
 * What a call got back: [code] is the outcome code ([Outcome]); when [ok]
 * (`RET_OK`, the only success), [data] (CBOR, text or bytes) or [value] (a
 * typed native result); otherwise the failure's text in [data] (and [code]
 * says what failed: every code but `RET_OK` is a failure, one this binding
 * does not know included, or [CallException.REPLY_LOST]).
 */
class Reply(val code: Int, val data: ByteArray?, val value: Long) {
    /** True for `RET_OK` only. */
    val ok: Boolean get() = !Outcome.isError(code)

    /** The error text of a failed reply. */
    val message: String get() = data?.decodeToString() ?: ""

    /** The exception of this failed reply of [method], by its outcome code ([CallException.of]). */
    fun failure(method: String): CallException = CallException.of(method, code, message)

    internal companion object {
        val SHUTTING_DOWN = Reply(Outcome.SHUTTING_DOWN, "context shutting down".encodeToByteArray(), 0)
        val LOST = Reply(CallException.REPLY_LOST, "the reply could not be copied into the JVM (out of memory)".encodeToByteArray(), 0)
    }
}

/** A registered host function: the CBOR argument array in, the CBOR result out. */
typealias HostFn = suspend (request: ByteArray) -> ByteArray

/**
 * A host function's typed errors: the CBOR of the library-declared error
 * [error] stands for (answered as `RET_ERR_TYPED`), or null if [error] is
 * not one of them (answered as `RET_ERR` with its message).
 */
typealias TypedError = (error: Throwable) -> ByteArray?

// The outcome codes of the C ABI (object Outcome) are generated into Status.kt.

/**
 * The ret the JNI glue gives a reply whose payload the JVM could not copy
 * (HCJ_RET_LOST): negative, so no outcome code, all of them 0 or above, can
 * be taken for it.
 */
internal const val RET_LOST = CallException.REPLY_LOST

/**
 * Ids of calls, listeners and host fn registrations: one counter for the
 * process, so an id is never reused (2^47 of them), and a key that outlived
 * its runtime can never name something in the runtime that took its slot.
 */
internal object Ids {
    private val last = AtomicLong()

    fun next(): Long = last.incrementAndGet()

    fun current(): Long = last.get()
}

/**
 * The Kotlin side of one library context: the calls waiting for replies,
 * the host functions and their running coroutines, the event listeners.
 *
 * The library calls back on its loop thread through the JNI trampolines
 * (`hostcall_jni.h`) into [Upcalls], which finds the runtime by the key the
 * call was made with (`slot shl 47 or id`). An upcall only hands work over
 * and returns: it resumes a continuation, hands a host fn invocation to a
 * dispatcher (the coroutine is created there, not on the loop thread),
 * schedules a cancellation, or buffers an event. No user code runs on the
 * loop thread: continuations whose dispatcher would run them in place
 * ([kotlinx.coroutines.Dispatchers.Unconfined]) are resumed from
 * [Dispatchers.Default] instead, and so are cancellations (whose handlers
 * run in the thread that cancels).
 *
 * A withdrawable call ([callCancellable]) also carries its caller's
 * coroutine context elements (all but its [Job], its dispatcher and the
 * debugger's coroutine id) to the host fns its request invokes: while the
 * request runs, its call id maps to those elements, and a host fn
 * invocation asks [origin] which request it serves (`<lib>_host_call_origin`,
 * asked inside the upcall, on the loop thread) and starts its coroutine with
 * them, on the scope's dispatcher and with a job of the scope's.
 *
 * @param origin the call id of the request host call `token` serves
 *   (`<lib>_host_call_origin`), or 0; asked only inside a host fn upcall.
 * @param complete answers a host call (`<lib>_host_complete`); returns its status.
 */
class Runtime(
    private val scope: CoroutineScope,
    hostFnCount: Int,
    private val origin: ((token: Long) -> Long)? = null,
    private val complete: (token: Long, ret: Int, payload: ByteArray?) -> Int,
) {
    private class Registration(val id: Long, val fn: HostFn, val typed: TypedError?) {
        /**
         * Once a later registration of the same host fn has been sent to the
         * library: an id above every call id taken before that. 0 while it
         * is in force. Written under [registering].
         *
         * The library handles messages in the order they were sent, runs
         * each request with the host fns registered when it was handled,
         * and a task a handler spawned with the ones registered last. So
         * this registration can be invoked only by calls below the horizon,
         * until they have their replies, and by spawned tasks until the
         * library has handled its replacement, which a reply to a call at
         * or above the horizon shows ([lastReplied]). After both, never.
         */
        var horizon = 0L
    }

    /** A caller's context elements to start its host fns with, and whether any needs installing on threads. */
    private class Carried(val context: CoroutineContext, val threadElements: Boolean)

    /** Every id this runtime hands out is above this one. */
    private val baseId = Ids.current()

    /** This runtime's slot in the upcall registry. */
    val slot: Int = Registry.add(this)

    /**
     * Calls whose one reply has not come yet, by id. A call whose caller
     * was cancelled stays here (without its continuation) until that reply
     * comes: the reply is what releases the slot, exactly once.
     */
    private val pending = ConcurrentHashMap<Long, PendingCall>()
    private val hostFns = AtomicReferenceArray<Registration?>(hostFnCount)

    /**
     * Host fns registered before a re-registration replaced them, by id:
     * requests handled before it may still invoke them. Dropped once none
     * can ([Registration.horizon]): checked at each registration, and when
     * the last pending call has its reply.
     */
    private val replaced = ConcurrentHashMap<Long, Registration>()

    /**
     * Held across a registration's swap, its registration with the library
     * and its horizon, so that the library's order of registrations is
     * [hostFns]' order (and no horizon is taken before its registration was
     * sent). The library call only queues a message.
     */
    private val registering = ReentrantLock()

    /**
     * The highest call id that has had its reply while a replaced
     * registration was kept: a call started after a horizon was sent after
     * that registration, so its reply shows the library has handled it.
     */
    private val lastReplied = AtomicLong()

    /**
     * The caller context elements of the requests running now, by call id
     * (only those that carry any): put when the start has returned the id,
     * removed at the request's reply (or by the starter, if the reply came
     * first) and at close.
     */
    private val origins = ConcurrentHashMap<Long, Carried>()

    /** Numbers the starts of calls that carry elements, in order. */
    private val tickets = AtomicLong()

    /**
     * The tickets of the calls that carry elements and are being started:
     * their ids are not in [origins] yet. A ticket is added before the
     * request is submitted and removed after its elements are published.
     */
    private val starting = ConcurrentSkipListSet<Long>()

    /**
     * Host fn invocations whose request may be one of the [starting] calls:
     * held back until its elements are published, or until every call that
     * carries any and had begun starting when the invocation came is
     * started (a call that begins later cannot be its request, which was
     * submitted already; then it carries none). So a held-back invocation
     * waits only for starts already under way. Rare: the loop thread has to
     * run the request before its caller's thread is back from starting it.
     */
    private val unresolved = ConcurrentLinkedQueue<HostCall>()
    private val running = ConcurrentHashMap<Long, HostCall>()
    private val listeners = ConcurrentHashMap<Long, Channel<ByteArray?>>()

    /** The scope's dispatcher, if it has one: host fn invocations start there. */
    private val scopeDispatcher = scope.coroutineContext[ContinuationInterceptor] as? CoroutineDispatcher

    /** The scope's job: each host fn coroutine's job is a child of it. */
    private val scopeJob = scope.coroutineContext[Job]

    /** A host fn coroutine's context but for its job, on the scope's dispatcher... */
    private val scopeBase = scope.coroutineContext.minusKey(Job)

    /** ...or on [Dispatchers.Default], when the scope has no dispatcher that leaves the loop thread. */
    private val defaultBase = scopeBase + Dispatchers.Default

    /** Whether the scope's context has elements that must be installed on the thread a coroutine runs on. */
    private val threadElements = scopeBase.fold(false) { found, element -> found || element is ThreadContextElement<*> }

    @Volatile
    private var closed = false

    /** Counted down when the first close's teardown has ended. */
    private val torndown = CountDownLatch(1)

    /** The thread running the first close's teardown, while it runs (written under [CloseWaits]). */
    @Volatile
    internal var closer: Thread? = null

    private fun key(id: Long): Long = (slot.toLong() shl ID_BITS) or id

    /**
     * Calls whose reply has not come yet (for tests): those still awaited,
     * and those whose caller was cancelled and whose one reply (the
     * withdrawal's `RET_CANCELLED`, or the real one that won) is still on
     * its way. Back to zero once every call has had its reply.
     */
    val pendingCalls: Int get() = pending.size

    private val withdrawals = AtomicLong()

    /** Requests this runtime withdrew from the library (`<lib>_cancel_call` returned `HC_OK`; for tests). */
    val withdrawnCalls: Long get() = withdrawals.get()

    /** Requests running now whose callers' elements their host fns carry (for tests). */
    val carriedRequests: Int get() = origins.size

    /** Host fn invocations held back until their request's elements are known, now (for tests). */
    val heldBackHostCalls: Int get() = unresolved.size

    private val heldBack = AtomicLong()

    /** Host fn invocations that were ever held back so (for tests: how often the race happened). */
    val heldBackTotal: Long get() = heldBack.get()

    /** Event subscriptions (for tests). */
    val listenerCount: Int get() = listeners.size

    private val dropped = MutableStateFlow(0L)

    private fun dropReply() = dropped.update { it + 1 }

    /**
     * Replies that arrived after their caller had been cancelled, and were
     * dropped: the `RET_CANCELLED` of a withdrawn call, or a real reply
     * that lost the race with the caller's cancellation (for tests).
     */
    val droppedReplies: StateFlow<Long> get() = dropped

    /**
     * One call from its start to its one reply. [cont] is the caller,
     * cleared when the caller is cancelled (a cancelled caller's frame is
     * not kept alive until the reply). [state] orders the call's id, which
     * the start returns, against the caller's cancellation, which may come
     * on another thread while the start runs: whichever of the two comes
     * second withdraws the request, so it is withdrawn once, after its id
     * is known, and never with a lock held.
     */
    private class PendingCall(cont: CancellableContinuation<Reply>, val withdraw: ((callId: Long) -> Int)?) {
        @Volatile
        var cont: CancellableContinuation<Reply>? = cont

        /** The call id under which this call's carried elements are in [origins], once they are; else 0. */
        @Volatile
        var origin = 0L

        /** [RUNNING] (no id yet), the call id (> 0), [GAVE_UP] (cancelled before the id), or [DONE]. */
        val state = AtomicLong(RUNNING)
    }

    /**
     * Makes a call the library cannot withdraw (a native entry point):
     * [start] gets the key to pass as user data and starts it, throwing
     * [StatusException] if the library refuses (the generated JNI functions
     * do). Suspends until the reply. A caller cancelled before the call
     * starts sends nothing; one cancelled while waiting returns at once
     * with [CancellationException], and the library's late reply is
     * dropped when it comes.
     */
    suspend fun call(start: (key: Long) -> Unit): Reply = callWith(null) { key ->
        start(key)
        RUNNING
    }

    /**
     * Makes a call the library can withdraw (`<lib>_call_cancellable`):
     * [start] starts it as [call]'s does and returns the request's id;
     * when the caller is cancelled while waiting, [cancel] withdraws it
     * (`<lib>_cancel_call`, returning its status) — from the cancelling
     * thread, or from the starting one if the cancellation came before the
     * id. The caller gets [CancellationException] at once; the library
     * drops the handler (cancelling its host calls) and replies
     * `RET_CANCELLED`, or the real reply wins the race; either way that
     * one reply releases the call's slot.
     */
    suspend fun callCancellable(start: (key: Long) -> Long, cancel: (callId: Long) -> Int): Reply =
        callWith(cancel, start)

    private suspend fun callWith(cancel: ((callId: Long) -> Int)?, start: (key: Long) -> Long): Reply =
        suspendCancellableCoroutine { cont ->
            if (!cont.isActive) return@suspendCancellableCoroutine // cancelled already: send nothing
            val id = Ids.next()
            val call = PendingCall(cont, cancel)
            pending[id] = call
            cont.invokeOnCancellation { gaveUp(call) }
            val carried = if (cancel != null && origin != null) carriedOf(cont.context) else null
            val ticket = if (carried != null) tickets.incrementAndGet().also { starting.add(it) } else 0L
            val callId = try {
                start(key(id))
            } catch (e: Throwable) { // refused: no reply will come
                if (carried != null) started(ticket)
                if (pending.remove(id, call)) cont.resumeWithException(e)
                return@suspendCancellableCoroutine
            }
            if (carried != null) {
                origins[callId] = carried
                call.origin = callId
                if (!pending.containsKey(id)) origins.remove(callId) // the reply came first
                started(ticket)
            } else if (cancel != null && !unresolved.isEmpty()) {
                resolve(callId) // an invocation of this request may be waiting: it carries nothing
            }
            if (cancel != null && !call.state.compareAndSet(RUNNING, callId)) {
                // The caller gave up while the call was starting: withdraw it now.
                if (call.state.compareAndSet(GAVE_UP, DONE)) withdraw(call, callId)
            }
        }

    /** A call that carries elements is no longer starting: release the invocations that waited for it. */
    private fun started(ticket: Long) {
        starting.remove(ticket)
        if (!unresolved.isEmpty()) resolve(0)
    }

    /** Whether a call that carries elements and began starting by ticket [horizon] is still starting. */
    private fun startingBy(horizon: Long): Boolean {
        val first = starting.firstOrNull() ?: return false
        return first <= horizon
    }

    /**
     * Starts the held-back invocations that can start now: those whose
     * request's elements are published, those of request [known] (which
     * carries none), and those no start under way when they came can be
     * the request of. Each is claimed by removing it from [unresolved], so
     * it starts once, by whoever gets there first.
     */
    private fun resolve(known: Long) {
        for (call in unresolved) {
            // [starting] first: a starter publishes in [origins], then leaves
            // [starting], so a start seen over has its elements visible after.
            val busy = startingBy(call.horizon)
            val carried = origins[call.origin]
            if (carried == null && call.origin != known && busy) continue
            if (unresolved.remove(call)) dispatch(call.carrying(carried))
        }
    }

    /** The caller of [call] was cancelled: forget it, and withdraw the request if its id is known. */
    private fun gaveUp(call: PendingCall) {
        call.cont = null
        if (call.withdraw == null) return
        while (true) {
            val state = call.state.get()
            when {
                state == RUNNING -> if (call.state.compareAndSet(RUNNING, GAVE_UP)) return // the starter withdraws it
                state > 0 -> if (call.state.compareAndSet(state, DONE)) return withdraw(call, state)
                else -> return
            }
        }
    }

    private fun withdraw(call: PendingCall, callId: Long) {
        // HC_ERR_UNKNOWN_TOKEN: the real reply came or is coming; HC_ERR_INVALID_CONTEXT:
        // the context is closed (its teardown answers every call). Nothing to do for either.
        val status = try {
            call.withdraw!!(callId)
        } catch (e: Throwable) {
            System.err.println("hostcall: withdrawing call $callId failed: $e")
            return
        }
        if (status == Status.OK) withdrawals.incrementAndGet()
    }

    /**
     * Registers [fn] as host function number [index]: [register] gives the
     * library its key (`<lib>_register_host_fn`). An exception [fn] throws
     * is answered as `RET_ERR_TYPED` with the CBOR [typed] gives for it, or,
     * when [typed] is null or gives null, as `RET_ERR` with its message.
     * The registration it replaces serves the calls already handled with
     * it, and is forgotten (at a later registration, or at the reply that
     * leaves no call pending) once none of them is pending and a call
     * started after this one has had its reply.
     */
    fun hostFn(index: Int, typed: TypedError? = null, register: (key: Long) -> Unit, fn: HostFn) {
        registering.withLock {
            val registration = Registration(Ids.next(), fn, typed)
            // Into [replaced] before it leaves [hostFns]: an invocation
            // looking for it in between finds it in one or the other.
            val old = hostFns.get(index)
            if (old != null) replaced[old.id] = old
            hostFns.set(index, registration)
            register(key(registration.id)) // refused (closed): nothing runs any more
            if (old != null) old.horizon = Ids.next()
            pruneReplaced()
        }
    }

    /** Forgets the replaced registrations nothing can invoke any more ([Registration.horizon]). Under [registering]. */
    private fun pruneReplaced() {
        if (replaced.isEmpty()) return
        var oldest = Long.MAX_VALUE
        for (id in pending.keys) if (id < oldest) oldest = id
        val handled = lastReplied.get()
        replaced.values.removeIf { it.horizon != 0L && it.horizon <= oldest && it.horizon <= handled }
    }

    /** Registrations replaced and still kept for calls that may invoke them (for tests). */
    val replacedHostFns: Int get() = replaced.size

    /**
     * The events behind one listener: [subscribe] registers the key with
     * the library and returns the listener id, [unsubscribe] removes it,
     * [decode] reads a payload (on the collector's coroutine, not the loop
     * thread).
     *
     * The listener is registered when collection starts, before its first
     * suspension, and removed when the collection ends. Payloads are
     * buffered without bound in emission order. When the context closes
     * the flow completes after the buffered events.
     */
    fun <T> events(subscribe: (key: Long) -> Long, unsubscribe: (id: Long) -> Unit, decode: (ByteArray) -> T): Flow<T> =
        flow {
            val channel = Channel<ByteArray?>(Channel.UNLIMITED)
            val id = Ids.next()
            listeners[id] = channel
            val listener = try {
                subscribe(key(id))
            } catch (e: Throwable) {
                listeners.remove(id)
                throw e
            }
            if (closed) channel.close() // close() may have swept the listeners before this one was added
            try {
                // A collector whose dispatcher runs it in place would be
                // resumed on the loop thread by the listener's send.
                val hop = runsInPlace(currentCoroutineContext())
                while (true) {
                    val next = if (hop) {
                        withContext(Dispatchers.Default) { channel.receiveCatching() }
                    } else {
                        channel.receiveCatching()
                    }
                    if (next.isClosed) {
                        next.exceptionOrNull()?.let { throw it }
                        break
                    }
                    val payload = next.getOrThrow()
                        ?: throw DecodeException("an event could not be copied into the JVM (out of memory)")
                    emit(decode(payload))
                }
            } finally {
                listeners.remove(id)
                unsubscribe(listener)
            }
        }

    /**
     * Runs a close of the context: the first one ([first]: the caller won
     * the context's closed flag) runs [teardown]; every later one returns
     * only when that teardown has ended, so that what the first close
     * promises holds when any close returns. Unless waiting would wait for
     * the caller itself: when the caller's thread is the one running that
     * teardown (a close from a cancellation handler the teardown runs), or
     * when that thread is itself blocked in a close waiting, directly or
     * through a chain of such closes of other contexts, for a teardown the
     * caller's thread is running. Then it returns at once.
     *
     * Nothing else can block this wait for good: a teardown waits only for
     * the library's loop thread, which runs no Kotlin user code, and for
     * the cancellation handlers it runs. The wait is not interruptible (an
     * interrupt is kept for the caller to see afterwards).
     */
    fun closeOnce(first: Boolean, teardown: () -> Unit) {
        if (first) {
            CloseWaits.startTeardown(this)
            try {
                teardown()
            } finally {
                CloseWaits.endTeardown(this)
                torndown.countDown()
            }
        } else if (CloseWaits.enter(this)) {
            try {
                awaitUninterruptibly(torndown)
            } finally {
                CloseWaits.leave()
            }
        }
    }

    /**
     * After the library context is destroyed: ends what is left. Calls
     * still waiting (only possible if the destroy was deferred) fail with
     * `context shutting down`, running host functions are cancelled (their
     * late answers are refused by the library as an invalid context), event
     * flows complete, and the slot is freed.
     */
    fun close() {
        closed = true
        for ((id, call) in pending) {
            if (pending.remove(id, call)) call.cont?.let { resumeOffLoop(it, Reply.SHUTTING_DOWN) {} }
        }
        val cancellation = CancellationException("the context was closed")
        for (call in running.values) {
            call.cancelled = cancellation
            call.job?.cancel(cancellation)
        }
        for (channel in listeners.values) channel.close()
        unresolved.clear()
        origins.clear()
        Registry.remove(slot, this)
    }

    internal fun owns(id: Long): Boolean = id > baseId

    internal fun onReply(id: Long, reply: Reply) {
        val call = pending.remove(id) ?: return // swept by close
        val origin = call.origin
        if (origin != 0L) origins.remove(origin)
        if (!replaced.isEmpty()) {
            lastReplied.accumulateAndGet(id, ::maxOf)
            // No call pending: a replaced host fn whose replacement the
            // library has handled is needed no more (a registration under
            // way prunes for itself).
            if (pending.isEmpty() && registering.tryLock()) {
                try {
                    pruneReplaced()
                } finally {
                    registering.unlock()
                }
            }
        }
        val cont = call.cont
        if (cont == null) { // its caller was cancelled
            dropReply()
            return
        }
        // A caller cancelled as the reply comes does not get it: dropped too.
        resumeOffLoop(cont, reply) { dropReply() }
    }

    private fun registered(id: Long): Registration? {
        for (i in 0 until hostFns.length()) {
            val registration = hostFns.get(i)
            if (registration != null && registration.id == id) return registration
        }
        return replaced[id]
    }

    /**
     * One host fn invocation, from the upcall to its answer, and the
     * completion of its coroutine.
     *
     * 1. The loop thread ([onHostFn]) records it in [running] and hands it
     *    to the dispatcher it will run on; the loop thread pays for none of
     *    the coroutine machinery.
     * 2. [run], on a thread of that dispatcher, gives it a [Job] of its own,
     *    a child of the scope's (so cancelling the scope cancels it), and
     *    starts the host fn as a bare coroutine in place: no `launch`, so no
     *    per-call context fold and no completion handler list.
     * 3. The coroutine ends in [resumeWith]: the answer goes to the library
     *    (an exception becomes `RET_ERR` with its message, a cancellation
     *    `RET_ERR` "host function cancelled"), then the job completes,
     *    which detaches it from the scope's.
     *
     * A cancel notice may come before or after the job exists: [cancelled]
     * and [job] are both volatile, the notifier writes the first and reads
     * the second, [run] the other way round, so one of them always sees the
     * other.
     */
    private inner class HostCall(
        val token: Long,
        val registration: Registration,
        val request: ByteArray,
        /** The context the coroutine runs in, but for its job and the caller's elements. */
        var base: CoroutineContext,
        /** Whether [base] has elements that must be installed on the thread a coroutine runs on. */
        var threadElements: Boolean,
        /** The dispatcher to start on, or null for [Dispatchers.Default]. */
        val dispatcher: CoroutineDispatcher?,
        /** The call id of the request it serves, while it waits in [unresolved]. */
        val origin: Long,
        /** The last ticket of a start under way when it came. */
        val horizon: Long,
    ) : Runnable, Continuation<ByteArray> {
        @Volatile
        var cancelled: CancellationException? = null

        /** Adds the caller's elements (before it is dispatched). */
        fun carrying(carried: Carried?): HostCall {
            if (carried != null) {
                base += carried.context
                threadElements = threadElements || carried.threadElements
            }
            return this
        }

        @Volatile
        var job: CompletableJob? = null

        override lateinit var context: CoroutineContext

        override fun run() {
            if (cancelled != null) { // abandoned before it started: nobody waits for an answer
                running.remove(token, this)
                return
            }
            if (scopeJob?.isActive == false) { // the scope was cancelled: do not start user code
                running.remove(token, this)
                complete(token, Outcome.ERR, "host function cancelled: its scope is cancelled".encodeToByteArray())
                return
            }
            val job = Job(scopeJob)
            context = base + job
            this.job = job
            cancelled?.let { job.cancel(it) }
            val coroutine = registration.fn.createCoroutineUnintercepted(request, this)
            // Thread context elements are applied by a dispatched start only.
            if (threadElements) coroutine.intercepted().resume(Unit) else coroutine.resume(Unit)
        }

        override fun resumeWith(result: Result<ByteArray>) {
            running.remove(token, this)
            answered()
            val error = result.exceptionOrNull()
            try {
                when {
                    error == null -> complete(token, Outcome.OK, result.getOrThrow())
                    // Unless the library was the one that gave up (then this is refused).
                    error is CancellationException ->
                        complete(token, Outcome.ERR, "host function cancelled: ${error.message}".encodeToByteArray())
                    else -> {
                        val typed = typedPayload(error)
                        if (typed != null) complete(token, Outcome.ERR_TYPED, typed) else complete(token, Outcome.ERR, errorText(error).encodeToByteArray())
                    }
                }
            } catch (e: Throwable) { // nothing to tell: the answer itself failed (out of memory)
                System.err.println("hostcall: answering host call $token failed: $e")
            } finally {
                job?.complete()
            }
        }

        /** The CBOR of [error] if it is one of the host fn's typed errors. */
        private fun typedPayload(error: Throwable): ByteArray? {
            val typed = registration.typed ?: return null
            return try {
                typed(error)
            } catch (e: Throwable) { // its encoder failed: answered as RET_ERR with the exception's message
                System.err.println("hostcall: encoding the typed error of host call $token failed: $e")
                null
            }
        }

        /** Cancels the invocation; the coroutine's own cancellation runs off the calling thread. */
        fun cancel(cause: CancellationException) {
            cancelled = cause
            val job = job ?: return
            Dispatchers.Default.dispatch(EMPTY_CONTEXT, Runnable { job.cancel(cause) })
        }
    }

    internal fun onHostFn(id: Long, token: Long, request: ByteArray?) {
        // Not ours (a key of a runtime that had this slot before): the
        // token is another context's, so it must not be completed here.
        if (id <= baseId) return
        val registration = registered(id)
        if (registration == null) { // cannot happen (see Registration.horizon), but never left unanswered
            complete(token, Outcome.ERR, "no Kotlin function is registered for this host fn any more".encodeToByteArray())
            return
        }
        if (request == null) {
            complete(token, Outcome.ERR, "the request could not be copied into the JVM (out of memory)".encodeToByteArray())
            return
        }
        // Which request this serves, asked now (only answered inside this
        // upcall), and only when some request carries elements at all.
        // [starting] is read before [origins] throughout: a starter publishes
        // in [origins] and then leaves [starting], so a start seen over has
        // its elements visible to the read after.
        val ask = origin
        val served = if (ask == null || (starting.isEmpty() && origins.isEmpty())) 0L else ask(token)
        // Every start that could be this request's began by this ticket.
        val horizon = if (served != 0L) tickets.get() else 0L
        val busy = served != 0L && startingBy(horizon)
        val carried = if (served != 0L) origins[served] else null
        // The scope's dispatcher, unless it has none or would run the
        // coroutine in place (Unconfined: that place is the loop thread).
        val dispatcher = scopeDispatcher
        val inScope = dispatcher != null && dispatcher.isDispatchNeeded(scope.coroutineContext)
        val call = HostCall(
            token, registration, request, if (inScope) scopeBase else defaultBase, threadElements,
            if (inScope) dispatcher else null, served, horizon,
        ).carrying(carried)
        running[token] = call
        if (carried == null && busy) {
            // Its request may be a call whose start has not returned its id
            // yet: wait for that (the starter or this check releases it).
            heldBack.incrementAndGet()
            unresolved.add(call)
            resolve(0)
            return
        }
        dispatch(call)
    }

    private fun dispatch(call: HostCall) {
        val dispatcher = call.dispatcher
        if (dispatcher == null || dispatcher === Dispatchers.Default) return enqueue(call)
        try {
            dispatcher.dispatch(scope.coroutineContext, call)
        } catch (e: Throwable) { // a dispatcher that refuses work (a closed executor)
            refused(call, e)
        }
    }

    private fun refused(call: HostCall, e: Throwable) {
        running.remove(call.token, call)
        complete(call.token, Outcome.ERR, "the host function could not be started: ${errorText(e)}".encodeToByteArray())
    }

    /*
     * Host fn invocations bound for Dispatchers.Default go through [inbox],
     * drained by [drain] on a Default thread, instead of one dispatch each:
     * a dispatch from the loop thread (not a worker) costs a queue insert, a
     * clock read and, whenever a worker is parked, an unpark system call,
     * which together were about a third of the loop thread's Kotlin-side
     * time per host call. A drainer starts each invocation in place, as a
     * dispatched one would start; when the inbox is empty it watches it for
     * [DRAIN_SPIN_NS] before it leaves ([DRAIN_FIRST_SPIN_NS] if it took
     * only one), so that in a burst of host calls
     * the loop thread starts one drainer per burst, not one task per call.
     *
     * A host fn that blocks its thread holds its drainer. So that the
     * invocations behind it still start (as they would on the other
     * workers), another drainer starts when one is due and no drainer has
     * taken an invocation for [DRAIN_STUCK_NS]: checked by the next
     * invocation that comes, by the end of every host call ([answered]),
     * and, while a drainer is inside an invocation with more queued, by a
     * watcher coroutine every millisecond ([watch]).
     */
    private val inbox = ConcurrentLinkedQueue<HostCall>()

    /** Drainers started and not yet gone. */
    private val drainers = AtomicInteger()

    /** When a drainer last took an invocation (or was started). */
    @Volatile
    private var progressed = 0L

    /** Drainers inside an invocation now. */
    private val busyDrainers = AtomicInteger()

    /** Whether a watcher ([watch]) runs. */
    private val watching = AtomicBoolean()

    private val drainer = Runnable { drain() }

    private fun enqueue(call: HostCall) {
        inbox.add(call)
        // The add and this read, and a leaving drainer's decrement and its
        // emptiness check, are volatile: one of the two sides sees the other.
        if (drainers.get() == 0 || System.nanoTime() - progressed > DRAIN_STUCK_NS) {
            startDrainer()
        } else if (busyDrainers.get() > 0 && !watching.get()) {
            watch()
        }
    }

    /**
     * Starts the watcher unless one runs: every millisecond, while
     * invocations are queued, it starts a drainer if none has taken one for
     * [DRAIN_STUCK_NS] (all of them held by host fns that block). It ends
     * when the inbox is empty; the next invocation queued behind a busy
     * drainer starts it again.
     */
    private fun watch() {
        if (!watching.compareAndSet(false, true)) return
        try {
            WATCH_SCOPE.launch {
                try {
                    while (!inbox.isEmpty()) {
                        delay(1)
                        if (!inbox.isEmpty() && System.nanoTime() - progressed > DRAIN_STUCK_NS) startDrainer()
                    }
                } finally {
                    watching.set(false)
                }
                if (!inbox.isEmpty() && busyDrainers.get() > 0) watch() // queued as it ended
            }
        } catch (e: Throwable) { // no coroutine could be launched (out of memory): the next one tries again
            watching.set(false)
        }
    }

    private fun startDrainer() {
        drainers.incrementAndGet()
        progressed = System.nanoTime()
        try {
            Dispatchers.Default.dispatch(EMPTY_CONTEXT, drainer)
        } catch (e: Throwable) { // Dispatchers.Default refuses work only once shut down
            drainers.decrementAndGet()
            while (true) refused(inbox.poll() ?: break, e)
        }
    }

    /** Another invocation may be waiting behind a host fn that blocks its drainer: start one more. */
    private fun answered() {
        if (!inbox.isEmpty() && System.nanoTime() - progressed > DRAIN_STUCK_NS) startDrainer()
    }

    private fun drain() {
        var idleSince = 0L
        var taken = 0
        while (true) {
            val call = inbox.poll()
            if (call != null) {
                progressed = System.nanoTime()
                idleSince = 0L
                taken++
                busyDrainers.incrementAndGet()
                if (!watching.get() && !inbox.isEmpty()) watch() // more wait behind this one
                try {
                    call.run()
                } catch (e: Throwable) { // the coroutine could not even be created (out of memory)
                    System.err.println("hostcall: starting host call ${call.token} failed: $e")
                } finally {
                    busyDrainers.decrementAndGet()
                }
                continue
            }
            val now = System.nanoTime()
            if (idleSince == 0L) {
                idleSince = now
            } else if (now - idleSince > (if (taken > 1) DRAIN_SPIN_NS else DRAIN_FIRST_SPIN_NS)) {
                drainers.decrementAndGet()
                if (inbox.isEmpty()) return
                drainers.incrementAndGet() // one came as this drainer left: the loop may have counted on it
                idleSince = 0L
                continue
            }
            Thread.onSpinWait()
        }
    }

    internal fun onCancel(id: Long, token: Long) {
        if (id <= baseId) return // not ours (see onHostFn)
        running[token]?.cancel(ABANDONED)
    }

    internal fun onEvent(id: Long, ret: Int, payload: ByteArray?) {
        val channel = listeners[id] ?: return
        if (Outcome.isError(ret)) { // an event is always RET_OK: anything else ends the flow with the failure
            val text = payload?.decodeToString() ?: ""
            channel.close(DecodeException("an event arrived as a failure (${Outcome.name(ret)}): $text"))
            return
        }
        channel.trySend(payload)
    }

    companion object {
        const val ID_BITS = 47

        /**
         * How long an idle drainer watches the inbox before it leaves, once
         * it has taken more than one invocation (a burst: the next one is
         * likely a microsecond away)...
         */
        private const val DRAIN_SPIN_NS = 20_000L

        /**
         * ...and after a single one (calls one at a time: the next is a
         * whole round trip away, and on two CPUs spinning for it takes the
         * CPU the caller's and the library's threads need).
         */
        private const val DRAIN_FIRST_SPIN_NS = 3_000L

        /** How long a drainer may take no invocation, with more coming, before another one starts. */
        private const val DRAIN_STUCK_NS = 500_000L

        /** Where the drainers' watchers run: one at a time per runtime, only while host fns hold drainers. */
        private val WATCH_SCOPE = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("hostcall drain watch"))
        const val ID_MASK = (1L shl ID_BITS) - 1

        /** [PendingCall.state]s; a call id is above all of them. */
        private const val RUNNING = 0L
        private const val GAVE_UP = -1L
        private const val DONE = -2L

        /**
         * Whether a call made now from the calling coroutine takes a
         * handler's native entry point when it has one: true unless the
         * context holds [CborCalls]. Both paths are withdrawn when the
         * caller is cancelled (the native one through its `_cancellable`
         * form) and give the same results.
         */
        suspend fun nativeCalls(): Boolean = currentCoroutineContext()[CborCalls] == null

        /**
         * The elements of a caller's [context] its host fns carry: all but
         * its job, its dispatcher and the debugger's coroutine id; null when
         * that leaves none.
         */
        private fun carriedOf(context: CoroutineContext): Carried? {
            if (!context.fold(false, HAS_CARRIED)) return null
            var threads = false
            val carried = context.fold(EMPTY_CONTEXT) { acc, element ->
                if (carries(element)) {
                    threads = threads || element is ThreadContextElement<*>
                    acc + element
                } else {
                    acc
                }
            }
            return Carried(carried, threads)
        }

        private fun carries(element: CoroutineContext.Element): Boolean {
            val key = element.key
            if (key === Job || key === ContinuationInterceptor) return false
            val type = element.javaClass
            return type !== DEBUG_ID && type !== UNDISPATCHED_MARKER
        }

        private fun internalClass(name: String): Class<*>? = try {
            Class.forName(name, false, Runtime::class.java.classLoader)
        } catch (_: ClassNotFoundException) { // another kotlinx.coroutines: nothing of that name to leave out
            null
        }

        /** The class of the coroutine id the debug mode (`-ea`) adds: the host fn is a coroutine of its own. */
        private val DEBUG_ID: Class<*>? = internalClass("kotlinx.coroutines.CoroutineId")

        /**
         * The class of the marker kotlinx.coroutines puts in the context of
         * every `withContext` that keeps its dispatcher (it tells the
         * coroutine machinery to restore thread state): not the caller's,
         * and carrying it would make every such caller look as if it had
         * elements to carry.
         */
        private val UNDISPATCHED_MARKER: Class<*>? = internalClass("kotlinx.coroutines.UndispatchedMarker")

        private val HAS_CARRIED: (Boolean, CoroutineContext.Element) -> Boolean = { found, element -> found || carries(element) }

        private val EMPTY_CONTEXT: CoroutineContext = kotlin.coroutines.EmptyCoroutineContext

        private val ABANDONED: CancellationException
            get() = CancellationException("the library no longer waits for this host call")

        /** The error text the library gets for a host function's exception. */
        fun errorText(e: Throwable): String {
            val message = e.message
            return if (message.isNullOrBlank()) "host function threw ${e.javaClass.name} with no message" else message
        }

        /** True if [context]'s dispatcher would run a resumed coroutine in the resuming thread. */
        fun runsInPlace(context: CoroutineContext): Boolean {
            val dispatcher = context[ContinuationInterceptor] as? CoroutineDispatcher ?: return true
            return !dispatcher.isDispatchNeeded(context)
        }

        /**
         * Resumes [cont] with [value], never running its code on the
         * calling (loop) thread; [lost] runs instead if [cont] was
         * cancelled first (then [value] never reaches it).
         */
        private fun <T> resumeOffLoop(cont: CancellableContinuation<T>, value: T, lost: () -> Unit) {
            val onCancellation: (Throwable, T, CoroutineContext) -> Unit = { _, _, _ -> lost() }
            if (runsInPlace(cont.context)) {
                Dispatchers.Default.dispatch(cont.context, Runnable { cont.resume(value, onCancellation) })
            } else {
                cont.resume(value, onCancellation)
            }
        }
    }
}

/**
 * Formerly asked for the native entry points, which could not be withdrawn.
 * They can now (`<lib>_native_<m>_cancellable`), so every call takes a
 * handler's native entry point when it has one, and this element has no
 * effect. [CborCalls] asks for the other path.
 */
@Deprecated("Native entry points are the default now, and withdrawable; this element has no effect.")
@Suppress("DEPRECATION") // its own key names it
object NativeCalls : CoroutineContext.Element, CoroutineContext.Key<NativeCalls> {
    /** Its own key. */
    override val key: CoroutineContext.Key<*> get() = this

    override fun toString(): String = "NativeCalls"
}

/**
 * Sends every call made in a coroutine whose context holds it through CBOR
 * and `<lib>_call_cancellable`, even a handler's that has a native entry
 * point (scalars, text and bytes both ways, no CBOR), which calls take
 * otherwise. Both paths are withdrawn when the caller is cancelled and give
 * the same results; this is for comparing them (tests, benchmarks).
 *
 * ```kotlin
 * val sum = withContext(CborCalls) { demo.add(1, 2) }   // CBOR both ways
 * ```
 */
object CborCalls : CoroutineContext.Element, CoroutineContext.Key<CborCalls> {
    /** Its own key. */
    override val key: CoroutineContext.Key<*> get() = this

    override fun toString(): String = "CborCalls"
}

/**
 * The process-wide wait-for graph of closes: which thread runs the teardown
 * of which context ([Runtime.closer]), and which thread is blocked in a
 * later close waiting for which context's teardown ([waiting]). A later
 * close waits only if that adds no cycle; every change and check is made
 * under one lock, so no cycle ever forms. Touched only by close.
 */
internal object CloseWaits {
    private val waiting = HashMap<Thread, Runtime>()

    fun startTeardown(runtime: Runtime) = synchronized(this) { runtime.closer = Thread.currentThread() }

    fun endTeardown(runtime: Runtime) = synchronized(this) { runtime.closer = null }

    /**
     * Records that the calling thread waits for [runtime]'s teardown, and
     * returns true; or returns false if that wait would wait for the
     * calling thread itself.
     */
    fun enter(runtime: Runtime): Boolean = synchronized(this) {
        val me = Thread.currentThread()
        var next: Runtime? = runtime
        while (next != null) {
            // No closer: the teardown is over, or its first close has not
            // started it yet (that thread is not waiting for anybody).
            val closer = next.closer ?: break
            if (closer === me) return false
            next = waiting[closer]
        }
        waiting[me] = runtime
        true
    }

    fun leave() {
        synchronized(this) { waiting.remove(Thread.currentThread()) }
    }
}

/** Waits for [latch] to reach zero, through interrupts; the thread's interrupt status is kept. */
private fun awaitUninterruptibly(latch: CountDownLatch) {
    var interrupted = false
    while (true) {
        try {
            latch.await()
            break
        } catch (_: InterruptedException) {
            interrupted = true
        }
    }
    if (interrupted) Thread.currentThread().interrupt()
}

/** Runtimes by slot, for the upcalls. */
internal object Registry {
    private const val SIZE = 1 shl 16
    private val slots = AtomicReferenceArray<Runtime?>(SIZE)
    private val next = AtomicLong()

    fun add(runtime: Runtime): Int {
        repeat(SIZE) {
            val slot = (next.incrementAndGet() % (SIZE - 1) + 1).toInt()
            if (slots.compareAndSet(slot, null, runtime)) return slot
        }
        error("hostcall: more than ${SIZE - 1} contexts are open in this process")
    }

    fun remove(slot: Int, runtime: Runtime) {
        slots.compareAndSet(slot, runtime, null)
    }

    /** The runtime a key belongs to, or null for a stale key. */
    fun get(key: Long): Runtime? {
        val slot = (key ushr Runtime.ID_BITS).toInt()
        if (slot !in 1 until SIZE) return null
        return slots.get(slot)?.takeIf { it.owns(key and Runtime.ID_MASK) }
    }
}

/**
 * The static methods the JNI glue calls. All but [statusError] run on a
 * library's loop thread; each catches everything, so no exception stays
 * pending in the loop thread's JNI environment.
 */
object Upcalls {
    @JvmStatic
    fun reply(key: Long, ret: Int, data: ByteArray?) = guard {
        val reply = if (ret == RET_LOST) Reply.LOST else Reply(ret, data, 0)
        Registry.get(key)?.onReply(key and Runtime.ID_MASK, reply)
    }

    @JvmStatic
    fun replyValue(key: Long, ret: Int, value: Long, error: ByteArray?) = guard {
        val reply = if (ret == RET_LOST) Reply.LOST else Reply(ret, error, value)
        Registry.get(key)?.onReply(key and Runtime.ID_MASK, reply)
    }

    @JvmStatic
    fun hostFn(key: Long, token: Long, request: ByteArray?) = guard {
        Registry.get(key)?.onHostFn(key and Runtime.ID_MASK, token, request)
    }

    @JvmStatic
    fun cancel(key: Long, token: Long) = guard { Registry.get(key)?.onCancel(key and Runtime.ID_MASK, token) }

    @JvmStatic
    fun event(key: Long, ret: Int, data: ByteArray?) = guard { Registry.get(key)?.onEvent(key and Runtime.ID_MASK, ret, data) }

    /**
     * The exception a refused entry point throws, built by the JNI glue on
     * the calling thread: [code] 0 means "read it from [detail]" (entry
     * points that return a handle or an id have no status).
     */
    @JvmStatic
    fun statusError(operation: ByteArray?, code: Int, detail: ByteArray?): Throwable {
        val text = detail?.decodeToString() ?: ""
        return StatusException(operation?.decodeToString() ?: "", if (code != 0) code else Status.of(text), text)
    }

    private inline fun guard(body: () -> Unit) {
        try {
            body()
        } catch (e: Throwable) {
            System.err.println("hostcall: an upcall failed: $e")
        }
    }
}
