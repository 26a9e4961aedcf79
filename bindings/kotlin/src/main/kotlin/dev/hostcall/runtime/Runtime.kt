package dev.hostcall.runtime

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReferenceArray
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine

/** What a call got back: [data] (CBOR, text or bytes) or [value] (a typed native result) when [ok], else the error text in [data]. */
class Reply(val ok: Boolean, val data: ByteArray?, val value: Long) {
    /** The error text of a failed reply. */
    val message: String get() = data?.decodeToString() ?: ""
}

/** A registered host function: the CBOR argument array in, the CBOR result out. */
typealias HostFn = suspend (request: ByteArray) -> ByteArray

/**
 * The Kotlin side of one library context: the calls waiting for replies,
 * the host functions and their running coroutines, the event listeners.
 *
 * The library calls back on its loop thread through the JNI trampolines
 * (`hostcall_jni.h`) into [Upcalls], which finds the runtime by the key the
 * call was made with: `slot shl 40 or id`. Upcalls only hand work over:
 * they resume a continuation, launch a coroutine, cancel a job or offer an
 * event to a channel, and return.
 */
class Runtime(
    private val scope: CoroutineScope,
    hostFnCount: Int,
    private val lastError: () -> String,
    private val complete: (token: Long, ok: Boolean, payload: ByteArray?) -> Unit,
) {
    /** This runtime's slot in the upcall registry. */
    val slot: Int = Registry.add(this)

    private val nextId = AtomicLong()
    private val pending = ConcurrentHashMap<Long, CancellableContinuation<Reply>>()
    private val hostFns = AtomicReferenceArray<HostFn?>(hostFnCount)
    private val running = ConcurrentHashMap<Long, Job>()
    private val listeners = ConcurrentHashMap<Long, (ByteArray?) -> Unit>()

    fun key(id: Long): Long = (slot.toLong() shl ID_BITS) or id

    private fun newId(): Long = nextId.incrementAndGet() and ID_MASK

    /**
     * Makes a call: [start] receives the key to pass as user data and
     * returns the entry point's status. Suspends until the reply; if the
     * caller is cancelled first, the call is forgotten (its late reply is
     * dropped). A status other than HC_OK throws [StatusException].
     */
    suspend fun call(method: String, start: (key: Long) -> Int): Reply = suspendCancellableCoroutine { cont ->
        val id = newId()
        pending[id] = cont
        cont.invokeOnCancellation { pending.remove(id) }
        val status = start(key(id))
        if (status != 0 && pending.remove(id) != null) {
            cont.resumeWithException(StatusException(method, status, lastError()))
        }
    }

    /** Registers [fn] as host function number [index]; returns the key to register with the library. */
    fun hostFn(index: Int, fn: HostFn): Long {
        hostFns.set(index, fn)
        return key(index.toLong())
    }

    /** Adds an event listener; returns its key. It runs on the loop thread: it must only hand the payload over. */
    fun listen(listener: (ByteArray?) -> Unit): Long {
        val id = newId()
        listeners[id] = listener
        return key(id)
    }

    /** Drops a listener; payloads still arriving for it are ignored. */
    fun unlisten(key: Long) {
        listeners.remove(key and ID_MASK)
    }

    /** After the library context is destroyed: frees the slot. Running host calls are cancelled with [scope]'s owner. */
    fun close() {
        running.values.forEach { it.cancel() }
        Registry.remove(slot)
    }

    internal fun onReply(id: Long, reply: Reply) {
        pending.remove(id)?.resume(reply)
    }

    internal fun onHostFn(index: Long, token: Long, request: ByteArray?) {
        val fn = if (index < hostFns.length()) hostFns.get(index.toInt()) else null
        if (fn == null) {
            complete(token, false, "no Kotlin function is registered for this host fn".encodeToByteArray())
            return
        }
        val job = scope.launch(start = CoroutineStart.LAZY) {
            val result = try {
                fn(request ?: EMPTY)
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                complete(token, false, (e.message ?: e.toString()).encodeToByteArray())
                return@launch
            }
            complete(token, true, result)
        }
        running[token] = job
        job.invokeOnCompletion { cause ->
            running.remove(token)
            // Cancelled by the library: it no longer waits for the token, and
            // this completion is refused. Cancelled by anything else (the
            // scope was cancelled): the library must not wait forever.
            if (cause is CancellationException) {
                complete(token, false, "host function cancelled: ${cause.message}".encodeToByteArray())
            }
        }
        job.start()
    }

    internal fun onCancel(token: Long) {
        running[token]?.cancel(CancellationException("the library abandoned this host call"))
    }

    internal fun onEvent(id: Long, payload: ByteArray?) {
        listeners[id]?.invoke(payload)
    }

    companion object {
        const val ID_BITS = 40
        const val ID_MASK = (1L shl ID_BITS) - 1
        private val EMPTY = ByteArray(0)
    }
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
        error("hostcall: too many open contexts in this process")
    }

    fun remove(slot: Int) {
        slots.set(slot, null)
    }

    fun get(key: Long): Runtime? {
        val slot = (key ushr Runtime.ID_BITS).toInt()
        return if (slot in 1 until SIZE) slots.get(slot) else null
    }
}

/**
 * The static methods the JNI trampolines call, on the library's loop
 * thread. Each catches everything: an exception must not stay pending in
 * the loop thread's JNI environment.
 */
object Upcalls {
    @JvmStatic
    fun reply(key: Long, ret: Int, data: ByteArray?) = guard {
        Registry.get(key)?.onReply(key and Runtime.ID_MASK, Reply(ret == 0, data, 0))
    }

    @JvmStatic
    fun replyValue(key: Long, ret: Int, value: Long, error: ByteArray?) = guard {
        Registry.get(key)?.onReply(key and Runtime.ID_MASK, Reply(ret == 0, error, value))
    }

    @JvmStatic
    fun hostFn(key: Long, token: Long, request: ByteArray?) = guard {
        val runtime = Registry.get(key)
        if (runtime != null) runtime.onHostFn(key and Runtime.ID_MASK, token, request)
    }

    @JvmStatic
    fun cancel(key: Long, token: Long) = guard { Registry.get(key)?.onCancel(token) }

    @JvmStatic
    fun event(key: Long, data: ByteArray?) = guard { Registry.get(key)?.onEvent(key and Runtime.ID_MASK, data) }

    private inline fun guard(body: () -> Unit) {
        try {
            body()
        } catch (e: Throwable) {
            System.err.println("hostcall: an upcall failed: $e")
        }
    }
}
