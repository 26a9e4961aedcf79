package dev.hostcall.demo

import dev.hostcall.runtime.Outcome
import dev.hostcall.runtime.Runtime
import dev.hostcall.runtime.Upcalls
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/**
 * When the runtime forgets a replaced host fn, driven without a library:
 * the test makes the upcalls the library's loop thread would make. The
 * library runs a task a handler spawned with the host fns it has handled
 * last, so such a task may invoke a replaced one after every call has
 * had its reply, until the library has handled the replacement; only a
 * reply to a call started after the replacement shows that.
 */
class ReplacedHostFnTest {
    @Test
    fun `a replaced host fn is kept until a later call's reply shows the library has its replacement`() = bounded {
        val answers = Channel<Pair<Int, String>>(Channel.UNLIMITED)
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val runtime = Runtime(scope, 1) { _, ret, payload -> answers.trySend(ret to (payload ?: byteArrayOf()).decodeToString()); 0 }
        try {
            var first = 0L
            runtime.hostFn(0, register = { first = it }) { "first".encodeToByteArray() }
            runtime.hostFn(0, register = {}) { "second".encodeToByteArray() }
            assertEquals(0, runtime.pendingCalls)
            assertEquals(1, runtime.replacedHostFns, "no reply has shown the library has the second")
            Upcalls.hostFn(first, 1, byteArrayOf()) // a spawned task, before the library handled the second
            assertEquals(Outcome.OK to "first", answers.receive())

            val keys = Channel<Long>(1)
            val call = async(Dispatchers.Default) { runtime.call { key -> keys.trySend(key) } }
            Upcalls.reply(keys.receive(), Outcome.OK, byteArrayOf())
            assertEquals(Outcome.OK, call.await().code)
            assertEquals(0, runtime.replacedHostFns, "the reply to a call started after the second forgets the first")

            // Its key cannot come any more; if it did, the call is answered, not left waiting.
            Upcalls.hostFn(first, 2, byteArrayOf())
            assertEquals(Outcome.ERR to "no Kotlin function is registered for this host fn any more", answers.receive())
        } finally {
            runtime.close()
            scope.cancel()
        }
    }
}
